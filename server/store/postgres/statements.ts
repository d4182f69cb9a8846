// The PostgreSQL store's SQL, with the row shapes it returns. The same statements as SQLite's
// (../sqlite/statements.ts), in PostgreSQL's words: $n parameters, IS DISTINCT FROM, GREATEST,
// lower(name) for SQLite's COLLATE NOCASE, booleans for SQLite's 0/1.

/** Rows expiry reads per statement. */
export const EXPIRY_CHUNK = 500;

export type { InboxRow, RetentionRow, RoomEventRow } from "../stream-rows.js";

export interface DeviceRow {
  readonly id: number;
  readonly user_id: number;
  readonly name: string;
  readonly acked_seq: number;
  readonly online: number;
  readonly last_seen_at: string;
  /** Only in devicesByName's rows. */
  readonly held_elsewhere?: boolean;
}

export interface RoomRow {
  readonly id: number;
  readonly name: string;
  readonly owner_id: number;
}

export interface RoomRecordRow extends RoomRow {
  readonly owner: string;
  readonly members: number;
}

export interface MembershipRow {
  readonly room_id: number;
  readonly name: string;
  readonly first_seq: number;
  readonly last_seq: number | null;
}

export interface PlacedMessage {
  readonly id: number;
  readonly sender_id: number;
  readonly sender_device_id: number | null;
  readonly recipient_id: number | null;
  readonly room_id: number | null;
  readonly created_at: string;
}

export interface EndingRow {
  readonly id: number;
  readonly sender_id: number;
  readonly recipient_id: number | null;
  readonly status: string;
  readonly sender_live: boolean;
}

export interface ExpiryRow {
  readonly id: number;
  readonly sender_id: number;
  readonly recipient_id: number | null;
  readonly status: string;
  readonly created_at: string;
}

/** What parley_send_direct (2026_12_02_003) answers. */
export interface SentDirectRow {
  readonly outcome: "ok" | "duplicate" | "no_such_user" | "mailbox_full";
  readonly id: number;
  readonly created_at: string;
  readonly recipient_id: number;
  readonly recipient: string;
  readonly sender: string;
  readonly released: boolean;
  readonly copy: boolean;
}

/** A receipt parley_acknowledge (2026_12_02_003) wrote. */
export interface AckReceiptRow {
  readonly seq: number;
  readonly message_id: number;
  readonly sender_id: number;
}

export const DEVICE_COLUMNS = "id, user_id, name, acked_seq, online, last_seen_at";
export const USER_COLUMNS = "id, name, display_name, password_hash, created_at, last_seen_at";

/** Selects RoomRecordRow from rooms `r`. */
export const ROOM_RECORD = `r.id, r.name, r.owner_id, o.name AS owner,
  (SELECT count(*) FROM room_members x WHERE x.room_id = r.id AND x.last_seq IS NULL) AS members
  FROM rooms r JOIN users o ON o.id = r.owner_id`;

// $1 room, $2 after, $3 up to, $4 user, $5 device.
const ROOM_EVENT_FILTER = `re.room_id = $1 AND re.seq > $2 AND re.seq <= $3
  AND (re.kind = 'room'
       OR ((m.sender_id <> $4 OR m.sender_device_id IS DISTINCT FROM $5)
           AND m.created_at >= (SELECT room_horizon FROM store_meta WHERE id = 1)))`;

// $1 user, $2 after, $3 device.
const OWN_EVENT_FILTER = `e.user_id = $1 AND e.seq > $2 AND (e.skip_device_id IS NULL OR e.skip_device_id <> $3)
  AND (e.kind <> 'message' OR m.recipient_id IS DISTINCT FROM e.user_id OR m.status <> 'expired')`;

export const SQL = {
  lastSeq: "SELECT last_seq FROM store_meta WHERE id = 1",
  lockMeta: "SELECT last_seq, expiry_cursor FROM store_meta WHERE id = 1 FOR UPDATE",
  // $1 the seq, $2 the channel, $3 the seq as text: one round trip under the lock, not two.
  setLastSeqAndNotify: `WITH meta AS (UPDATE store_meta SET last_seq = $1 WHERE id = 1)
    SELECT pg_notify($2, $3)`,
  setExpiry: "UPDATE store_meta SET expiry_cursor = $1, room_horizon = $2 WHERE id = 1",

  insertUser: `INSERT INTO users (name, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4)
    RETURNING id`,
  setPasswordHash: "UPDATE users SET password_hash = $1 WHERE id = $2 AND deleted_at IS NULL",
  userName: "SELECT name FROM users WHERE id = $1",
  roomName: "SELECT name FROM rooms WHERE id = $1",
  findUser: `SELECT ${USER_COLUMNS} FROM users WHERE lower(name) = lower($1) AND deleted_at IS NULL`,
  // users_name_live (lower(name), live rows) serves both the seek and the order.
  listUsers: `SELECT ${USER_COLUMNS} FROM users
    WHERE deleted_at IS NULL AND ($1::text IS NULL OR lower(name) > lower($1))
    ORDER BY lower(name) LIMIT $2`,
  setPresence: "UPDATE users SET online = $1, last_seen_at = $2 WHERE id = $3",
  softDeleteUser: "UPDATE users SET deleted_at = $1, online = 0 WHERE id = $2 AND deleted_at IS NULL",
  dropInbox: "DELETE FROM inbox_events WHERE user_id = $1",
  dropDevices: "DELETE FROM devices WHERE user_id = $1",
  waitingFor: `SELECT m.id, m.sender_id, m.recipient_id, m.status, s.deleted_at IS NULL AS sender_live
    FROM messages m JOIN users s ON s.id = m.sender_id
    WHERE m.recipient_id = $1 AND m.status IN ('pending', 'sent')
    ORDER BY m.id`,
  userLive: "SELECT deleted_at IS NULL AS live FROM users WHERE id = $1",

  findDevice: `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = $1 AND lower(name) = lower($2)`,
  devicesByLogin: `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY last_login_at, id`,
  // $1 user, $2 this node.
  devicesByName: `SELECT ${DEVICE_COLUMNS},
      EXISTS (SELECT 1 FROM device_sessions s WHERE s.device_id = devices.id AND s.node_id <> $2) AS held_elsewhere
    FROM devices WHERE user_id = $1 ORDER BY lower(name), id`,
  deviceCount: "SELECT count(*) AS n FROM devices WHERE user_id = $1",
  insertDevice: `INSERT INTO devices (user_id, name, acked_seq, online, created_at, last_login_at, last_seen_at)
    VALUES ($1, $2, $3, 1, $4, $4, $4) RETURNING id`,
  deviceLogin: "UPDATE devices SET online = 1, last_login_at = $1, last_seen_at = $1 WHERE id = $2",
  deviceLogout: "UPDATE devices SET online = 0, last_seen_at = $1 WHERE id = $2",
  deleteDevice: "DELETE FROM devices WHERE id = $1",
  devicePosition: "SELECT acked_seq FROM devices WHERE id = $1",
  minAcked: "SELECT min(acked_seq) AS floor FROM devices WHERE user_id = $1",
  staleDevices: `SELECT ${DEVICE_COLUMNS} FROM devices WHERE online = 0 AND last_seen_at < $1`,
  pruneInbox: "DELETE FROM inbox_events WHERE user_id = $1 AND seq <= $2",
  pruneMemberships: "DELETE FROM room_members WHERE user_id = $1 AND last_seq IS NOT NULL AND last_seq <= $2",

  findDuplicate: "SELECT id, created_at FROM messages WHERE sender_id = $1 AND cid = $2",
  insertReleased: `INSERT INTO messages (sender_id, sender_device_id, recipient_id, room_id, cid, text, status,
      created_at, released_at)
    VALUES ($1, $2, $3, $4, $5, $6, 'sent', $7, $7) RETURNING id`,
  insertPending: `INSERT INTO messages (sender_id, sender_device_id, recipient_id, room_id, cid, raw_text, status,
      created_at)
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) RETURNING id`,
  // Functions of 2026_12_02_003: a direct send and an acknowledgement in one round trip each.
  sendDirectMany: `SELECT * FROM parley_send_direct_many($1, $2, $3, $4, $5, $6, $7, $8, $9)
    AS (outcome TEXT, id BIGINT, created_at TEXT, recipient_id BIGINT, recipient TEXT, sender TEXT,
        released BOOLEAN, copy BOOLEAN)`,
  acknowledge: "SELECT seq, message_id, sender_id FROM parley_acknowledge($1, $2, $3, $4, $5)",
  addUndelivered: "UPDATE users SET undelivered = undelivered + $2 WHERE id = $1",
  pendingCount: "SELECT count(*) AS n FROM messages WHERE status = 'pending'",
  anyPending: "SELECT EXISTS (SELECT 1 FROM messages WHERE status = 'pending') AS any",
  unnormalized: `SELECT id, raw_text AS text FROM messages WHERE status = 'pending' ORDER BY id LIMIT $1`,
  release: `UPDATE messages SET text = $1, status = 'sent', released_at = $2, raw_text = NULL
    WHERE id = $3 AND status = 'pending'
    RETURNING id, sender_id, sender_device_id, recipient_id, room_id, created_at`,
  hold: "UPDATE messages SET status = 'held' WHERE id = $1 AND status = 'pending' RETURNING sender_id, recipient_id",
  insertMessageEvent: `INSERT INTO inbox_events (user_id, seq, kind, message_id, skip_device_id, created_at)
    VALUES ($1, $2, 'message', $3, $4, $5)`,
  insertReceipt: `INSERT INTO inbox_events (user_id, seq, kind, message_id, receipt_status, created_at)
    VALUES ($1, $2, 'receipt', $3, $4, $5)`,
  insertReadMarker: `INSERT INTO inbox_events (user_id, seq, kind, skip_device_id, with_user_id, with_room_id,
      up_to, created_at)
    VALUES ($1, $2, 'read_marker', $3, $4, $5, $6, $7)`,
  insertRoomMessage: `INSERT INTO room_events (room_id, seq, kind, message_id, created_at)
    VALUES ($1, $2, 'message', $3, $4)`,
  insertRoomChange: `INSERT INTO room_events (room_id, seq, kind, change, user_id, by_id, created_at)
    VALUES ($1, $2, 'room', $3, $4, $5, $6)`,

  inboxAfter: `SELECT e.seq, e.kind, e.message_id, e.receipt_status, e.up_to, e.created_at AS event_at,
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
    LIMIT $4`,
  inboxCount: `SELECT count(*) AS n FROM inbox_events e LEFT JOIN messages m ON m.id = e.message_id
    WHERE ${OWN_EVENT_FILTER}`,
  streamMemberships: `SELECT rm.room_id, r.name, rm.first_seq, rm.last_seq
    FROM room_members rm JOIN rooms r ON r.id = rm.room_id
    WHERE rm.user_id = $1 AND (rm.last_seq IS NULL OR rm.last_seq > $2)`,
  roomEventsAfter: `SELECT re.seq, re.kind, re.message_id, re.change, re.created_at AS event_at,
      m.text, m.created_at AS message_at, s.name AS sender, u.name AS user_name, b.name AS by_name
    FROM room_events re
    LEFT JOIN messages m ON m.id = re.message_id
    LEFT JOIN users s ON s.id = m.sender_id
    LEFT JOIN users u ON u.id = re.user_id
    LEFT JOIN users b ON b.id = re.by_id
    WHERE ${ROOM_EVENT_FILTER}
    ORDER BY re.seq
    LIMIT $6`,
  roomEventCount: `SELECT count(*) AS n FROM room_events re LEFT JOIN messages m ON m.id = re.message_id
    WHERE ${ROOM_EVENT_FILTER}`,

  readable: `SELECT id FROM messages
    WHERE sender_id = $1 AND recipient_id = $2 AND id <= $3 AND status IN ('sent', 'delivered')
    ORDER BY id`,
  markRead: "UPDATE messages SET status = 'read', read_at = $1 WHERE id = $2",
  readRoom: `UPDATE room_members SET read_up_to = GREATEST(coalesce(read_up_to, 0), $1)
    WHERE room_id = $2 AND user_id = $3 AND last_seq IS NULL`,

  expiringPending: `SELECT id, sender_id, recipient_id, status, created_at FROM messages
    WHERE id > $1 AND status = 'pending' AND created_at < $2
    ORDER BY id LIMIT ${EXPIRY_CHUNK}`,
  messagesAfter: `SELECT id, sender_id, recipient_id, status, created_at FROM messages
    WHERE id > $1 ORDER BY id LIMIT ${EXPIRY_CHUNK}`,
  setStatus: "UPDATE messages SET status = $1 WHERE id = $2",

  // Retention, through inbox_events_message and room_events_message (2026_12_02_002).
  retentionCandidates: `SELECT id, recipient_id, room_id, status, delivered_at, created_at FROM messages
    WHERE id > $1 ORDER BY id LIMIT $2`,
  newestMessage: "SELECT max(id) AS id FROM messages",
  messageEvents: "SELECT user_id, seq FROM inbox_events WHERE message_id = $1",
  deleteMessageEvents: "DELETE FROM inbox_events WHERE message_id = $1",
  roomMessageEvent: "SELECT room_id, seq FROM room_events WHERE message_id = $1",
  // Live members whose membership covers the seq and whose devices have not all passed it.
  roomEventBlockers: `SELECT count(*) AS n FROM room_members rm JOIN users u ON u.id = rm.user_id
    WHERE rm.room_id = $1 AND rm.first_seq <= $2 AND (rm.last_seq IS NULL OR rm.last_seq >= $2)
      AND u.deleted_at IS NULL
      AND coalesce((SELECT min(d.acked_seq) FROM devices d WHERE d.user_id = rm.user_id), -1) < $2`,
  deleteRoomEvent: "DELETE FROM room_events WHERE room_id = $1 AND seq = $2",
  deleteMessage: "DELETE FROM messages WHERE id = $1",

  findRoom: `SELECT ${ROOM_RECORD} WHERE lower(r.name) = lower($1) AND r.deleted_at IS NULL`,
  roomById: "SELECT id, name, owner_id FROM rooms WHERE id = $1 AND deleted_at IS NULL",
  insertRoom: "INSERT INTO rooms (name, owner_id, created_at) VALUES ($1, $2, $3) RETURNING id",
  setOwner: "UPDATE rooms SET owner_id = $1 WHERE id = $2",
  deleteRoom: "UPDATE rooms SET deleted_at = $1 WHERE id = $2",
  insertMembership:
    "INSERT INTO room_members (room_id, user_id, first_seq, joined_at) VALUES ($1, $2, $3, $4)",
  endMembership: `UPDATE room_members SET last_seq = $1, left_at = $2
    WHERE room_id = $3 AND user_id = $4 AND last_seq IS NULL`,
  currentMemberships:
    "SELECT room_id FROM room_members WHERE user_id = $1 AND last_seq IS NULL ORDER BY room_id",
  memberIds: "SELECT user_id FROM room_members WHERE room_id = $1 AND last_seq IS NULL ORDER BY id",
  isMember: "SELECT 1 AS one FROM room_members WHERE room_id = $1 AND user_id = $2 AND last_seq IS NULL",
  membersOf: `SELECT rm.user_id, u.name, rm.read_up_to FROM room_members rm JOIN users u ON u.id = rm.user_id
    WHERE rm.room_id = $1 AND rm.last_seq IS NULL ORDER BY rm.id`,
  roomsOf: `SELECT ${ROOM_RECORD} JOIN room_members rm ON rm.room_id = r.id
    WHERE rm.user_id = $1 AND rm.last_seq IS NULL ORDER BY lower(r.name), r.id`,
} as const;
