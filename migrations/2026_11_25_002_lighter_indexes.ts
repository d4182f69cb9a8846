// Fewer indexes on messages, for throughput.
//
// Why: the three partial indexes keyed on status (messages_pending, messages_waiting_since,
// messages_waiting_for) were rewritten on every status change, so every message paid for them
// three times (stored, released, acknowledged): about a third of the store's work per message.
// Their jobs are now done without them:
// - the normalization queue is a range of rowids after a cursor kept in normalization_progress;
// - expiry walks inbox_events in seq order (the oldest events come first) and the few messages
//   after the cursor still waiting for normalization;
// - deleting an account, and history, seek the new messages_conversation, which leads with the
//   recipient (one seek per direction of a conversation; a recipient's messages are a prefix).
// inbox_events_message served expiry only, which now deletes events by seq.
//
// A held message (the normalizer gave no usable text) used to wait until it expired; from this
// schema on it ends when it is held: its recipient's waiting count goes down and its sender, if
// the account is live, gets an `undeliverable` receipt. Messages held before are ended here alike.
//
// Frozen in time: imports no application code and never changes once released.

import { type Kysely, sql } from "kysely";

const UP = [
  // Every message with id <= last_message_id has been through normalization: released, held or
  // ended otherwise (expired, undeliverable). One row. Filled in before messages_pending goes,
  // so that finding the first pending message is a seek, not a scan.
  `CREATE TABLE normalization_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_message_id INTEGER NOT NULL
  )`,
  `INSERT INTO normalization_progress (id, last_message_id)
   VALUES (1, COALESCE(
     (SELECT min(id) - 1 FROM messages WHERE status = 'pending'),
     (SELECT max(id) FROM messages),
     0))`,

  // Held messages stop waiting: receipts first (they need the rows still 'held'), then the count.
  `INSERT INTO inbox_events (user_id, kind, message_id, receipt_status, created_at)
   SELECT m.sender_id, 'receipt', m.id, 'undeliverable', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
   FROM messages m JOIN users s ON s.id = m.sender_id
   WHERE m.status = 'held' AND s.deleted_at IS NULL
   ORDER BY m.id`,
  // One pass over the waiting messages (the IN term lets SQLite walk messages_waiting_for).
  `UPDATE users SET pending_messages = pending_messages - held.n
   FROM (SELECT recipient_id, count(*) AS n FROM messages
         WHERE status IN ('pending', 'held', 'sent') AND status = 'held'
         GROUP BY recipient_id) AS held
   WHERE users.id = held.recipient_id`,

  "DROP INDEX messages_pending",
  "DROP INDEX messages_waiting_since",
  "DROP INDEX messages_waiting_for",
  "DROP INDEX messages_conversation",
  "DROP INDEX inbox_events_message",
  // History (both directions, one seek each) and deleting an account (a prefix).
  "CREATE INDEX messages_conversation ON messages (recipient_id, sender_id, id)",
];

// Back to the first schema's indexes. Held messages were ended by this schema (counted out of
// the mailbox, receipt sent); under the first schema a held message still waits and expires later,
// so they become undeliverable, the status that schema gives a message ended with that receipt.
const DOWN = [
  "UPDATE messages SET status = 'undeliverable' WHERE status = 'held'",
  "DROP TABLE normalization_progress",
  "DROP INDEX messages_conversation",
  `CREATE INDEX messages_pending ON messages (id) WHERE status = 'pending'`,
  `CREATE INDEX messages_conversation ON messages (sender_id, recipient_id, id)`,
  `CREATE INDEX messages_waiting_since ON messages (created_at) WHERE status IN ('pending', 'held', 'sent')`,
  `CREATE INDEX messages_waiting_for ON messages (recipient_id) WHERE status IN ('pending', 'held', 'sent')`,
  `CREATE INDEX inbox_events_message ON inbox_events (message_id) WHERE kind = 'message'`,
];

// biome-ignore lint/suspicious/noExplicitAny: a migration runs on the schema of its own time, which no type describes.
type AnyKysely = Kysely<any>;

export async function up(db: AnyKysely): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: AnyKysely): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
