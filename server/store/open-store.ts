// Opens the server's Store. With server/main.ts, the only place that knows the Store lives in
// SQLite: a second backend is one more folder beside sqlite/ and one more case here. The server's
// store runs in a worker thread of its own (sqlite/worker-store.ts); the tests of the SQLite
// store itself open it in their own thread with openSqliteStore.

import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { prepareDatabaseFile } from "./sqlite/database-file.js";
import type { InstanceLock } from "./sqlite/instance-lock.js";
import { migrateToLatest, SchemaError } from "./sqlite/migrate.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import { WorkerStore } from "./sqlite/worker-store.js";
import type { StoreLogger } from "./sqlite/write-queue.js";
import type { Store } from "./store.js";

export { SchemaError } from "./sqlite/migrate.js";
export type { StoreLogger } from "./sqlite/write-queue.js";

export interface OpenStoreOptions {
  /** The database file; it and its folders are created when missing. */
  readonly path: string;
  readonly logger?: StoreLogger;
}

/**
 * Opens (creating if needed) and migrates the database. Rejects with a SchemaError, whose
 * message is one line, when the file cannot be used; the file is then left as it was.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  try {
    return await WorkerStore.open(options.path, options.logger);
  } catch (error) {
    throw new SchemaError((error as Error).message, { cause: error });
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
