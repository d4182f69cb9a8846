// Several nodes on one database (issue 11): which node holds each device's session, each node's
// heartbeat, and the log-in failure counts every node shares.
//
// - nodes: one row per running server process, a new id at every start. heartbeat_at is the
//   database's clock (now()), so nodes' clocks need not agree. A node whose heartbeat is older
//   than the dead-node timeout is reaped by any live node: its row goes, and with it (ON DELETE
//   CASCADE) the device sessions it held.
// - device_sessions: the device's session is on node_id. A log-in claims the row (taking it
//   from another node ends that node's session); a log-out releases it if still held.
// - login_failures: password checks per key ("a:address" or "u:name") in the minute window
//   that began at window_start, counted with one atomic upsert by whichever node checks.
//
// Frozen in time: imports no application code and never changes once released.

import { type Kysely, sql } from "kysely";

const UP = [
  `CREATE TABLE nodes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
  )`,
  `CREATE TABLE device_sessions (
    device_id BIGINT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    node_id BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE
  )`,
  "CREATE INDEX device_sessions_user ON device_sessions (user_id)",
  "CREATE INDEX device_sessions_node ON device_sessions (node_id)",
  `CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    count INTEGER NOT NULL
  )`,
];

const DOWN = ["DROP TABLE login_failures", "DROP TABLE device_sessions", "DROP TABLE nodes"];

// biome-ignore lint/suspicious/noExplicitAny: a migration runs on the schema of its own time, which no type describes.
type AnyKysely = Kysely<any>;

export async function up(db: AnyKysely): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: AnyKysely): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
