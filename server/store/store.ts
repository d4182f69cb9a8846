// What the server needs from persistence, named after the server's needs. Each backend
// (server/store/sqlite/ today) implements it and passes test/store/store-contract.ts.
//
// Every method that writes commits before its promise resolves: a resolved write is
// durable. Writes take effect in the order they are called. A rejected call changed nothing.
// Backend failures (disk full, database locked or broken) reject with StoreError("unavailable").

import type { HistoryMessage, InboxEvent } from "../protocol/messages.js";

export type StoreErrorCode =
  | "user_exists"
  | "no_such_user"
  | "mailbox_full"
  | "no_such_device"
  | "room_exists"
  | "no_such_room"
  | "not_member"
  | "not_owner"
  | "too_many_members"
  | "unavailable";

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
    this.code = code;
  }
}

export interface UserPage {
  readonly users: UserRecord[];
  readonly more: boolean;
}

export interface UserRecord {
  readonly id: number;
  /** The user name as registered (its case kept). */
  readonly user: string;
  /** The display name. */
  readonly name: string;
  readonly passwordHash: string;
  readonly createdAt: string;
  readonly lastSeen: string | null;
}

export interface NewUser {
  readonly user: string;
  readonly name: string;
  readonly passwordHash: string;
  readonly at: string;
}

export interface NewMessage {
  readonly senderId: number;
  /** The device it is sent from: it does not get its own copy. */
  readonly senderDeviceId: number;
  /** The recipient's user name or a room's name (`#name`), any case. */
  readonly to: string;
  readonly cid: string;
  /** The text as sent. */
  readonly text: string;
  /**
   * The text as the normalizer gave it, when it answered at intake. The message then goes into
   * its inboxes in the same transaction, unless older messages still wait for the normalizer
   * (it must not overtake them): then it waits, raw, like a message stored without one.
   */
  readonly normalizedText?: string;
  readonly at: string;
  /** Refuse with mailbox_full when the recipient already has this many messages undelivered. */
  readonly maxPending: number;
}

export interface EnqueuedMessage {
  readonly id: number;
  readonly at: string;
  /** True when (sender, cid) was stored before: the first message's id and at are returned. */
  readonly duplicate: boolean;
}

export interface UnnormalizedMessage {
  readonly id: number;
  readonly text: string;
}

export interface NormalizedMessage {
  readonly id: number;
  readonly text: string;
}

export interface DeviceRecord {
  readonly id: number;
  readonly userId: number;
  /** As the client named it at its first log-in. */
  readonly name: string;
  /** Every event of the user's stream up to this seq is acknowledged by this device. */
  readonly ackedSeq: number;
  readonly online: boolean;
  readonly lastSeen: string;
  /**
   * A session on another node holds this device (several nodes on one PostgreSQL database). Only
   * listDevices reads it; elsewhere, and always on SQLite, false.
   */
  readonly heldElsewhere: boolean;
}

export interface AttachedDevice {
  readonly device: DeviceRecord;
  /** Devices forgotten to make room for this one (maxDevices): their sessions must end. */
  readonly forgotten: readonly DeviceRecord[];
}

export interface RoomRecord {
  readonly id: number;
  /** With its '#', as created. */
  readonly name: string;
  readonly ownerId: number;
  readonly owner: string;
  readonly members: number;
}

export interface RoomMemberRecord {
  readonly userId: number;
  readonly user: string;
  readonly readUpTo: number | null;
}

/** Who may see a conversation: a direct one with a user, or a room. */
export type Conversation =
  | { readonly kind: "user"; readonly id: number }
  | { readonly kind: "room"; readonly id: number };

/** An event that entered the streams of `userIds` (all their devices but `skipDeviceId`). */
export interface LiveEvent {
  readonly event: InboxEvent;
  readonly userIds: readonly number[];
  readonly skipDeviceId: number | null;
}

/**
 * Called after each commit with every event it added to anyone's stream, in seq order: delivery
 * hands them to the sessions that are caught up, and wakes the others to read from the store.
 * The one place that learns of new events, so no writer can forget to wake anyone.
 */
export type InboxListener = (events: readonly LiveEvent[]) => void;

/** One committed transaction, for the operator's metrics. */
export interface CommitRecord {
  /** Writes (store calls) that shared it. */
  readonly writes: number;
  /** How long COMMIT took: with SQLite in WAL mode and synchronous=FULL, mostly the fsync. */
  readonly commitMs: number;
}

/** What one batch of deleteDeliveredBefore did. */
export interface RetentionBatch {
  /** Messages deleted, with the rows only they needed. */
  readonly deleted: number;
  /** The last message id examined: the next batch starts after it. */
  readonly lastId: number;
  /** False once every message created before the cutoff has been examined. */
  readonly more: boolean;
}

/** Called with the transactions committed since the last call (batched, like InboxListener). */
export type CommitListener = (commits: readonly CommitRecord[]) => void;

/**
 * What other nodes sharing the database did that this node's sessions must learn of (never
 * called by a single-node store):
 * - presence: the user's online state over every node is now `online` (a log-in, a log-out, or
 *   a dead node reaped). Told to every node, the one that caused it included, in commit order.
 * - replaced: the session of this node's device `deviceId` was taken by a log-in on another node.
 * - removed: the account was deleted by another node, or by `parley-server admin` on the
 *   database itself: its sessions here end.
 */
export type ClusterEvent =
  | {
      readonly kind: "presence";
      readonly userId: number;
      readonly user: string;
      readonly online: boolean;
      readonly at: string;
    }
  | { readonly kind: "replaced"; readonly deviceId: number }
  | { readonly kind: "removed"; readonly userId: number };

export type ClusterListener = (event: ClusterEvent) => void;

export interface Store {
  /** Registers the listener told of new events after every commit. */
  onNewEvents(listener: InboxListener): void;

  /** Registers a listener told of every commit (its size and duration): for metrics only. */
  onCommits(listener: CommitListener): void;

  /** Rejects with user_exists when the name is taken, compared without regard to case. */
  createUser(input: NewUser): Promise<UserRecord>;

  /** A live (not deleted) account by name, compared without regard to case. */
  findUser(user: string): Promise<UserRecord | undefined>;

  /**
   * Live accounts in user-name order without regard to case: at most `limit` of them, those whose
   * name comes after `after` (compared the same way; undefined starts at the first), and `more`
   * when others follow.
   */
  listUsers(after: string | undefined, limit: number): Promise<UserPage>;

  /**
   * Replaces a live account's password hash (an administrator's reset). Rejects with
   * no_such_user when the account is deleted or unknown.
   */
  setPasswordHash(userId: number, passwordHash: string): Promise<void>;

  /** Records a log-in or log-out: the online flag operators query, and the last-seen time. */
  recordPresence(userId: number, online: boolean, at: string): Promise<void>;

  /**
   * Called at start-up, when this node has no session. A single node marks every account and
   * device offline. A node sharing the database with others joins them under a new node id
   * (whose heartbeat it then keeps) and marks offline only the devices of nodes found dead.
   */
  resetPresence(): Promise<void>;

  /** Registers the listener told what other nodes did (see ClusterEvent). */
  onCluster(listener: ClusterListener): void;

  /** Users with a session on some node now; empty for a single node (its registry knows). */
  onlineUserIds(): Promise<number[]>;

  /**
   * Counts a password check against `key` in the current one-minute window shared by every node,
   * and resolves with the count, this one included. A single node keeps no count (0): its
   * in-memory throttle is the whole truth.
   */
  countLoginAttempt(key: string): Promise<number>;

  /** Takes back a check counted by countLoginAttempt (it succeeded or was refused). */
  forgiveLoginAttempt(key: string): Promise<void>;

  /**
   * Deletes an account: its name becomes free, its inbox and devices are dropped, it leaves
   * every room (the members get `left`), and each message still waiting for it becomes
   * undeliverable with a receipt queued to the sender.
   */
  deleteUser(userId: number, at: string): Promise<void>;

  /**
   * Logs a device in: creates it at its first log-in (its position starts at the oldest event
   * some other device of the user has not acknowledged, or at the start of the stream for the
   * user's first device), forgetting the least recently logged-in devices past `maxDevices`.
   * Marks it online. Rejects with no_such_user when the account has been deleted, so a log-in
   * whose password check raced deleteUser cannot outlive the account.
   */
  attachDevice(userId: number, name: string, at: string, maxDevices: number): Promise<AttachedDevice>;

  /** Marks a device offline (its session ended). */
  detachDevice(deviceId: number, at: string): Promise<void>;

  /** The user's known devices, by name. */
  listDevices(userId: number): Promise<DeviceRecord[]>;

  /** Forgets a device by name (any case); rejects with no_such_device. */
  forgetDevice(userId: number, name: string): Promise<DeviceRecord>;

  /**
   * Stores a message. Idempotent on (senderId, cid). Rejects with no_such_user, no_such_room,
   * not_member or mailbox_full; a duplicate is never refused. With `normalizedText` (and no
   * older message waiting for the normalizer) it is in its inboxes once this resolves;
   * otherwise it waits for the normalization stage.
   */
  enqueueMessage(input: NewMessage): Promise<EnqueuedMessage>;

  /** True while some stored message waits for the normalizer. */
  hasUnnormalized(): boolean;

  /**
   * Stored messages still waiting for normalization, oldest first. Cheap only when the caller
   * settles (releases or holds) the oldest ones it was given before asking again, as the
   * normalization stage does.
   */
  unnormalizedMessages(limit: number): Promise<UnnormalizedMessage[]>;

  /**
   * Stores the normalized texts and releases those messages into their inboxes, in the order
   * given (callers pass them oldest first). Messages no longer waiting (expired, or their
   * recipient deleted) are skipped.
   */
  releaseMessages(items: readonly NormalizedMessage[], at: string): Promise<void>;

  /**
   * Takes a message out of normalization for good (the normalizer gave no usable text), and
   * ends it: it stops counting towards its recipient's waiting messages, is never delivered
   * nor expired, and its sender (when the account is live) gets an `undeliverable` receipt.
   * A message no longer pending is left as it is.
   */
  holdMessage(id: number, at: string): Promise<void>;

  /**
   * A device's stream after `afterSeq`, in seq order, at most `limit`: the user's own events
   * (but those caused by this device) merged with the logs of the user's rooms over the seq
   * range of each membership (but this device's own room messages, and room messages older
   * than the last expiry's limit).
   */
  inboxAfter(userId: number, deviceId: number, afterSeq: number, limit: number): Promise<InboxEvent[]>;

  /** How many events of the device's stream wait past its position. */
  inboxCount(userId: number, deviceId: number): Promise<number>;

  /**
   * Moves the device's position to `upToSeq` (never backwards). Messages acknowledged here
   * before any other device of their recipient become delivered and queue a `delivered`
   * receipt to their sender (not when already read).
   */
  acknowledge(userId: number, deviceId: number, upToSeq: number, at: string): Promise<void>;

  /**
   * Marks the conversation read up to message `upToId`: for a user, the messages from them with
   * id <= upToId become read with `read` receipts; for a room, the member's read position moves.
   * The reader's other devices get a `read_marker`.
   */
  markRead(
    readerId: number,
    deviceId: number,
    conversation: Conversation,
    upToId: number,
    at: string,
  ): Promise<void>;

  /** A conversation's normalized messages, with id < beforeId when given; oldest first. */
  history(
    userId: number,
    conversation: Conversation,
    beforeId: number | undefined,
    limit: number,
  ): Promise<HistoryMessage[]>;

  /**
   * Direct messages created before `olderThan` and still waiting for normalization or in their
   * recipient's inbox, neither acknowledged nor read, expire, with an `expired` receipt to a live
   * sender. Room messages that old are no longer delivered. Devices not seen since `olderThan`
   * are forgotten, and inbox events every device has acknowledged are pruned.
   */
  expireMessages(olderThan: string, at: string): Promise<void>;

  /**
   * Retention: examines at most `limit` messages with id > `afterId`, in id order, stopping at
   * the first one created at or after `cutoff`, and deletes those every reader has:
   * - a direct message delivered (acknowledged by a device of its recipient) whose events, in
   *   its recipient's and its sender's streams (the message, the sender's copy, its receipts),
   *   every device of their user has acknowledged; the events go with it;
   * - a room message whose event in the room's log every device of every live member whose
   *   membership covered it has acknowledged (a member without devices has not); the event goes
   *   with it. Membership changes stay in the log.
   * Undelivered, pending, held, expired and undeliverable messages stay, however old, and so does
   * the newest message of all (SQLite would otherwise give its id again). One call is one
   * transaction: callers bound the work of each by `limit` and go on from `lastId`.
   */
  deleteDeliveredBefore(cutoff: string, afterId: number, limit: number): Promise<RetentionBatch>;

  /** A live room by name, compared without regard to case. */
  findRoom(name: string): Promise<RoomRecord | undefined>;

  /** Whether the user is a member of the room now. */
  isRoomMember(roomId: number, userId: number): Promise<boolean>;

  /**
   * Creates a room owned by `ownerId` with the members after it, in the order given; each
   * gets a `created` event. Rejects with room_exists (any case).
   */
  createRoom(name: string, ownerId: number, memberIds: readonly number[], at: string): Promise<RoomRecord>;

  /**
   * Adds a member (no change when already one): every member gets `joined`. Rejects with
   * no_such_room, not_member (the actor is not a member) or too_many_members.
   * Resolves true when the user was added.
   */
  addRoomMember(
    roomId: number,
    userId: number,
    byId: number,
    at: string,
    maxMembers: number,
  ): Promise<boolean>;

  /**
   * Ends a membership: `left` when the user leaves, `removed` when the owner removes them; the
   * members and the user get the event. The owner leaving hands the room to the member who
   * joined earliest; the last member leaving deletes the room. Rejects with no_such_room,
   * not_member (the actor), not_owner (removing someone else). Resolves false when the user
   * was not a member.
   */
  removeRoomMember(roomId: number, userId: number, byId: number, at: string): Promise<boolean>;

  /** The rooms the user is a member of, by name. */
  listRooms(userId: number): Promise<RoomRecord[]>;

  /** The room's members, in the order they joined. */
  roomMembers(roomId: number): Promise<RoomMemberRecord[]>;

  /** Finishes writes in progress, then closes. Idempotent. */
  close(): Promise<void>;
}
