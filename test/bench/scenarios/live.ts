// Scenarios 1 and 2: sender/receiver pairs, all online. `live` sends as fast as a window of
// unanswered sends allows; `latency` paces the same pairs at a fixed total rate.

import Database from "better-sqlite3";
import { epochMs } from "../bench-client.js";
import type { BenchContext } from "../bench-context.js";
import type { PairSpec, PairsResult } from "../generators/pairs.js";
import type { ParleyServerProcess } from "../server-runner.js";
import { percentiles, perSecond } from "../stats.js";
import { type WorkerProcess, withWorkers } from "../worker-host.js";
import { compareLive } from "./peers.js";

const START_DELAY_MS = 300;
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
}

/** Sets up `pairs` pairs spread over the workers, runs them once, and merges the results. */
async function runPairs(
  ctx: BenchContext,
  server: ParleyServerProcess,
  workers: WorkerProcess[],
  pairs: number,
  run: { messages: number; window: number; ratePerPair: number; textBytes: number },
): Promise<Merged> {
  const specs: PairSpec[][] = workers.map(() => []);
  for (let k = 0; k < pairs; k++) {
    specs[k % workers.length]!.push({ sender: `sender${k}`, receiver: `receiver${k}`, phase: k / pairs });
  }
  await Promise.all(
    workers.map((worker, i) => worker.call("pairs.setup", { port: server.port, pairs: specs[i]! })),
  );
  const cpuBefore = server.stats();
  const startAtMs = epochMs() + START_DELAY_MS;
  const queues = new QueueSampler(server.ready.db as string);
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
    queues.stop();
  }
  const stats = server.stats();
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
  };
}

/**
 * Samples, from a read-only connection beside the server, how many stored messages await
 * normalization and how many events wait in inboxes: where the pipeline queues up.
 */
class QueueSampler {
  maxPending = 0;
  maxEvents = 0;
  readonly #db: Database.Database;
  readonly #timer: NodeJS.Timeout;

  constructor(dbPath: string) {
    this.#db = new Database(dbPath, { readonly: true, fileMustExist: true });
    const pending = this.#db.prepare<[], { n: number }>(
      "SELECT count(*) AS n FROM messages WHERE status = 'pending'",
    );
    // Past each device's position: acknowledged events stay in the table until pruned.
    const events = this.#db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM inbox_events e JOIN devices d ON d.user_id = e.user_id
       WHERE e.seq > d.acked_seq AND (e.skip_device_id IS NULL OR e.skip_device_id <> d.id)`,
    );
    this.#timer = setInterval(() => {
      this.maxPending = Math.max(this.maxPending, pending.get()!.n);
      this.maxEvents = Math.max(this.maxEvents, events.get()!.n);
    }, QUEUE_SAMPLE_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#db.close();
  }
}

function fsyncMs(ctx: BenchContext) {
  const rate = ctx.limits.fsyncCommitsPerSec;
  return ctx.bound("fsync", rate === undefined ? undefined : 1000 / rate, "ms/commit");
}

function cpuRows(ctx: BenchContext, scenario: string, merged: Merged): void {
  ctx.row(scenario, "server CPU (all threads, user + system)", merged.serverCpuPercent, "% of a core", {
    bound: { label: "one core", value: 100, unit: "%" },
    note: `${merged.serverSystemCpuPercent.toFixed(1)}% of a core in the kernel`,
  });
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
}

export async function liveScenario(ctx: BenchContext): Promise<void> {
  const S = "live";
  const size = ctx.sizes.live;
  await ctx.withServer(S, { args: ["--send-rate", "0"] }, (server) =>
    withWorkers(ctx.generators, S, async (workers) => {
      const merged = await runPairs(ctx, server, workers, size.pairs, {
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
      ctx.row(S, "send-to-receive latency p50", p50!, "ms", { bound: fsyncMs(ctx) });
      ctx.row(S, "send-to-receive latency p95", p95!, "ms", { bound: fsyncMs(ctx) });
      ctx.row(S, "send-to-receive latency p99", p99!, "ms", { bound: fsyncMs(ctx) });
      cpuRows(ctx, S, merged);
      compareLive(ctx, "parley", {
        total: merged.total,
        sentMs: merged.sentMs,
        deliveredMs: merged.deliveredMs,
        latencies: merged.latencies,
        serverCpuSeconds: merged.serverCpuSeconds,
        rssIdleBytes: merged.rssBeforeBytes,
        rssAfterBytes: merged.rssBytes,
      });
    }),
  );
}

export async function latencyScenario(ctx: BenchContext): Promise<void> {
  const S = "latency";
  const size = ctx.sizes.latency;
  const ratePerPair = size.totalRate / size.pairs;
  await ctx.withServer(S, { args: ["--send-rate", "0"] }, (server) =>
    withWorkers(ctx.generators, S, async (workers) => {
      const merged = await runPairs(ctx, server, workers, size.pairs, {
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
      ctx.row(S, "send-to-receive latency p50", p50!, "ms", { bound: fsyncMs(ctx) });
      ctx.row(S, "send-to-receive latency p95", p95!, "ms", { bound: fsyncMs(ctx) });
      ctx.row(S, "send-to-receive latency p99", p99!, "ms", {
        bound: fsyncMs(ctx),
        target: { op: "<=", value: 10, unit: "ms" },
      });
      ctx.row(S, "send-to-receive latency max", max!, "ms", { bound: fsyncMs(ctx) });
      cpuRows(ctx, S, merged);
    }),
  );
}
