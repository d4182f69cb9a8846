// Group commit on PostgreSQL: every write queued in the same turn of the event loop shares one
// transaction, so one WAL flush (synchronous_commit=on) answers them all. Each write runs inside
// its own SAVEPOINT, so a refused write undoes only itself, and every promise settles only after
// COMMIT returned: no caller acts on data that could still be rolled back. A node writes one
// batch at a time, on one connection of the pool.
//
// A write that cannot fail on its own (one statement that refuses by its result, not by an
// error) is queued with `savepoint: false`: two round trips fewer, and every round trip of a
// batch is time the store_meta lock is held. Should it fail after all, its whole batch does.

import type pg from "pg";
import type { StoreLogger } from "../sqlite/write-queue.js";
import { type CommitRecord, StoreError } from "../store.js";
import { isOwnFailure, unavailable } from "./errors.js";

/** What the store does around each batch's transaction, on its connection. */
export interface PgBatchHooks {
  /** First in the transaction: takes the lock that orders writers, loads per-batch state. */
  begin(tx: pg.PoolClient): Promise<void>;
  /** Before each write: returns how to forget what that write changed in memory. */
  mark(): () => void;
  /** Last in the transaction: state written once per commit. */
  beforeCommit(tx: pg.PoolClient): Promise<void>;
  /** After COMMIT, before the writes' promises settle: how many writes it held and its time. */
  afterCommit(commit: CommitRecord): void;
  /** After the whole batch was rolled back. */
  afterRollback(): void;
}

export interface WriteOptions {
  /**
   * False for a write that cannot fail on its own: one statement that writes all or nothing, and
   * a StoreError (a refusal) only when that statement wrote nothing.
   */
  readonly savepoint?: boolean;
}

/**
 * Writes of one kind that run together: the consecutive ones of a batch become one call, one
 * round trip for all of them. Like a write without a savepoint, it cannot fail on its own.
 */
export interface WriteGroup<I, T> {
  /** One result per input, in order: a value, or a StoreError refusing that input, which wrote nothing. */
  run(tx: pg.PoolClient, inputs: readonly I[]): Promise<Array<T | StoreError>>;
}

interface Settles {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** A write of its own, or one input of a group (run with the group's neighbours, even alone). */
type QueuedWrite =
  | (Settles & {
      readonly run: (tx: pg.PoolClient) => Promise<unknown>;
      readonly savepoint: boolean;
      readonly group?: undefined;
    })
  | (Settles & { readonly group: { readonly of: WriteGroup<unknown, unknown>; readonly input: unknown } });

type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

export class PgWriteQueue {
  readonly #pool: pg.Pool;
  readonly #logger: StoreLogger | undefined;
  readonly #hooks: PgBatchHooks;
  #queue: QueuedWrite[] = [];
  #scheduled = false;
  #running = false;
  #closed = false;
  #idle: Array<() => void> = [];
  #commits = 0;

  constructor(pool: pg.Pool, hooks: PgBatchHooks, logger?: StoreLogger) {
    this.#pool = pool;
    this.#hooks = hooks;
    this.#logger = logger;
  }

  /** Transactions committed so far: tests observe group commit through it. */
  get commits(): number {
    return this.#commits;
  }

  /** Queues a write; it runs in a later batch, after every write queued before it. */
  enqueue<T>(run: (tx: pg.PoolClient) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError("unavailable", "the store is closed"));
    return new Promise<T>((resolve, reject) => {
      const savepoint = options.savepoint ?? true;
      this.#queue.push({ run, savepoint, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Queues a write of a group; it runs with the writes of that group queued next to it. */
  enqueueInGroup<I, T>(group: WriteGroup<I, T>, input: I): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError("unavailable", "the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        group: { of: group as WriteGroup<unknown, unknown>, input },
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      this.#schedule();
    });
  }

  /** Refuses new writes, and resolves once every queued write has been settled. */
  close(): Promise<void> {
    this.#closed = true;
    if (!this.#scheduled && !this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: writes issued by every socket read in this turn get in.
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    this.#running = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      await this.#runBatch(batch);
    }
    this.#running = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  async #runBatch(batch: readonly QueuedWrite[]): Promise<void> {
    let tx: pg.PoolClient;
    try {
      tx = await this.#pool.connect();
    } catch (error) {
      this.#fail(batch, [], error);
      return;
    }
    const outcomes: Outcome[] = [];
    let broken: unknown;
    let commitMs = 0;
    try {
      await tx.query("BEGIN");
      await this.#hooks.begin(tx);
      for (let index = 0; index < batch.length; index++) {
        const write = batch[index]!;
        if (write.group !== undefined) {
          const group = write.group.of;
          let end = index + 1;
          while (end < batch.length && batch[end]!.group?.of === group) end += 1;
          const inputs = batch.slice(index, end).map((member) => member.group!.input);
          for (const result of await group.run(tx, inputs)) {
            outcomes.push(
              result instanceof StoreError ? { ok: false, error: result } : { ok: true, value: result },
            );
          }
          index = end - 1;
          continue;
        }
        const forget = this.#hooks.mark();
        if (!write.savepoint) {
          try {
            outcomes.push({ ok: true, value: await write.run(tx) });
          } catch (error) {
            // Only a refusal of the store's own leaves the transaction usable: the statement
            // refused by its result and wrote nothing. An error of PostgreSQL's aborted it.
            if (!(error instanceof StoreError)) throw error;
            forget();
            outcomes.push({ ok: false, error });
          }
          continue;
        }
        await tx.query("SAVEPOINT w");
        try {
          outcomes.push({ ok: true, value: await write.run(tx) });
          await tx.query("RELEASE SAVEPOINT w");
        } catch (error) {
          if (!isOwnFailure(error)) throw error;
          await tx.query("ROLLBACK TO SAVEPOINT w");
          forget();
          outcomes.push({ ok: false, error });
        }
      }
      await this.#hooks.beforeCommit(tx);
      const commitStarted = performance.now();
      await tx.query("COMMIT");
      commitMs = performance.now() - commitStarted;
    } catch (error) {
      broken = error;
    }
    if (broken !== undefined) {
      // A connection that failed mid-transaction is dropped rather than handed to the next user.
      await tx.query("ROLLBACK").then(
        () => tx.release(),
        (rollbackError: Error) => tx.release(rollbackError),
      );
      this.#fail(batch, outcomes, broken);
      return;
    }
    tx.release();
    this.#commits += 1;
    this.#hooks.afterCommit({ writes: batch.length, commitMs });
    batch.forEach((write, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
  }

  #fail(batch: readonly QueuedWrite[], outcomes: readonly Outcome[], error: unknown): void {
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
