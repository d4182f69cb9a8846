// What a command handler sees: the connection's narrow face, the server's services, and
// ways to act after its response is on the wire.

import type { ServerSettings } from "../config.js";
import type { Session } from "../delivery/session.js";
import type { SessionConnection } from "../delivery/session-connection.js";
import type { SessionRegistry } from "../delivery/session-registry.js";
import type { DiskSpace } from "../disk-space-guard.js";
import type { LoginThrottle } from "../login-throttle.js";
import type { ServerMetrics } from "../metrics/server-metrics.js";
import type { MessageIntake } from "../normalization/message-intake.js";
import type { PasswordChecker } from "../passwords.js";
import { isValidRoomName } from "../protocol/account-rules.js";
import type { Args } from "../protocol/arguments.js";
import type { Limits, Op, OpResults } from "../protocol/messages.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import type { RateLimiter } from "../rate-limiter.js";
import type { Conversation, RoomRecord, Store, UserRecord } from "../store/store.js";

export interface ClientConnection extends SessionConnection {
  readonly remoteAddress: string;
  readonly state: "open" | "closing" | "closed";
  session: Session | undefined;
}

export interface Services {
  readonly settings: ServerSettings;
  readonly limits: Limits;
  readonly serverName: string;
  readonly store: Store;
  readonly passwords: PasswordChecker;
  readonly sendLimiter: RateLimiter;
  /** Registrations per client address: each costs a scrypt hash and a row. */
  readonly registrationLimiter: RateLimiter;
  readonly loginThrottle: LoginThrottle;
  readonly sessions: SessionRegistry;
  /** Normalizes and stores sent messages, a turn's worth at a time. */
  readonly intake: MessageIntake;
  readonly metrics: ServerMetrics;
  /** Whether the database's disk is below --min-free-disk-mb. */
  readonly diskSpace: DiskSpace;
  readonly now: () => Date;
}

export interface CommandContext {
  readonly connection: ClientConnection;
  readonly services: Services;
  /** Runs right after the response is written (e.g. start pushing the inbox after login). */
  afterResponse(action: () => void): void;
  /** Closes the connection once the response is written. */
  closeAfterResponse(reason: string): void;
}

/** One operation's handler; it answers what the protocol says that operation answers. */
export interface Command<O extends Op = Op> {
  /** Refused with not_logged_in, by the dispatcher, when the connection has no user. */
  readonly needsLogin: boolean;
  /**
   * Stores rows that nothing deletes soon (a message, an account, a room or membership):
   * refused with unavailable, by the dispatcher, while the disk is below its floor.
   */
  readonly growsStore?: true;
  /**
   * Runs without waiting for the connection's earlier requests. Only for commands whose
   * store calls keep their order by themselves (the store applies writes in call order).
   */
  readonly pipelined: boolean;
  /** The result beside `rid` and `ok`; undefined for none (ack, or a request overtaken by a close). */
  run(context: CommandContext, args: Args): Promise<OpResults[O] | undefined>;
}

/** The live account named `name`, or no_such_user. */
export async function existingUser(services: Services, name: string): Promise<UserRecord> {
  const record = await services.store.findUser(name);
  if (record === undefined)
    throw new ProtocolError("no_such_user", `there is no user "${name.slice(0, 32)}"`);
  return record;
}

/** The logged-in device's session; the dispatcher has checked there is one. */
export function currentSession(context: CommandContext): Session {
  return context.connection.session!;
}

/** The live room named `name` (with its '#'), or no_such_room. */
export async function existingRoom(services: Services, name: string): Promise<RoomRecord> {
  const room = isValidRoomName(name) ? await services.store.findRoom(name) : undefined;
  if (room === undefined) throw new ProtocolError("no_such_room", `there is no room "${name.slice(0, 33)}"`);
  return room;
}

/** A room the caller is a member of, or no_such_room / not_member. */
export async function memberRoom(context: CommandContext, name: string): Promise<RoomRecord> {
  const room = await existingRoom(context.services, name);
  if (!(await context.services.store.isRoomMember(room.id, currentSession(context).user.id))) {
    throw new ProtocolError("not_member", `you are not a member of ${room.name}`);
  }
  return room;
}

/** What `with` names in history and read: a user, or a room the caller is in. */
export async function conversationWith(context: CommandContext, name: string): Promise<Conversation> {
  if (name.startsWith("#")) return { kind: "room", id: (await memberRoom(context, name)).id };
  return { kind: "user", id: (await existingUser(context.services, name)).id };
}
