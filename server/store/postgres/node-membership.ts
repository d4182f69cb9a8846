// This process as one node of several on a database: its row in `nodes`, its heartbeat, the
// reaping of nodes that stopped heartbeating, and the control channel on which nodes tell each
// other of presence changes and of sessions taken over.
//
// A node inserts a row (a new id at every start) and sets heartbeat_at = now() every
// HEARTBEAT_MS, by the database's clock. Every live node, at each heartbeat, looks for nodes whose
// heartbeat is older than DEAD_NODE_MS: it deletes their rows (their device_sessions go with
// them, ON DELETE CASCADE), marks offline the devices and users no longer online anywhere, and
// tells every node so on CONTROL_CHANNEL. A node killed with kill -9 thus shows its users offline
// elsewhere within DEAD_NODE_MS + HEARTBEAT_MS. A node stopped cleanly deletes its own row.
//
// When the database itself was down, no node could heartbeat: the first back must not reap the
// others. A node reaps only once its own heartbeats have succeeded for DEAD_NODE_MS in a row
// (ReapGate), by which time every live node has heartbeated again. A node that finds its row
// gone all the same (it stalled) puts it back, so that its next log-ins can claim sessions.

import type pg from "pg";
import type { StoreLogger } from "../sqlite/write-queue.js";
import type { ClusterEvent } from "../store.js";

/** How often a node tells the database it is alive, and looks for dead nodes. */
export const HEARTBEAT_MS = 3000;

/** A node whose last heartbeat is older than this is taken for dead and reaped. */
export const DEAD_NODE_MS = 15_000;

export const CONTROL_CHANNEL = "parley_control";

/** What goes on CONTROL_CHANNEL (JSON, a few dozen bytes; NOTIFY allows 8,000). */
export type ControlMessage =
  | {
      readonly kind: "presence";
      readonly userId: number;
      readonly user: string;
      readonly online: boolean;
      readonly at: string;
    }
  | { readonly kind: "replaced"; readonly node: number; readonly deviceId: number }
  | { readonly kind: "removed"; readonly node: number; readonly userId: number };

type Db = pg.Pool | pg.PoolClient;

export const NODE_SQL = {
  join: "INSERT INTO nodes DEFAULT VALUES RETURNING id",
  heartbeat: "UPDATE nodes SET heartbeat_at = now() WHERE id = $1",
  rejoin: "INSERT INTO nodes (id) OVERRIDING SYSTEM VALUE VALUES ($1) ON CONFLICT (id) DO NOTHING",
  // $1 the timeout in ms, $2 this node.
  deadNodes: `SELECT id FROM nodes WHERE heartbeat_at < now() - $1 * interval '1 millisecond' AND id <> $2`,
  // Locked: a node that heartbeats after all is not reaped.
  lockDeadNodes: `SELECT id FROM nodes WHERE heartbeat_at < now() - $1 * interval '1 millisecond' AND id <> $2
    FOR UPDATE`,
  sessionsOfNodes: "SELECT device_id, user_id FROM device_sessions WHERE node_id = ANY($1::bigint[])",
  deleteNodes: "DELETE FROM nodes WHERE id = ANY($1::bigint[])",
  // $1 at, $2 device ids: those no node holds now.
  devicesOffline: `UPDATE devices SET online = 0, last_seen_at = $1
    WHERE id = ANY($2::bigint[]) AND NOT EXISTS (SELECT 1 FROM device_sessions s WHERE s.device_id = devices.id)`,
  // $1 at, $2 user ids: those online on no node now; returns who went offline.
  usersOffline: `UPDATE users SET online = 0, last_seen_at = $1
    WHERE id = ANY($2::bigint[]) AND NOT EXISTS (SELECT 1 FROM device_sessions s WHERE s.user_id = users.id)
    RETURNING id, name`,
  sessionOf: "SELECT node_id FROM device_sessions WHERE device_id = $1",
  userOnline: "SELECT EXISTS (SELECT 1 FROM device_sessions WHERE user_id = $1) AS online",
  // $1 device, $2 user, $3 node.
  claim: `INSERT INTO device_sessions (device_id, user_id, node_id) VALUES ($1, $2, $3)
    ON CONFLICT (device_id) DO UPDATE SET node_id = excluded.node_id`,
  release: "DELETE FROM device_sessions WHERE device_id = $1 AND node_id = $2",
  onlineUsersNamed: `SELECT u.id, u.name FROM users u
    WHERE EXISTS (SELECT 1 FROM device_sessions s WHERE s.user_id = u.id)`,
  notify: "SELECT pg_notify($1, $2)",
  userName: "SELECT name FROM users WHERE id = $1",
  // One-minute windows of password checks, shared by every node. $1 key.
  countAttempt: `INSERT INTO login_failures (key, window_start, count) VALUES ($1, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN login_failures.window_start <= now() - interval '1 minute' THEN 1
                   ELSE login_failures.count + 1 END,
      window_start = CASE WHEN login_failures.window_start <= now() - interval '1 minute' THEN now()
                          ELSE login_failures.window_start END
    RETURNING count`,
  forgiveAttempt: "UPDATE login_failures SET count = count - 1 WHERE key = $1 AND count > 0",
  pruneAttempts: "DELETE FROM login_failures WHERE window_start < now() - interval '2 minutes'",
} as const;

/** Whether this node may reap others now: its heartbeats succeeded for DEAD_NODE_MS in a row. */
export class ReapGate {
  // From the start: a node that could open its store reaps at once, as it does at start-up.
  #upSince = Number.NEGATIVE_INFINITY;

  /** A heartbeat failed: the database may be down for every node alike. */
  failed(): void {
    this.#upSince = Number.POSITIVE_INFINITY;
  }

  /** A heartbeat succeeded at `now`; true when reaping is fair. */
  succeeded(now: number): boolean {
    if (this.#upSince === Number.POSITIVE_INFINITY) this.#upSince = now;
    return now - this.#upSince >= DEAD_NODE_MS;
  }
}

/**
 * Who is online on some node, as this node's listeners were last told. Presence travels only as
 * notifications: those sent while the listener was reconnecting are lost, so after a reconnect
 * the listeners are told what changed meanwhile, read from device_sessions.
 */
export class ClusterPresence {
  readonly #online = new Map<number, string>();

  /** Notes a presence event passed on to the listeners. */
  note(event: ClusterEvent): void {
    if (event.kind !== "presence") return;
    if (event.online) this.#online.set(event.userId, event.user);
    else this.#online.delete(event.userId);
  }

  /** The events that bring the listeners from what they were told to `now`, and notes them. */
  resync(now: ReadonlyArray<{ readonly id: number; readonly name: string }>, at: string): ClusterEvent[] {
    const online = new Map(now.map((user) => [user.id, user.name]));
    const events: ClusterEvent[] = [];
    for (const [userId, user] of this.#online)
      if (!online.has(userId)) events.push({ kind: "presence", userId, user, online: false, at });
    for (const [userId, user] of online)
      if (!this.#online.has(userId)) events.push({ kind: "presence", userId, user, online: true, at });
    for (const event of events) this.note(event);
    return events;
  }
}

/** Queues a control message; delivered to every node (this one too) when `tx` commits. */
export async function notifyControl(tx: Db, message: ControlMessage): Promise<void> {
  await tx.query(NODE_SQL.notify, [CONTROL_CHANNEL, JSON.stringify(message)]);
}

/** The event a node's sessions must learn of, or undefined when the message is not for it. */
export function toClusterEvent(
  payload: string,
  nodeId: number | undefined,
  log?: StoreLogger,
): ClusterEvent | undefined {
  let message: ControlMessage;
  try {
    message = JSON.parse(payload) as ControlMessage;
  } catch {
    log?.error("store: an unreadable control message", { length: payload.length });
    return undefined;
  }
  if (message.kind === "replaced") {
    return message.node === nodeId ? { kind: "replaced", deviceId: message.deviceId } : undefined;
  }
  // The node that removed the account ends its own sessions, after answering whoever asked.
  if (message.kind === "removed") {
    return message.node === nodeId ? undefined : { kind: "removed", userId: message.userId };
  }
  if (message.kind === "presence") {
    const { userId, user, online, at } = message;
    return { kind: "presence", userId, user, online, at };
  }
  return undefined;
}
