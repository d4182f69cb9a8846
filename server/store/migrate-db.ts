// Copies a SQLite database into an empty PostgreSQL database, for `parley-server migrate-db`
// (server/admin/migrate-db-cli.ts): every row of every table, ids and seqs kept, in one
// PostgreSQL transaction, so the target ends up with all of it or none of it.
//
// The SQLite file is opened read-only, under the lock a server takes on it (instance-lock.ts),
// so no server writes to it meanwhile; it must already be at the latest schema (a server
// migrates it when it starts). What SQLite keeps in memory and PostgreSQL in rows is computed
// from the rows: each user's undelivered count (users.undelivered) as the SQLite store counts it
// when it loads it. The room horizon starts empty, as a SQLite store's does at every start.

import fs from "node:fs";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect } from "kysely";
import type pg from "pg";
import { migrations as sqliteMigrations } from "../../migrations/index.js";
import { migratePostgres } from "./postgres/migrate.js";
import { openPool } from "./postgres/pool.js";
import { InstanceLock } from "./sqlite/instance-lock.js";

/** A refusal or a failure, with a one-line message for an operator. */
export class MigrateDbError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MigrateDbError";
  }
}

/** Rows per INSERT: 1,000 rows of at most 13 columns stay below PostgreSQL's 65,535 parameters. */
export const BATCH_ROWS = 1000;

interface TableCopy {
  readonly table: string;
  /** Columns of the PostgreSQL table, in the order the SELECT yields them. */
  readonly columns: readonly string[];
  /** Reads every row from SQLite, in the order they are inserted. */
  readonly select: string;
  /** Whether its id is an identity column (inserted with OVERRIDING SYSTEM VALUE, sequence set after). */
  readonly identity: boolean;
}

// In dependency order: every table after those its foreign keys point to. Nobody is online
// while the server is stopped: presence is copied as off.
const TABLES: readonly TableCopy[] = [
  {
    table: "users",
    columns: [
      "id",
      "name",
      "display_name",
      "password_hash",
      "created_at",
      "last_seen_at",
      "online",
      "deleted_at",
      "undelivered",
    ],
    // undelivered: as SqliteStore counts it (statements.ts undeliveredInInbox + pendingTo).
    select: `
      SELECT u.id, u.name, u.display_name, u.password_hash, u.created_at, u.last_seen_at, 0 AS online,
             u.deleted_at,
             (SELECT count(*) FROM inbox_events e JOIN messages m ON m.id = e.message_id
              WHERE e.user_id = u.id
                AND e.seq > coalesce((SELECT max(d.acked_seq) FROM devices d WHERE d.user_id = u.id), 0)
                AND e.kind = 'message' AND m.recipient_id = e.user_id
                AND m.status IN ('sent', 'read') AND m.delivered_at IS NULL)
             + (SELECT count(*) FROM messages m
                WHERE m.id > (SELECT last_message_id FROM normalization_progress WHERE id = 1)
                  AND m.status = 'pending' AND m.recipient_id = u.id) AS undelivered
      FROM users u ORDER BY u.id`,
    identity: true,
  },
  {
    table: "devices",
    columns: ["id", "user_id", "name", "acked_seq", "online", "created_at", "last_login_at", "last_seen_at"],
    select: `SELECT id, user_id, name, acked_seq, 0 AS online, created_at, last_login_at, last_seen_at
             FROM devices ORDER BY id`,
    identity: true,
  },
  {
    table: "rooms",
    columns: ["id", "name", "owner_id", "created_at", "deleted_at"],
    select: "SELECT id, name, owner_id, created_at, deleted_at FROM rooms ORDER BY id",
    identity: true,
  },
  {
    table: "room_members",
    columns: ["id", "room_id", "user_id", "first_seq", "last_seq", "joined_at", "left_at", "read_up_to"],
    select: `SELECT id, room_id, user_id, first_seq, last_seq, joined_at, left_at, read_up_to
             FROM room_members ORDER BY id`,
    identity: true,
  },
  {
    table: "messages",
    columns: [
      "id",
      "sender_id",
      "sender_device_id",
      "recipient_id",
      "room_id",
      "cid",
      "raw_text",
      "text",
      "status",
      "created_at",
      "released_at",
      "delivered_at",
      "read_at",
    ],
    select: `SELECT id, sender_id, sender_device_id, recipient_id, room_id, cid, raw_text, text, status,
                    created_at, released_at, delivered_at, read_at
             FROM messages ORDER BY id`,
    identity: true,
  },
  {
    table: "inbox_events",
    columns: [
      "user_id",
      "seq",
      "kind",
      "message_id",
      "receipt_status",
      "skip_device_id",
      "with_user_id",
      "with_room_id",
      "up_to",
      "created_at",
    ],
    select: `SELECT user_id, seq, kind, message_id, receipt_status, skip_device_id, with_user_id,
                    with_room_id, up_to, created_at
             FROM inbox_events ORDER BY user_id, seq`,
    identity: false,
  },
  {
    table: "room_events",
    columns: ["room_id", "seq", "kind", "message_id", "change", "user_id", "by_id", "created_at"],
    select: `SELECT room_id, seq, kind, message_id, change, user_id, by_id, created_at
             FROM room_events ORDER BY room_id, seq`,
    identity: false,
  },
];

export interface MigrateDbOptions {
  /** The SQLite database file. */
  readonly from: string;
  /** postgres://… of an existing database, empty or not yet migrated. */
  readonly to: string;
  /** Called once per table copied, in order. */
  readonly onTable?: (table: string, rows: number) => void;
}

export interface MigrateDbResult {
  readonly tables: ReadonlyArray<{ readonly table: string; readonly rows: number }>;
  readonly rows: number;
  readonly lastSeq: number;
}

/** Copies `from` into `to`, or throws MigrateDbError and leaves `to` without any of the rows. */
export async function migrateDb(options: MigrateDbOptions): Promise<MigrateDbResult> {
  if (!fs.existsSync(options.from)) throw new MigrateDbError(`${options.from}: no such file`);
  let lock: InstanceLock;
  try {
    lock = InstanceLock.acquire(options.from);
  } catch (error) {
    throw new MigrateDbError(
      `${options.from} is in use: ${oneLine(error).replace(/; stop it first.*$/, "")}; stop that server first`,
      { cause: error },
    );
  }
  try {
    const source = openSource(options.from);
    try {
      return await copyInto(source, options);
    } finally {
      source.close();
    }
  } finally {
    lock.release();
  }
}

function openSource(file: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new MigrateDbError(`cannot open ${file}: ${oneLine(error)}`, { cause: error });
  }
  try {
    const hasMigrations = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'")
      .get();
    const applied = hasMigrations
      ? (db.prepare("SELECT name FROM kysely_migration ORDER BY name").all() as Array<{ name: string }>).map(
          (row) => row.name,
        )
      : [];
    const unknown = applied.find((name) => !Object.hasOwn(sqliteMigrations, name));
    if (unknown !== undefined) {
      throw new MigrateDbError(
        `${file} has a newer schema than this Parley (unknown migration ${unknown}); upgrade Parley`,
      );
    }
    const missing = Object.keys(sqliteMigrations).find((name) => !applied.includes(name));
    if (missing !== undefined) {
      throw new MigrateDbError(
        `${file} is not at the latest schema (migration ${missing} not applied); start parley-server on it once, stop it, and run migrate-db again`,
      );
    }
    return db;
  } catch (error) {
    db.close();
    if (error instanceof MigrateDbError) throw error;
    throw new MigrateDbError(`cannot read ${file}: ${oneLine(error)}`, { cause: error });
  }
}

async function copyInto(source: Database.Database, options: MigrateDbOptions): Promise<MigrateDbResult> {
  const pool = openPool(options.to, 1);
  try {
    try {
      // A Kysely of its own, not destroyed: destroying it would end the pool used below.
      await migratePostgres(new Kysely({ dialect: new PostgresDialect({ pool }) }));
    } catch (error) {
      throw new MigrateDbError(`cannot migrate the target database: ${oneLine(error)}`, { cause: error });
    }
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new MigrateDbError(`cannot connect to the target database: ${oneLine(error)}`, { cause: error });
    }
    try {
      return await copyTables(source, client, options);
    } finally {
      client.release();
    }
  } finally {
    await pool.end().catch(() => undefined);
  }
}

async function copyTables(
  source: Database.Database,
  client: pg.PoolClient,
  options: MigrateDbOptions,
): Promise<MigrateDbResult> {
  // One read transaction on SQLite too: every table is read from the same snapshot.
  source.exec("BEGIN");
  await client.query("BEGIN");
  let committed = false;
  try {
    // Every write of a PostgreSQL store locks this row first: a node started on the target
    // meanwhile waits for this copy, and then finds its rows.
    await client.query("SELECT last_seq FROM store_meta WHERE id = 1 FOR UPDATE");
    const existing = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM users");
    const users = existing.rows[0]!.n;
    if (users > 0) {
      throw new MigrateDbError(
        `the target database is not empty (it has ${users} user${users === 1 ? "" : "s"}); migrate into a new, empty database`,
      );
    }

    const tables: Array<{ table: string; rows: number }> = [];
    let total = 0;
    for (const spec of TABLES) {
      const rows = await copyTable(source, client, spec);
      tables.push({ table: spec.table, rows });
      total += rows;
      options.onTable?.(spec.table, rows);
    }

    for (const spec of TABLES.filter((t) => t.identity)) {
      // The next id is past every copied one (1 on an empty table).
      await client.query(
        `SELECT setval(pg_get_serial_sequence('${spec.table}', 'id'),
                       coalesce((SELECT max(id) FROM ${spec.table}), 1),
                       (SELECT max(id) FROM ${spec.table}) IS NOT NULL)`,
      );
    }
    const meta = source.prepare("SELECT last_seq, expiry_cursor FROM store_meta WHERE id = 1").get() as
      | { last_seq: number; expiry_cursor: number }
      | undefined;
    if (meta === undefined) throw new MigrateDbError("the SQLite database has no store_meta row");
    // A seq past every seq copied, whatever store_meta said.
    const maxSeq = source
      .prepare(
        `SELECT max(coalesce((SELECT max(seq) FROM inbox_events), 0),
                    coalesce((SELECT max(seq) FROM room_events), 0),
                    coalesce((SELECT max(first_seq) FROM room_members), 0),
                    coalesce((SELECT max(last_seq) FROM room_members), 0)) AS top`,
      )
      .get() as { top: number };
    const lastSeq = Math.max(meta.last_seq, maxSeq.top);
    await client.query("UPDATE store_meta SET last_seq = $1, expiry_cursor = $2 WHERE id = 1", [
      lastSeq,
      meta.expiry_cursor,
    ]);
    await client.query("COMMIT");
    committed = true;
    return { tables, rows: total, lastSeq };
  } catch (error) {
    if (error instanceof MigrateDbError) throw error;
    throw new MigrateDbError(`copy failed, nothing was written: ${oneLine(error)}`, { cause: error });
  } finally {
    if (!committed) await client.query("ROLLBACK").catch(() => undefined);
    source.exec("ROLLBACK");
  }
}

async function copyTable(source: Database.Database, client: pg.PoolClient, spec: TableCopy): Promise<number> {
  const statement = source.prepare(spec.select).raw(true);
  let batch: unknown[][] = [];
  let rows = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await client.query(insertStatement(spec, batch.length), batch.flat());
    rows += batch.length;
    batch = [];
  };
  // The iterator keeps the SQLite statement open across the awaits; nothing else reads meanwhile.
  for (const row of statement.iterate() as IterableIterator<unknown[]>) {
    batch.push(row);
    if (batch.length === BATCH_ROWS) await flush();
  }
  await flush();
  return rows;
}

function insertStatement(spec: TableCopy, rowCount: number): string {
  const width = spec.columns.length;
  const values: string[] = [];
  for (let r = 0; r < rowCount; r++) {
    const params = spec.columns.map((_, c) => `$${r * width + c + 1}`);
    values.push(`(${params.join(", ")})`);
  }
  const overriding = spec.identity ? " OVERRIDING SYSTEM VALUE" : "";
  return `INSERT INTO ${spec.table} (${spec.columns.join(", ")})${overriding} VALUES ${values.join(", ")}`;
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim();
}
