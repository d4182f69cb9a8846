// Scenario 4: many logged-in, idle connections from several client processes. The users are
// registered first over a few connections; then every connection connects and logs in
// (the login storm); the server's RSS is read once the storm's presence events have settled.
// The storm runs with --scrypt-cost 1024; a small sample measures log-ins at the default cost.

import type { BenchContext } from "../bench-context.js";
import type { RangeResult } from "../generators/idle-connections.js";
import { KIB, MIB, perSecond } from "../stats.js";
import { type WorkerProcess, withWorkers } from "../worker-host.js";

const S = "connections";
const STORM_SCRYPT_COST = 1024;
const REGISTER_CONCURRENCY = 8;
const SETTLE_POLL_MS = 250;
const SETTLE_QUIET_POLLS = 4;
const PG_STORM_FAILURES_PER_ADDRESS = 100_000;

function merge(results: readonly RangeResult[]): { ms: number; done: number } {
  const errors = results.flatMap((result) => result.errors);
  if (errors.length > 0) throw new Error(errors.join("; "));
  return {
    ms: Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs)),
    done: results.reduce((sum, r) => sum + r.done, 0),
  };
}

function ranges(
  workers: readonly WorkerProcess[],
  count: number,
  port: number,
  prefix: string,
  concurrency: number,
) {
  const share = Math.ceil(count / workers.length);
  return workers.map((_, i) => ({
    port,
    addressBlock: 10 + i,
    prefix,
    from: i * share,
    count: Math.max(0, Math.min(share, count - i * share)),
    concurrency,
  }));
}

/** Waits until the connections stop receiving (the presence events of the storm have arrived). */
async function settle(
  workers: readonly WorkerProcess[],
  timeoutMs: number,
): Promise<{ open: number; bytes: number }> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let quiet = 0;
  for (;;) {
    const statuses = await Promise.all(workers.map((worker) => worker.call("idle.status", null)));
    const bytes = statuses.reduce((sum, s) => sum + s.receivedBytes, 0);
    const open = statuses.reduce((sum, s) => sum + s.open, 0);
    quiet = bytes === last ? quiet + 1 : 0;
    last = bytes;
    if (quiet >= SETTLE_QUIET_POLLS || Date.now() > deadline) return { open, bytes };
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
  }
}

export async function connectionsScenario(ctx: BenchContext): Promise<void> {
  const size = ctx.sizes.connections;
  // On PostgreSQL every password check counts in the address's shared one-minute window while
  // it is in flight (forgiven once it succeeds), so a storm of concurrent log-ins from one
  // address reaches the failure limit without a single failure: a policy, lifted here.
  const args = ["--scrypt-cost", String(STORM_SCRYPT_COST)];
  if (ctx.backend === "postgres") {
    args.push("--login-failures-per-address", String(PG_STORM_FAILURES_PER_ADDRESS));
    ctx.note(
      `connections: on PostgreSQL the storm runs with --login-failures-per-address ${PG_STORM_FAILURES_PER_ADDRESS}: ` +
        `password checks in flight count against the address's limit there, and ${size.loginConcurrency} at once from one address exceed the default 30`,
    );
  }
  await ctx.withServer(S, { args }, (server) =>
    withWorkers(size.processes, S, async (workers) => {
      const registered = merge(
        await Promise.all(
          ranges(workers, size.count, server.port, "idle", REGISTER_CONCURRENCY).map((range, i) =>
            workers[i]!.call("idle.register", range),
          ),
        ),
      );
      if (registered.done !== size.count) throw new Error(`registered ${registered.done} of ${size.count}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const baseline = server.stats().rssBytes;

      const loggedIn = merge(
        await Promise.all(
          ranges(workers, size.count, server.port, "idle", size.loginConcurrency).map((range, i) =>
            workers[i]!.call("idle.login", range),
          ),
        ),
      );
      const settled = await settle(workers, ctx.sizes.deadlineMs / 4);
      if (settled.open !== size.count)
        throw new Error(`${settled.open} of ${size.count} connections are open`);
      const after = server.stats();

      const what = `${size.count} connections from ${size.processes} processes, scrypt N=${STORM_SCRYPT_COST}`;
      ctx.row(S, `login rate, ${what}`, perSecond(loggedIn.done, loggedIn.ms), "logins/s", {
        bound: ctx.bound(`scrypt N=${STORM_SCRYPT_COST}`, ctx.limits.scryptFastPerSec, "hashes/s"),
      });
      ctx.note(
        `connections: the clients received ${(settled.bytes / MIB).toFixed(1)} MiB during the login storm ` +
          "(every log-in is announced as a presence event to every user already online)",
      );
      ctx.row(S, `server RSS with ${size.count} idle logged-in connections`, after.rssBytes / MIB, "MiB");
      ctx.row(S, "server peak RSS (VmHWM)", after.peakRssBytes / MIB, "MiB");
      ctx.row(
        S,
        "server RSS per idle connection",
        Math.max(0, after.rssBytes - baseline) / size.count / KIB,
        "KiB",
        {
          bound: ctx.bound(
            "plain Node socket",
            ctx.limits.idleSocketBytes === undefined ? undefined : ctx.limits.idleSocketBytes / KIB,
            "KiB",
          ),
          target: { op: "<=", value: 10, unit: "KiB" },
        },
      );
      await Promise.all(workers.map((worker) => worker.call("idle.close", null)));
    }),
  );

  // Log-ins at the default scrypt cost: a small sample on a server of its own.
  await ctx.withServer(`${S}-default-cost`, { profile: false }, (server) =>
    withWorkers(1, S, async ([worker]) => {
      const range = {
        port: server.port,
        prefix: "slow",
        from: 0,
        count: size.defaultCostSample,
        concurrency: 4,
      };
      merge([await worker!.call("idle.register", range)]);
      const sample = merge([
        await worker!.call("idle.login", { ...range, concurrency: size.defaultCostSample }),
      ]);
      ctx.row(
        S,
        `login rate at the default scrypt cost (N=32768), ${size.defaultCostSample} at once`,
        perSecond(sample.done, sample.ms),
        "logins/s",
        {
          bound: ctx.bound("scrypt N=32768", ctx.limits.scryptDefaultPerSec, "hashes/s"),
        },
      );
      await worker!.call("idle.close", null);
    }),
  );
}
