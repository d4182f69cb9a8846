// The databases the bench runs the server on, SQLite files or PostgreSQL databases, and the few
// things the scenarios read beside the server: how many messages await normalization, how many
// events wait in inboxes, how many bytes the database holds. Both stores have the same tables
// and columns, so the queries are the same text; only the driver differs.
//
// A PostgreSQL database is created fresh beside the one --db names (parley_bench_<pid>_<n>) and
// dropped when its scenario ends, when it fails, and on Ctrl-C (see processes.ts).

import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { onInterrupt } from "./processes.js";

export type BenchBackend = "sqlite" | "postgres";

const PENDING = "SELECT count(*) AS n FROM messages WHERE status = 'pending'";
// Past each device's position: acknowledged events stay in the table until pruned.
const EVENTS_WAITING = `SELECT count(*) AS n FROM inbox_events e JOIN devices d ON d.user_id = e.user_id
  WHERE e.seq > d.acked_seq AND (e.skip_device_id IS NULL OR e.skip_device_id <> d.id)`;

/** One fresh database, and a connection beside the server's to read it. */
export interface BenchDatabase {
  readonly backend: BenchBackend;
  /** What the server's --db gets: a file path or a postgres:// URL. */
  readonly location: string;
  /** For a PostgreSQL database, its name (pg_stat_activity.datname); for SQLite, the file. */
  readonly name: string;
  /** Stored messages awaiting normalization. */
  pendingMessages(): Promise<number>;
  /** Inbox events past their device's acked position. */
  eventsWaiting(): Promise<number>;
  /** The bytes the database holds: SQLite's pages in use (WAL included), PostgreSQL's pg_database_size. */
  bytesInUse(): Promise<number>;
  /** Runs SQL on it (PostgreSQL only: the bench fills SQLite files with better-sqlite3). */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** pids of the PostgreSQL backends serving this database (not this reader's own); [] on SQLite. */
  backendPids(): Promise<number[]>;
  /**
   * What each PostgreSQL backend serving this database is doing now (not this reader): "idle",
   * "on CPU", a wait event such as "Lock: transactionid" or "IO: WALSync", or "in a transaction,
   * waiting for its node"; [] on SQLite.
   */
  backendStates(): Promise<string[]>;
  /** pid of this reader's own PostgreSQL backend, once it has connected; undefined on SQLite. */
  readerPid(): Promise<number | undefined>;
}

/** Where the bench's databases come from: a temporary folder, or a PostgreSQL server. */
export class BenchDatabases {
  readonly backend: BenchBackend;
  readonly #adminUrl: string | undefined;
  readonly #live = new Set<string>();
  #created = 0;

  /** `adminUrl`: a postgres:// URL of an existing database to create the bench's beside; undefined: SQLite. */
  constructor(adminUrl: string | undefined) {
    this.#adminUrl = adminUrl;
    this.backend = adminUrl === undefined ? "sqlite" : "postgres";
    if (adminUrl !== undefined) onInterrupt(() => this.dropAll());
  }

  /** A label for the table: "sqlite", or "postgres (host:port)". */
  describe(): string {
    if (this.#adminUrl === undefined) return "sqlite";
    const url = new URL(this.#adminUrl);
    return `postgres (${url.hostname}:${url.port || 5432})`;
  }

  /**
   * Creates a fresh database (SQLite: a file path in `folder`; PostgreSQL: a new empty
   * database), runs `body`, and always removes a PostgreSQL database afterwards.
   */
  async with<T>(folder: string, body: (db: BenchDatabase) => Promise<T>): Promise<T> {
    if (this.#adminUrl === undefined) {
      const db = new SqliteBenchDatabase(path.join(folder, "parley.db"));
      return body(db);
    }
    const name = `parley_bench_${process.pid}_${++this.#created}`;
    await this.#admin((client) => client.query(`CREATE DATABASE ${name}`));
    this.#live.add(name);
    const url = new URL(this.#adminUrl);
    url.pathname = `/${name}`;
    const db = new PgBenchDatabase(url.toString(), name);
    try {
      return await body(db);
    } finally {
      await db.close();
      await this.#drop(name);
    }
  }

  /** Drops every database still there (after a failure, on Ctrl-C). */
  async dropAll(): Promise<void> {
    for (const name of [...this.#live]) await this.#drop(name).catch(() => {});
  }

  /** pids of PostgreSQL's own processes (WAL writer, checkpointer, background writer): shared by every database. */
  async backgroundPids(): Promise<number[]> {
    if (this.#adminUrl === undefined) return [];
    const rows = await this.#admin((client) =>
      client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE backend_type IN ('walwriter', 'checkpointer', 'background writer')",
      ),
    );
    return rows.rows.map((row) => row.pid);
  }

  async #drop(name: string): Promise<void> {
    // WITH (FORCE): a server killed by a failed scenario may leave connections behind.
    await this.#admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    this.#live.delete(name);
  }

  async #admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.#adminUrl });
    await client.connect();
    try {
      return await run(client);
    } finally {
      await client.end();
    }
  }
}

class SqliteBenchDatabase implements BenchDatabase {
  readonly backend = "sqlite";
  readonly name: string;

  constructor(readonly location: string) {
    this.name = location;
  }

  pendingMessages(): Promise<number> {
    return Promise.resolve(this.#read((db) => db.prepare<[], { n: number }>(PENDING).get()!.n));
  }

  eventsWaiting(): Promise<number> {
    return Promise.resolve(this.#read((db) => db.prepare<[], { n: number }>(EVENTS_WAITING).get()!.n));
  }

  // Pages rather than file sizes: the WAL's size would miss growth inside a WAL that SQLite
  // reuses after a checkpoint.
  bytesInUse(): Promise<number> {
    return Promise.resolve(
      this.#read((db) => {
        const pages = db.pragma("page_count", { simple: true }) as number;
        const free = db.pragma("freelist_count", { simple: true }) as number;
        return (pages - free) * (db.pragma("page_size", { simple: true }) as number);
      }),
    );
  }

  query<R extends pg.QueryResultRow>(): Promise<R[]> {
    return Promise.reject(new Error("query() is for PostgreSQL; fill SQLite with better-sqlite3"));
  }

  backendPids(): Promise<number[]> {
    return Promise.resolve([]);
  }

  readerPid(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  backendStates(): Promise<string[]> {
    return Promise.resolve([]);
  }

  // Read-only, beside the server, opened per read: WAL lets a reader in while it writes, and a
  // reader left open would hold the WAL back from checkpoints.
  #read<T>(body: (db: Database.Database) => T): T {
    const db = new Database(this.location, { readonly: true, fileMustExist: true });
    try {
      return body(db);
    } finally {
      db.close();
    }
  }
}

class PgBenchDatabase implements BenchDatabase {
  readonly backend = "postgres";
  #client: Promise<pg.Client> | undefined;
  #readerPid: number | undefined;

  constructor(
    readonly location: string,
    readonly name: string,
  ) {}

  async pendingMessages(): Promise<number> {
    return Number((await this.query<{ n: string }>(PENDING))[0]!.n);
  }

  async eventsWaiting(): Promise<number> {
    return Number((await this.query<{ n: string }>(EVENTS_WAITING))[0]!.n);
  }

  async bytesInUse(): Promise<number> {
    return Number(
      (await this.query<{ n: string }>("SELECT pg_database_size(current_database()) AS n"))[0]!.n,
    );
  }

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    this.#client ??= (async () => {
      const client = new pg.Client({ connectionString: this.location });
      await client.connect();
      return client;
    })();
    return (await (await this.#client).query<R>(text, values)).rows;
  }

  async backendPids(): Promise<number[]> {
    const rows = await this.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    return rows.map((row) => row.pid);
  }

  async backendStates(): Promise<string[]> {
    const rows = await this.query<{ state: string | null; type: string | null; event: string | null }>(
      `SELECT state, wait_event_type AS type, wait_event AS event FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    );
    return rows.map((row) => {
      if (row.state === "idle") return "idle";
      if (row.state === "idle in transaction") return "in a transaction, waiting for its node";
      return row.type === null ? "on CPU" : `${row.type}: ${row.event}`;
    });
  }

  async readerPid(): Promise<number | undefined> {
    this.#readerPid ??= (await this.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"))[0]!.pid;
    return this.#readerPid;
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#readerPid = undefined;
    if (client !== undefined) await (await client).end();
  }
}
