// The first Parley schema: accounts, messages and inboxes.
//
// Frozen in time: this file imports no application code and must never change once released;
// a later schema is a new migration beside it. Plain SQL keeps the comments in sqlite_master,
// so an operator running `.schema` in sqlite3 reads them too. Timestamps are ISO 8601 UTC
// strings with milliseconds, readable and comparable as text.

import { type Kysely, sql } from "kysely";

const UP = [
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
  // Partial, so the name of a deleted account can be registered again.
  `CREATE UNIQUE INDEX users_name_live ON users (name COLLATE NOCASE) WHERE deleted_at IS NULL`,

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
  // The normalization queue.
  `CREATE INDEX messages_pending ON messages (id) WHERE status = 'pending'`,
  // History: both directions of a conversation are prefixes of this index.
  `CREATE INDEX messages_conversation ON messages (sender_id, recipient_id, id)`,
  // Expiry.
  `CREATE INDEX messages_waiting_since ON messages (created_at) WHERE status IN ('pending', 'held', 'sent')`,
  // Deleting an account turns the messages waiting for it undeliverable without a full scan.
  `CREATE INDEX messages_waiting_for ON messages (recipient_id) WHERE status IN ('pending', 'held', 'sent')`,

  // Each user's inbox. Receipts are inbox events of kind 'receipt': there is no receipts table.
  // Acknowledged events are deleted.
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
  `CREATE INDEX inbox_events_user ON inbox_events (user_id, seq)`,
  // Expiry removes a message's event from its recipient's inbox by message id.
  `CREATE INDEX inbox_events_message ON inbox_events (message_id) WHERE kind = 'message'`,
];

const DOWN = ["DROP TABLE inbox_events", "DROP TABLE messages", "DROP TABLE users"];

// biome-ignore lint/suspicious/noExplicitAny: a migration runs on the schema of its own time, which no type describes.
type AnyKysely = Kysely<any>;

export async function up(db: AnyKysely): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: AnyKysely): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
