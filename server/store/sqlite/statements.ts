// The SQLite store's statements, prepared once per connection, with the row shapes they return.
//
// A LIMIT taken from a parameter is written `LIMIT ? + 0`, never `LIMIT ?`: SQLite (3.53) reads a
// bare LIMIT parameter while planning, so binding it again (every call) makes it prepare the
// statement again. inboxAfter took 18 µs a call instead of 4.

import type Database from "better-sqlite3";
import type { ReceiptStatus, RoomChange } from "../../protocol/messages.js";
import type { InboxRow, RetentionRow, RoomEventRow } from "../stream-rows.js";

/** Rows expiry reads per statement: the table changes between chunks, never under a statement. */
export const EXPIRY_CHUNK = 500;

export type { InboxRow, RetentionRow, RoomEventRow } from "../stream-rows.js";

export interface DeviceRow {
  readonly id: number;
  readonly user_id: number;
  readonly name: string;
  readonly acked_seq: number;
  readonly online: 0 | 1;
  readonly last_seen_at: string;
}

export interface RoomRow {
  readonly id: number;
  readonly name: string;
  readonly owner_id: number;
}

export interface MembershipRow {
  readonly room_id: number;
  readonly name: string;
  readonly first_seq: number;
  readonly last_seq: number | null;
}

/** What placing a released message in its inboxes needs to know of it. */
export interface PlacedMessage {
  readonly id: number;
  readonly sender_id: number;
  readonly sender_device_id: number | null;
  readonly recipient_id: number | null;
  readonly room_id: number | null;
  readonly created_at: string;
}

/** A message that stops waiting for its recipient, with what its sender needs to hear of it. */
interface EndingRow {
  readonly id: number;
  readonly sender_id: number;
  readonly recipient_id: number | null;
  readonly status: string;
  readonly sender_live: 0 | 1;
}

interface AckedRow {
  readonly id: number;
  readonly status: string;
  readonly delivered_at: string | null;
  readonly sender_id: number;
  readonly sender_live: 0 | 1;
}

interface ExpiryRow {
  readonly id: number;
  readonly sender_id: number;
  readonly recipient_id: number | null;
  readonly status: string;
  readonly created_at: string;
}

const DEVICE_COLUMNS = "id, user_id, name, acked_seq, online, last_seen_at";

// A room event reaches a member unless it is their own message from this very device, or a
// message older than the lifetime.
const ROOM_EVENT_FILTER = `re.room_id = ? AND re.seq > ? AND re.seq <= ?
  AND (re.kind = 'room'
       OR ((m.sender_id <> ? OR m.sender_device_id IS NOT ?) AND m.created_at >= ?))`;

// An own event reaches every device but the one that caused it; a message to this user that
// expired is no longer delivered.
const OWN_EVENT_FILTER = `e.user_id = ? AND e.seq > ? AND (e.skip_device_id IS NULL OR e.skip_device_id <> ?)
  AND (e.kind <> 'message' OR m.recipient_id IS NOT e.user_id OR m.status <> 'expired')`;

export function prepareStatements(db: Database.Database) {
  return {
    lastSeq: db.prepare<[], { last_seq: number; expiry_cursor: number }>(
      "SELECT last_seq, expiry_cursor FROM store_meta WHERE id = 1",
    ),
    setLastSeq: db.prepare<[number]>("UPDATE store_meta SET last_seq = ? WHERE id = 1"),
    setExpiryCursor: db.prepare<[number]>("UPDATE store_meta SET expiry_cursor = ? WHERE id = 1"),

    insertUser: db.prepare<[string, string, string, string]>(
      "INSERT INTO users (name, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
    ),
    setPasswordHash: db.prepare<[string, number]>(
      "UPDATE users SET password_hash = ? WHERE id = ? AND deleted_at IS NULL",
    ),
    userName: db.prepare<[number], { name: string }>("SELECT name FROM users WHERE id = ?"),
    roomName: db.prepare<[number], { name: string }>("SELECT name FROM rooms WHERE id = ?"),
    setPresence: db.prepare<[number, string, number]>(
      "UPDATE users SET online = ?, last_seen_at = ? WHERE id = ?",
    ),
    resetPresence: db.prepare("UPDATE users SET online = 0 WHERE online <> 0"),
    resetDevicePresence: db.prepare("UPDATE devices SET online = 0 WHERE online <> 0"),
    softDeleteUser: db.prepare<[string, number]>(
      "UPDATE users SET deleted_at = ?, online = 0 WHERE id = ? AND deleted_at IS NULL",
    ),
    dropInbox: db.prepare<[number]>("DELETE FROM inbox_events WHERE user_id = ?"),
    dropDevices: db.prepare<[number]>("DELETE FROM devices WHERE user_id = ?"),
    // A prefix of messages_conversation (recipient_id, sender_id, id).
    waitingFor: db.prepare<[number], EndingRow>(
      `SELECT m.id, m.sender_id, m.recipient_id, m.status, s.deleted_at IS NULL AS sender_live
       FROM messages m JOIN users s ON s.id = m.sender_id
       WHERE m.recipient_id = ? AND m.status IN ('pending', 'sent')
       ORDER BY m.id`,
    ),
    userLive: db.prepare<[number], { live: 0 | 1 }>(
      "SELECT deleted_at IS NULL AS live FROM users WHERE id = ?",
    ),

    findDevice: db.prepare<[number, string], DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = ? AND name = ? COLLATE NOCASE`,
    ),
    devicesByLogin: db.prepare<[number], DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = ? ORDER BY last_login_at, id`,
    ),
    devicesByName: db.prepare<[number], DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = ? ORDER BY name COLLATE NOCASE`,
    ),
    deviceCount: db.prepare<[number], { n: number }>("SELECT count(*) AS n FROM devices WHERE user_id = ?"),
    insertDevice: db.prepare<[number, string, number, string, string, string]>(
      `INSERT INTO devices (user_id, name, acked_seq, online, created_at, last_login_at, last_seen_at)
       VALUES (?, ?, ?, 1, ?, ?, ?)`,
    ),
    deviceLogin: db.prepare<[string, string, number]>(
      "UPDATE devices SET online = 1, last_login_at = ?, last_seen_at = ? WHERE id = ?",
    ),
    deviceLogout: db.prepare<[string, number]>(
      "UPDATE devices SET online = 0, last_seen_at = ? WHERE id = ?",
    ),
    deleteDevice: db.prepare<[number]>("DELETE FROM devices WHERE id = ?"),
    devicePosition: db.prepare<[number], { acked_seq: number }>("SELECT acked_seq FROM devices WHERE id = ?"),
    moveDevice: db.prepare<[number, string, number]>(
      "UPDATE devices SET acked_seq = max(acked_seq, ?), last_seen_at = ? WHERE id = ?",
    ),
    maxAcked: db.prepare<[number], { top: number | null }>(
      "SELECT max(acked_seq) AS top FROM devices WHERE user_id = ?",
    ),
    minAcked: db.prepare<[number], { floor: number | null }>(
      "SELECT min(acked_seq) AS floor FROM devices WHERE user_id = ?",
    ),
    staleDevices: db.prepare<[string], DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE online = 0 AND last_seen_at < ?`,
    ),
    pruneInbox: db.prepare<[number, number]>("DELETE FROM inbox_events WHERE user_id = ? AND seq <= ?"),
    pruneMemberships: db.prepare<[number, number]>(
      "DELETE FROM room_members WHERE user_id = ? AND last_seq IS NOT NULL AND last_seq <= ?",
    ),

    findDuplicate: db.prepare<[number, string], { id: number; created_at: string }>(
      "SELECT id, created_at FROM messages WHERE sender_id = ? AND cid = ?",
    ),
    findRecipient: db.prepare<[string], { id: number }>(
      "SELECT id FROM users WHERE name = ? COLLATE NOCASE AND deleted_at IS NULL",
    ),
    insertReleased: db.prepare<
      [number, number, number | null, number | null, string, string, string, string]
    >(
      `INSERT INTO messages (sender_id, sender_device_id, recipient_id, room_id, cid, text, status,
                             created_at, released_at)
       VALUES (?, ?, ?, ?, ?, ?, 'sent', ?, ?)`,
    ),
    insertPending: db.prepare<[number, number, number | null, number | null, string, string, string]>(
      `INSERT INTO messages (sender_id, sender_device_id, recipient_id, room_id, cid, raw_text, status,
                             created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`,
    ),
    // Undelivered messages in a user's inbox (past the furthest device position) and waiting
    // for the normalizer: loaded once per user, then counted in memory.
    undeliveredInInbox: db.prepare<[number, number], { n: number }>(
      `SELECT count(*) AS n FROM inbox_events e JOIN messages m ON m.id = e.message_id
       WHERE e.user_id = ? AND e.seq > ? AND e.kind = 'message' AND m.recipient_id = e.user_id
         AND m.status IN ('sent', 'read') AND m.delivered_at IS NULL`,
    ),
    pendingTo: db.prepare<[number], { n: number }>(
      `SELECT count(*) AS n FROM messages
       WHERE id > (SELECT last_message_id FROM normalization_progress WHERE id = 1)
         AND status = 'pending' AND recipient_id = ?`,
    ),
    pendingCount: db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM messages
       WHERE id > (SELECT last_message_id FROM normalization_progress WHERE id = 1) AND status = 'pending'`,
    ),

    // The normalization queue: a range of rowids from the cursor in normalization_progress, not
    // an index (one that every status change rewrote). Safe because ids are given in commit
    // order on this one connection and reads see only committed rows: a message stored after
    // the cursor last moved has a greater id than every message the cursor has passed. Short
    // because the stage settles the oldest messages first: the range starts at the oldest
    // message still pending.
    unnormalized: db.prepare<[number], { id: number; text: string }>(
      `SELECT id, raw_text AS text FROM messages
       WHERE id > (SELECT last_message_id FROM normalization_progress WHERE id = 1) AND status = 'pending'
       ORDER BY id LIMIT ? + 0`,
    ),
    // Moves the cursor forward to just before the oldest message still pending, or to the newest
    // message when none is; never backwards. Not simply to the highest id settled: a caller may
    // settle a message before an older one (the stage holds a refused text from the middle of a
    // batch), which the cursor must not pass.
    advanceProgress: db.prepare(
      `UPDATE normalization_progress SET last_message_id = max(last_message_id, coalesce(
         (SELECT m.id - 1 FROM messages m
          WHERE m.id > normalization_progress.last_message_id AND m.status = 'pending'
          ORDER BY m.id LIMIT 1),
         (SELECT max(id) FROM messages),
         0))
       WHERE id = 1`,
    ),
    progress: db.prepare<[], { last_message_id: number }>(
      "SELECT last_message_id FROM normalization_progress WHERE id = 1",
    ),
    release: db.prepare<[string, string, number], PlacedMessage>(
      `UPDATE messages SET text = ?, status = 'sent', released_at = ?, raw_text = NULL
       WHERE id = ? AND status = 'pending'
       RETURNING id, sender_id, sender_device_id, recipient_id, room_id, created_at`,
    ),
    hold: db.prepare<[number], { sender_id: number; recipient_id: number | null }>(
      "UPDATE messages SET status = 'held' WHERE id = ? AND status = 'pending' RETURNING sender_id, recipient_id",
    ),
    insertMessageEvent: db.prepare<[number, number, number, number | null, string]>(
      `INSERT INTO inbox_events (user_id, seq, kind, message_id, skip_device_id, created_at)
       VALUES (?, ?, 'message', ?, ?, ?)`,
    ),
    insertReceipt: db.prepare<[number, number, number, ReceiptStatus, string]>(
      `INSERT INTO inbox_events (user_id, seq, kind, message_id, receipt_status, created_at)
       VALUES (?, ?, 'receipt', ?, ?, ?)`,
    ),
    insertReadMarker: db.prepare<[number, number, number, number | null, number | null, number, string]>(
      `INSERT INTO inbox_events (user_id, seq, kind, skip_device_id, with_user_id, with_room_id, up_to, created_at)
       VALUES (?, ?, 'read_marker', ?, ?, ?, ?, ?)`,
    ),
    insertRoomMessage: db.prepare<[number, number, number, string]>(
      "INSERT INTO room_events (room_id, seq, kind, message_id, created_at) VALUES (?, ?, 'message', ?, ?)",
    ),
    insertRoomChange: db.prepare<[number, number, RoomChange, number, number, string]>(
      `INSERT INTO room_events (room_id, seq, kind, change, user_id, by_id, created_at)
       VALUES (?, ?, 'room', ?, ?, ?, ?)`,
    ),

    inboxAfter: db.prepare<[number, number, number, number], InboxRow>(
      `SELECT e.seq, e.kind, e.message_id, e.receipt_status, e.up_to, e.created_at AS event_at,
              m.text, m.created_at AS message_at, s.name AS sender, r.name AS recipient,
              coalesce(wu.name, wr.name) AS with_name
       FROM inbox_events e
       LEFT JOIN messages m ON m.id = e.message_id
       LEFT JOIN users s ON s.id = m.sender_id
       LEFT JOIN users r ON r.id = m.recipient_id
       LEFT JOIN users wu ON wu.id = e.with_user_id
       LEFT JOIN rooms wr ON wr.id = e.with_room_id
       WHERE ${OWN_EVENT_FILTER}
       ORDER BY e.seq
       LIMIT ? + 0`,
    ),
    inboxCount: db.prepare<[number, number, number], { n: number }>(
      `SELECT count(*) AS n FROM inbox_events e LEFT JOIN messages m ON m.id = e.message_id
       WHERE ${OWN_EVENT_FILTER}`,
    ),
    // The rooms whose logs feed a user's stream after a seq: current ones, and those left after it.
    streamMemberships: db.prepare<[number, number], MembershipRow>(
      `SELECT rm.room_id, r.name, rm.first_seq, rm.last_seq
       FROM room_members rm JOIN rooms r ON r.id = rm.room_id
       WHERE rm.user_id = ? AND (rm.last_seq IS NULL OR rm.last_seq > ?)`,
    ),
    roomEventsAfter: db.prepare<[number, number, number, number, number, string, number], RoomEventRow>(
      `SELECT re.seq, re.kind, re.message_id, re.change, re.created_at AS event_at,
              m.text, m.created_at AS message_at, s.name AS sender, u.name AS user_name, b.name AS by_name
       FROM room_events re
       LEFT JOIN messages m ON m.id = re.message_id
       LEFT JOIN users s ON s.id = m.sender_id
       LEFT JOIN users u ON u.id = re.user_id
       LEFT JOIN users b ON b.id = re.by_id
       WHERE ${ROOM_EVENT_FILTER}
       ORDER BY re.seq
       LIMIT ? + 0`,
    ),
    roomEventCount: db.prepare<[number, number, number, number, number, string], { n: number }>(
      `SELECT count(*) AS n FROM room_events re LEFT JOIN messages m ON m.id = re.message_id
       WHERE ${ROOM_EVENT_FILTER}`,
    ),

    // The direct messages to this user among the events a first device acknowledges.
    newlyAcked: db.prepare<[number, number, number], AckedRow>(
      `SELECT m.id, m.status, m.delivered_at, m.sender_id, s.deleted_at IS NULL AS sender_live
       FROM inbox_events e
       JOIN messages m ON m.id = e.message_id
       JOIN users s ON s.id = m.sender_id
       WHERE e.user_id = ? AND e.seq > ? AND e.seq <= ? AND e.kind = 'message' AND m.recipient_id = e.user_id
       ORDER BY e.seq`,
    ),
    deliver: db.prepare<[string, number]>(
      "UPDATE messages SET status = 'delivered', delivered_at = ? WHERE id = ?",
    ),
    setDeliveredAt: db.prepare<[string, number]>("UPDATE messages SET delivered_at = ? WHERE id = ?"),

    readable: db.prepare<[number, number, number], { id: number }>(
      `SELECT id FROM messages
       WHERE sender_id = ? AND recipient_id = ? AND id <= ? AND status IN ('sent', 'delivered')
       ORDER BY id`,
    ),
    markRead: db.prepare<[string, number]>("UPDATE messages SET status = 'read', read_at = ? WHERE id = ?"),
    readRoom: db.prepare<[number, number, number]>(
      `UPDATE room_members SET read_up_to = max(coalesce(read_up_to, 0), ?)
       WHERE room_id = ? AND user_id = ? AND last_seq IS NULL`,
    ),

    expiringPending: db.prepare<[number, string], ExpiryRow>(
      `SELECT id, sender_id, recipient_id, status, created_at FROM messages
       WHERE id > ? AND status = 'pending' AND created_at < ?
       ORDER BY id LIMIT ${EXPIRY_CHUNK}`,
    ),
    messagesAfter: db.prepare<[number], ExpiryRow>(
      `SELECT id, sender_id, recipient_id, status, created_at FROM messages
       WHERE id > ? ORDER BY id LIMIT ${EXPIRY_CHUNK}`,
    ),
    setStatus: db.prepare<["undeliverable" | "expired", number]>(
      "UPDATE messages SET status = ? WHERE id = ?",
    ),

    // Retention. The events of a message are found through inbox_events_message and
    // room_events_message (2026_12_02_004), which the foreign keys' checks on delete need too.
    retentionCandidates: db.prepare<[number, number], RetentionRow>(
      `SELECT id, recipient_id, room_id, status, delivered_at, created_at FROM messages
       WHERE id > ? ORDER BY id LIMIT ? + 0`,
    ),
    newestMessage: db.prepare<[], { id: number | null }>("SELECT max(id) AS id FROM messages"),
    messageEvents: db.prepare<[number], { user_id: number; seq: number }>(
      "SELECT user_id, seq FROM inbox_events WHERE message_id = ?",
    ),
    deleteMessageEvents: db.prepare<[number]>("DELETE FROM inbox_events WHERE message_id = ?"),
    roomMessageEvent: db.prepare<[number], { room_id: number; seq: number }>(
      "SELECT room_id, seq FROM room_events WHERE message_id = ?",
    ),
    // Live members whose membership covers the seq and whose devices have not all passed it.
    roomEventBlockers: db.prepare<[number, number, number, number], { n: number }>(
      `SELECT count(*) AS n FROM room_members rm JOIN users u ON u.id = rm.user_id
       WHERE rm.room_id = ? AND rm.first_seq <= ? AND (rm.last_seq IS NULL OR rm.last_seq >= ?)
         AND u.deleted_at IS NULL
         AND coalesce((SELECT min(d.acked_seq) FROM devices d WHERE d.user_id = rm.user_id), -1) < ?`,
    ),
    deleteRoomEvent: db.prepare<[number, number]>("DELETE FROM room_events WHERE room_id = ? AND seq = ?"),
    deleteMessage: db.prepare<[number]>("DELETE FROM messages WHERE id = ?"),

    findRoom: db.prepare<[string], RoomRow>(
      "SELECT id, name, owner_id FROM rooms WHERE name = ? COLLATE NOCASE AND deleted_at IS NULL",
    ),
    roomById: db.prepare<[number], RoomRow>(
      "SELECT id, name, owner_id FROM rooms WHERE id = ? AND deleted_at IS NULL",
    ),
    insertRoom: db.prepare<[string, number, string]>(
      "INSERT INTO rooms (name, owner_id, created_at) VALUES (?, ?, ?)",
    ),
    setOwner: db.prepare<[number, number]>("UPDATE rooms SET owner_id = ? WHERE id = ?"),
    deleteRoom: db.prepare<[string, number]>("UPDATE rooms SET deleted_at = ? WHERE id = ?"),
    insertMembership: db.prepare<[number, number, number, string]>(
      "INSERT INTO room_members (room_id, user_id, first_seq, joined_at) VALUES (?, ?, ?, ?)",
    ),
    endMembership: db.prepare<[number, string, number, number]>(
      "UPDATE room_members SET last_seq = ?, left_at = ? WHERE room_id = ? AND user_id = ? AND last_seq IS NULL",
    ),
    currentMemberships: db.prepare<[number], { room_id: number }>(
      "SELECT room_id FROM room_members WHERE user_id = ? AND last_seq IS NULL ORDER BY room_id",
    ),
    memberIds: db.prepare<[number], { user_id: number }>(
      "SELECT user_id FROM room_members WHERE room_id = ? AND last_seq IS NULL ORDER BY id",
    ),
    membersOf: db.prepare<[number], { user_id: number; name: string; read_up_to: number | null }>(
      `SELECT rm.user_id, u.name, rm.read_up_to FROM room_members rm JOIN users u ON u.id = rm.user_id
       WHERE rm.room_id = ? AND rm.last_seq IS NULL ORDER BY rm.id`,
    ),
    roomsOf: db.prepare<[number], RoomRow>(
      `SELECT r.id, r.name, r.owner_id FROM room_members rm JOIN rooms r ON r.id = rm.room_id
       WHERE rm.user_id = ? AND rm.last_seq IS NULL ORDER BY r.name COLLATE NOCASE`,
    ),
  };
}
