// One server per database, as PostgreSQL's postmaster.pid ensures: two servers on one file would
// each push the same inboxes and split delivery. The lock is an exclusive SQLite transaction on
// a file beside the database, held for as long as the store is open. The operating system drops
// it when its process ends however it ends (kill -9 included), so a dead holder never blocks the
// next start, and no stale file has to be judged by its contents.

import fs from "node:fs";
import Database from "better-sqlite3";

export class InstanceLock {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** The lock file of a database file. */
  static pathFor(dbFile: string): string {
    return `${dbFile}.lock`;
  }

  /** Takes the lock at once or throws an Error whose message is one line saying who holds it. */
  static acquire(dbFile: string): InstanceLock {
    const file = InstanceLock.pathFor(dbFile);
    // Private from the first byte, like the database.
    fs.closeSync(fs.openSync(file, "a", 0o600));
    const db = new Database(file);
    try {
      db.pragma("busy_timeout = 0");
      // No journal file: nothing is ever written to the lock file.
      db.pragma("journal_mode = OFF");
      db.exec("BEGIN EXCLUSIVE");
    } catch (error) {
      db.close();
      if (error instanceof Database.SqliteError && error.code === "SQLITE_BUSY") {
        throw new Error(
          `another parley-server is using this database (it holds ${file}); stop it first or choose another --db`,
        );
      }
      throw error;
    }
    return new InstanceLock(db);
  }

  /** Idempotent. */
  release(): void {
    if (!this.#db.open) return;
    this.#db.exec("ROLLBACK");
    this.#db.close();
  }
}
