// What the server needs from persistence, named after the server's needs. Each backend
// (server/store/sqlite/ today) implements it and passes test/store/store-contract.ts.
//
// Every method that writes commits before its promise resolves: a resolved write is
// durable. Writes take effect in the order they are called. A rejected call changed nothing.
// Backend failures (disk full, database locked or broken) reject with StoreError("unavailable").

import type { HistoryMessage, InboxEvent } from "../protocol/messages.js";

export type StoreErrorCode = "user_exists" | "no_such_user" | "mailbox_full" | "unavailable";

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
    this.code = code;
  }
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
  /** The recipient's user name, any case. */
  readonly to: string;
  readonly cid: string;
  /** The text as sent; it is normalized later, before anyone receives it. */
  readonly text: string;
  readonly at: string;
  /** Refuse with mailbox_full when the recipient already has this many messages waiting. */
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

/** Users who have new events in their inbox after a write: delivery wakes their sessions. */
export interface Notified {
  readonly userIds: readonly number[];
}

export interface Store {
  /** Rejects with user_exists when the name is taken, compared without regard to case. */
  createUser(input: NewUser): Promise<UserRecord>;

  /** A live (not deleted) account by name, compared without regard to case. */
  findUser(user: string): Promise<UserRecord | undefined>;

  /** Every live account, ordered by user name. */
  listUsers(): Promise<UserRecord[]>;

  /** Records a log-in or log-out: the online flag operators query, and the last-seen time. */
  recordPresence(userId: number, online: boolean, at: string): Promise<void>;

  /** Marks every account offline; called at start-up, when no session can exist. */
  resetPresence(): Promise<void>;

  /**
   * Deletes an account: its name becomes free, its inbox is dropped, and each message still
   * waiting for it becomes undeliverable with a receipt queued to the sender.
   */
  deleteUser(userId: number, at: string): Promise<Notified>;

  /**
   * Stores a message with its raw text, not yet visible to its recipient. Idempotent on
   * (senderId, cid). Rejects with no_such_user or mailbox_full; a duplicate is never refused.
   */
  enqueueMessage(input: NewMessage): Promise<EnqueuedMessage>;

  /**
   * Stored messages still waiting for normalization, oldest first. Cheap only when the caller
   * settles (releases or holds) the oldest ones it was given before asking again, as the
   * normalization stage does.
   */
  unnormalizedMessages(limit: number): Promise<UnnormalizedMessage[]>;

  /**
   * Stores the normalized texts and releases those messages into their recipients' inboxes,
   * in the order given (callers pass them oldest first). Messages no longer waiting
   * (expired, or their recipient deleted) are skipped.
   */
  releaseMessages(items: readonly NormalizedMessage[], at: string): Promise<Notified>;

  /**
   * Takes a message out of normalization for good (the normalizer gave no usable text), and
   * ends it: it stops counting towards its recipient's waiting messages, is never delivered
   * nor expired, and its sender (when the account is live) gets an `undeliverable` receipt.
   * A message no longer pending is left as it is.
   */
  holdMessage(id: number, at: string): Promise<Notified>;

  /** Inbox events with seq > afterSeq, in seq order, at most `limit`. */
  inboxAfter(userId: number, afterSeq: number, limit: number): Promise<InboxEvent[]>;

  /** How many events wait in the user's inbox. */
  inboxCount(userId: number): Promise<number>;

  /**
   * Removes inbox events with seq <= upToSeq. Each acknowledged message becomes delivered
   * and queues a `delivered` receipt to its sender (not when it was already read).
   */
  acknowledge(userId: number, upToSeq: number, at: string): Promise<Notified>;

  /** Marks messages from `fromUserId` to `readerId` with id <= upToId read; queues `read` receipts. */
  markRead(readerId: number, fromUserId: number, upToId: number, at: string): Promise<Notified>;

  /** Normalized messages between two users, with id < beforeId when given; oldest first. */
  history(
    userId: number,
    withUserId: number,
    beforeId: number | undefined,
    limit: number,
  ): Promise<HistoryMessage[]>;

  /**
   * Messages created before `olderThan` and still waiting for normalization or in their
   * recipient's inbox, neither acknowledged nor read, expire, with an `expired` receipt to a live
   * sender: a message's lifetime counts from when it was sent. A message released late, because
   * it waited for the normalizer, may outlive it by that wait at most: it expires at the latest
   * once its release is older than `olderThan` (given `at` times that never go backwards).
   */
  expireMessages(olderThan: string, at: string): Promise<Notified>;

  /** Finishes writes in progress, then closes. Idempotent. */
  close(): Promise<void>;
}
