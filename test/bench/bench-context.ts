// What every scenario gets: its sizes (full or --quick), a temporary folder, fresh databases
// (SQLite or PostgreSQL), the machine limits measured so far, and a way to add rows and notes.

import fs from "node:fs";
import path from "node:path";
import type { BenchDatabase, BenchDatabases } from "./bench-database.js";
import {
  type Bound,
  type Cell,
  type ComparedFigure,
  makeRow,
  type Row,
  type System,
  type Target,
} from "./report.js";
import { type ParleyServerProcess, profilesIn, type ServerOptions, startServer } from "./server-runner.js";

/** Why connections close in a run that goes as planned. */
const EXPECTED_CLOSE_REASONS = new Set(["peer closed", "socket closed", "shutdown", "shutdown deadline"]);

export interface Sizes {
  readonly live: { pairs: number; messages: number; window: number; textBytes: number };
  readonly latency: { pairs: number; totalRate: number; seconds: number; textBytes: number };
  readonly backlog: { messages: number; window: number; textBytes: number };
  readonly connections: {
    count: number;
    processes: number;
    loginConcurrency: number;
    defaultCostSample: number;
  };
  readonly normalizer: {
    calls: number;
    batchCalls: number;
    batchTexts: number;
    concurrency: number;
    textBytes: number;
  };
  readonly limits: { seconds: number; echoLines: number; idleSockets: number; httpRequests: number };
  readonly restart: { messages: number; users: number; runs: number };
  readonly room: {
    members: number;
    online: number;
    senders: number;
    /** Per sender. */
    messages: number;
    window: number;
    textBytes: number;
  };
  /** Each scenario's deadline. */
  readonly deadlineMs: number;
}

export const FULL: Sizes = {
  live: { pairs: 50, messages: 2000, window: 64, textBytes: 100 },
  latency: { pairs: 50, totalRate: 5000, seconds: 10, textBytes: 100 },
  backlog: { messages: 100_000, window: 256, textBytes: 100 },
  connections: { count: 10_000, processes: 2, loginConcurrency: 64, defaultCostSample: 16 },
  normalizer: { calls: 20_000, batchCalls: 400, batchTexts: 256, concurrency: 8, textBytes: 100 },
  limits: { seconds: 2, echoLines: 1_000_000, idleSockets: 10_000, httpRequests: 20_000 },
  restart: { messages: 1_000_000, users: 1000, runs: 3 },
  room: { members: 1000, online: 100, senders: 10, messages: 100, window: 64, textBytes: 100 },
  deadlineMs: 20 * 60_000,
};

export const QUICK: Sizes = {
  live: { pairs: 5, messages: 200, window: 64, textBytes: 100 },
  latency: { pairs: 5, totalRate: 500, seconds: 2, textBytes: 100 },
  backlog: { messages: 5000, window: 256, textBytes: 100 },
  connections: { count: 300, processes: 2, loginConcurrency: 32, defaultCostSample: 4 },
  normalizer: { calls: 1000, batchCalls: 20, batchTexts: 256, concurrency: 8, textBytes: 100 },
  limits: { seconds: 0.4, echoLines: 50_000, idleSockets: 300, httpRequests: 1000 },
  restart: { messages: 20_000, users: 100, runs: 3 },
  room: { members: 100, online: 10, senders: 2, messages: 20, window: 64, textBytes: 100 },
  // Small sizes, but PostgreSQL on a loaded 2-core machine stores a backlog at under 100 msgs/s.
  deadlineMs: 180_000,
};

/** The machine limits of the limits scenario, filled in when it has run. */
export interface Limits {
  fsyncCommitsPerSec?: number;
  batchedRowsPerSec?: number;
  /** The same two through PostgreSQL (with --db). */
  pgCommitsPerSec?: number;
  pgBatchedRowsPerSec?: number;
  echoLinesPerSec?: number;
  httpEchoPerSec?: number;
  httpBatchEchoPerSec?: number;
  scryptFastPerSec?: number;
  scryptDefaultPerSec?: number;
  idleSocketBytes?: number;
  nodeStartMs?: number;
  nodeIdleRssBytes?: number;
}

export class BenchContext {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  readonly profiles: Array<{ scenario: string; file: string }> = [];
  readonly limits: Limits = {};
  /** The --peers comparison: one entry per compared figure, filled in by each system's run. */
  readonly comparison: ComparedFigure[] = [];
  #servers = 0;
  #databases = 0;

  constructor(
    readonly sizes: Sizes,
    readonly quick: boolean,
    readonly tempDir: string,
    readonly generators: number,
    /** Where server CPU profiles go; undefined: no profiling. */
    readonly profileDir: string | undefined,
    /** Where the servers' databases come from: SQLite files, or PostgreSQL (--db). */
    readonly databases: BenchDatabases,
    /** Parley's clients ack every event with its own frame (as the peers' consumers do). */
    readonly ackEach = false,
  ) {}

  /** "sqlite" or "postgres": what the servers store in. */
  get backend(): BenchDatabases["backend"] {
    return this.databases.backend;
  }

  /** The store's name for the "bounded by" column: "SQLite" or "PostgreSQL". */
  get storeLabel(): string {
    return this.backend === "sqlite" ? "SQLite" : "PostgreSQL";
  }

  /** A fresh folder for one scenario's files. */
  folder(name: string): string {
    const dir = path.join(this.tempDir, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  row(
    scenario: string,
    figure: string,
    value: number,
    unit: string,
    options: { bound?: Bound | undefined; target?: Target; note?: string } = {},
  ): void {
    this.rows.push(makeRow(scenario, figure, value, unit, options));
    if (options.note !== undefined) this.note(`${scenario}, ${figure}: ${options.note}`);
  }

  /** Records one system's value (or why it has none) for a compared figure. */
  compare(figure: Omit<ComparedFigure, "cells">, system: System, cell: Cell): void {
    let row = this.comparison.find((r) => r.scenario === figure.scenario && r.figure === figure.figure);
    if (row === undefined) {
      row = { ...figure, cells: {} };
      this.comparison.push(row);
    }
    row.cells[system] = cell;
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** A bound from a limit, or undefined when the limits scenario has not run. */
  bound(label: string, value: number | undefined, unit: string): Bound | undefined {
    return value === undefined ? undefined : { label, value, unit };
  }

  /** The commit time of `backend` (default: this run's) as the floor of a latency. */
  commitBound(backend: BenchDatabases["backend"] = this.backend): Bound | undefined {
    const rate = backend === "sqlite" ? this.limits.fsyncCommitsPerSec : this.limits.pgCommitsPerSec;
    const label = backend === "sqlite" ? "SQLite fsync" : "PostgreSQL commit";
    return this.bound(label, rate === undefined ? undefined : 1000 / rate, "ms/commit");
  }

  /** The rows per second `backend` (default: this run's) stores in commits of 100. */
  rowsBound(backend: BenchDatabases["backend"] = this.backend): Bound | undefined {
    return backend === "sqlite"
      ? this.bound("SQLite 100 rows/commit", this.limits.batchedRowsPerSec, "rows/s")
      : this.bound("PostgreSQL 100 rows/commit", this.limits.pgBatchedRowsPerSec, "rows/s");
  }

  /** Runs `body` with a fresh database (a PostgreSQL one is dropped afterwards, whatever happens). */
  withDatabase<T>(scenario: string, body: (db: BenchDatabase) => Promise<T>): Promise<T> {
    return this.databases.with(this.folder(`${scenario}-db${++this.#databases}`), body);
  }

  /**
   * Runs `body` with the server started on `options.db`, or on a fresh database of its own, and
   * always stops it (SIGTERM, so a CPU profile is written when profiling).
   */
  async withServer<T>(
    scenario: string,
    options: Omit<ServerOptions, "dbPath" | "cpuProfileDir"> & { profile?: boolean; db?: BenchDatabase },
    body: (server: ParleyServerProcess, db: BenchDatabase) => Promise<T>,
  ): Promise<T> {
    const run = (db: BenchDatabase) =>
      this.withNodes(scenario, db, 1, options, (servers) => body(servers[0]!, db));
    return options.db === undefined ? this.withDatabase(scenario, run) : run(options.db);
  }

  /**
   * Runs `body` with `count` server processes on one database (several only on PostgreSQL),
   * started one after the other (the first creates the schema), each profiled when profiling,
   * and always stops them all.
   */
  async withNodes<T>(
    scenario: string,
    db: BenchDatabase,
    count: number,
    options: Omit<ServerOptions, "dbPath" | "cpuProfileDir"> & { profile?: boolean },
    body: (servers: ParleyServerProcess[]) => Promise<T>,
  ): Promise<T> {
    const index = ++this.#servers;
    // "live postgres/2" names a folder too.
    const folderName = scenario.replace(/\W+/g, "-");
    const servers: ParleyServerProcess[] = [];
    const profileDirs: string[] = [];
    try {
      for (let node = 1; node <= count; node++) {
        const profileDir =
          this.profileDir !== undefined && options.profile !== false
            ? path.join(this.profileDir, `${folderName}-${index}${count === 1 ? "" : `-node${node}`}`)
            : undefined;
        if (profileDir !== undefined) profileDirs.push(profileDir);
        servers.push(
          await startServer({ dbPath: db.location, args: options.args ?? [], cpuProfileDir: profileDir }),
        );
      }
      return await body(servers);
    } finally {
      const codes = await Promise.all(servers.map((server) => server.stop()));
      for (const [node, server] of servers.entries()) {
        const who = count === 1 ? `${scenario}: the server` : `${scenario}: node ${node + 1}`;
        if (codes[node] !== 0) this.note(`${who} exited with ${codes[node]} on SIGTERM`);
        for (const line of server.problems) this.note(`${who} logged ${line}`);
        const unusual = [...server.closeReasons].filter(([reason]) => !EXPECTED_CLOSE_REASONS.has(reason));
        if (unusual.length > 0) {
          const list = unusual.map(([reason, n]) => `${n} × ${reason}`).join(", ");
          this.note(`${who} closed connections: ${list}`);
        }
      }
      const label = (dir: string) =>
        count === 1 ? scenario : `${scenario}, node ${profileDirs.indexOf(dir) + 1} of ${count}`;
      for (const dir of profileDirs) {
        for (const file of profilesIn(dir)) this.profiles.push({ scenario: label(dir), file });
      }
    }
  }
}
