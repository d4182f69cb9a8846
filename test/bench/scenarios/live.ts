// Scenarios 1 and 2: sender/receiver pairs, all online. `live` sends as fast as a window of
// unanswered sends allows; `latency` paces the same pairs at a fixed total rate. `live` also runs
// on several nodes (PostgreSQL): clients log in to the nodes round-robin, sender then receiver,
// so that every pair's messages cross from one node to another.

import os from "node:os";
import { epochMs } from "../bench-client.js";
import type { BenchContext } from "../bench-context.js";
import type { BenchDatabase, BenchDatabases } from "../bench-database.js";
import { CpuAccount, type CpuSpent, type PidLister } from "../cpu-account.js";
import type { PairSpec, PairsResult } from "../generators/pairs.js";
import type { ParleyServerProcess } from "../server-runner.js";
import { percentiles, perSecond } from "../stats.js";
import { type WorkerProcess, withWorkers } from "../worker-host.js";
import { compareLive } from "./peers.js";

const START_DELAY_MS = 300;
/**
 * What the pairs are measured on is messaging, not log-ins: at the default scrypt cost, 100
 * clients registering and logging in at once on a loaded 2-core machine outlast the server's
 * 30 s log-in timeout, and --nodes registers them once per setup. On PostgreSQL every password
 * check in flight counts against its address's limit (forgiven once it succeeds), and 100 at
 * once from 127.0.0.1 exceed the default 30; SQLite counts only failures, of which there are none.
 */
const SERVER_ARGS = ["--send-rate", "0", "--scrypt-cost", "1024", "--login-failures-per-address", "100000"];
const QUEUE_SAMPLE_MS = 250;

interface Merged {
  readonly total: number;
  readonly startMs: number;
  readonly sentMs: number;
  readonly deliveredMs: number;
  readonly ackedMs: number;
  readonly latencies: number[];
  readonly serverCpuPercent: number;
  readonly serverSystemCpuPercent: number;
  readonly generatorCpuPercent: number;
  readonly rssBytes: number;
  /** Before the run, the clients logged in. */
  readonly rssBeforeBytes: number;
  readonly serverCpuSeconds: number;
  readonly maxAwaitingNormalization: number;
  readonly maxInInboxes: number;
  /** What the PostgreSQL backends were doing, sampled; undefined on SQLite. */
  readonly backendStates: string | undefined;
  /** CPU time by process group over the run, beside the machine's. */
  readonly cpu: CpuSpent;
}

/** Sums the /proc figures of every node. */
function nodeStats(servers: readonly ParleyServerProcess[]) {
  const all = servers.map((server) => server.stats());
  const sum = (pick: (stats: (typeof all)[number]) => number) => all.reduce((n, stats) => n + pick(stats), 0);
  return {
    cpuSeconds: sum((stats) => stats.cpuSeconds),
    systemCpuSeconds: sum((stats) => stats.systemCpuSeconds),
    rssBytes: sum((stats) => stats.rssBytes),
  };
}

/** The process groups whose CPU time the run accounts for. */
async function cpuGroups(
  databases: BenchDatabases,
  db: BenchDatabase,
  servers: readonly ParleyServerProcess[],
  workers: readonly WorkerProcess[],
): Promise<Array<readonly [string, PidLister]>> {
  const groups: Array<readonly [string, PidLister]> = [
    ["server (all nodes)", () => servers.map((s) => s.pid)],
  ];
  if (db.backend === "postgres") {
    groups.push(["PostgreSQL backends of the bench database", () => db.backendPids()]);
    const background = await databases.backgroundPids();
    groups.push(["PostgreSQL WAL writer, checkpointer, bgwriter (whole cluster)", () => background]);
  }
  groups.push([`load generators (${workers.length})`, () => workers.map((w) => w.pid)]);
  // The queue sampler's reads: in this process on SQLite, in a backend of their own on PostgreSQL.
  const reader = await db.readerPid();
  groups.push([
    "the bench's queue sampling (its process and database connection)",
    () => (reader === undefined ? [process.pid] : [process.pid, reader]),
  ]);
  return groups;
}

/**
 * Sets up `pairs` pairs spread over the workers, their clients over the nodes round-robin
 * (sender then receiver, so with several nodes every message crosses nodes), runs them once,
 * and merges the results.
 */
async function runPairs(
  ctx: BenchContext,
  databases: BenchDatabases,
  db: BenchDatabase,
  servers: readonly ParleyServerProcess[],
  workers: WorkerProcess[],
  pairs: number,
  run: { messages: number; window: number; ratePerPair: number; textBytes: number },
): Promise<Merged> {
  const specs: PairSpec[][] = workers.map(() => []);
  const port = (client: number) => servers[client % servers.length]!.port;
  for (let k = 0; k < pairs; k++) {
    specs[k % workers.length]!.push({
      sender: `sender${k}`,
      receiver: `receiver${k}`,
      phase: k / pairs,
      senderPort: port(2 * k),
      receiverPort: port(2 * k + 1),
    });
  }
  await Promise.all(
    workers.map((worker, i) => worker.call("pairs.setup", { port: servers[0]!.port, pairs: specs[i]! })),
  );
  const cpuBefore = nodeStats(servers);
  const account = new CpuAccount(await cpuGroups(databases, db, servers, workers));
  await account.start();
  const startAtMs = epochMs() + START_DELAY_MS;
  const queues = new QueueSampler(db);
  let results: PairsResult[];
  try {
    results = await Promise.all(
      workers.map((worker) =>
        worker.call("pairs.run", {
          ...run,
          startAtMs,
          timeoutMs: ctx.sizes.deadlineMs - 30_000,
          ackEach: ctx.ackEach,
        }),
      ),
    );
  } finally {
    await queues.stop();
  }
  const cpu = await account.stop();
  const stats = nodeStats(servers);
  const errors = results.flatMap((result) => result.errors);
  if (errors.length > 0) throw new Error(errors.join("; "));
  await Promise.all(workers.map((worker) => worker.call("pairs.close", null)));

  const startMs = Math.min(...results.map((r) => r.startMs));
  const endMs = Math.max(...results.map((r) => r.ackedEndMs));
  const wallSeconds = (endMs - startMs) / 1000;
  return {
    total: results.reduce((sum, r) => sum + r.sent, 0),
    startMs,
    sentMs: Math.max(...results.map((r) => r.sentEndMs)) - startMs,
    deliveredMs: Math.max(...results.map((r) => r.deliveredEndMs)) - startMs,
    ackedMs: endMs - startMs,
    latencies: results.flatMap((r) => r.latenciesMs),
    serverCpuPercent: (100 * (stats.cpuSeconds - cpuBefore.cpuSeconds)) / wallSeconds,
    serverSystemCpuPercent: (100 * (stats.systemCpuSeconds - cpuBefore.systemCpuSeconds)) / wallSeconds,
    generatorCpuPercent: results.reduce((sum, r) => sum + r.cpuMs, 0) / 10 / wallSeconds,
    rssBytes: stats.rssBytes,
    rssBeforeBytes: cpuBefore.rssBytes,
    serverCpuSeconds: stats.cpuSeconds - cpuBefore.cpuSeconds,
    maxAwaitingNormalization: queues.maxPending,
    maxInInboxes: queues.maxEvents,
    backendStates: queues.describeBackends(),
    cpu,
  };
}

/**
 * Samples, from a connection beside the server, how many stored messages await normalization
 * and how many events wait in inboxes: where the pipeline queues up. One sample at a time.
 */
class QueueSampler {
  maxPending = 0;
  maxEvents = 0;
  /** On PostgreSQL, how many times a backend of the database was seen in each state. */
  readonly backendStates = new Map<string, number>();
  #samples = 0;
  readonly #timer: NodeJS.Timeout;
  #sampling: Promise<void> = Promise.resolve();

  constructor(db: BenchDatabase) {
    this.#timer = setInterval(() => {
      this.#sampling = this.#sampling.then(async () => {
        this.#samples++;
        for (const state of await db.backendStates()) {
          this.backendStates.set(state, (this.backendStates.get(state) ?? 0) + 1);
        }
        this.maxPending = Math.max(this.maxPending, await db.pendingMessages());
        this.maxEvents = Math.max(this.maxEvents, await db.eventsWaiting());
      });
    }, QUEUE_SAMPLE_MS);
  }

  /**
   * "Lock: transactionid 1.4, on CPU 0.3, …": how many backends were in each state on average
   * (idle pool connections left out), most first. One transaction at a time holding the lock
   * and the others waiting on it is what several writers on one database look like.
   */
  describeBackends(): string | undefined {
    if (this.#samples === 0 || this.backendStates.size === 0) return undefined;
    const busy = [...this.backendStates].filter(([state]) => state !== "idle");
    if (busy.length === 0) return "all idle";
    return busy
      .sort((a, b) => b[1] - a[1])
      .map(([state, n]) => `${state} ${(n / this.#samples).toFixed(2)}`)
      .join(", ");
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sampling;
  }
}

function cpuRows(ctx: BenchContext, scenario: string, merged: Merged): void {
  ctx.row(
    scenario,
    "server CPU (all nodes, all threads, user + system)",
    merged.serverCpuPercent,
    "% of a core",
    {
      bound: { label: "one core", value: 100, unit: "%" },
      note: `${merged.serverSystemCpuPercent.toFixed(1)}% of a core in the kernel`,
    },
  );
  ctx.row(
    scenario,
    `load generators' CPU (${ctx.generators} process(es), same machine)`,
    merged.generatorCpuPercent,
    "% of a core",
  );
  ctx.note(
    `${scenario}: at most ${merged.maxAwaitingNormalization} stored messages were awaiting normalization ` +
      `and ${merged.maxInInboxes} events waited past their device's position (sampled every ${QUEUE_SAMPLE_MS} ms)`,
  );
  if (merged.backendStates !== undefined) {
    ctx.note(
      `${scenario}: the PostgreSQL backends serving the nodes, sampled every ${QUEUE_SAMPLE_MS} ms, were on average: ${merged.backendStates} (idle ones left out)`,
    );
  }
  cpuShareRows(ctx, scenario, merged.cpu);
}

/**
 * Where the machine's cores went during the run: each process group's CPU seconds beside the
 * cores × wall seconds there were, and what the rest of the machine (other users of it) took.
 */
function cpuShareRows(ctx: BenchContext, scenario: string, cpu: CpuSpent): void {
  const cores = os.availableParallelism();
  const capacity = cores * cpu.wallSeconds;
  const bound = { label: `${cores} cores × ${cpu.wallSeconds.toFixed(1)} s`, value: capacity, unit: "CPU s" };
  const ours = cpu.groups.reduce((sum, group) => sum + group.seconds, 0);
  for (const group of cpu.groups) {
    ctx.row(scenario, `CPU time: ${group.name}`, group.seconds, "CPU s", { bound });
  }
  // Clock ticks round each process's figure down, so "other" may come out a little negative.
  const other = Math.max(0, cpu.machineSeconds - ours);
  ctx.row(scenario, "CPU time: everything else on the machine", other, "CPU s", { bound });
  ctx.row(scenario, "CPU time: the whole machine busy", cpu.machineSeconds, "CPU s", { bound });
  const parts = cpu.groups
    .filter((group) => group.seconds > 0)
    .map((group) => `${group.name} ${group.seconds.toFixed(1)} s`)
    .join(", ");
  ctx.note(
    `${scenario}: CPU over the ${cpu.wallSeconds.toFixed(1)} s run: ${parts}, everything else ${other.toFixed(1)} s; ` +
      `the machine was busy ${cpu.machineSeconds.toFixed(1)} of ${capacity.toFixed(1)} CPU s (${cores} cores × ${cpu.wallSeconds.toFixed(1)} s)`,
  );
}

/** Where `live` runs: a store, a number of nodes, and the label of its rows. */
export interface LiveSetup {
  readonly databases: BenchDatabases;
  readonly nodes: number;
  /** The scenario column of its rows, e.g. "live postgres/2"; "live" for the run's own store. */
  readonly scenario: string;
}

export async function liveScenario(ctx: BenchContext, setup?: LiveSetup): Promise<void> {
  const S = setup?.scenario ?? "live";
  const databases = setup?.databases ?? ctx.databases;
  const nodes = setup?.nodes ?? 1;
  const size = ctx.sizes.live;
  const commit = () => ctx.commitBound(databases.backend);
  await databases.with(ctx.folder(S.replace(/\W+/g, "-")), (db) =>
    ctx.withNodes(S, db, nodes, { args: SERVER_ARGS }, (servers) =>
      withWorkers(ctx.generators, S, async (workers) => {
        const merged = await runPairs(ctx, databases, db, servers, workers, size.pairs, {
          messages: size.messages,
          window: size.window,
          ratePerPair: 0,
          textBytes: size.textBytes,
        });
        const echo = ctx.bound("newline-JSON echo", ctx.limits.echoLinesPerSec, "lines/s");
        const what = `${size.pairs} pairs × ${size.messages} msgs, ${size.window} in flight`;
        ctx.row(S, `sent (send answered), ${what}`, perSecond(merged.total, merged.sentMs), "msgs/s", {
          bound: echo,
          target: { op: ">=", value: 40_000, unit: "msgs/s" },
        });
        ctx.row(
          S,
          "delivered (message event received)",
          perSecond(merged.total, merged.deliveredMs),
          "msgs/s",
          {
            bound: echo,
            target: { op: ">=", value: 40_000, unit: "msgs/s" },
          },
        );
        ctx.row(
          S,
          "acked end to end (delivered receipt received)",
          perSecond(merged.total, merged.ackedMs),
          "msgs/s",
          {
            bound: echo,
            target: { op: ">=", value: 40_000, unit: "msgs/s" },
          },
        );
        const [p50, p95, p99] = percentiles(merged.latencies, [50, 95, 99]);
        ctx.row(S, "send-to-receive latency p50", p50!, "ms", { bound: commit() });
        ctx.row(S, "send-to-receive latency p95", p95!, "ms", { bound: commit() });
        ctx.row(S, "send-to-receive latency p99", p99!, "ms", { bound: commit() });
        cpuRows(ctx, S, merged);
        // The brokers are compared with the run's own store on one node only.
        if (setup === undefined) {
          compareLive(ctx, "parley", {
            total: merged.total,
            sentMs: merged.sentMs,
            deliveredMs: merged.deliveredMs,
            latencies: merged.latencies,
            serverCpuSeconds: merged.serverCpuSeconds,
            rssIdleBytes: merged.rssBeforeBytes,
            rssAfterBytes: merged.rssBytes,
          });
        }
      }),
    ),
  );
}

export async function latencyScenario(ctx: BenchContext): Promise<void> {
  const S = "latency";
  const size = ctx.sizes.latency;
  const ratePerPair = size.totalRate / size.pairs;
  await ctx.withServer(S, { args: SERVER_ARGS }, (server, db) =>
    withWorkers(ctx.generators, S, async (workers) => {
      const merged = await runPairs(ctx, ctx.databases, db, [server], workers, size.pairs, {
        messages: Math.round(ratePerPair * size.seconds),
        window: 1024,
        ratePerPair,
        textBytes: size.textBytes,
      });
      ctx.row(
        S,
        `delivered, paced at ${size.totalRate} msgs/s for ${size.seconds} s`,
        perSecond(merged.total, merged.deliveredMs),
        "msgs/s",
      );
      const [p50, p95, p99, max] = percentiles(merged.latencies, [50, 95, 99, 100]);
      ctx.row(S, "send-to-receive latency p50", p50!, "ms", { bound: ctx.commitBound() });
      ctx.row(S, "send-to-receive latency p95", p95!, "ms", { bound: ctx.commitBound() });
      ctx.row(S, "send-to-receive latency p99", p99!, "ms", {
        bound: ctx.commitBound(),
        target: { op: "<=", value: 10, unit: "ms" },
      });
      ctx.row(S, "send-to-receive latency max", max!, "ms", { bound: ctx.commitBound() });
      cpuRows(ctx, S, merged);
    }),
  );
}
