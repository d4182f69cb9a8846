// Opens the server's Store: PostgreSQL for a postgres:// URL (postgres/), SQLite for a path
// (sqlite/). The server's SQLite store runs in a worker thread of its own (sqlite/worker-store.ts);
// the tests of the SQLite store itself open it in their own thread with openSqliteStore.

import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import { isPostgresUrl } from "../config.js";
import type { PgStore } from "./postgres/pg-store.js";
import { prepareDatabaseFile } from "./sqlite/database-file.js";
import type { InstanceLock } from "./sqlite/instance-lock.js";
import { migrateToLatest, SchemaError } from "./sqlite/migrate.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import { WorkerStore } from "./sqlite/worker-store.js";
import type { StoreLogger } from "./sqlite/write-queue.js";
import type { Store } from "./store.js";

export { isPostgresUrl } from "../config.js";
export { SchemaError } from "./sqlite/migrate.js";
export type { StoreLogger } from "./sqlite/write-queue.js";

export interface OpenStoreOptions {
  /**
   * The SQLite database file (it and its folders are created when missing), or a PostgreSQL
   * database's URL (postgres://user@host:port/db), which must exist.
   */
  readonly path: string;
  readonly logger?: StoreLogger;
  /** PostgreSQL only: connections in this node's pool (DEFAULT_POOL_SIZE). */
  readonly poolSize?: number;
}

/**
 * Opens (creating if needed) and migrates the database. Rejects with a SchemaError, whose
 * message is one line, when the file cannot be used; the file is then left as it was.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (isPostgresUrl(options.path)) return openPostgresStore(options);
  try {
    return await WorkerStore.open(options.path, options.logger);
  } catch (error) {
    throw new SchemaError((error as Error).message, { cause: error });
  }
}

/** `db` as logs may show it: a PostgreSQL URL without its password. */
export function describeDb(db: string): string {
  if (!isPostgresUrl(db)) return db;
  try {
    const url = new URL(db);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}

/** openStore for a postgres:// URL, typed as what it is. */
export async function openPostgresStore(options: OpenStoreOptions): Promise<PgStore> {
  // Loaded here, not at the top: pg and the PostgreSQL store cost some 5 MB of heap and 15 MB of
  // RSS in every thread that loads this module, the SQLite store's worker included.
  const [{ migratePostgres }, { PgStore }, { DEFAULT_POOL_SIZE, openPool }] = await Promise.all([
    import("./postgres/migrate.js"),
    import("./postgres/pg-store.js"),
    import("./postgres/pool.js"),
  ]);
  const pool = openPool(options.path, options.poolSize ?? DEFAULT_POOL_SIZE, options.logger);
  try {
    // A Kysely of its own, not destroyed: destroying it would end the pool the store goes on using.
    await migratePostgres(new Kysely({ dialect: new PostgresDialect({ pool }) }));
    return await PgStore.open(
      pool,
      options.path,
      options.logger === undefined ? {} : { logger: options.logger },
    );
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof SchemaError) throw error;
    throw new SchemaError(describe(error), { cause: error });
  }
}

/** openStore, typed as what it is: for the SQLite tests. */
export async function openSqliteStore(options: OpenStoreOptions): Promise<SqliteStore> {
  const file = options.path;
  let lock: InstanceLock;
  try {
    // Created here rather than by SQLite so that it is private from the first byte: it holds
    // password hashes.
    lock = prepareDatabaseFile(file, options.logger);
  } catch (error) {
    throw new SchemaError(describe(error), { cause: error });
  }

  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (error) {
    lock.release();
    throw new SchemaError(describe(error), { cause: error });
  }
  try {
    // First, so that the statements below wait for a lock another process holds.
    db.pragma("busy_timeout = 5000");
    // The first statement that reads the file: a file that is not a database fails here,
    // before anything is written to it.
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal")
      throw new Error(`the file system does not support write-ahead logging (mode ${mode})`);
    // FULL: in WAL mode, every commit is fsynced before a write's promise resolves.
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    // A Kysely of its own, never destroyed: destroying it would close the shared connection.
    await migrateToLatest(new Kysely({ dialect: new SqliteDialect({ database: db }) }));
    return new SqliteStore(db, options.logger === undefined ? { lock } : { logger: options.logger, lock });
  } catch (error) {
    db.close();
    lock.release();
    if (error instanceof SchemaError) throw error;
    throw new SchemaError(describeOpenFailure(error), { cause: error });
  }
}

function describeOpenFailure(error: unknown): string {
  if (error instanceof Database.SqliteError) {
    if (error.code === "SQLITE_NOTADB") {
      return "the file is not a SQLite database (or its header is corrupt); it was left untouched";
    }
    if (error.code.startsWith("SQLITE_CORRUPT")) {
      return `the database is corrupt (${describe(error)}); it was left untouched`;
    }
  }
  return describe(error);
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim();
}
