// Indexes on the streams' seq alone, for reading what other nodes committed.
//
// Why: a node that learns of another node's commit reads the seq range it has not seen from
// inbox_events and room_events (news-feed.ts). Their keys lead with the user or the room, so
// that range read scanned every event ever kept: with two nodes, one scan per commit of the
// other, growing with the tables. Each event pays one more index entry for it.
//
// Frozen in time: imports no application code and never changes once released.

import { type Kysely, sql } from "kysely";

const UP = [
  "CREATE INDEX inbox_events_seq ON inbox_events (seq)",
  "CREATE INDEX room_events_seq ON room_events (seq)",
];

const DOWN = ["DROP INDEX room_events_seq", "DROP INDEX inbox_events_seq"];

// biome-ignore lint/suspicious/noExplicitAny: a migration runs on the schema of its own time, which no type describes.
type AnyKysely = Kysely<any>;

export async function up(db: AnyKysely): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: AnyKysely): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
