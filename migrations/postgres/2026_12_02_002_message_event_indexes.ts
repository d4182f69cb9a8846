// Indexes from a message to its events, for retention (deleting delivered messages).
//
// Why: deleting a message makes PostgreSQL check the foreign keys that reference it
// (inbox_events.message_id, room_events.message_id); without an index on each, every deleted
// message costs a scan of both tables. Retention also finds a message's events through them,
// and each event pays for one more index entry, the price of being able to delete.
//
// Frozen in time: imports no application code and never changes once released.

import { type Kysely, sql } from "kysely";

const UP = [
  "CREATE INDEX inbox_events_message ON inbox_events (message_id) WHERE message_id IS NOT NULL",
  "CREATE INDEX room_events_message ON room_events (message_id) WHERE message_id IS NOT NULL",
];

const DOWN = ["DROP INDEX room_events_message", "DROP INDEX inbox_events_message"];

// biome-ignore lint/suspicious/noExplicitAny: a migration runs on the schema of its own time, which no type describes.
type AnyKysely = Kysely<any>;

export async function up(db: AnyKysely): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: AnyKysely): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
