// Positions instead of per-message state, several devices per user, and rooms (protocol v2).
//
// Why:
// - An acknowledgement used to delete inbox rows and update a hot counter row per message. Now
//   each device keeps one position (the highest seq it acknowledged, as a Kafka consumer keeps an
//   offset): an ack moves one number. Inbox rows below every device's position are pruned later,
//   in bulk, off the delivery path. users.pending_messages (a counter updated twice per message)
//   goes: the store counts a user's undelivered messages once and keeps the count in memory.
// - AUTOINCREMENT updated sqlite_sequence on every insert. Message ids are never reused without
//   it (messages are never deleted); seqs come from store_meta.last_seq, written once per commit.
// - inbox_events is clustered by (user_id, seq): one B-tree per event instead of a table and
//   an index, and a user's inbox is one contiguous range.
// - A message normalized when it is sent is stored with its normalized text only: raw_text is
//   kept only while a message waits for the normalizer.
// - Rooms keep one log each (room_events, a message stored once whatever the room's size) and a
//   membership row per member with the seq range it covers, as Synapse and Mattermost do; a
//   member's stream is their own inbox merged with the logs of their rooms, in seq order.
//
// Frozen in time: imports no application code and never changes once released.

import { type Kysely, sql } from "kysely";

const UP = [
  // Seqs are global and only grow; the highest one handed out, written once per transaction.
  `CREATE TABLE store_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL,
    -- Every message with id <= this is beyond expiry's reach: expiry resumes from here.
    expiry_cursor INTEGER NOT NULL DEFAULT 0
  )`,
  `INSERT INTO store_meta (id, last_seq) VALUES (1, max(
     coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'inbox_events'), 0),
     coalesce((SELECT max(seq) FROM inbox_events), 0)))`,

  "ALTER TABLE inbox_events RENAME TO inbox_events_v2",
  "ALTER TABLE messages RENAME TO messages_v2",
  "DROP INDEX inbox_events_user",
  "DROP INDEX messages_conversation",

  // A device of a user: one session at a time each, and one position in the user's stream.
  `CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    -- As the client named it at its first log-in; unique per user without regard to case.
    name TEXT NOT NULL,
    -- Every event of the user's stream with seq <= this is acknowledged by this device.
    acked_seq INTEGER NOT NULL,
    online INTEGER NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
    created_at TEXT NOT NULL,
    last_login_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
  )`,
  "CREATE UNIQUE INDEX devices_user_name ON devices (user_id, name COLLATE NOCASE)",

  `CREATE TABLE rooms (
    id INTEGER PRIMARY KEY,
    -- With its '#', as created. Unique without regard to case among rooms not deleted.
    name TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    -- Set when the last member leaves; the name is then free again.
    deleted_at TEXT
  )`,
  "CREATE UNIQUE INDEX rooms_name_live ON rooms (name COLLATE NOCASE) WHERE deleted_at IS NULL",

  // One row per membership period: a user who leaves and is added again has two.
  `CREATE TABLE room_members (
    id INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    -- The member gets the room's events with first_seq <= seq <= last_seq (no end while NULL):
    -- from the event that added them to the one that took them out.
    first_seq INTEGER NOT NULL,
    last_seq INTEGER,
    joined_at TEXT NOT NULL,
    left_at TEXT,
    -- The id of the newest room message this member has read.
    read_up_to INTEGER
  )`,
  "CREATE UNIQUE INDEX room_members_current ON room_members (room_id, user_id) WHERE last_seq IS NULL",
  "CREATE INDEX room_members_user ON room_members (user_id)",

  `CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    sender_id INTEGER NOT NULL REFERENCES users (id),
    -- The device it was sent from; NULL for messages sent before devices existed.
    sender_device_id INTEGER,
    -- Exactly one of the two: a direct message has a recipient, a room message a room.
    recipient_id INTEGER REFERENCES users (id),
    room_id INTEGER REFERENCES rooms (id),
    cid TEXT NOT NULL,
    -- The text as sent, kept only while the message waits for the normalizer.
    raw_text TEXT,
    -- The normalized text; NULL until the normalizer has answered. Only this text is ever delivered.
    text TEXT,
    -- pending: waiting for the normalizer; held: the normalizer gave no usable text;
    -- sent: in its recipient's inbox (a room message stays 'sent'); then delivered (acknowledged
    -- by a device of the recipient), read, undeliverable (recipient deleted) or expired.
    status TEXT NOT NULL CHECK (status IN ('pending', 'held', 'sent', 'delivered', 'read', 'undeliverable', 'expired')),
    created_at TEXT NOT NULL,
    released_at TEXT,
    delivered_at TEXT,
    read_at TEXT,
    UNIQUE (sender_id, cid),
    CHECK ((recipient_id IS NULL) <> (room_id IS NULL))
  )`,
  `INSERT INTO messages (id, sender_id, recipient_id, cid, raw_text, text, status, created_at,
                         released_at, delivered_at, read_at)
   SELECT id, sender_id, recipient_id, cid, CASE WHEN status = 'pending' THEN raw_text END, text,
          status, created_at, released_at, delivered_at, read_at
   FROM messages_v2 ORDER BY id`,
  // History and account deletion: both directions of a conversation are prefixes.
  "CREATE INDEX messages_conversation ON messages (recipient_id, sender_id, id) WHERE recipient_id IS NOT NULL",
  "CREATE INDEX messages_room ON messages (room_id, id) WHERE room_id IS NOT NULL",

  // Each user's own events. Acknowledged events stay until every device of the user has
  // acknowledged them, then are pruned in bulk.
  `CREATE TABLE inbox_events (
    user_id INTEGER NOT NULL REFERENCES users (id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'receipt', 'read_marker')),
    -- The message, for a message or a receipt.
    message_id INTEGER REFERENCES messages (id),
    receipt_status TEXT CHECK (receipt_status IN ('delivered', 'read', 'undeliverable', 'expired')),
    -- The one device of the user that does not get this event: the one that caused it.
    skip_device_id INTEGER,
    -- For a read marker: the conversation (a user or a room) and the message id read up to.
    with_user_id INTEGER REFERENCES users (id),
    with_room_id INTEGER REFERENCES rooms (id),
    up_to INTEGER,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, seq),
    CHECK ((kind = 'receipt') = (receipt_status IS NOT NULL)),
    CHECK ((kind = 'read_marker') = (up_to IS NOT NULL))
  ) WITHOUT ROWID`,
  `INSERT INTO inbox_events (user_id, seq, kind, message_id, receipt_status, created_at)
   SELECT user_id, seq, kind, message_id, receipt_status, created_at FROM inbox_events_v2`,

  // Each room's log: its messages and its membership changes, stored once for all members.
  `CREATE TABLE room_events (
    room_id INTEGER NOT NULL REFERENCES rooms (id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'room')),
    message_id INTEGER REFERENCES messages (id),
    -- For a membership change: what happened, to whom, by whom.
    change TEXT CHECK (change IN ('created', 'joined', 'left', 'removed')),
    user_id INTEGER REFERENCES users (id),
    by_id INTEGER REFERENCES users (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (room_id, seq),
    CHECK ((kind = 'message') = (message_id IS NOT NULL)),
    CHECK ((kind = 'room') = (change IS NOT NULL))
  ) WITHOUT ROWID`,

  "DROP TABLE inbox_events_v2",
  "DROP TABLE messages_v2",
  "ALTER TABLE users DROP COLUMN pending_messages",
];

// Back to the schema of 2026_11_25_002. Devices, rooms and room messages have no place there and
// are dropped; the waiting count is counted again; each inbox keeps the events no device of its
// user has acknowledged. users is rebuilt with its first schema's very text (ADD COLUMN would
// lose the column's comments); legacy_alter_table keeps the rename from rewriting the other
// tables' references to users.
const DOWN = [
  "PRAGMA legacy_alter_table = ON",
  "ALTER TABLE users RENAME TO users_v3",
  `CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    -- The user name as registered, case kept. Unique without regard to case among live accounts.
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    -- A salted memory-hard hash, never the password itself.
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT,
    -- 1 while a session is logged in: what operators query for "who is online".
    online INTEGER NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
    -- Soft delete: the row stays so old messages keep their sender's name.
    deleted_at TEXT,
    -- Messages waiting for this user: stored and not yet acknowledged, expired or undeliverable.
    -- Kept in the transactions that change it, because a COUNT(*) on every send is too slow.
    pending_messages INTEGER NOT NULL DEFAULT 0
  )`,
  `INSERT INTO users (id, name, display_name, password_hash, created_at, last_seen_at, online, deleted_at,
                      pending_messages)
   SELECT u.id, u.name, u.display_name, u.password_hash, u.created_at, u.last_seen_at, u.online, u.deleted_at,
          (SELECT count(*) FROM messages m
           WHERE m.recipient_id = u.id AND m.delivered_at IS NULL AND m.status IN ('pending', 'sent', 'read'))
   FROM users_v3 u ORDER BY u.id`,
  "DROP TABLE users_v3",
  `CREATE UNIQUE INDEX users_name_live ON users (name COLLATE NOCASE) WHERE deleted_at IS NULL`,
  "PRAGMA legacy_alter_table = OFF",

  "DROP TABLE room_events",
  "ALTER TABLE inbox_events RENAME TO inbox_events_v3",
  "ALTER TABLE messages RENAME TO messages_v3",
  "DROP INDEX messages_conversation",
  "DROP INDEX messages_room",

  `CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id INTEGER NOT NULL REFERENCES users (id),
    recipient_id INTEGER NOT NULL REFERENCES users (id),
    -- The client's id for the message, unique per sender: a resent cid is answered, not stored again.
    cid TEXT NOT NULL,
    -- The text as sent.
    raw_text TEXT NOT NULL,
    -- The normalized text; NULL until the normalizer has answered. Only this text is ever delivered.
    text TEXT,
    -- pending: stored, awaiting normalization; held: the normalizer gave no usable text;
    -- sent: released into the recipient's inbox; then delivered (acknowledged), read,
    -- undeliverable (recipient deleted) or expired (never delivered within the lifetime).
    status TEXT NOT NULL CHECK (status IN ('pending', 'held', 'sent', 'delivered', 'read', 'undeliverable', 'expired')),
    created_at TEXT NOT NULL,
    released_at TEXT,
    delivered_at TEXT,
    read_at TEXT,
    UNIQUE (sender_id, cid)
  )`,
  `INSERT INTO messages (id, sender_id, recipient_id, cid, raw_text, text, status, created_at,
                         released_at, delivered_at, read_at)
   SELECT id, sender_id, recipient_id, cid, coalesce(raw_text, text, ''), text, status, created_at,
          released_at, delivered_at, read_at
   FROM messages_v3 WHERE recipient_id IS NOT NULL ORDER BY id`,
  "CREATE INDEX messages_conversation ON messages (recipient_id, sender_id, id)",

  `CREATE TABLE inbox_events (
    -- Global and only growing: AUTOINCREMENT never reuses the seq of a deleted (acknowledged) event.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Whose inbox: the recipient of a message, or the sender a receipt reports to.
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('message', 'receipt')),
    message_id INTEGER NOT NULL REFERENCES messages (id),
    -- What happened to the message, for a receipt; NULL for a message.
    receipt_status TEXT CHECK (receipt_status IN ('delivered', 'read', 'undeliverable', 'expired')),
    created_at TEXT NOT NULL,
    CHECK ((kind = 'message') = (receipt_status IS NULL))
  )`,
  `INSERT INTO inbox_events (seq, user_id, kind, message_id, receipt_status, created_at)
   SELECT e.seq, e.user_id, e.kind, e.message_id, e.receipt_status, e.created_at
   FROM inbox_events_v3 e JOIN messages m ON m.id = e.message_id
   WHERE e.kind IN ('message', 'receipt') AND e.skip_device_id IS NULL
     AND e.seq > coalesce((SELECT max(d.acked_seq) FROM devices d WHERE d.user_id = e.user_id), 0)
   ORDER BY e.seq`,
  "CREATE INDEX inbox_events_user ON inbox_events (user_id, seq)",
  // AUTOINCREMENT goes on from the highest seq ever handed out.
  `UPDATE sqlite_sequence SET seq = max(seq, (SELECT last_seq FROM store_meta)) WHERE name = 'inbox_events'`,
  `INSERT INTO sqlite_sequence (name, seq)
   SELECT 'inbox_events', last_seq FROM store_meta
   WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inbox_events')`,

  "DROP TABLE inbox_events_v3",
  "DROP TABLE messages_v3",
  "DROP TABLE room_members",
  "DROP TABLE rooms",
  "DROP TABLE devices",
  "DROP TABLE store_meta",
];

// biome-ignore lint/suspicious/noExplicitAny: a migration runs on the schema of its own time, which no type describes.
type AnyKysely = Kysely<any>;

export async function up(db: AnyKysely): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: AnyKysely): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
