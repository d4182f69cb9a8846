// Group commit. better-sqlite3 is synchronous and an fsync per write would cap the server at a
// few hundred writes a second, so every write made in the same turn of the event loop shares
// one transaction and one fsync. Each write still succeeds or fails on its own: it runs inside
// its own SAVEPOINT, and its promise settles only after COMMIT returned, so no caller ever acts
// on data that could still be rolled back.

import Database from "better-sqlite3";
import { type CommitRecord, StoreError } from "../store.js";

/** The part of the server's logger the store uses. */
export interface StoreLogger {
  error(msg: string, fields?: Readonly<Record<string, unknown>>): void;
  warn?(msg: string, fields?: Readonly<Record<string, unknown>>): void;
}

interface QueuedWrite {
  readonly run: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

// Failures of the database or its disk rather than of one write: they fail the whole batch.
const BACKEND_FAILURE =
  /^SQLITE_(?:FULL|IOERR|BUSY|LOCKED|CORRUPT|READONLY|NOTADB|CANTOPEN|NOMEM|PROTOCOL)(?:_|$)/;

export function isBackendFailure(error: unknown): boolean {
  return error instanceof Database.SqliteError && BACKEND_FAILURE.test(error.code);
}

export function unavailable(cause: unknown): StoreError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StoreError("unavailable", `the database is unavailable: ${detail}`, { cause });
}

/** What the store does around each batch's transaction. */
export interface BatchHooks {
  /** Runs inside the transaction, after the batch's writes: state written once per commit. */
  beforeCommit(): void;
  /** Runs after COMMIT, before the writes' promises settle. */
  afterCommit(commit: CommitRecord): void;
  /** Runs after the whole batch was rolled back: state kept in memory may be wrong now. */
  afterRollback(): void;
}

const NO_HOOKS: BatchHooks = { beforeCommit() {}, afterCommit() {}, afterRollback() {} };

/** A write of the optimistic run failed on its own: run the batch again with savepoints. */
class OneWriteFailed extends Error {}

export class WriteQueue {
  readonly #db: Database.Database;
  readonly #logger: StoreLogger | undefined;
  readonly #hooks: BatchHooks;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  readonly #savepoint: Database.Statement;
  readonly #rollbackToSavepoint: Database.Statement;
  readonly #releaseSavepoint: Database.Statement;
  #queue: QueuedWrite[] = [];
  #scheduled = false;
  #closed = false;
  #idle: Array<() => void> = [];
  #commits = 0;
  /** How long the last COMMIT statement took. */
  #commitMs = 0;

  constructor(db: Database.Database, logger?: StoreLogger, hooks: BatchHooks = NO_HOOKS) {
    this.#db = db;
    this.#logger = logger;
    this.#hooks = hooks;
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
    this.#rollback = db.prepare("ROLLBACK");
    this.#savepoint = db.prepare("SAVEPOINT write");
    this.#rollbackToSavepoint = db.prepare("ROLLBACK TO write");
    this.#releaseSavepoint = db.prepare("RELEASE write");
  }

  /** Transactions committed so far: tests observe group commit through it. */
  get commits(): number {
    return this.#commits;
  }

  /**
   * Queues a synchronous write. It runs in the next flush, after every write queued before it,
   * and the promise settles once that flush's transaction has committed or rolled back.
   */
  enqueue<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError("unavailable", "the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Refuses new writes, and resolves once every queued write has been flushed. */
  close(): Promise<void> {
    this.#closed = true;
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: writes issued by every socket read in this turn of the
    // event loop get into the batch.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    this.#runBatch(batch);
    if (this.#queue.length > 0) {
      this.#schedule();
      return;
    }
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  // Optimistic first: the whole batch in one transaction with no savepoints, which cost two
  // statements per write. Only when a write fails on its own (a refused send) is the batch rolled
  // back and run again with a savepoint around each write, so that the failure undoes only its own
  // write. Writes are deterministic given the database, and the store forgets what it keeps in
  // memory on a rollback, so the second run does exactly what the first would have.
  #runBatch(batch: readonly QueuedWrite[]): void {
    let values: unknown[];
    try {
      values = this.#runOptimistically(batch);
    } catch (error) {
      if (error instanceof OneWriteFailed) {
        this.#runWithSavepoints(batch);
        return;
      }
      this.#abort(batch, [], error);
      return;
    }
    this.#committed(batch.length);
    batch.forEach((write, index) => {
      write.resolve(values[index]);
    });
  }

  #runOptimistically(batch: readonly QueuedWrite[]): unknown[] {
    const values: unknown[] = [];
    this.#begin.run();
    for (const write of batch) {
      try {
        values.push(write.run());
      } catch (error) {
        if (isBackendFailure(error) || !this.#db.inTransaction) throw error;
        this.#rollback.run();
        this.#hooks.afterRollback();
        throw new OneWriteFailed();
      }
    }
    this.#hooks.beforeCommit();
    this.#timedCommit();
    return values;
  }

  #runWithSavepoints(batch: readonly QueuedWrite[]): void {
    const outcomes: Outcome[] = [];
    try {
      this.#begin.run();
      for (const write of batch) {
        this.#savepoint.run();
        let outcome: Outcome;
        try {
          outcome = { ok: true, value: write.run() };
        } catch (error) {
          // SQLite may have rolled back the whole transaction by itself (a full disk can).
          if (isBackendFailure(error) || !this.#db.inTransaction) throw error;
          this.#rollbackToSavepoint.run();
          outcome = { ok: false, error };
        }
        this.#releaseSavepoint.run();
        outcomes.push(outcome);
      }
      this.#hooks.beforeCommit();
      this.#timedCommit();
    } catch (error) {
      this.#abort(batch, outcomes, error);
      return;
    }
    this.#committed(batch.length);
    batch.forEach((write, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
  }

  #timedCommit(): void {
    const started = performance.now();
    this.#commit.run();
    this.#commitMs = performance.now() - started;
  }

  #committed(writes: number): void {
    this.#commits += 1;
    this.#hooks.afterCommit({ writes, commitMs: this.#commitMs });
  }

  #abort(batch: readonly QueuedWrite[], outcomes: readonly Outcome[], error: unknown): void {
    if (this.#db.inTransaction) {
      try {
        this.#rollback.run();
      } catch (rollbackError) {
        this.#logger?.error("store: rollback failed", { error: String(rollbackError) });
      }
    }
    this.#hooks.afterRollback();
    this.#logger?.error("store: a batch of writes failed and was rolled back", {
      writes: batch.length,
      error: String(error),
    });
    const failure = unavailable(error);
    batch.forEach((write, index) => {
      const outcome = outcomes[index];
      // A write that had already failed on its own keeps its own error: it would fail on retry too.
      write.reject(outcome !== undefined && !outcome.ok ? outcome.error : failure);
    });
  }
}
