// The PostgreSQL schema, the same as SQLite's after 2026_12_01_003 (see ../*.ts for why each
// table is shaped as it is), created in one step: PostgreSQL has no older databases to upgrade.
//
// What differs from SQLite: ids are BIGINT identities; names are unique on lower(name) (SQLite's
// COLLATE NOCASE); store_meta keeps the room horizon and users the undelivered count, which
// SQLite's only writer keeps in memory, because every node reads and writes them.
//
// Frozen in time: imports no application code and never changes once released.

import { type Kysely, sql } from "kysely";

const UP = [
  `CREATE TABLE store_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- The highest seq handed out. Its row is locked by every write transaction (FOR UPDATE), which
    -- serializes writers across nodes so that seqs and message ids are given in commit order.
    last_seq BIGINT NOT NULL,
    expiry_cursor BIGINT NOT NULL DEFAULT 0,
    -- Room messages created before this are no longer delivered (set by each expiry sweep).
    room_horizon TEXT NOT NULL DEFAULT ''
  )`,
  "INSERT INTO store_meta (id, last_seq) VALUES (1, 0)",

  `CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT,
    online SMALLINT NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
    deleted_at TEXT,
    -- Messages to this user stored and not yet delivered, expired or undeliverable: the count
    -- behind mailbox_full. SQLite's only writer keeps it in memory; here every node writes, so
    -- it is a column, updated under the store_meta lock that every write transaction holds.
    undelivered BIGINT NOT NULL DEFAULT 0
  )`,
  "CREATE UNIQUE INDEX users_name_live ON users (lower(name)) WHERE deleted_at IS NULL",

  `CREATE TABLE devices (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    acked_seq BIGINT NOT NULL,
    online SMALLINT NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
    created_at TEXT NOT NULL,
    last_login_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
  )`,
  "CREATE UNIQUE INDEX devices_user_name ON devices (user_id, lower(name))",

  `CREATE TABLE rooms (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    deleted_at TEXT
  )`,
  "CREATE UNIQUE INDEX rooms_name_live ON rooms (lower(name)) WHERE deleted_at IS NULL",

  `CREATE TABLE room_members (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    first_seq BIGINT NOT NULL,
    last_seq BIGINT,
    joined_at TEXT NOT NULL,
    left_at TEXT,
    read_up_to BIGINT
  )`,
  "CREATE UNIQUE INDEX room_members_current ON room_members (room_id, user_id) WHERE last_seq IS NULL",
  "CREATE INDEX room_members_user ON room_members (user_id)",

  `CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id BIGINT NOT NULL REFERENCES users (id),
    sender_device_id BIGINT,
    recipient_id BIGINT REFERENCES users (id),
    room_id BIGINT REFERENCES rooms (id),
    cid TEXT NOT NULL,
    raw_text TEXT,
    text TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'held', 'sent', 'delivered', 'read', 'undeliverable', 'expired')),
    created_at TEXT NOT NULL,
    released_at TEXT,
    delivered_at TEXT,
    read_at TEXT,
    UNIQUE (sender_id, cid),
    CHECK ((recipient_id IS NULL) <> (room_id IS NULL))
  )`,
  "CREATE INDEX messages_conversation ON messages (recipient_id, sender_id, id) WHERE recipient_id IS NOT NULL",
  "CREATE INDEX messages_room ON messages (room_id, id) WHERE room_id IS NOT NULL",
  // The normalization queue. SQLite walks a range of ids from a cursor (normalization_progress)
  // instead of keeping an index that every status change rewrites; a partial index holds only
  // the few messages waiting, and needs no cursor.
  "CREATE INDEX messages_pending ON messages (id) WHERE status = 'pending'",

  `CREATE TABLE inbox_events (
    user_id BIGINT NOT NULL REFERENCES users (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'receipt', 'read_marker')),
    message_id BIGINT REFERENCES messages (id),
    receipt_status TEXT CHECK (receipt_status IN ('delivered', 'read', 'undeliverable', 'expired')),
    skip_device_id BIGINT,
    with_user_id BIGINT REFERENCES users (id),
    with_room_id BIGINT REFERENCES rooms (id),
    up_to BIGINT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, seq),
    CHECK ((kind = 'receipt') = (receipt_status IS NOT NULL)),
    CHECK ((kind = 'read_marker') = (up_to IS NOT NULL))
  )`,

  `CREATE TABLE room_events (
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'room')),
    message_id BIGINT REFERENCES messages (id),
    change TEXT CHECK (change IN ('created', 'joined', 'left', 'removed')),
    user_id BIGINT REFERENCES users (id),
    by_id BIGINT REFERENCES users (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (room_id, seq),
    CHECK ((kind = 'message') = (message_id IS NOT NULL)),
    CHECK ((kind = 'room') = (change IS NOT NULL))
  )`,
];

const DOWN = [
  "DROP TABLE room_events",
  "DROP TABLE inbox_events",
  "DROP TABLE messages",
  "DROP TABLE room_members",
  "DROP TABLE rooms",
  "DROP TABLE devices",
  "DROP TABLE users",
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
