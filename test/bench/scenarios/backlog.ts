// Scenario 3: an offline recipient's backlog. One sender enqueues with a window of unanswered
// sends; once the server has normalized everything into the inbox, the recipient logs in and
// drains it with acks. The server's RSS before, with the backlog, and after the drain.

import { epochMs } from "../bench-client.js";
import type { BenchContext } from "../bench-context.js";
import type { BenchDatabase } from "../bench-database.js";
import { MIB, perSecond } from "../stats.js";
import { withWorkers } from "../worker-host.js";
import { BACKLOG } from "./peers.js";

const S = "backlog";
const POLL_MS = 20;

/** Waits until no stored message awaits normalization; resolves with the time it happened. */
async function releasedAt(db: BenchDatabase, timeoutMs: number): Promise<number> {
  const deadline = epochMs() + timeoutMs;
  for (;;) {
    if ((await db.pendingMessages()) === 0) return epochMs();
    if (epochMs() > deadline) throw new Error("messages were still awaiting normalization at the deadline");
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export async function backlogScenario(ctx: BenchContext): Promise<void> {
  const size = ctx.sizes.backlog;
  const maxPending = String(Math.max(200_000, size.messages * 2));
  await ctx.withServer(S, { args: ["--send-rate", "0", "--max-pending", maxPending] }, (server, db) =>
    withWorkers(1, S, async ([worker]) => {
      // Sending is the long phase (on PostgreSQL, by far); normalizing and draining follow.
      const timeoutMs = ctx.sizes.deadlineMs / 2;
      const rssBefore = server.stats().rssBytes;
      const sent = await worker!.call("backlog.send", {
        port: server.port,
        sender: "backlog-sender",
        recipient: "backlog-recipient",
        messages: size.messages,
        window: size.window,
        textBytes: size.textBytes,
        timeoutMs,
      });
      if (sent.errors.length > 0) throw new Error(sent.errors.join("; "));
      const releasedMs = await releasedAt(db, timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const withBacklog = server.stats();
      const rssWithBacklog = withBacklog.rssBytes;

      const drained = await worker!.call("backlog.drain", {
        port: server.port,
        recipient: "backlog-recipient",
        messages: size.messages,
        timeoutMs,
        ackEach: ctx.ackEach,
      });
      if (drained.errors.length > 0) throw new Error(drained.errors.join("; "));
      if (drained.pendingAtLogin < size.messages) {
        throw new Error(`the inbox held ${drained.pendingAtLogin} events at login, not ${size.messages}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = server.stats();
      const split = (stats: typeof after) =>
        `${(stats.anonRssBytes / MIB).toFixed(0)} MiB anonymous + ${(stats.fileRssBytes / MIB).toFixed(0)} MiB file-backed`;
      ctx.note(`backlog: server RSS ${split(withBacklog)} with the backlog, ${split(after)} after the drain`);

      const rows = ctx.rowsBound();
      const echo = ctx.bound("newline-JSON echo", ctx.limits.echoLinesPerSec, "lines/s");
      const enqueueMs = sent.endMs - sent.startMs;
      ctx.row(
        S,
        `enqueue ${size.messages} msgs to an offline user, ${size.window} in flight`,
        perSecond(sent.sent, enqueueMs),
        "msgs/s",
        {
          bound: rows,
          target: { op: ">=", value: 50_000, unit: "msgs/s" },
        },
      );
      ctx.row(
        S,
        "stored → normalized into the inbox (from the first send)",
        perSecond(size.messages, releasedMs - sent.startMs),
        "msgs/s",
        {
          bound: rows,
        },
      );
      const drainMs = drained.ackedMs - drained.loginAnsweredMs;
      const drainFloorSeconds =
        ctx.limits.echoLinesPerSec === undefined ? undefined : size.messages / ctx.limits.echoLinesPerSec;
      ctx.row(
        S,
        `drain ${size.messages} msgs with acks (login answered → last ack processed)`,
        drainMs / 1000,
        "s",
        {
          bound: ctx.bound(`echo of ${size.messages} lines`, drainFloorSeconds, "s"),
          target: { op: "<=", value: (2 * size.messages) / 100_000, unit: "s" },
        },
      );
      ctx.compare(BACKLOG.enqueue, "parley", { value: perSecond(sent.sent, enqueueMs) });
      ctx.compare(BACKLOG.drain, "parley", { value: drainMs / 1000 });
      ctx.compare(BACKLOG.rss, "parley", { value: rssWithBacklog / MIB });
      ctx.row(S, "drain rate", perSecond(size.messages, drainMs), "msgs/s", { bound: echo });
      ctx.row(
        S,
        "login sent → last message received (with the login's scrypt)",
        (drained.lastMessageMs - drained.loginMs) / 1000,
        "s",
      );
      const nodeRss = ctx.bound(
        "idle Node process",
        ctx.limits.nodeIdleRssBytes === undefined ? undefined : ctx.limits.nodeIdleRssBytes / MIB,
        "MiB",
      );
      ctx.row(S, "server RSS before (started, empty)", rssBefore / MIB, "MiB", { bound: nodeRss });
      ctx.row(S, `server RSS with ${size.messages} msgs waiting`, rssWithBacklog / MIB, "MiB", {
        bound: nodeRss,
        target: { op: "<=", value: 100, unit: "MiB" },
      });
      ctx.row(S, "server RSS after the drain", after.rssBytes / MIB, "MiB", {
        bound: nodeRss,
        target: { op: "<=", value: 100, unit: "MiB" },
      });
      ctx.row(S, "server peak RSS (VmHWM)", after.peakRssBytes / MIB, "MiB", { bound: nodeRss });
    }),
  );
}
