// The --peers comparison: the live and backlog scenarios, same sizes, against the message
// brokers running on this machine (RabbitMQ and Mosquitto, see peers/), right after Parley's
// own run of the scenario. Each figure goes into ctx.comparison beside Parley's; a broker that
// cannot be reached, or whose run fails, gets the reason in its cells instead of a value.

import { execFileSync } from "node:child_process";
import { epochMs } from "../bench-client.js";
import type { BenchContext } from "../bench-context.js";
import type { PairsResult } from "../generators/pairs.js";
import { peerProbe } from "../peers/generators.js";
import { CONSUMER_WINDOW, PEER_ENDPOINTS, PEER_LABELS, PEER_NAMES, type PeerName } from "../peers/peer.js";
import { processStats } from "../processes.js";
import type { ComparedFigure, System } from "../report.js";
import { MIB, percentiles, perSecond } from "../stats.js";
import { withWorkers } from "../worker-host.js";

const START_DELAY_MS = 300;
const PROBE_TIMEOUT_MS = 15_000;
const SETTLE_MS = 200;

type Figure = Omit<ComparedFigure, "cells">;

function figure(scenario: string, name: string, unit: string, better: "higher" | "lower"): Figure {
  return { scenario, figure: name, unit, better };
}

export const LIVE = {
  sent: figure("live", "sent (confirmed / send answered)", "msgs/s", "higher"),
  delivered: figure("live", "delivered end to end (first send → last delivery)", "msgs/s", "higher"),
  p50: figure("live", "send-to-delivery latency p50", "ms", "lower"),
  p99: figure("live", "send-to-delivery latency p99", "ms", "lower"),
  cpu: figure("live", "server CPU per message (user + system)", "µs/msg", "lower"),
  rssIdle: figure("live", "server RSS idle (clients connected, before the run)", "MiB", "lower"),
  rssAfter: figure("live", "server RSS after the run", "MiB", "lower"),
} as const;

export const BACKLOG = {
  enqueue: figure("backlog", "enqueue to an offline user (confirmed)", "msgs/s", "higher"),
  drain: figure("backlog", "drain with one ack per message (connect → last ack processed)", "s", "lower"),
  rss: figure("backlog", "server RSS after the enqueue", "MiB", "lower"),
} as const;

/** What one system's live run measured, for the comparison. */
export interface LiveFigures {
  readonly total: number;
  readonly sentMs: number;
  readonly deliveredMs: number;
  readonly latencies: readonly number[];
  readonly serverCpuSeconds: number;
  readonly rssIdleBytes: number;
  readonly rssAfterBytes: number;
}

export function compareLive(ctx: BenchContext, system: System, live: LiveFigures): void {
  const [p50, p99] = percentiles(live.latencies, [50, 99]);
  ctx.compare(LIVE.sent, system, { value: perSecond(live.total, live.sentMs) });
  ctx.compare(LIVE.delivered, system, { value: perSecond(live.total, live.deliveredMs) });
  ctx.compare(LIVE.p50, system, { value: p50! });
  ctx.compare(LIVE.p99, system, { value: p99! });
  ctx.compare(LIVE.cpu, system, { value: (live.serverCpuSeconds * 1e6) / live.total });
  ctx.compare(LIVE.rssIdle, system, { value: live.rssIdleBytes / MIB });
  ctx.compare(LIVE.rssAfter, system, { value: live.rssAfterBytes / MIB });
}

function missing(ctx: BenchContext, figures: Record<string, Figure>, system: System, why: string): void {
  for (const each of Object.values(figures)) ctx.compare(each, system, { missing: why });
}

/** The broker's process(es), by name: their CPU time and RSS are added up. */
class BrokerProcesses {
  readonly pids: number[];

  constructor(readonly name: string) {
    let found: number[] = [];
    try {
      found = execFileSync("pgrep", ["-x", name], { encoding: "utf8" })
        .trim()
        .split("\n")
        .filter((line) => line !== "")
        .map(Number);
    } catch {}
    if (found.length === 0) throw new Error(`no ${name} process found (pgrep -x ${name})`);
    this.pids = found;
  }

  stats(): { cpuSeconds: number; rssBytes: number } {
    let cpuSeconds = 0;
    let rssBytes = 0;
    for (const pid of this.pids) {
      const stats = processStats(pid);
      cpuSeconds += stats.cpuSeconds;
      rssBytes += stats.rssBytes;
    }
    return { cpuSeconds, rssBytes };
  }
}

async function probe(peer: PeerName): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      peerProbe({ peer }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)),
          PROBE_TIMEOUT_MS,
        );
      }),
    ]);
    return undefined;
  } catch (error) {
    const { host, port } = PEER_ENDPOINTS[peer];
    const reason = error instanceof Error ? error.message || error.name : String(error);
    const where = `${host}:${port}`;
    return (reason.includes(where) ? reason : `${where} ${reason}`).replace(/\s+/g, " ");
  } finally {
    clearTimeout(timer);
  }
}

/** Probes each peer, then runs `body` for it; a failure fills the peer's cells with the reason. */
async function eachPeer(
  ctx: BenchContext,
  figures: Record<string, Figure>,
  body: (peer: PeerName, broker: BrokerProcesses) => Promise<void>,
): Promise<void> {
  for (const peer of PEER_NAMES) {
    const label = PEER_LABELS[peer];
    const scenario = Object.values(figures)[0]!.scenario;
    const unreachable = await probe(peer);
    if (unreachable !== undefined) {
      missing(ctx, figures, peer, `unreachable: ${unreachable}`);
      ctx.note(`${scenario}, ${label}: unreachable: ${unreachable}`);
      continue;
    }
    const started = performance.now();
    process.stderr.write(`bench: ${scenario} on ${label}…\n`);
    try {
      await body(peer, new BrokerProcesses(PEER_ENDPOINTS[peer].process));
      process.stderr.write(
        `bench: ${scenario} on ${label} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
      missing(ctx, figures, peer, `failed: ${message.slice(0, 120)}`);
      ctx.note(`${scenario}, ${label}: failed: ${message}`);
      process.stderr.write(`bench: ${scenario} on ${label} FAILED: ${message}\n`);
    }
  }
}

export async function livePeersScenario(ctx: BenchContext): Promise<void> {
  const size = ctx.sizes.live;
  const specs = Array.from({ length: size.pairs }, (_, k) => ({
    sender: `live-sender${k}`,
    receiver: `live-receiver${k}`,
  }));
  const users = specs.flatMap((spec) => [spec.sender, spec.receiver]);
  await eachPeer(ctx, LIVE, (peer, broker) =>
    withWorkers(ctx.generators, `live-${peer}`, async (workers) => {
      const cleanup = () => workers[0]!.call("peer.cleanup", { peer, users });
      // Whatever an interrupted run left goes first.
      await cleanup();
      try {
        const shares = workers.map((_, i) => specs.filter((_, k) => k % workers.length === i));
        await Promise.all(
          workers.map((worker, i) => worker.call("peer.pairs.setup", { peer, pairs: shares[i]! })),
        );
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        const before = broker.stats();
        const startAtMs = epochMs() + START_DELAY_MS;
        const results: Array<PairsResult & { window: number }> = await Promise.all(
          workers.map((worker) =>
            worker.call("peer.pairs.run", {
              messages: size.messages,
              textBytes: size.textBytes,
              window: size.window,
              startAtMs,
              timeoutMs: Math.min(ctx.sizes.deadlineMs / 4, 120_000),
            }),
          ),
        );
        const after = broker.stats();
        await Promise.all(workers.map((worker) => worker.call("peer.pairs.close", null)));
        const errors = results.flatMap((result) => result.errors);
        if (errors.length > 0) throw new Error(errors.join("; "));
        const startMs = Math.min(...results.map((r) => r.startMs));
        const deliveredMs = Math.max(...results.map((r) => r.deliveredEndMs)) - startMs;
        compareLive(ctx, peer, {
          total: results.reduce((sum, r) => sum + r.delivered, 0),
          sentMs: Math.max(...results.map((r) => r.sentEndMs)) - startMs,
          deliveredMs,
          latencies: results.flatMap((r) => r.latenciesMs),
          serverCpuSeconds: after.cpuSeconds - before.cpuSeconds,
          rssIdleBytes: before.rssBytes,
          rssAfterBytes: after.rssBytes,
        });
        const generatorCpu = results.reduce((sum, r) => sum + r.cpuMs, 0) / 10 / (deliveredMs / 1000);
        ctx.note(
          `live, ${PEER_LABELS[peer]}: server CPU ${((100 * (after.cpuSeconds - before.cpuSeconds)) / (deliveredMs / 1000)).toFixed(0)}% of a core, ` +
            `load generators ${generatorCpu.toFixed(0)}% of a core (${ctx.generators} process(es)); ` +
            `${Math.min(...results.map((r) => r.window))} publishes in flight per sender; broker pid(s) ${broker.pids.join(", ")}`,
        );
      } finally {
        await cleanup().catch(() => {});
      }
    }),
  );
}

export async function backlogPeersScenario(ctx: BenchContext): Promise<void> {
  const size = ctx.sizes.backlog;
  const sender = "backlog-sender";
  const recipient = "backlog-recipient";
  await eachPeer(ctx, BACKLOG, (peer, broker) =>
    withWorkers(1, `backlog-${peer}`, async ([worker]) => {
      const cleanup = () => worker!.call("peer.cleanup", { peer, users: [sender, recipient] });
      await cleanup();
      try {
        const timeoutMs = Math.min(ctx.sizes.deadlineMs / 4, 120_000);
        const sent = await worker!.call("peer.backlog.send", {
          peer,
          sender,
          recipient,
          messages: size.messages,
          window: size.window,
          textBytes: size.textBytes,
          timeoutMs,
        });
        if (sent.errors.length > 0) throw new Error(sent.errors.join("; "));
        if (sent.window < size.window) {
          ctx.note(
            `backlog, ${PEER_LABELS[peer]}: ${sent.window} publishes in flight, the most the broker allows a client`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        const withBacklog = broker.stats();
        const drained = await worker!.call("peer.backlog.drain", {
          peer,
          recipient,
          messages: size.messages,
          timeoutMs,
        });
        if (drained.errors.length > 0) throw new Error(drained.errors.join("; "));
        // A broker that confirmed every publish but kept fewer has its figures marked.
        const kept = drained.received < size.messages ? `kept only ${drained.received}` : undefined;
        const caveat = kept === undefined ? {} : { caveat: kept };
        ctx.compare(BACKLOG.enqueue, peer, {
          value: perSecond(sent.sent, sent.endMs - sent.startMs),
          ...caveat,
        });
        ctx.compare(BACKLOG.rss, peer, { value: withBacklog.rssBytes / MIB, ...caveat });
        if (kept !== undefined) {
          const why = `got ${drained.received} of ${size.messages}: the broker dropped the rest`;
          ctx.compare(BACKLOG.drain, peer, { missing: `incomplete: ${why}` });
          ctx.note(
            `backlog, ${PEER_LABELS[peer]}: every publish was confirmed, but the drain ${why}` +
              (peer === "mosquitto"
                ? " (its max_queued_messages, 1000 by default, bounds an offline session's queue)"
                : ""),
          );
        } else {
          ctx.compare(BACKLOG.drain, peer, { value: (drained.ackedMs - drained.connectMs) / 1000 });
        }
      } finally {
        await cleanup().catch(() => {});
      }
    }),
  );
}

/** What the notes say about how the peers are set up. */
export function peerNotes(ctx: BenchContext): void {
  ctx.note(
    `peers: RabbitMQ at ${PEER_ENDPOINTS.rabbitmq.host}:${PEER_ENDPOINTS.rabbitmq.port} (guest): one connection per user, a durable classic queue per user, ` +
      `persistent messages through a confirm channel (sent = confirmed), consumers with manual acks, one basic.ack per message, prefetch ${CONSUMER_WINDOW} (Parley's in-flight window)`,
  );
  ctx.note(
    `peers: Mosquitto at ${PEER_ENDPOINTS.mosquitto.host}:${PEER_ENDPOINTS.mosquitto.port}: MQTT 5, one client per user with a fixed client id and a persistent session (clean start off, ` +
      `no expiry), one topic per user subscribed at QoS 1, QoS 1 publishes (sent = PUBACK received), one PUBACK per message, receive maximum ${CONSUMER_WINDOW}`,
  );
  ctx.note(
    "peers: server CPU and RSS are the broker's process(es) (beam.smp, mosquitto) from /proc; each peer's queues/sessions are deleted before and after its run",
  );
  ctx.note(
    "peers: ratio = Parley / peer; the 'better' column says which way is better (for a rate, above 1× is Parley ahead; for a time, a CPU cost or a size, below 1×)",
  );
}
