// The Store on SQLite through better-sqlite3. Writes go through the WriteQueue (group commit);
// reads run at once, which is safe because a flush is synchronous: no read ever runs while a
// transaction is open. Hot paths use statements prepared once (statements.ts); cold reads use
// kysely.
//
// This process is the database's only writer, so a few counts live in memory instead of in hot
// rows that every message would update: the next seq, each user's undelivered messages (behind
// mailbox_full), the messages waiting for the normalizer, each user's device count and each
// room's members. Each is loaded from the database when first needed, changed only by a write
// that succeeded, and dropped when a batch rolls back, to be loaded again.

import Database from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import type { HistoryMessage, InboxEvent, MessageStatus, RoomChange } from "../../protocol/messages.js";
import {
  type AttachedDevice,
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
import type { Database as Schema } from "./schema.js";
import {
  type DeviceRow,
  EXPIRY_CHUNK,
  type PlacedMessage,
  prepareStatements,
  type RetentionRow,
  type RoomRow,
} from "./statements.js";
import { isBackendFailure, type StoreLogger, unavailable, WriteQueue } from "./write-queue.js";

export interface SqliteStoreOptions {
  readonly logger?: StoreLogger;
  /** Released once the database is closed. */
  readonly lock?: { release(): void };
}

/** The end of an open membership's seq range. */
const NO_END = Number.MAX_SAFE_INTEGER;

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #lock: { release(): void } | undefined;
  readonly #kysely: Kysely<Schema>;
  readonly #writes: WriteQueue;
  readonly #s: ReturnType<typeof prepareStatements>;
  readonly #listeners: InboxListener[] = [];
  readonly #commitListeners: CommitListener[] = [];
  #closing: Promise<void> | undefined;
  #closed = false;

  #lastSeq: number;
  #seqDirty = false;
  /** The events the batch being written adds to streams, in seq order. */
  #news: LiveEvent[] = [];
  // Names never change once given (a deleted account or room keeps its row), so they are cached.
  readonly #userNames = new Map<number, string>();
  readonly #roomNames = new Map<number, string>();
  /** Users whose devices' positions moved since the last sweep: only their inboxes can be pruned. */
  readonly #prunable = new Set<number>();
  /** Messages stored released while none waited for the normalizer: the cursor may follow. */
  #cursorBehind = false;
  #pendingCount: number | undefined;
  readonly #undelivered = new Map<number, number>();
  readonly #deviceCount = new Map<number, number>();
  readonly #roomMemberIds = new Map<number, number[]>();
  /** Room messages created before this are no longer delivered (set by each expiry sweep). */
  #roomHorizon = "";

  /** `db` must be open, with its pragmas set and its schema migrated (see open-store.ts). */
  constructor(db: Database.Database, options: SqliteStoreOptions = {}) {
    this.#db = db;
    this.#lock = options.lock;
    this.#kysely = new Kysely<Schema>({ dialect: new SqliteDialect({ database: db }) });
    this.#s = prepareStatements(db);
    this.#lastSeq = this.#s.lastSeq.get()!.last_seq;
    this.#writes = new WriteQueue(db, options.logger, {
      beforeCommit: () => this.#beforeCommit(),
      afterCommit: (commit) => this.#afterCommit(commit),
      afterRollback: () => this.#afterRollback(),
    });
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

  onNewEvents(listener: InboxListener): void {
    this.#listeners.push(listener);
  }

  onCommits(listener: CommitListener): void {
    this.#commitListeners.push(listener);
  }

  // --- accounts ---------------------------------------------------------------------------

  createUser(input: NewUser): Promise<UserRecord> {
    return this.#writes.enqueue(() => {
      let id: number;
      try {
        id = Number(
          this.#s.insertUser.run(input.user, input.name, input.passwordHash, input.at).lastInsertRowid,
        );
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
      const row = await this.#kysely
        .selectFrom("users")
        .select(["id", "name", "display_name", "password_hash", "created_at", "last_seen_at"])
        .where(sql<boolean>`name = ${user} COLLATE NOCASE`)
        .where("deleted_at", "is", null)
        .executeTakeFirst();
      return row === undefined ? undefined : toUserRecord(row);
    });
  }

  listUsers(after: string | undefined, limit: number): Promise<UserPage> {
    return this.#read(async () => {
      // users_name_live (name COLLATE NOCASE, live rows) serves both the seek and the order.
      let query = this.#kysely
        .selectFrom("users")
        .select(["id", "name", "display_name", "password_hash", "created_at", "last_seen_at"])
        .where("deleted_at", "is", null);
      if (after !== undefined) query = query.where(sql<boolean>`name > ${after} COLLATE NOCASE`);
      const rows = await query
        .orderBy(sql`name COLLATE NOCASE`)
        .limit(limit + 1)
        .execute();
      return { users: rows.slice(0, limit).map(toUserRecord), more: rows.length > limit };
    });
  }

  setPasswordHash(userId: number, passwordHash: string): Promise<void> {
    return this.#writes.enqueue(() => {
      if (this.#s.setPasswordHash.run(passwordHash, userId).changes === 0) {
        throw new StoreError("no_such_user", `there is no live user with id ${userId}`);
      }
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
      this.#s.resetDevicePresence.run();
    });
  }

  // One node: no other node to hear from, and the in-memory throttle is the whole truth.
  onCluster(_listener: ClusterListener): void {}

  onlineUserIds(): Promise<number[]> {
    return Promise.resolve([]);
  }

  countLoginAttempt(_key: string): Promise<number> {
    return Promise.resolve(0);
  }

  forgiveLoginAttempt(_key: string): Promise<void> {
    return Promise.resolve();
  }

  deleteUser(userId: number, at: string): Promise<void> {
    return this.#writes.enqueue(() => {
      if (this.#s.softDeleteUser.run(at, userId).changes === 0) return;
      this.#s.dropInbox.run(userId);
      this.#s.dropDevices.run(userId);
      for (const membership of this.#s.currentMemberships.all(userId)) {
        // The account is gone: its own streams get nothing more.
        this.#endMembership(membership.room_id, userId, userId, "left", at, false);
      }
      let pendingEnded = 0;
      // Held messages ended when they were held.
      for (const message of this.#s.waitingFor.all(userId)) {
        if (message.status === "pending") pendingEnded += 1;
        this.#s.setStatus.run("undeliverable", message.id);
        if (message.sender_id !== userId && message.sender_live === 1) {
          this.#receipt(message.sender_id, message.id, userId, "undeliverable", at);
        }
      }
      if (pendingEnded > 0) this.#s.advanceProgress.run();
      this.#undelivered.delete(userId);
      this.#deviceCount.delete(userId);
      this.#pendingChange(-pendingEnded);
    });
  }

  // --- devices ----------------------------------------------------------------------------

  attachDevice(userId: number, name: string, at: string, maxDevices: number): Promise<AttachedDevice> {
    return this.#writes.enqueue(() => {
      if (this.#s.userLive.get(userId)?.live !== 1) {
        throw new StoreError("no_such_user", "the account was deleted");
      }
      const existing = this.#s.findDevice.get(userId, name);
      if (existing !== undefined) {
        this.#s.deviceLogin.run(at, at, existing.id);
        return { device: toDeviceRecord({ ...existing, online: 1, last_seen_at: at }), forgotten: [] };
      }
      const known = this.#s.devicesByLogin.all(userId);
      // The oldest event that some device has not acknowledged: where this one starts.
      const position = known.length === 0 ? 0 : Math.min(...known.map((device) => device.acked_seq));
      const forgotten: DeviceRecord[] = [];
      while (known.length >= maxDevices) {
        const oldest = known.shift()!;
        this.#forget(oldest);
        forgotten.push(toDeviceRecord(oldest));
      }
      const id = Number(this.#s.insertDevice.run(userId, name, position, at, at, at).lastInsertRowid);
      this.#deviceCount.set(userId, known.length + 1);
      const device: DeviceRow = {
        id,
        user_id: userId,
        name,
        acked_seq: position,
        online: 1,
        last_seen_at: at,
      };
      return { device: toDeviceRecord(device), forgotten };
    });
  }

  detachDevice(deviceId: number, at: string): Promise<void> {
    return this.#writes.enqueue(() => {
      this.#s.deviceLogout.run(at, deviceId);
    });
  }

  listDevices(userId: number): Promise<DeviceRecord[]> {
    return this.#read(() => this.#s.devicesByName.all(userId).map(toDeviceRecord));
  }

  forgetDevice(userId: number, name: string): Promise<DeviceRecord> {
    return this.#writes.enqueue(() => {
      const device = this.#s.findDevice.get(userId, name);
      if (device === undefined) {
        throw new StoreError("no_such_device", `you have no device "${name.slice(0, 32)}"`);
      }
      const before = this.#devicesOf(userId);
      this.#forget(device);
      this.#deviceCount.set(userId, before - 1);
      return toDeviceRecord(device);
    });
  }

  /** Drops a device. Events it alone held back go first, so that no later device gets them. */
  #forget(device: DeviceRow): void {
    this.#prune(device.user_id);
    this.#s.deleteDevice.run(device.id);
  }

  /** Drops the user's events every device has acknowledged, and the memberships they ended. */
  #prune(userId: number): void {
    const floor = this.#s.minAcked.get(userId)?.floor;
    if (floor === null || floor === undefined) return;
    this.#s.pruneInbox.run(userId, floor);
    this.#s.pruneMemberships.run(userId, floor);
  }

  #devicesOf(userId: number): number {
    let count = this.#deviceCount.get(userId);
    if (count === undefined) {
      count = this.#s.deviceCount.get(userId)!.n;
      this.#deviceCount.set(userId, count);
    }
    return count;
  }

  // --- messages ---------------------------------------------------------------------------

  enqueueMessage(input: NewMessage): Promise<EnqueuedMessage> {
    return this.#writes.enqueue(() => {
      const first = this.#s.findDuplicate.get(input.senderId, input.cid);
      if (first !== undefined) return { id: first.id, at: first.created_at, duplicate: true };
      let recipientId: number | null = null;
      let roomId: number | null = null;
      if (input.to.startsWith("#")) {
        const room = this.#s.findRoom.get(input.to);
        if (room === undefined) throw noSuchRoom(input.to);
        if (!this.#memberIds(room.id).includes(input.senderId)) throw notMember(room.name);
        roomId = room.id;
      } else {
        const recipient = this.#s.findRecipient.get(input.to);
        if (recipient === undefined) throw new StoreError("no_such_user", `there is no user ${input.to}`);
        if (this.#undeliveredTo(recipient.id) >= input.maxPending) {
          throw new StoreError(
            "mailbox_full",
            `${input.to} already has ${input.maxPending} messages waiting`,
          );
        }
        recipientId = recipient.id;
      }
      // Counted before the insert: a count loaded afterwards would include this message.
      const released = input.normalizedText !== undefined && this.#pending() === 0;
      const id = Number(
        (released
          ? this.#s.insertReleased.run(
              input.senderId,
              input.senderDeviceId,
              recipientId,
              roomId,
              input.cid,
              input.normalizedText!,
              input.at,
              input.at,
            )
          : this.#s.insertPending.run(
              input.senderId,
              input.senderDeviceId,
              recipientId,
              roomId,
              input.cid,
              input.text,
              input.at,
            )
        ).lastInsertRowid,
      );
      if (released) {
        this.#place(
          {
            id,
            sender_id: input.senderId,
            sender_device_id: input.senderDeviceId,
            recipient_id: recipientId,
            room_id: roomId,
            created_at: input.at,
          },
          input.normalizedText!,
          input.at,
        );
        this.#cursorBehind = true;
      } else {
        this.#pendingChange(1);
      }
      if (recipientId !== null) this.#undelivered.set(recipientId, this.#undeliveredTo(recipientId) + 1);
      return { id, at: input.at, duplicate: false };
    });
  }

  hasUnnormalized(): boolean {
    return this.#pending() > 0;
  }

  unnormalizedMessages(limit: number): Promise<UnnormalizedMessage[]> {
    return this.#read(() => this.#s.unnormalized.all(limit));
  }

  releaseMessages(items: readonly NormalizedMessage[], at: string): Promise<void> {
    return this.#writes.enqueue(() => {
      let released = 0;
      for (const item of items) {
        const message = this.#s.release.get(item.text, at, item.id);
        if (message === undefined) continue;
        this.#place(message, item.text, at);
        released += 1;
      }
      this.#s.advanceProgress.run();
      this.#pendingChange(-released);
    });
  }

  holdMessage(id: number, at: string): Promise<void> {
    return this.#writes.enqueue(() => {
      const held = this.#s.hold.get(id);
      if (held === undefined) return;
      this.#s.advanceProgress.run();
      if (held.recipient_id !== null && this.#s.userLive.get(held.sender_id)?.live === 1) {
        this.#receipt(held.sender_id, id, held.recipient_id, "undeliverable", at);
      }
      this.#pendingChange(-1);
      if (held.recipient_id !== null) this.#undeliveredChange(held.recipient_id, -1);
    });
  }

  /**
   * Puts a released message where its readers find it: a direct message in its recipient's
   * inbox, and in its sender's for their other devices; a room message in the room's log.
   */
  #place(message: PlacedMessage, text: string, at: string): void {
    const from = this.#nameOf(message.sender_id);
    if (message.room_id !== null) {
      const seq = this.#nextSeq();
      this.#s.insertRoomMessage.run(message.room_id, seq, message.id, at);
      this.#news.push({
        event: {
          ev: "message",
          seq,
          id: message.id,
          from,
          to: this.#roomName(message.room_id),
          text,
          at: message.created_at,
        },
        userIds: this.#memberIds(message.room_id),
        skipDeviceId: message.sender_device_id,
      });
      return;
    }
    const recipientId = message.recipient_id!;
    const to = this.#nameOf(recipientId);
    const seq = this.#nextSeq();
    this.#s.insertMessageEvent.run(recipientId, seq, message.id, null, at);
    this.#news.push({
      event: { ev: "message", seq, id: message.id, from, to, text, at: message.created_at },
      userIds: [recipientId],
      skipDeviceId: null,
    });
    if (recipientId !== message.sender_id && this.#devicesOf(message.sender_id) > 1) {
      const copySeq = this.#nextSeq();
      this.#s.insertMessageEvent.run(message.sender_id, copySeq, message.id, message.sender_device_id, at);
      this.#news.push({
        event: { ev: "message", seq: copySeq, id: message.id, from, to, text, at: message.created_at },
        userIds: [message.sender_id],
        skipDeviceId: message.sender_device_id,
      });
    }
  }

  /** A receipt to `userId` about their message `messageId` to `recipientId`. */
  #receipt(
    userId: number,
    messageId: number,
    recipientId: number,
    status: "delivered" | "read" | "undeliverable" | "expired",
    at: string,
  ): void {
    const seq = this.#nextSeq();
    this.#s.insertReceipt.run(userId, seq, messageId, status, at);
    this.#news.push({
      event: { ev: "receipt", seq, id: messageId, to: this.#nameOf(recipientId), status, at },
      userIds: [userId],
      skipDeviceId: null,
    });
  }

  #nameOf(userId: number): string {
    let name = this.#userNames.get(userId);
    if (name === undefined) {
      name = this.#s.userName.get(userId)?.name ?? "";
      this.#userNames.set(userId, name);
    }
    return name;
  }

  #roomName(roomId: number): string {
    let name = this.#roomNames.get(roomId);
    if (name === undefined) {
      name = this.#s.roomName.get(roomId)?.name ?? "";
      this.#roomNames.set(roomId, name);
    }
    return name;
  }

  // --- streams ----------------------------------------------------------------------------

  inboxAfter(userId: number, deviceId: number, afterSeq: number, limit: number): Promise<InboxEvent[]> {
    return this.#read(() => {
      const own = this.#s.inboxAfter.all(userId, afterSeq, deviceId, limit).map(toInboxEvent);
      const memberships = this.#s.streamMemberships.all(userId, afterSeq);
      if (memberships.length === 0) return own;
      const events: InboxEvent[] = own;
      for (const membership of memberships) {
        const rows = this.#s.roomEventsAfter.all(
          membership.room_id,
          Math.max(afterSeq, membership.first_seq - 1),
          membership.last_seq ?? NO_END,
          userId,
          deviceId,
          this.#roomHorizon,
          limit,
        );
        for (const row of rows) events.push(toRoomInboxEvent(row, membership.name));
      }
      events.sort((a, b) => a.seq - b.seq);
      return events.length > limit ? events.slice(0, limit) : events;
    });
  }

  inboxCount(userId: number, deviceId: number): Promise<number> {
    return this.#read(() => {
      const position = this.#s.devicePosition.get(deviceId)?.acked_seq ?? 0;
      let count = this.#s.inboxCount.get(userId, position, deviceId)!.n;
      for (const membership of this.#s.streamMemberships.all(userId, position)) {
        count += this.#s.roomEventCount.get(
          membership.room_id,
          Math.max(position, membership.first_seq - 1),
          membership.last_seq ?? NO_END,
          userId,
          deviceId,
          this.#roomHorizon,
        )!.n;
      }
      return count;
    });
  }

  acknowledge(userId: number, deviceId: number, upToSeq: number, at: string): Promise<void> {
    return this.#writes.enqueue(() => {
      // Delivered is decided by the first device to acknowledge: the user's furthest position.
      const deliveredUpTo = this.#s.maxAcked.get(userId)?.top ?? 0;
      this.#s.moveDevice.run(upToSeq, at, deviceId);
      this.#prunable.add(userId);
      if (upToSeq <= deliveredUpTo) return;
      let delivered = 0;
      for (const message of this.#s.newlyAcked.all(userId, deliveredUpTo, upToSeq)) {
        if (message.delivered_at !== null) continue;
        // A message read before it was acknowledged gets its delivery time, not a second receipt.
        if (message.status === "read") {
          this.#s.setDeliveredAt.run(at, message.id);
          delivered += 1;
          continue;
        }
        // An expired one was counted out when it expired.
        if (message.status !== "sent") continue;
        delivered += 1;
        this.#s.deliver.run(at, message.id);
        if (message.sender_live === 1) this.#receipt(message.sender_id, message.id, userId, "delivered", at);
      }
      if (delivered > 0) this.#undeliveredChange(userId, -delivered);
    });
  }

  markRead(
    readerId: number,
    deviceId: number,
    conversation: Conversation,
    upToId: number,
    at: string,
  ): Promise<void> {
    return this.#writes.enqueue(() => {
      if (conversation.kind === "room") {
        this.#s.readRoom.run(upToId, conversation.id, readerId);
      } else {
        const senderLive = this.#s.userLive.get(conversation.id)?.live === 1;
        // The message keeps its place among the undelivered until a device acknowledges it.
        for (const message of this.#s.readable.all(conversation.id, readerId, upToId)) {
          this.#s.markRead.run(at, message.id);
          if (senderLive) this.#receipt(conversation.id, message.id, readerId, "read", at);
        }
      }
      if (this.#devicesOf(readerId) > 1) {
        const seq = this.#nextSeq();
        this.#s.insertReadMarker.run(
          readerId,
          seq,
          deviceId,
          conversation.kind === "user" ? conversation.id : null,
          conversation.kind === "room" ? conversation.id : null,
          upToId,
          at,
        );
        const name =
          conversation.kind === "user" ? this.#nameOf(conversation.id) : this.#roomName(conversation.id);
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
        const rows = await this.#kysely
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
        return rows.reverse().map((row) => ({
          id: row.id,
          from: row.from,
          to: row.to,
          text: row.text!,
          at: row.at,
          status: "sent",
        }));
      }
      const withUserId = conversation.id;
      // One direction of the conversation, newest first, walking the (recipient, sender, id) index.
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
      const rows = await conversationQuery.orderBy("id", "desc").limit(limit).execute();
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

  expireMessages(olderThan: string, at: string): Promise<void> {
    return this.#writes.enqueue(() => {
      const expire = (message: { id: number; sender_id: number; recipient_id: number | null }) => {
        this.#s.setStatus.run("expired", message.id);
        if (message.recipient_id === null) return;
        this.#undeliveredChange(message.recipient_id, -1);
        if (this.#s.userLive.get(message.sender_id)?.live === 1) {
          this.#receipt(message.sender_id, message.id, message.recipient_id, "expired", at);
        }
      };

      // Messages the normalizer has not answered for longer than the lifetime (an outage).
      let pendingAfter = this.#s.progress.get()!.last_message_id;
      let expiredPending = 0;
      for (;;) {
        const chunk = this.#s.expiringPending.all(pendingAfter, olderThan);
        for (const message of chunk) expire(message);
        expiredPending += chunk.length;
        if (chunk.length < EXPIRY_CHUNK) break;
        pendingAfter = chunk[chunk.length - 1]!.id;
      }
      if (expiredPending > 0) {
        this.#s.advanceProgress.run();
        this.#pendingChange(-expiredPending);
      }

      // Direct messages in id order (the order they were stored, so of their times) from where
      // the last sweep stopped, up to the first one young enough to live on.
      let cursor = this.#s.lastSeq.get()!.expiry_cursor;
      walk: for (;;) {
        const chunk = this.#s.messagesAfter.all(cursor);
        for (const message of chunk) {
          if (message.created_at >= olderThan || message.status === "pending") break walk;
          if (message.status === "sent" && message.recipient_id !== null) expire(message);
          cursor = message.id;
        }
        if (chunk.length < EXPIRY_CHUNK) break;
      }
      this.#s.setExpiryCursor.run(cursor);
      this.#roomHorizon = olderThan;

      for (const device of this.#s.staleDevices.all(olderThan)) {
        this.#forget(device);
        this.#deviceCount.delete(device.user_id);
      }
      for (const userId of this.#prunable) this.#prune(userId);
      this.#prunable.clear();
    });
  }

  deleteDeliveredBefore(cutoff: string, afterId: number, limit: number): Promise<RetentionBatch> {
    return this.#writes.enqueue(() => {
      const newest = this.#s.newestMessage.get()?.id ?? 0;
      const chunk = this.#s.retentionCandidates.all(afterId, limit);
      let lastId = afterId;
      let deleted = 0;
      for (const message of chunk) {
        if (message.created_at >= cutoff) return { deleted, lastId, more: false };
        lastId = message.id;
        if (message.id === newest || !this.#everyReaderHas(message)) continue;
        if (message.room_id === null) {
          this.#s.deleteMessageEvents.run(message.id);
        } else {
          const event = this.#s.roomMessageEvent.get(message.id);
          if (event !== undefined) this.#s.deleteRoomEvent.run(event.room_id, event.seq);
        }
        this.#s.deleteMessage.run(message.id);
        deleted += 1;
      }
      return { deleted, lastId, more: chunk.length === limit };
    });
  }

  /** Whether retention may delete the message: see Store.deleteDeliveredBefore. */
  #everyReaderHas(message: RetentionRow): boolean {
    if (message.room_id === null) {
      if (message.delivered_at === null) return false;
      return this.#s.messageEvents.all(message.id).every((event) => {
        const floor = this.#s.minAcked.get(event.user_id)?.floor;
        return floor !== null && floor !== undefined && event.seq <= floor;
      });
    }
    if (message.status !== "sent") return false;
    const event = this.#s.roomMessageEvent.get(message.id);
    if (event === undefined) return false;
    return this.#s.roomEventBlockers.get(event.room_id, event.seq, event.seq, event.seq)!.n === 0;
  }

  // --- rooms ------------------------------------------------------------------------------

  findRoom(name: string): Promise<RoomRecord | undefined> {
    return this.#read(() => {
      const room = this.#s.findRoom.get(name);
      return room === undefined ? undefined : this.#roomRecord(room);
    });
  }

  isRoomMember(roomId: number, userId: number): Promise<boolean> {
    return this.#read(() => this.#memberIds(roomId).includes(userId));
  }

  createRoom(name: string, ownerId: number, memberIds: readonly number[], at: string): Promise<RoomRecord> {
    return this.#writes.enqueue(() => {
      let roomId: number;
      try {
        roomId = Number(this.#s.insertRoom.run(name, ownerId, at).lastInsertRowid);
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new StoreError("room_exists", `there is a room ${name} already`, { cause: error });
        }
        throw error;
      }
      const seq = this.#nextSeq();
      this.#s.insertRoomChange.run(roomId, seq, "created", ownerId, ownerId, at);
      const members = [...new Set([ownerId, ...memberIds])];
      for (const memberId of members) this.#s.insertMembership.run(roomId, memberId, seq, at);
      this.#roomMemberIds.set(roomId, members);
      this.#roomChanged(name, seq, "created", ownerId, ownerId, at, members);
      return this.#roomRecord({ id: roomId, name, owner_id: ownerId });
    });
  }

  addRoomMember(
    roomId: number,
    userId: number,
    byId: number,
    at: string,
    maxMembers: number,
  ): Promise<boolean> {
    return this.#writes.enqueue(() => {
      const room = this.#liveRoom(roomId);
      const members = this.#memberIds(room.id);
      if (!members.includes(byId)) throw notMember(room.name);
      if (members.includes(userId)) return false;
      if (members.length >= maxMembers) {
        throw new StoreError(
          "too_many_members",
          `${room.name} has ${maxMembers} members, the most it may have`,
        );
      }
      const seq = this.#nextSeq();
      this.#s.insertMembership.run(room.id, userId, seq, at);
      this.#s.insertRoomChange.run(room.id, seq, "joined", userId, byId, at);
      this.#roomMemberIds.set(room.id, [...members, userId]);
      this.#roomChanged(room.name, seq, "joined", userId, byId, at, [...members, userId]);
      return true;
    });
  }

  removeRoomMember(roomId: number, userId: number, byId: number, at: string): Promise<boolean> {
    return this.#writes.enqueue(() => {
      const room = this.#liveRoom(roomId);
      const members = this.#memberIds(room.id);
      if (!members.includes(byId)) throw notMember(room.name);
      if (userId !== byId && room.owner_id !== byId) {
        throw new StoreError("not_owner", `only the owner of ${room.name} removes members`);
      }
      if (!members.includes(userId)) return false;
      this.#endMembership(room.id, userId, byId, userId === byId ? "left" : "removed", at);
      return true;
    });
  }

  listRooms(userId: number): Promise<RoomRecord[]> {
    return this.#read(() => this.#s.roomsOf.all(userId).map((room) => this.#roomRecord(room)));
  }

  roomMembers(roomId: number): Promise<RoomMemberRecord[]> {
    return this.#read(() =>
      this.#s.membersOf
        .all(roomId)
        .map((row) => ({ userId: row.user_id, user: row.name, readUpTo: row.read_up_to })),
    );
  }

  #liveRoom(roomId: number): RoomRow {
    const room = this.#s.roomById.get(roomId);
    if (room === undefined) throw new StoreError("no_such_room", "there is no such room");
    return room;
  }

  /** Ends a membership with its event, then hands the room on or deletes it when it is empty. */
  #endMembership(
    roomId: number,
    userId: number,
    byId: number,
    change: RoomChange,
    at: string,
    tellUser = true,
  ): void {
    const members = this.#memberIds(roomId);
    const rest = members.filter((memberId) => memberId !== userId);
    const seq = this.#nextSeq();
    this.#s.insertRoomChange.run(roomId, seq, change, userId, byId, at);
    this.#s.endMembership.run(seq, at, roomId, userId);
    this.#roomChanged(this.#roomName(roomId), seq, change, userId, byId, at, tellUser ? members : rest);
    this.#roomMemberIds.set(roomId, rest);
    const room = this.#s.roomById.get(roomId)!;
    if (rest.length === 0) {
      this.#s.deleteRoom.run(at, roomId);
      this.#roomMemberIds.delete(roomId);
    } else if (room.owner_id === userId) {
      this.#s.setOwner.run(rest[0]!, roomId);
    }
  }

  #roomChanged(
    room: string,
    seq: number,
    change: RoomChange,
    userId: number,
    byId: number,
    at: string,
    userIds: readonly number[],
  ): void {
    this.#news.push({
      event: { ev: "room", seq, room, change, user: this.#nameOf(userId), by: this.#nameOf(byId), at },
      userIds: [...userIds],
      skipDeviceId: null,
    });
  }

  /** The room's members in the order they joined: the first is the next owner. */
  #memberIds(roomId: number): number[] {
    let members = this.#roomMemberIds.get(roomId);
    if (members === undefined) {
      members = this.#s.memberIds.all(roomId).map((row) => row.user_id);
      this.#roomMemberIds.set(roomId, members);
    }
    return members;
  }

  #roomRecord(room: Pick<RoomRow, "id" | "name" | "owner_id">): RoomRecord {
    const members = this.#memberIds(room.id);
    return {
      id: room.id,
      name: room.name,
      ownerId: room.owner_id,
      owner: this.#nameOf(room.owner_id),
      members: members.length,
    };
  }

  // --- the batch around each transaction ----------------------------------------------------

  #nextSeq(): number {
    this.#seqDirty = true;
    this.#lastSeq += 1;
    return this.#lastSeq;
  }

  #pending(): number {
    this.#pendingCount ??= this.#s.pendingCount.get()!.n;
    return this.#pendingCount;
  }

  #undeliveredTo(userId: number): number {
    let count = this.#undelivered.get(userId);
    if (count === undefined) {
      const deliveredUpTo = this.#s.maxAcked.get(userId)?.top ?? 0;
      count = this.#s.undeliveredInInbox.get(userId, deliveredUpTo)!.n + this.#s.pendingTo.get(userId)!.n;
      this.#undelivered.set(userId, count);
    }
    return count;
  }

  // Counts in memory change only when loaded: one loaded later is read from rows that already
  // include the change.
  #pendingChange(delta: number): void {
    if (this.#pendingCount !== undefined) this.#pendingCount += delta;
  }

  #undeliveredChange(userId: number, delta: number): void {
    const count = this.#undelivered.get(userId);
    if (count !== undefined) this.#undelivered.set(userId, count + delta);
  }

  #beforeCommit(): void {
    if (this.#seqDirty) {
      this.#s.setLastSeq.run(this.#lastSeq);
      this.#seqDirty = false;
    }
    if (this.#cursorBehind) {
      if (this.#pending() === 0) this.#s.advanceProgress.run();
      this.#cursorBehind = false;
    }
  }

  #afterCommit(commit: CommitRecord): void {
    for (const listener of this.#commitListeners) listener([commit]);
    if (this.#news.length === 0) return;
    const news = this.#news;
    this.#news = [];
    for (const listener of this.#listeners) listener(news);
  }

  #afterRollback(): void {
    this.#news = [];
    this.#seqDirty = false;
    this.#cursorBehind = false;
    this.#pendingCount = undefined;
    this.#undelivered.clear();
    this.#deviceCount.clear();
    this.#roomMemberIds.clear();
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
    this.#lock?.release();
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

const HISTORY_STATUSES: readonly MessageStatus[] = ["sent", "delivered", "read", "undeliverable", "expired"];

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code === "SQLITE_CONSTRAINT_UNIQUE";
}

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
    heldElsewhere: false,
  };
}
