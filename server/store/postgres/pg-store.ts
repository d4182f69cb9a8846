// The Store on PostgreSQL through node-postgres. Writes go through the PgWriteQueue (group
// commit); reads go to the pool at once and see only committed rows.
//
// Several nodes may write to one database, so unlike SQLite's only writer this store keeps no
// counts in memory that another node's writes could make wrong: each write transaction first
// locks the store_meta row (which also orders seqs and message ids as commits are), then counts
// what it needs from the rows. Only names (never changed once given) are cached, and the number
// of messages waiting for the normalizer, which hasUnnormalized() must answer without a query.

import { Kysely, PostgresDialect } from "kysely";
import type pg from "pg";
import type { HistoryMessage, InboxEvent, MessageStatus, RoomChange } from "../../protocol/messages.js";
import type { StoreLogger } from "../sqlite/write-queue.js";
import {
  type AttachedDevice,
  type ClusterEvent,
  type ClusterListener,
  type CommitListener,
  type CommitRecord,
  type Conversation,
  type DeviceRecord,
  type EnqueuedMessage,
  type InboxListener,
  type LiveEvent,
  type NewMessage,
  type NewUser,
  type NormalizedMessage,
  type RetentionBatch,
  type RoomMemberRecord,
  type RoomRecord,
  type Store,
  StoreError,
  type UnnormalizedMessage,
  type UserPage,
  type UserRecord,
} from "../store.js";
import { toInboxEvent, toRoomInboxEvent } from "../stream-rows.js";
import { isUniqueViolation, unavailable } from "./errors.js";
import { NEWS_CHANNEL, NewsFeed } from "./news-feed.js";
import {
  ClusterPresence,
  DEAD_NODE_MS,
  HEARTBEAT_MS,
  NODE_SQL,
  notifyControl,
  ReapGate,
  toClusterEvent,
} from "./node-membership.js";
import type { PgSchema } from "./schema.js";
import {
  type AckReceiptRow,
  type DeviceRow,
  type EndingRow,
  EXPIRY_CHUNK,
  type ExpiryRow,
  type InboxRow,
  type MembershipRow,
  type PlacedMessage,
  type RetentionRow,
  type RoomEventRow,
  type RoomRecordRow,
  type RoomRow,
  type SentDirectRow,
  SQL,
} from "./statements.js";
import { PgWriteQueue, type WriteGroup } from "./write-queue.js";

/** The end of an open membership's seq range. */
const NO_END = Number.MAX_SAFE_INTEGER;

type Db = pg.Pool | pg.PoolClient;

async function rows<R>(db: Db, text: string, params: readonly unknown[] = []): Promise<R[]> {
  const result = await db.query(text, params as unknown[]);
  return result.rows as R[];
}

async function one<R>(db: Db, text: string, params: readonly unknown[] = []): Promise<R | undefined> {
  return (await rows<R>(db, text, params))[0];
}

export interface PgStoreOptions {
  readonly logger?: StoreLogger;
  /** Closes the pool with the store (false when the caller shares it). */
  readonly ownsPool?: boolean;
}

export class PgStore implements Store {
  readonly #pool: pg.Pool;
  readonly #kysely: Kysely<PgSchema>;
  readonly #writes: PgWriteQueue;
  readonly #ownsPool: boolean;
  readonly #listeners: InboxListener[] = [];
  readonly #commitListeners: CommitListener[] = [];
  readonly #feed: NewsFeed;
  readonly #clusterListeners: ClusterListener[] = [];
  readonly #logger: StoreLogger | undefined;
  /** This process's row in `nodes` (node-membership.ts): a new one at every start. */
  readonly #nodeId: number;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #reapGate = new ReapGate();
  /** Who is online elsewhere as this node's cluster listeners were told (node-membership.ts). */
  readonly #presence = new ClusterPresence();
  #closing: Promise<void> | undefined;
  #closed = false;

  // The batch being written: valid between the queue's begin and its commit or rollback.
  #lastSeq = 0;
  #firstSeq = 0;
  #seqDirty = false;
  #news: LiveEvent[] = [];
  #pendingDelta = 0;

  #pendingCount: number;
  readonly #userNames = new Map<number, string>();
  readonly #roomNames = new Map<number, string>();

  /** `pool` reaches the migrated database at `url` (see open-store.ts). */
  static async open(pool: pg.Pool, url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const pending = await one<{ n: number }>(pool, SQL.pendingCount);
    const lastSeq = (await one<{ last_seq: number }>(pool, SQL.lastSeq))!.last_seq;
    const nodeId = (await one<{ id: number }>(pool, NODE_SQL.join))!.id;
    const store = new PgStore(pool, url, lastSeq, pending?.n ?? 0, nodeId, options);
    await store.#feed.start();
    store.#heartbeat = setInterval(() => void store.#beat(), HEARTBEAT_MS);
    store.#heartbeat.unref();
    return store;
  }

  private constructor(
    pool: pg.Pool,
    url: string,
    lastSeq: number,
    pendingCount: number,
    nodeId: number,
    options: PgStoreOptions,
  ) {
    this.#pool = pool;
    this.#nodeId = nodeId;
    this.#logger = options.logger;
    this.#feed = new NewsFeed(
      pool,
      url,
      lastSeq,
      this.#listeners,
      options.logger,
      (payload) => {
        const event = toClusterEvent(payload, this.#nodeId, this.#logger);
        if (event !== undefined) this.#tellCluster([event]);
      },
      async (listener) => {
        // The listener is a plain client, without the pool's BIGINT parser: ids come as text.
        const online = await listener.query<{ id: string; name: string }>(NODE_SQL.onlineUsersNamed);
        const users = online.rows.map((row) => ({ id: Number(row.id), name: row.name }));
        this.#tellCluster(this.#presence.resync(users, new Date().toISOString()));
      },
    );
    this.#ownsPool = options.ownsPool ?? true;
    this.#pendingCount = pendingCount;
    this.#kysely = new Kysely<PgSchema>({ dialect: new PostgresDialect({ pool }) });
    this.#writes = new PgWriteQueue(
      pool,
      {
        begin: (tx) => this.#begin(tx),
        mark: () => this.#mark(),
        beforeCommit: (tx) => this.#beforeCommit(tx),
        afterCommit: (commit) => this.#afterCommit(commit),
        afterRollback: () => this.#afterRollback(),
      },
      options.logger,
    );
  }

  /** Transactions committed so far; each holds every write of one batch. */
  get commitCount(): number {
    return this.#writes.commits;
  }

  onNewEvents(listener: InboxListener): void {
    this.#listeners.push(listener);
  }

  onCommits(listener: CommitListener): void {
    this.#commitListeners.push(listener);
  }

  // --- accounts ---------------------------------------------------------------------------

  createUser(input: NewUser): Promise<UserRecord> {
    return this.#writes.enqueue(async (tx) => {
      let id: number;
      try {
        id = (await one<{ id: number }>(tx, SQL.insertUser, [
          input.user,
          input.name,
          input.passwordHash,
          input.at,
        ]))!.id;
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new StoreError("user_exists", `the user name ${input.user} is taken`, { cause: error });
        }
        throw error;
      }
      return {
        id,
        user: input.user,
        name: input.name,
        passwordHash: input.passwordHash,
        createdAt: input.at,
        lastSeen: null,
      };
    });
  }

  findUser(user: string): Promise<UserRecord | undefined> {
    return this.#read(async () => {
      const row = await one<UserRow>(this.#pool, SQL.findUser, [user]);
      return row === undefined ? undefined : toUserRecord(row);
    });
  }

  setPasswordHash(userId: number, passwordHash: string): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      if ((await tx.query(SQL.setPasswordHash, [passwordHash, userId])).rowCount === 0) {
        throw new StoreError("no_such_user", `there is no live user with id ${userId}`);
      }
    });
  }

  listUsers(after: string | undefined, limit: number): Promise<UserPage> {
    return this.#read(async () => {
      const found = await rows<UserRow>(this.#pool, SQL.listUsers, [after ?? null, limit + 1]);
      return { users: found.slice(0, limit).map(toUserRecord), more: found.length > limit };
    });
  }

  recordPresence(userId: number, online: boolean, at: string): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      // Offline here may still be online on another node.
      const elsewhere =
        !online && (await one<{ online: boolean }>(tx, NODE_SQL.userOnline, [userId]))!.online;
      await tx.query(SQL.setPresence, [online || elsewhere ? 1 : 0, at, userId]);
    });
  }

  /** Other nodes' users stay online: only those of nodes found dead go offline. */
  resetPresence(): Promise<void> {
    return this.#reapDeadNodes();
  }

  onCluster(listener: ClusterListener): void {
    this.#clusterListeners.push(listener);
  }

  onlineUserIds(): Promise<number[]> {
    return this.#read(async () => {
      const online = await rows<{ id: number; name: string }>(this.#pool, NODE_SQL.onlineUsersNamed);
      for (const user of online)
        this.#presence.note({ kind: "presence", userId: user.id, user: user.name, online: true, at: "" });
      return online.map((user) => user.id);
    });
  }

  #tellCluster(events: readonly ClusterEvent[]): void {
    for (const event of events) {
      this.#presence.note(event);
      for (const listener of this.#clusterListeners) listener(event);
    }
  }

  countLoginAttempt(key: string): Promise<number> {
    return this.#read(
      async () => (await one<{ count: number }>(this.#pool, NODE_SQL.countAttempt, [key]))!.count,
    );
  }

  forgiveLoginAttempt(key: string): Promise<void> {
    return this.#read(async () => {
      await this.#pool.query(NODE_SQL.forgiveAttempt, [key]);
    });
  }

  // --- nodes (node-membership.ts) ---------------------------------------------------------

  async #beat(): Promise<void> {
    if (this.#closed || this.#closing !== undefined) return;
    try {
      const alive = (await this.#pool.query(NODE_SQL.heartbeat, [this.#nodeId])).rowCount !== 0;
      if (!alive) {
        // Taken for dead (stalled past DEAD_NODE_MS): the others marked its users offline.
        this.#logger?.error("store: this node was reaped as dead by another node", { node: this.#nodeId });
        await this.#pool.query(NODE_SQL.rejoin, [this.#nodeId]);
      }
      await this.#pool.query(NODE_SQL.pruneAttempts);
      if (this.#reapGate.succeeded(Date.now())) await this.#reapDeadNodes();
    } catch (error) {
      this.#reapGate.failed();
      this.#logger?.error("store: heartbeat failed", { error: String(error) });
    }
  }

  async #reapDeadNodes(): Promise<void> {
    const dead = await this.#read(() =>
      rows<{ id: number }>(this.#pool, NODE_SQL.deadNodes, [DEAD_NODE_MS, this.#nodeId]),
    );
    if (dead.length === 0) return;
    await this.#writes.enqueue(async (tx) => {
      const locked = (
        await rows<{ id: number }>(tx, NODE_SQL.lockDeadNodes, [DEAD_NODE_MS, this.#nodeId])
      ).map((row) => row.id);
      if (locked.length > 0) await this.#dropNodes(tx, locked);
    });
  }

  /** Deletes nodes' rows, and marks offline what no other node holds, telling every node. */
  async #dropNodes(tx: Db, nodeIds: readonly number[]): Promise<void> {
    const held = await rows<{ device_id: number; user_id: number }>(tx, NODE_SQL.sessionsOfNodes, [nodeIds]);
    await tx.query(NODE_SQL.deleteNodes, [nodeIds]);
    if (held.length === 0) return;
    const at = new Date().toISOString();
    await tx.query(NODE_SQL.devicesOffline, [at, held.map((row) => row.device_id)]);
    const userIds = [...new Set(held.map((row) => row.user_id))];
    for (const user of await rows<{ id: number; name: string }>(tx, NODE_SQL.usersOffline, [at, userIds])) {
      await notifyControl(tx, { kind: "presence", userId: user.id, user: user.name, online: false, at });
    }
    if (!nodeIds.includes(this.#nodeId)) {
      this.#logger?.warn?.("store: reaped dead nodes", { nodes: nodeIds.length, devices: held.length });
    }
  }

  async #tellOffline(tx: Db, userId: number, at: string): Promise<void> {
    const user = (await one<{ name: string }>(tx, NODE_SQL.userName, [userId]))!.name;
    await notifyControl(tx, { kind: "presence", userId, user, online: false, at });
  }

  /** This node holds the device's session now; the node that held it is told to end its own. */
  async #claim(tx: Db, device: DeviceRow, at: string): Promise<void> {
    const previous = await one<{ node_id: number }>(tx, NODE_SQL.sessionOf, [device.id]);
    const wasOnline = (await one<{ online: boolean }>(tx, NODE_SQL.userOnline, [device.user_id]))!.online;
    await tx.query(NODE_SQL.claim, [device.id, device.user_id, this.#nodeId]);
    if (previous !== undefined && previous.node_id !== this.#nodeId) {
      await notifyControl(tx, { kind: "replaced", node: previous.node_id, deviceId: device.id });
    }
    if (!wasOnline) {
      const user = (await one<{ name: string }>(tx, NODE_SQL.userName, [device.user_id]))!.name;
      await notifyControl(tx, { kind: "presence", userId: device.user_id, user, online: true, at });
    }
  }

  deleteUser(userId: number, at: string): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      if ((await tx.query(SQL.softDeleteUser, [at, userId])).rowCount === 0) return;
      // Every node ends the account's sessions, whoever removed it: they may be anywhere.
      await notifyControl(tx, { kind: "removed", node: this.#nodeId, userId });
      await tx.query(SQL.dropInbox, [userId]);
      const wasOnline = (await one<{ online: boolean }>(tx, NODE_SQL.userOnline, [userId]))!.online;
      await tx.query(SQL.dropDevices, [userId]);
      // Their device sessions went with the devices: every node is told they are offline.
      if (wasOnline) await this.#tellOffline(tx, userId, at);
      for (const membership of await rows<{ room_id: number }>(tx, SQL.currentMemberships, [userId])) {
        // The account is gone: its own streams get nothing more.
        await this.#endMembership(tx, membership.room_id, userId, userId, "left", at, false);
      }
      let pendingEnded = 0;
      for (const message of await rows<EndingRow>(tx, SQL.waitingFor, [userId])) {
        if (message.status === "pending") pendingEnded += 1;
        await tx.query(SQL.setStatus, ["undeliverable", message.id]);
        if (message.sender_id !== userId && message.sender_live) {
          await this.#receipt(tx, message.sender_id, message.id, userId, "undeliverable", at);
        }
      }
      this.#pendingDelta -= pendingEnded;
    });
  }

  // --- devices ----------------------------------------------------------------------------

  attachDevice(userId: number, name: string, at: string, maxDevices: number): Promise<AttachedDevice> {
    return this.#writes.enqueue(async (tx) => {
      if (!(await this.#userLive(tx, userId)))
        throw new StoreError("no_such_user", "the account was deleted");
      const existing = await one<DeviceRow>(tx, SQL.findDevice, [userId, name]);
      if (existing !== undefined) {
        await tx.query(SQL.deviceLogin, [at, existing.id]);
        await this.#claim(tx, existing, at);
        return { device: toDeviceRecord({ ...existing, online: 1, last_seen_at: at }), forgotten: [] };
      }
      const known = await rows<DeviceRow>(tx, SQL.devicesByLogin, [userId]);
      // The oldest event that some device has not acknowledged: where this one starts.
      const position = known.length === 0 ? 0 : Math.min(...known.map((device) => device.acked_seq));
      const forgotten: DeviceRecord[] = [];
      while (known.length >= maxDevices) {
        const oldest = known.shift()!;
        // The device logging in keeps the user online: no one is told otherwise.
        await this.#forget(tx, oldest, false);
        forgotten.push(toDeviceRecord(oldest));
      }
      const id = (await one<{ id: number }>(tx, SQL.insertDevice, [userId, name, position, at]))!.id;
      const device: DeviceRow = {
        id,
        user_id: userId,
        name,
        acked_seq: position,
        online: 1,
        last_seen_at: at,
      };
      await this.#claim(tx, device, at);
      return { device: toDeviceRecord(device), forgotten };
    });
  }

  detachDevice(deviceId: number, at: string): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      // Released only if this node still holds it: another node may have taken it over.
      const released = (await tx.query(NODE_SQL.release, [deviceId, this.#nodeId])).rowCount !== 0;
      const holder = await one<{ node_id: number }>(tx, NODE_SQL.sessionOf, [deviceId]);
      if (holder === undefined) await tx.query(SQL.deviceLogout, [at, deviceId]);
      if (!released) return;
      const device = await one<{ user_id: number }>(tx, "SELECT user_id FROM devices WHERE id = $1", [
        deviceId,
      ]);
      if (device === undefined) return;
      if ((await one<{ online: boolean }>(tx, NODE_SQL.userOnline, [device.user_id]))!.online) return;
      await this.#tellOffline(tx, device.user_id, at);
    });
  }

  listDevices(userId: number): Promise<DeviceRecord[]> {
    return this.#read(async () =>
      (await rows<DeviceRow>(this.#pool, SQL.devicesByName, [userId, this.#nodeId])).map(toDeviceRecord),
    );
  }

  forgetDevice(userId: number, name: string): Promise<DeviceRecord> {
    return this.#writes.enqueue(async (tx) => {
      const device = await one<DeviceRow>(tx, SQL.findDevice, [userId, name]);
      if (device === undefined) {
        throw new StoreError("no_such_device", `you have no device "${name.slice(0, 32)}"`);
      }
      await this.#forget(tx, device);
      return toDeviceRecord(device);
    });
  }

  /** Drops a device. Events it alone held back go first, so that no later device gets them. */
  async #forget(tx: Db, device: DeviceRow, tellOffline = true): Promise<void> {
    const holder = await one<{ node_id: number }>(tx, NODE_SQL.sessionOf, [device.id]);
    if (holder !== undefined && holder.node_id !== this.#nodeId) {
      await notifyControl(tx, { kind: "replaced", node: holder.node_id, deviceId: device.id });
    }
    await this.#prune(tx, device.user_id);
    await tx.query(SQL.deleteDevice, [device.id]);
    // Its session (if any) went with it: when it was the user's last, every node is told.
    if (holder !== undefined && tellOffline) {
      const online = (await one<{ online: boolean }>(tx, NODE_SQL.userOnline, [device.user_id]))!.online;
      if (!online) await this.#tellOffline(tx, device.user_id, new Date().toISOString());
    }
  }

  /** Drops the user's events every device has acknowledged, and the memberships they ended. */
  async #prune(tx: Db, userId: number): Promise<void> {
    const floor = (await one<{ floor: number | null }>(tx, SQL.minAcked, [userId]))?.floor;
    if (floor === null || floor === undefined) return;
    await tx.query(SQL.pruneInbox, [userId, floor]);
    await tx.query(SQL.pruneMemberships, [userId, floor]);
  }

  async #devicesOf(tx: Db, userId: number): Promise<number> {
    return (await one<{ n: number }>(tx, SQL.deviceCount, [userId]))!.n;
  }

  // --- messages ---------------------------------------------------------------------------

  enqueueMessage(input: NewMessage): Promise<EnqueuedMessage> {
    if (!input.to.startsWith("#")) return this.#writes.enqueueInGroup(this.#directSends, input);
    return this.#writes.enqueue(async (tx) => {
      const first = await one<{ id: number; created_at: string }>(tx, SQL.findDuplicate, [
        input.senderId,
        input.cid,
      ]);
      if (first !== undefined) return { id: first.id, at: first.created_at, duplicate: true };
      const room = await one<RoomRecordRow>(tx, SQL.findRoom, [input.to]);
      if (room === undefined) throw noSuchRoom(input.to);
      if (!(await this.#memberIds(tx, room.id)).includes(input.senderId)) throw notMember(room.name);
      // A message normalized at intake must not overtake older ones still waiting.
      const released =
        input.normalizedText !== undefined && !(await one<{ any: boolean }>(tx, SQL.anyPending))!.any;
      const id = (await one<{ id: number }>(tx, released ? SQL.insertReleased : SQL.insertPending, [
        input.senderId,
        input.senderDeviceId,
        null,
        room.id,
        input.cid,
        released ? input.normalizedText! : input.text,
        input.at,
      ]))!.id;
      if (released) {
        const message: PlacedMessage = {
          id,
          sender_id: input.senderId,
          sender_device_id: input.senderDeviceId,
          recipient_id: null,
          room_id: room.id,
          created_at: input.at,
        };
        await this.#place(tx, message, input.normalizedText!, input.at);
      } else {
        this.#pendingDelta += 1;
      }
      return { id, at: input.at, duplicate: false };
    });
  }

  /**
   * The direct messages queued next to each other in a batch: one statement for all of them,
   * which refuses each by its result, so it takes no savepoint.
   */
  readonly #directSends: WriteGroup<NewMessage, EnqueuedMessage> = {
    run: (tx, inputs) => this.#sendDirect(tx, inputs),
  };

  async #sendDirect(
    tx: pg.PoolClient,
    inputs: readonly NewMessage[],
  ): Promise<Array<EnqueuedMessage | StoreError>> {
    const sent = await rows<SentDirectRow>(tx, SQL.sendDirectMany, [
      inputs.map((input) => input.senderId),
      inputs.map((input) => input.senderDeviceId),
      inputs.map((input) => input.to),
      inputs.map((input) => input.cid),
      inputs.map((input) => input.text),
      inputs.map((input) => input.normalizedText ?? null),
      inputs.map((input) => input.at),
      inputs.map((input) => input.maxPending),
      this.#lastSeq + 1,
    ]);
    return inputs.map((input, index) => {
      const row = sent[index]!;
      switch (row.outcome) {
        case "duplicate":
          return { id: row.id, at: row.created_at, duplicate: true };
        case "no_such_user":
          return new StoreError("no_such_user", `there is no user ${input.to}`);
        case "mailbox_full":
          return new StoreError(
            "mailbox_full",
            `${input.to} already has ${input.maxPending} messages waiting`,
          );
      }
      this.#userNames.set(input.senderId, row.sender);
      this.#userNames.set(row.recipient_id, row.recipient);
      if (!row.released) {
        this.#pendingDelta += 1;
      } else {
        const message: PlacedMessage = {
          id: row.id,
          sender_id: input.senderId,
          sender_device_id: input.senderDeviceId,
          recipient_id: row.recipient_id,
          room_id: null,
          created_at: input.at,
        };
        // In the order of the rows: the seqs the function gave, one after the other.
        this.#directNews(message, row.sender, row.recipient, input.normalizedText!, row.copy);
      }
      return { id: row.id, at: input.at, duplicate: false };
    });
  }

  hasUnnormalized(): boolean {
    return this.#pendingCount > 0;
  }

  unnormalizedMessages(limit: number): Promise<UnnormalizedMessage[]> {
    return this.#read(() => rows<UnnormalizedMessage>(this.#pool, SQL.unnormalized, [limit]));
  }

  releaseMessages(items: readonly NormalizedMessage[], at: string): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      for (const item of items) {
        const message = await one<PlacedMessage>(tx, SQL.release, [item.text, at, item.id]);
        if (message === undefined) continue;
        await this.#place(tx, message, item.text, at);
        this.#pendingDelta -= 1;
      }
    });
  }

  holdMessage(id: number, at: string): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      const held = await one<{ sender_id: number; recipient_id: number | null }>(tx, SQL.hold, [id]);
      if (held === undefined) return;
      this.#pendingDelta -= 1;
      if (held.recipient_id !== null) await tx.query(SQL.addUndelivered, [held.recipient_id, -1]);
      if (held.recipient_id !== null && (await this.#userLive(tx, held.sender_id))) {
        await this.#receipt(tx, held.sender_id, id, held.recipient_id, "undeliverable", at);
      }
    });
  }

  /**
   * Puts a released message where its readers find it: a direct message in its recipient's
   * inbox, and in its sender's for their other devices; a room message in the room's log.
   */
  async #place(tx: Db, message: PlacedMessage, text: string, at: string): Promise<void> {
    const from = await this.#nameOf(tx, message.sender_id);
    if (message.room_id !== null) {
      const seq = this.#nextSeq();
      await tx.query(SQL.insertRoomMessage, [message.room_id, seq, message.id, at]);
      this.#news.push({
        event: {
          ev: "message",
          seq,
          id: message.id,
          from,
          to: await this.#roomName(tx, message.room_id),
          text,
          at: message.created_at,
        },
        userIds: await this.#memberIds(tx, message.room_id),
        skipDeviceId: message.sender_device_id,
      });
      return;
    }
    const recipientId = message.recipient_id!;
    const to = await this.#nameOf(tx, recipientId);
    const seq = this.#lastSeq + 1;
    await tx.query(SQL.insertMessageEvent, [recipientId, seq, message.id, null, at]);
    const copy = recipientId !== message.sender_id && (await this.#devicesOf(tx, message.sender_id)) > 1;
    if (copy) {
      await tx.query(SQL.insertMessageEvent, [
        message.sender_id,
        seq + 1,
        message.id,
        message.sender_device_id,
        at,
      ]);
    }
    this.#directNews(message, from, to, text, copy);
  }

  /**
   * The news of a direct message placed at the next seq in its recipient's inbox and, with
   * `copy`, at the one after in its sender's, for their other devices.
   */
  #directNews(message: PlacedMessage, from: string, to: string, text: string, copy: boolean): void {
    const event = { ev: "message", id: message.id, from, to, text, at: message.created_at } as const;
    this.#news.push({
      event: { ...event, seq: this.#nextSeq() },
      userIds: [message.recipient_id!],
      skipDeviceId: null,
    });
    if (!copy) return;
    this.#news.push({
      event: { ...event, seq: this.#nextSeq() },
      userIds: [message.sender_id],
      skipDeviceId: message.sender_device_id,
    });
  }

  /** A receipt to `userId` about their message `messageId` to `recipientId`. */
  async #receipt(
    tx: Db,
    userId: number,
    messageId: number,
    recipientId: number,
    status: "delivered" | "read" | "undeliverable" | "expired",
    at: string,
  ): Promise<void> {
    const seq = this.#nextSeq();
    await tx.query(SQL.insertReceipt, [userId, seq, messageId, status, at]);
    this.#news.push({
      event: { ev: "receipt", seq, id: messageId, to: await this.#nameOf(tx, recipientId), status, at },
      userIds: [userId],
      skipDeviceId: null,
    });
  }

  async #userLive(tx: Db, userId: number): Promise<boolean> {
    return (await one<{ live: boolean }>(tx, SQL.userLive, [userId]))?.live === true;
  }

  async #nameOf(db: Db, userId: number): Promise<string> {
    let name = this.#userNames.get(userId);
    if (name === undefined) {
      name = (await one<{ name: string }>(db, SQL.userName, [userId]))?.name ?? "";
      this.#userNames.set(userId, name);
    }
    return name;
  }

  async #roomName(db: Db, roomId: number): Promise<string> {
    let name = this.#roomNames.get(roomId);
    if (name === undefined) {
      name = (await one<{ name: string }>(db, SQL.roomName, [roomId]))?.name ?? "";
      this.#roomNames.set(roomId, name);
    }
    return name;
  }

  // --- streams ----------------------------------------------------------------------------

  inboxAfter(userId: number, deviceId: number, afterSeq: number, limit: number): Promise<InboxEvent[]> {
    return this.#read(async () => {
      const events = (
        await rows<InboxRow>(this.#pool, SQL.inboxAfter, [userId, afterSeq, deviceId, limit])
      ).map(toInboxEvent);
      const memberships = await rows<MembershipRow>(this.#pool, SQL.streamMemberships, [userId, afterSeq]);
      if (memberships.length === 0) return events;
      for (const membership of memberships) {
        const roomRows = await rows<RoomEventRow>(this.#pool, SQL.roomEventsAfter, [
          membership.room_id,
          Math.max(afterSeq, membership.first_seq - 1),
          membership.last_seq ?? NO_END,
          userId,
          deviceId,
          limit,
        ]);
        for (const row of roomRows) events.push(toRoomInboxEvent(row, membership.name));
      }
      events.sort((a, b) => a.seq - b.seq);
      return events.length > limit ? events.slice(0, limit) : events;
    });
  }

  inboxCount(userId: number, deviceId: number): Promise<number> {
    return this.#read(async () => {
      const position =
        (await one<{ acked_seq: number }>(this.#pool, SQL.devicePosition, [deviceId]))?.acked_seq ?? 0;
      let count = (await one<{ n: number }>(this.#pool, SQL.inboxCount, [userId, position, deviceId]))!.n;
      for (const membership of await rows<MembershipRow>(this.#pool, SQL.streamMemberships, [
        userId,
        position,
      ])) {
        count += (await one<{ n: number }>(this.#pool, SQL.roomEventCount, [
          membership.room_id,
          Math.max(position, membership.first_seq - 1),
          membership.last_seq ?? NO_END,
          userId,
          deviceId,
        ]))!.n;
      }
      return count;
    });
  }

  acknowledge(userId: number, deviceId: number, upToSeq: number, at: string): Promise<void> {
    // One statement that never refuses: no savepoint.
    return this.#writes.enqueue(
      async (tx) => {
        const receipts = await rows<AckReceiptRow>(tx, SQL.acknowledge, [
          userId,
          deviceId,
          upToSeq,
          at,
          this.#lastSeq + 1,
        ]);
        if (receipts.length === 0) return;
        const to = await this.#nameOf(tx, userId);
        for (const receipt of receipts) {
          // The function took the seqs from the one passed, in this order.
          const seq = this.#nextSeq();
          this.#news.push({
            event: { ev: "receipt", seq, id: receipt.message_id, to, status: "delivered", at },
            userIds: [receipt.sender_id],
            skipDeviceId: null,
          });
        }
      },
      { savepoint: false },
    );
  }

  markRead(
    readerId: number,
    deviceId: number,
    conversation: Conversation,
    upToId: number,
    at: string,
  ): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      if (conversation.kind === "room") {
        await tx.query(SQL.readRoom, [upToId, conversation.id, readerId]);
      } else {
        const senderLive = await this.#userLive(tx, conversation.id);
        // The message keeps its place among the undelivered until a device acknowledges it.
        for (const message of await rows<{ id: number }>(tx, SQL.readable, [
          conversation.id,
          readerId,
          upToId,
        ])) {
          await tx.query(SQL.markRead, [at, message.id]);
          if (senderLive) await this.#receipt(tx, conversation.id, message.id, readerId, "read", at);
        }
      }
      if ((await this.#devicesOf(tx, readerId)) > 1) {
        const seq = this.#nextSeq();
        await tx.query(SQL.insertReadMarker, [
          readerId,
          seq,
          deviceId,
          conversation.kind === "user" ? conversation.id : null,
          conversation.kind === "room" ? conversation.id : null,
          upToId,
          at,
        ]);
        const name =
          conversation.kind === "user"
            ? await this.#nameOf(tx, conversation.id)
            : await this.#roomName(tx, conversation.id);
        this.#news.push({
          event: { ev: "read_marker", seq, with: name, upTo: upToId, at },
          userIds: [readerId],
          skipDeviceId: deviceId,
        });
      }
    });
  }

  history(
    userId: number,
    conversation: Conversation,
    beforeId: number | undefined,
    limit: number,
  ): Promise<HistoryMessage[]> {
    return this.#read(async () => {
      if (conversation.kind === "room") {
        const found = await this.#kysely
          .selectFrom("messages as m")
          .innerJoin("users as s", "s.id", "m.sender_id")
          .innerJoin("rooms as r", "r.id", "m.room_id")
          .select(["m.id", "s.name as from", "r.name as to", "m.text", "m.created_at as at"])
          .where("m.room_id", "=", conversation.id)
          .where("m.text", "is not", null)
          .where("m.status", "=", "sent")
          .$if(beforeId !== undefined, (query) => query.where("m.id", "<", beforeId!))
          .orderBy("m.id", "desc")
          .limit(limit)
          .execute();
        return found.reverse().map((row) => ({
          id: row.id,
          from: row.from,
          to: row.to,
          text: row.text!,
          at: row.at,
          status: "sent",
        }));
      }
      const withUserId = conversation.id;
      const direction = (from: number, to: number) =>
        this.#kysely
          .selectFrom("messages as m")
          .innerJoin("users as s", "s.id", "m.sender_id")
          .innerJoin("users as r", "r.id", "m.recipient_id")
          .select(["m.id", "s.name as from", "r.name as to", "m.text", "m.created_at as at", "m.status"])
          .where("m.recipient_id", "=", to)
          .where("m.sender_id", "=", from)
          .where("m.text", "is not", null)
          .where("m.status", "in", HISTORY_STATUSES)
          .$if(beforeId !== undefined, (query) => query.where("m.id", "<", beforeId!))
          .orderBy("m.id", "desc")
          .limit(limit);
      const conversationQuery =
        userId === withUserId
          ? this.#kysely.selectFrom(direction(userId, userId).as("c")).selectAll()
          : this.#kysely
              .selectFrom(direction(userId, withUserId).as("c"))
              .selectAll()
              .unionAll(this.#kysely.selectFrom(direction(withUserId, userId).as("c")).selectAll());
      const found = await conversationQuery.orderBy("id", "desc").limit(limit).execute();
      return found.reverse().map((row) => ({
        id: row.id,
        from: row.from,
        to: row.to,
        text: row.text!,
        at: row.at,
        status: row.status as MessageStatus,
      }));
    });
  }

  expireMessages(olderThan: string, at: string): Promise<void> {
    return this.#writes.enqueue(async (tx) => {
      const expire = async (message: ExpiryRow) => {
        await tx.query(SQL.setStatus, ["expired", message.id]);
        if (message.recipient_id === null) return;
        await tx.query(SQL.addUndelivered, [message.recipient_id, -1]);
        if (await this.#userLive(tx, message.sender_id)) {
          await this.#receipt(tx, message.sender_id, message.id, message.recipient_id, "expired", at);
        }
      };

      // Messages the normalizer has not answered for longer than the lifetime (an outage).
      let pendingAfter = 0;
      for (;;) {
        const chunk = await rows<ExpiryRow>(tx, SQL.expiringPending, [pendingAfter, olderThan]);
        for (const message of chunk) await expire(message);
        this.#pendingDelta -= chunk.length;
        if (chunk.length < EXPIRY_CHUNK) break;
        pendingAfter = chunk[chunk.length - 1]!.id;
      }

      // Direct messages in id order from where the last sweep stopped, up to the first one young
      // enough to live on.
      let cursor = (await one<{ expiry_cursor: number }>(tx, SQL.lockMeta))!.expiry_cursor;
      walk: for (;;) {
        const chunk = await rows<ExpiryRow>(tx, SQL.messagesAfter, [cursor]);
        for (const message of chunk) {
          if (message.created_at >= olderThan || message.status === "pending") break walk;
          if (message.status === "sent" && message.recipient_id !== null) await expire(message);
          cursor = message.id;
        }
        if (chunk.length < EXPIRY_CHUNK) break;
      }
      await tx.query(SQL.setExpiry, [cursor, olderThan]);

      for (const device of await rows<DeviceRow>(tx, SQL.staleDevices, [olderThan])) {
        await this.#forget(tx, device);
      }
      // Every user with devices: SQLite remembers whose positions moved, which one node cannot.
      for (const { user_id } of await rows<{ user_id: number }>(tx, "SELECT DISTINCT user_id FROM devices")) {
        await this.#prune(tx, user_id);
      }
    });
  }

  deleteDeliveredBefore(cutoff: string, afterId: number, limit: number): Promise<RetentionBatch> {
    return this.#writes.enqueue(async (tx) => {
      const newest = (await one<{ id: number | null }>(tx, SQL.newestMessage))?.id ?? 0;
      const chunk = await rows<RetentionRow>(tx, SQL.retentionCandidates, [afterId, limit]);
      let lastId = afterId;
      let deleted = 0;
      for (const message of chunk) {
        if (message.created_at >= cutoff) return { deleted, lastId, more: false };
        lastId = message.id;
        if (message.id === newest || !(await this.#everyReaderHas(tx, message))) continue;
        if (message.room_id === null) {
          await tx.query(SQL.deleteMessageEvents, [message.id]);
        } else {
          const event = await one<{ room_id: number; seq: number }>(tx, SQL.roomMessageEvent, [message.id]);
          if (event !== undefined) await tx.query(SQL.deleteRoomEvent, [event.room_id, event.seq]);
        }
        await tx.query(SQL.deleteMessage, [message.id]);
        deleted += 1;
      }
      return { deleted, lastId, more: chunk.length === limit };
    });
  }

  /** Whether retention may delete the message: see Store.deleteDeliveredBefore. */
  async #everyReaderHas(tx: Db, message: RetentionRow): Promise<boolean> {
    if (message.room_id === null) {
      if (message.delivered_at === null) return false;
      for (const event of await rows<{ user_id: number; seq: number }>(tx, SQL.messageEvents, [message.id])) {
        const floor = (await one<{ floor: number | null }>(tx, SQL.minAcked, [event.user_id]))?.floor;
        if (floor === null || floor === undefined || event.seq > floor) return false;
      }
      return true;
    }
    if (message.status !== "sent") return false;
    const event = await one<{ room_id: number; seq: number }>(tx, SQL.roomMessageEvent, [message.id]);
    if (event === undefined) return false;
    return (await one<{ n: number }>(tx, SQL.roomEventBlockers, [event.room_id, event.seq]))!.n === 0;
  }

  // --- rooms ------------------------------------------------------------------------------

  findRoom(name: string): Promise<RoomRecord | undefined> {
    return this.#read(async () => {
      const room = await one<RoomRecordRow>(this.#pool, SQL.findRoom, [name]);
      return room === undefined ? undefined : toRoomRecord(room);
    });
  }

  isRoomMember(roomId: number, userId: number): Promise<boolean> {
    return this.#read(async () => (await one(this.#pool, SQL.isMember, [roomId, userId])) !== undefined);
  }

  createRoom(name: string, ownerId: number, memberIds: readonly number[], at: string): Promise<RoomRecord> {
    return this.#writes.enqueue(async (tx) => {
      let roomId: number;
      try {
        roomId = (await one<{ id: number }>(tx, SQL.insertRoom, [name, ownerId, at]))!.id;
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new StoreError("room_exists", `there is a room ${name} already`, { cause: error });
        }
        throw error;
      }
      const seq = this.#nextSeq();
      await tx.query(SQL.insertRoomChange, [roomId, seq, "created", ownerId, ownerId, at]);
      const members = [...new Set([ownerId, ...memberIds])];
      for (const memberId of members) await tx.query(SQL.insertMembership, [roomId, memberId, seq, at]);
      await this.#roomChanged(tx, name, seq, "created", ownerId, ownerId, at, members);
      return {
        id: roomId,
        name,
        ownerId,
        owner: await this.#nameOf(tx, ownerId),
        members: members.length,
      };
    });
  }

  addRoomMember(
    roomId: number,
    userId: number,
    byId: number,
    at: string,
    maxMembers: number,
  ): Promise<boolean> {
    return this.#writes.enqueue(async (tx) => {
      const room = await this.#liveRoom(tx, roomId);
      const members = await this.#memberIds(tx, room.id);
      if (!members.includes(byId)) throw notMember(room.name);
      if (members.includes(userId)) return false;
      if (members.length >= maxMembers) {
        throw new StoreError(
          "too_many_members",
          `${room.name} has ${maxMembers} members, the most it may have`,
        );
      }
      const seq = this.#nextSeq();
      await tx.query(SQL.insertMembership, [room.id, userId, seq, at]);
      await tx.query(SQL.insertRoomChange, [room.id, seq, "joined", userId, byId, at]);
      await this.#roomChanged(tx, room.name, seq, "joined", userId, byId, at, [...members, userId]);
      return true;
    });
  }

  removeRoomMember(roomId: number, userId: number, byId: number, at: string): Promise<boolean> {
    return this.#writes.enqueue(async (tx) => {
      const room = await this.#liveRoom(tx, roomId);
      const members = await this.#memberIds(tx, room.id);
      if (!members.includes(byId)) throw notMember(room.name);
      if (userId !== byId && room.owner_id !== byId) {
        throw new StoreError("not_owner", `only the owner of ${room.name} removes members`);
      }
      if (!members.includes(userId)) return false;
      await this.#endMembership(tx, room.id, userId, byId, userId === byId ? "left" : "removed", at);
      return true;
    });
  }

  listRooms(userId: number): Promise<RoomRecord[]> {
    return this.#read(async () =>
      (await rows<RoomRecordRow>(this.#pool, SQL.roomsOf, [userId])).map(toRoomRecord),
    );
  }

  roomMembers(roomId: number): Promise<RoomMemberRecord[]> {
    return this.#read(async () =>
      (
        await rows<{ user_id: number; name: string; read_up_to: number | null }>(this.#pool, SQL.membersOf, [
          roomId,
        ])
      ).map((row) => ({ userId: row.user_id, user: row.name, readUpTo: row.read_up_to })),
    );
  }

  async #liveRoom(tx: Db, roomId: number): Promise<RoomRow> {
    const room = await one<RoomRow>(tx, SQL.roomById, [roomId]);
    if (room === undefined) throw new StoreError("no_such_room", "there is no such room");
    return room;
  }

  /** Ends a membership with its event, then hands the room on or deletes it when it is empty. */
  async #endMembership(
    tx: Db,
    roomId: number,
    userId: number,
    byId: number,
    change: RoomChange,
    at: string,
    tellUser = true,
  ): Promise<void> {
    const members = await this.#memberIds(tx, roomId);
    const rest = members.filter((memberId) => memberId !== userId);
    const seq = this.#nextSeq();
    await tx.query(SQL.insertRoomChange, [roomId, seq, change, userId, byId, at]);
    await tx.query(SQL.endMembership, [seq, at, roomId, userId]);
    const name = await this.#roomName(tx, roomId);
    await this.#roomChanged(tx, name, seq, change, userId, byId, at, tellUser ? members : rest);
    const room = (await one<RoomRow>(tx, SQL.roomById, [roomId]))!;
    if (rest.length === 0) {
      await tx.query(SQL.deleteRoom, [at, roomId]);
    } else if (room.owner_id === userId) {
      await tx.query(SQL.setOwner, [rest[0]!, roomId]);
    }
  }

  async #roomChanged(
    tx: Db,
    room: string,
    seq: number,
    change: RoomChange,
    userId: number,
    byId: number,
    at: string,
    userIds: readonly number[],
  ): Promise<void> {
    const user = await this.#nameOf(tx, userId);
    const by = await this.#nameOf(tx, byId);
    this.#news.push({
      event: { ev: "room", seq, room, change, user, by, at },
      userIds: [...userIds],
      skipDeviceId: null,
    });
  }

  /** The room's members in the order they joined: the first is the next owner. */
  async #memberIds(tx: Db, roomId: number): Promise<number[]> {
    return (await rows<{ user_id: number }>(tx, SQL.memberIds, [roomId])).map((row) => row.user_id);
  }

  // --- the batch around each transaction ----------------------------------------------------

  async #begin(tx: pg.PoolClient): Promise<void> {
    // Held until COMMIT: another node's writes wait here, so seqs and ids follow commit order.
    this.#lastSeq = (await one<{ last_seq: number }>(tx, SQL.lockMeta))!.last_seq;
    this.#firstSeq = this.#lastSeq + 1;
    this.#seqDirty = false;
    this.#news = [];
    this.#pendingDelta = 0;
  }

  #mark(): () => void {
    const lastSeq = this.#lastSeq;
    const seqDirty = this.#seqDirty;
    const news = this.#news.length;
    const pendingDelta = this.#pendingDelta;
    return () => {
      this.#lastSeq = lastSeq;
      this.#seqDirty = seqDirty;
      this.#news.length = news;
      this.#pendingDelta = pendingDelta;
    };
  }

  #nextSeq(): number {
    this.#seqDirty = true;
    this.#lastSeq += 1;
    return this.#lastSeq;
  }

  async #beforeCommit(tx: pg.PoolClient): Promise<void> {
    if (!this.#seqDirty) return;
    // Delivered at COMMIT to every node's listener: the seq only, never a text.
    await tx.query(SQL.setLastSeqAndNotify, [this.#lastSeq, NEWS_CHANNEL, String(this.#lastSeq)]);
  }

  #afterCommit(commit: CommitRecord): void {
    for (const listener of this.#commitListeners) listener([commit]);
    this.#pendingCount = Math.max(0, this.#pendingCount + this.#pendingDelta);
    this.#pendingDelta = 0;
    if (!this.#seqDirty) return;
    this.#seqDirty = false;
    const news = this.#news;
    this.#news = [];
    this.#feed.committed(this.#firstSeq, this.#lastSeq, news);
  }

  #afterRollback(): void {
    this.#news = [];
    this.#pendingDelta = 0;
    this.#seqDirty = false;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    // Leaving: the devices this node still holds go offline at once, not after DEAD_NODE_MS.
    await this.#writes
      .enqueue((tx) => this.#dropNodes(tx, [this.#nodeId]))
      .catch((error: unknown) => {
        this.#logger?.error("store: could not leave the cluster", { error: String(error) });
      });
    await this.#writes.close();
    this.#closed = true;
    await this.#feed.close();
    // The pool itself, not kysely's destroy: that ends the pool only if kysely ever ran a query
    // (history does), and the idle connections left kept the process alive past its shutdown.
    if (this.#ownsPool) await this.#pool.end();
  }

  async #read<T>(read: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError("unavailable", "the store is closed");
    try {
      return await read();
    } catch (error) {
      throw error instanceof StoreError ? error : unavailable(error);
    }
  }
}

const HISTORY_STATUSES: readonly MessageStatus[] = ["sent", "delivered", "read", "undeliverable", "expired"];

function noSuchRoom(name: string): StoreError {
  return new StoreError("no_such_room", `there is no room ${name.slice(0, 33)}`);
}

function notMember(room: string): StoreError {
  return new StoreError("not_member", `you are not a member of ${room}`);
}

interface UserRow {
  readonly id: number;
  readonly name: string;
  readonly display_name: string;
  readonly password_hash: string;
  readonly created_at: string;
  readonly last_seen_at: string | null;
}

function toUserRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    user: row.name,
    name: row.display_name,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    lastSeen: row.last_seen_at,
  };
}

function toDeviceRecord(row: DeviceRow): DeviceRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    ackedSeq: row.acked_seq,
    online: row.online === 1,
    lastSeen: row.last_seen_at,
    heldElsewhere: row.held_elsewhere === true,
  };
}

function toRoomRecord(row: RoomRecordRow): RoomRecord {
  return { id: row.id, name: row.name, ownerId: row.owner_id, owner: row.owner, members: row.members };
}
