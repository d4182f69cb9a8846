// The Store on SQLite through better-sqlite3. Writes go through the WriteQueue (group commit);
// reads run at once, which is safe because a flush is synchronous: no read ever runs while a
// transaction is open. Hot paths use statements prepared once; cold reads use kysely.

import Database from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import type { HistoryMessage, InboxEvent, MessageStatus, ReceiptStatus } from "../../protocol/messages.js";
import {
  type EnqueuedMessage,
  type NewMessage,
  type NewUser,
  type NormalizedMessage,
  type Notified,
  type Store,
  StoreError,
  type UnnormalizedMessage,
  type UserRecord,
} from "../store.js";
import type { Database as Schema } from "./schema.js";
import { isBackendFailure, type StoreLogger, unavailable, WriteQueue } from "./write-queue.js";

export interface SqliteStoreOptions {
  readonly logger?: StoreLogger;
}

interface UserRow {
  readonly id: number;
  readonly name: string;
  readonly display_name: string;
  readonly password_hash: string;
  readonly created_at: string;
  readonly last_seen_at: string | null;
}

interface InboxRow {
  readonly seq: number;
  readonly kind: "message" | "receipt";
  readonly message_id: number;
  readonly receipt_status: ReceiptStatus | null;
  readonly event_at: string;
  readonly text: string | null;
  readonly message_at: string;
  readonly sender: string;
  readonly recipient: string;
}

/** A message that stops waiting for its recipient, with what its sender needs to hear of it. */
interface EndingRow {
  readonly id: number;
  readonly sender_id: number;
  readonly recipient_id: number;
  readonly sender_live: 0 | 1;
}

/** A message event in an inbox, as expiry sees it. */
interface InboxMessageRow {
  readonly seq: number;
  readonly event_at: string;
  readonly id: number;
  readonly sender_id: number;
  readonly recipient_id: number;
  readonly status: string;
  readonly message_at: string;
}

interface AckedRow {
  readonly id: number;
  readonly status: string;
  readonly sender_id: number;
  readonly sender_live: 0 | 1;
}

const HISTORY_STATUSES: readonly MessageStatus[] = ["sent", "delivered", "read", "undeliverable", "expired"];

/** Rows expiry reads per statement: the table changes between chunks, never under a statement. */
const EXPIRY_CHUNK = 500;

// A LIMIT taken from a parameter is written `LIMIT ? + 0`, never `LIMIT ?`: SQLite (3.53) reads a
// bare LIMIT parameter while planning, so binding it again (every call) makes it prepare the
// statement again. inboxAfter took 18 µs a call instead of 4.

function prepareStatements(db: Database.Database) {
  return {
    insertUser: db.prepare<[string, string, string, string]>(
      "INSERT INTO users (name, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
    ),
    setPresence: db.prepare<[number, string, number]>(
      "UPDATE users SET online = ?, last_seen_at = ? WHERE id = ?",
    ),
    resetPresence: db.prepare("UPDATE users SET online = 0 WHERE online <> 0"),
    softDeleteUser: db.prepare<[string, number]>(
      "UPDATE users SET deleted_at = ?, online = 0, pending_messages = 0 WHERE id = ? AND deleted_at IS NULL",
    ),
    dropInbox: db.prepare<[number]>("DELETE FROM inbox_events WHERE user_id = ?"),
    // A prefix of messages_conversation (recipient_id, sender_id, id).
    waitingFor: db.prepare<[number], EndingRow>(
      `SELECT m.id, m.sender_id, m.recipient_id, s.deleted_at IS NULL AS sender_live
       FROM messages m JOIN users s ON s.id = m.sender_id
       WHERE m.recipient_id = ? AND m.status IN ('pending', 'sent')
       ORDER BY m.id`,
    ),
    userLive: db.prepare<[number], { live: 0 | 1 }>(
      "SELECT deleted_at IS NULL AS live FROM users WHERE id = ?",
    ),

    findDuplicate: db.prepare<[number, string], { id: number; created_at: string }>(
      "SELECT id, created_at FROM messages WHERE sender_id = ? AND cid = ?",
    ),
    findRecipient: db.prepare<[string], { id: number; pending_messages: number }>(
      "SELECT id, pending_messages FROM users WHERE name = ? COLLATE NOCASE AND deleted_at IS NULL",
    ),
    insertMessage: db.prepare<[number, number, string, string, string]>(
      `INSERT INTO messages (sender_id, recipient_id, cid, raw_text, status, created_at)
       VALUES (?, ?, ?, ?, 'pending', ?)`,
    ),
    addPending: db.prepare<[number, number]>(
      "UPDATE users SET pending_messages = pending_messages + ? WHERE id = ?",
    ),

    // The normalization queue: a range of rowids from the cursor in normalization_progress, not
    // an index (one that every status change rewrote). Safe because ids are given in commit
    // order on this one connection and reads see only committed rows: a message stored after
    // the cursor last moved has a greater id than every message the cursor has passed. Short
    // because the stage settles the oldest messages first: the range starts at the oldest
    // message still pending.
    unnormalized: db.prepare<[number], UnnormalizedMessage>(
      `SELECT id, raw_text AS text FROM messages
       WHERE id > (SELECT last_message_id FROM normalization_progress WHERE id = 1) AND status = 'pending'
       ORDER BY id LIMIT ? + 0`,
    ),
    // Moves the cursor forward to just before the oldest message still pending, or to the newest
    // message when none is; never backwards. Not simply to the highest id settled: a caller may
    // settle a message before an older one (the stage holds a refused text from the middle of a
    // batch), which the cursor must not pass. The rows it walks are those just released or held,
    // and those that ended otherwise (a skipped release, expiry, a deleted recipient).
    advanceProgress: db.prepare(
      `UPDATE normalization_progress SET last_message_id = max(last_message_id, coalesce(
         (SELECT m.id - 1 FROM messages m
          WHERE m.id > normalization_progress.last_message_id AND m.status = 'pending'
          ORDER BY m.id LIMIT 1),
         (SELECT max(id) FROM messages),
         0))
       WHERE id = 1`,
    ),
    release: db.prepare<[string, string, number], { recipient_id: number }>(
      `UPDATE messages SET text = ?, status = 'sent', released_at = ?
       WHERE id = ? AND status = 'pending' RETURNING recipient_id`,
    ),
    hold: db.prepare<[number], { sender_id: number; recipient_id: number }>(
      "UPDATE messages SET status = 'held' WHERE id = ? AND status = 'pending' RETURNING sender_id, recipient_id",
    ),
    insertMessageEvent: db.prepare<[number, number, string]>(
      "INSERT INTO inbox_events (user_id, kind, message_id, created_at) VALUES (?, 'message', ?, ?)",
    ),
    insertReceipt: db.prepare<[number, number, ReceiptStatus, string]>(
      "INSERT INTO inbox_events (user_id, kind, message_id, receipt_status, created_at) VALUES (?, 'receipt', ?, ?, ?)",
    ),

    inboxAfter: db.prepare<[number, number, number], InboxRow>(
      `SELECT e.seq, e.kind, e.message_id, e.receipt_status, e.created_at AS event_at,
              m.text, m.created_at AS message_at, s.name AS sender, r.name AS recipient
       FROM inbox_events e
       JOIN messages m ON m.id = e.message_id
       JOIN users s ON s.id = m.sender_id
       JOIN users r ON r.id = m.recipient_id
       WHERE e.user_id = ? AND e.seq > ?
       ORDER BY e.seq
       LIMIT ? + 0`,
    ),
    inboxCount: db.prepare<[number], { n: number }>(
      "SELECT count(*) AS n FROM inbox_events WHERE user_id = ?",
    ),

    acked: db.prepare<[number, number], AckedRow>(
      `SELECT m.id, m.status, m.sender_id, s.deleted_at IS NULL AS sender_live
       FROM inbox_events e
       JOIN messages m ON m.id = e.message_id
       JOIN users s ON s.id = m.sender_id
       WHERE e.user_id = ? AND e.seq <= ? AND e.kind = 'message'
       ORDER BY e.seq`,
    ),
    deliver: db.prepare<[string, number]>(
      "UPDATE messages SET status = 'delivered', delivered_at = ? WHERE id = ?",
    ),
    dropEventsUpTo: db.prepare<[number, number]>("DELETE FROM inbox_events WHERE user_id = ? AND seq <= ?"),

    readable: db.prepare<[number, number, number], { id: number }>(
      `SELECT id FROM messages
       WHERE sender_id = ? AND recipient_id = ? AND id <= ? AND status IN ('sent', 'delivered')
       ORDER BY id`,
    ),
    markRead: db.prepare<[string, number]>("UPDATE messages SET status = 'read', read_at = ? WHERE id = ?"),

    // Messages the normalizer has not answered for: a rowid range from the cursor, in chunks.
    progress: db.prepare<[], { last_message_id: number }>(
      "SELECT last_message_id FROM normalization_progress WHERE id = 1",
    ),
    expiringPending: db.prepare<[number, string], EndingRow>(
      `SELECT m.id, m.sender_id, m.recipient_id, s.deleted_at IS NULL AS sender_live
       FROM messages m JOIN users s ON s.id = m.sender_id
       WHERE m.id > ? AND m.status = 'pending' AND m.created_at < ?
       ORDER BY m.id LIMIT ${EXPIRY_CHUNK}`,
    ),
    // Message events in inbox order (rowid order), in chunks.
    inboxMessages: db.prepare<[number], InboxMessageRow>(
      `SELECT e.seq, e.created_at AS event_at, m.id, m.sender_id, m.recipient_id, m.status,
              m.created_at AS message_at
       FROM inbox_events e JOIN messages m ON m.id = e.message_id
       WHERE e.seq > ? AND e.kind = 'message'
       ORDER BY e.seq LIMIT ${EXPIRY_CHUNK}`,
    ),
    setStatus: db.prepare<["undeliverable" | "expired", number]>(
      "UPDATE messages SET status = ? WHERE id = ?",
    ),
    dropEvent: db.prepare<[number]>("DELETE FROM inbox_events WHERE seq = ?"),
  };
}

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #kysely: Kysely<Schema>;
  readonly #writes: WriteQueue;
  readonly #s: ReturnType<typeof prepareStatements>;
  #closing: Promise<void> | undefined;
  #closed = false;
  // Every inbox event with seq <= this is out of expiry's reach for good: a receipt, or a message
  // event whose message is no longer 'sent' (nothing makes a message 'sent' again; a release adds
  // a new event, with a greater seq). Lets a sweep skip the receipts and read-but-unacknowledged
  // messages that pile up in the inboxes of users who stay away. Moved only once the sweep that
  // found it has committed; 0 after a restart.
  #expirySettledSeq = 0;

  /** `db` must be open, with its pragmas set and its schema migrated (see open-store.ts). */
  constructor(db: Database.Database, options: SqliteStoreOptions = {}) {
    this.#db = db;
    this.#kysely = new Kysely<Schema>({ dialect: new SqliteDialect({ database: db }) });
    this.#writes = new WriteQueue(db, options.logger);
    this.#s = prepareStatements(db);
  }

  /** Transactions committed so far; each holds every write of one flush. */
  get commitCount(): number {
    return this.#writes.commits;
  }

  /**
   * The connection itself, for tests that inspect pragmas and rows or provoke failures.
   * Writing through it bypasses the write queue: never use it in the server.
   */
  databaseForTests(): Database.Database {
    return this.#db;
  }

  createUser(input: NewUser): Promise<UserRecord> {
    return this.#writes.enqueue(() => {
      let id: number;
      try {
        id = Number(
          this.#s.insertUser.run(input.user, input.name, input.passwordHash, input.at).lastInsertRowid,
        );
      } catch (error) {
        if (error instanceof Database.SqliteError && error.code === "SQLITE_CONSTRAINT_UNIQUE") {
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
      const row = await this.#kysely
        .selectFrom("users")
        .select(["id", "name", "display_name", "password_hash", "created_at", "last_seen_at"])
        .where(sql<boolean>`name = ${user} COLLATE NOCASE`)
        .where("deleted_at", "is", null)
        .executeTakeFirst();
      return row === undefined ? undefined : toUserRecord(row);
    });
  }

  listUsers(): Promise<UserRecord[]> {
    return this.#read(async () => {
      const rows = await this.#kysely
        .selectFrom("users")
        .select(["id", "name", "display_name", "password_hash", "created_at", "last_seen_at"])
        .where("deleted_at", "is", null)
        .orderBy(sql`name COLLATE NOCASE`)
        .execute();
      return rows.map(toUserRecord);
    });
  }

  recordPresence(userId: number, online: boolean, at: string): Promise<void> {
    return this.#writes.enqueue(() => {
      this.#s.setPresence.run(online ? 1 : 0, at, userId);
    });
  }

  resetPresence(): Promise<void> {
    return this.#writes.enqueue(() => {
      this.#s.resetPresence.run();
    });
  }

  deleteUser(userId: number, at: string): Promise<Notified> {
    return this.#writes.enqueue(() => {
      const notified = new Set<number>();
      if (this.#s.softDeleteUser.run(at, userId).changes === 0) return { userIds: [] };
      this.#s.dropInbox.run(userId);
      // Held messages ended when they were held.
      for (const message of this.#s.waitingFor.all(userId)) {
        this.#s.setStatus.run("undeliverable", message.id);
        if (message.sender_id !== userId && message.sender_live === 1) {
          this.#s.insertReceipt.run(message.sender_id, message.id, "undeliverable", at);
          notified.add(message.sender_id);
        }
      }
      return { userIds: [...notified] };
    });
  }

  enqueueMessage(input: NewMessage): Promise<EnqueuedMessage> {
    return this.#writes.enqueue(() => {
      const first = this.#s.findDuplicate.get(input.senderId, input.cid);
      if (first !== undefined) return { id: first.id, at: first.created_at, duplicate: true };
      const recipient = this.#s.findRecipient.get(input.to);
      if (recipient === undefined) throw new StoreError("no_such_user", `there is no user ${input.to}`);
      if (recipient.pending_messages >= input.maxPending) {
        throw new StoreError("mailbox_full", `${input.to} already has ${input.maxPending} messages waiting`);
      }
      const inserted = this.#s.insertMessage.run(
        input.senderId,
        recipient.id,
        input.cid,
        input.text,
        input.at,
      );
      this.#s.addPending.run(1, recipient.id);
      return { id: Number(inserted.lastInsertRowid), at: input.at, duplicate: false };
    });
  }

  unnormalizedMessages(limit: number): Promise<UnnormalizedMessage[]> {
    return this.#read(() => this.#s.unnormalized.all(limit));
  }

  releaseMessages(items: readonly NormalizedMessage[], at: string): Promise<Notified> {
    return this.#writes.enqueue(() => {
      const notified = new Set<number>();
      for (const item of items) {
        const released = this.#s.release.get(item.text, at, item.id);
        if (released === undefined) continue;
        this.#s.insertMessageEvent.run(released.recipient_id, item.id, at);
        notified.add(released.recipient_id);
      }
      this.#s.advanceProgress.run();
      return { userIds: [...notified] };
    });
  }

  holdMessage(id: number, at: string): Promise<Notified> {
    return this.#writes.enqueue(() => {
      const held = this.#s.hold.get(id);
      if (held === undefined) return { userIds: [] };
      this.#s.advanceProgress.run();
      this.#s.addPending.run(-1, held.recipient_id);
      if (this.#s.userLive.get(held.sender_id)?.live !== 1) return { userIds: [] };
      this.#s.insertReceipt.run(held.sender_id, id, "undeliverable", at);
      return { userIds: [held.sender_id] };
    });
  }

  inboxAfter(userId: number, afterSeq: number, limit: number): Promise<InboxEvent[]> {
    return this.#read(() => this.#s.inboxAfter.all(userId, afterSeq, limit).map(toInboxEvent));
  }

  inboxCount(userId: number): Promise<number> {
    return this.#read(() => this.#s.inboxCount.get(userId)!.n);
  }

  acknowledge(userId: number, upToSeq: number, at: string): Promise<Notified> {
    return this.#writes.enqueue(() => {
      const notified = new Set<number>();
      let stoppedWaiting = 0;
      for (const message of this.#s.acked.all(userId, upToSeq)) {
        // A message read before it was acknowledged still counted as waiting until now.
        if (message.status === "sent" || message.status === "read") stoppedWaiting += 1;
        if (message.status !== "sent") continue;
        this.#s.deliver.run(at, message.id);
        if (message.sender_live === 1) {
          this.#s.insertReceipt.run(message.sender_id, message.id, "delivered", at);
          notified.add(message.sender_id);
        }
      }
      this.#s.dropEventsUpTo.run(userId, upToSeq);
      if (stoppedWaiting > 0) this.#s.addPending.run(-stoppedWaiting, userId);
      return { userIds: [...notified] };
    });
  }

  markRead(readerId: number, fromUserId: number, upToId: number, at: string): Promise<Notified> {
    return this.#writes.enqueue(() => {
      const senderLive = this.#s.userLive.get(fromUserId)?.live === 1;
      let receipts = 0;
      // The inbox event stays, and with it the message's place in the waiting count, until the
      // reader acknowledges it: acknowledge() is where the count goes down.
      for (const message of this.#s.readable.all(fromUserId, readerId, upToId)) {
        this.#s.markRead.run(at, message.id);
        if (senderLive) {
          this.#s.insertReceipt.run(fromUserId, message.id, "read", at);
          receipts += 1;
        }
      }
      return { userIds: receipts > 0 ? [fromUserId] : [] };
    });
  }

  history(
    userId: number,
    withUserId: number,
    beforeId: number | undefined,
    limit: number,
  ): Promise<HistoryMessage[]> {
    return this.#read(async () => {
      // One direction of the conversation, newest first, walking the (recipient, sender, id) index.
      const direction = (from: number, to: number) =>
        this.#kysely
          .selectFrom("messages as m")
          .innerJoin("users as s", "s.id", "m.sender_id")
          .innerJoin("users as r", "r.id", "m.recipient_id")
          .select(["m.id", "s.name as from", "r.name as to", "m.text", "m.created_at as at", "m.status"])
          .where("m.sender_id", "=", from)
          .where("m.recipient_id", "=", to)
          .where("m.text", "is not", null)
          .where("m.status", "in", HISTORY_STATUSES)
          .$if(beforeId !== undefined, (query) => query.where("m.id", "<", beforeId!))
          .orderBy("m.id", "desc")
          .limit(limit);
      const conversation =
        userId === withUserId
          ? this.#kysely.selectFrom(direction(userId, userId).as("c")).selectAll()
          : this.#kysely
              .selectFrom(direction(userId, withUserId).as("c"))
              .selectAll()
              .unionAll(this.#kysely.selectFrom(direction(withUserId, userId).as("c")).selectAll());
      const rows = await conversation.orderBy("id", "desc").limit(limit).execute();
      return rows.reverse().map((row) => ({
        id: row.id,
        from: row.from,
        to: row.to,
        text: row.text!,
        at: row.at,
        status: row.status as MessageStatus,
      }));
    });
  }

  expireMessages(olderThan: string, at: string): Promise<Notified> {
    return this.#writes
      .enqueue(() => {
        const notified = new Set<number>();
        const expire = (message: EndingRow) => {
          this.#s.setStatus.run("expired", message.id);
          this.#s.addPending.run(-1, message.recipient_id);
          if (message.sender_live === 1) {
            this.#s.insertReceipt.run(message.sender_id, message.id, "expired", at);
            notified.add(message.sender_id);
          }
        };

        // Messages the normalizer has not answered for longer than the lifetime (an outage).
        // Then the cursor may pass them.
        let pendingAfter = this.#s.progress.get()!.last_message_id;
        let expiredPending = 0;
        for (;;) {
          const chunk = this.#s.expiringPending.all(pendingAfter, olderThan);
          for (const message of chunk) expire(message);
          expiredPending += chunk.length;
          if (chunk.length < EXPIRY_CHUNK) break;
          pendingAfter = chunk[chunk.length - 1]!.id;
        }
        if (expiredPending > 0) this.#s.advanceProgress.run();

        // Released messages, through the inboxes: they hold only unacknowledged events, in the
        // order of release (seq order), each dated at its release, which comes after its
        // message was created. The walk stops at the first message event released at or after
        // the limit: the messages after it were either created after the limit or released late,
        // having waited for the normalizer; such a message expires once its release is older
        // than the limit, at the latest. (This assumes `at` never goes backwards.)
        let settled = this.#expirySettledSeq;
        let after = settled;
        let stillSettled = true;
        walk: for (;;) {
          const chunk = this.#s.inboxMessages.all(after);
          for (const event of chunk) {
            if (event.event_at >= olderThan) break walk;
            if (event.status === "sent") {
              if (event.message_at < olderThan) {
                this.#s.dropEvent.run(event.seq);
                expire({ ...event, sender_live: this.#s.userLive.get(event.sender_id)?.live ?? 0 });
              } else {
                stillSettled = false;
              }
            }
            if (stillSettled) settled = event.seq;
            after = event.seq;
          }
          if (chunk.length < EXPIRY_CHUNK) break;
        }
        return { userIds: [...notified], settled };
      })
      .then(({ userIds, settled }) => {
        this.#expirySettledSeq = Math.max(this.#expirySettledSeq, settled);
        return { userIds };
      });
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#writes.close();
    this.#closed = true;
    await this.#kysely.destroy();
    // kysely closes the connection only if it ever used it.
    this.#db.close();
  }

  async #read<T>(read: () => T | Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError("unavailable", "the store is closed");
    try {
      return await read();
    } catch (error) {
      throw isBackendFailure(error) ? unavailable(error) : error;
    }
  }
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

function toInboxEvent(row: InboxRow): InboxEvent {
  if (row.kind === "message") {
    return {
      ev: "message",
      seq: row.seq,
      id: row.message_id,
      from: row.sender,
      to: row.recipient,
      // Released together with its message event, so never NULL here.
      text: row.text!,
      at: row.message_at,
    };
  }
  return {
    ev: "receipt",
    seq: row.seq,
    id: row.message_id,
    to: row.recipient,
    status: row.receipt_status!,
    at: row.event_at,
  };
}
