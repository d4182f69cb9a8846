// The machine's own limits, measured in the same run, that the server's figures are read
// against: the disk's fsync rate through better-sqlite3 with Parley's pragmas (and, with --db,
// PostgreSQL's commit rate through pg on a database of the bench's), what plain Node
// does with newline JSON and HTTP over loopback, what an idle socket costs a plain Node
// server, what scrypt costs, and how long node takes to start.

import { randomBytes, scrypt } from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import { epochMs } from "../bench-client.js";
import type { BenchContext } from "../bench-context.js";
import { spawnNode } from "../processes.js";
import { messyText, normalizeBatchRequest, normalizeRequest, SOAP11_HEADERS } from "../soap-envelopes.js";
import { MIB, median, perSecond } from "../stats.js";
import { withWorkers } from "../worker-host.js";

const S = "limits";

export async function limitsScenario(ctx: BenchContext): Promise<void> {
  sqliteLimits(ctx);
  if (ctx.backend === "postgres") await postgresLimits(ctx);
  await scryptLimits(ctx);
  await loopbackLimits(ctx);
  await nodeStartLimit(ctx);
}

/** Runs `body` repeatedly for `seconds`; returns how many times it ran and the elapsed ms. */
function timeBoxed(seconds: number, body: () => void): { count: number; ms: number } {
  const start = performance.now();
  const end = start + seconds * 1000;
  let count = 0;
  do {
    body();
    count++;
  } while (performance.now() < end);
  return { count, ms: performance.now() - start };
}

function sqliteLimits(ctx: BenchContext): void {
  const db = new Database(path.join(ctx.folder(S), "fsync.db"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b INTEGER NOT NULL)");
    const insert = db.prepare<[string, number]>("INSERT INTO t (a, b) VALUES (?, ?)");
    const text = "x".repeat(100);
    const one = db.transaction(() => insert.run(text, 1));
    const single = timeBoxed(ctx.sizes.limits.seconds, () => one());
    ctx.limits.fsyncCommitsPerSec = perSecond(single.count, single.ms);
    ctx.row(
      S,
      "SQLite commits/s, 1 row per commit (WAL, synchronous=FULL): the fsync rate",
      ctx.limits.fsyncCommitsPerSec,
      "commits/s",
    );
    ctx.row(S, "SQLite time per commit", single.ms / single.count, "ms");

    const hundred = db.transaction(() => {
      for (let i = 0; i < 100; i++) insert.run(text, i);
    });
    const batched = timeBoxed(ctx.sizes.limits.seconds, () => hundred());
    ctx.limits.batchedRowsPerSec = perSecond(batched.count * 100, batched.ms);
    ctx.row(S, "SQLite rows/s, 100 rows per commit", ctx.limits.batchedRowsPerSec, "rows/s");
  } finally {
    db.close();
  }
}

/** As sqliteLimits, through pg, one connection: what a commit costs the server's store at best. */
async function postgresLimits(ctx: BenchContext): Promise<void> {
  await ctx.withDatabase(S, async (db) => {
    await db.query(
      "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a TEXT NOT NULL, b INTEGER NOT NULL)",
    );
    const text = "x".repeat(100);
    const timeBoxedAsync = async (body: () => Promise<unknown>) => {
      const start = performance.now();
      const end = start + ctx.sizes.limits.seconds * 1000;
      let count = 0;
      do {
        await body();
        count++;
      } while (performance.now() < end);
      return { count, ms: performance.now() - start };
    };
    const single = await timeBoxedAsync(() => db.query("INSERT INTO t (a, b) VALUES ($1, 1)", [text]));
    ctx.limits.pgCommitsPerSec = perSecond(single.count, single.ms);
    ctx.row(
      S,
      "PostgreSQL commits/s, 1 row per commit (one connection, the cluster's settings)",
      ctx.limits.pgCommitsPerSec,
      "commits/s",
    );
    ctx.row(S, "PostgreSQL time per commit (round trip included)", single.ms / single.count, "ms");
    const values = Array.from({ length: 100 }, (_, i) => `($1, ${i})`).join(", ");
    const batched = await timeBoxedAsync(() => db.query(`INSERT INTO t (a, b) VALUES ${values}`, [text]));
    ctx.limits.pgBatchedRowsPerSec = perSecond(batched.count * 100, batched.ms);
    ctx.row(
      S,
      "PostgreSQL rows/s, 100 rows per commit (one multi-row INSERT)",
      ctx.limits.pgBatchedRowsPerSec,
      "rows/s",
    );
  });
}

async function scryptLimits(ctx: BenchContext): Promise<void> {
  // As many at once as libuv's thread pool runs, as the server's log-ins do.
  const parallel = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const rate = async (cost: number, seconds: number, atLeast: number) => {
    const salt = randomBytes(16);
    const options = { N: cost, r: 8, p: 1, maxmem: 256 * cost * 8 + MIB };
    const start = performance.now();
    const end = start + seconds * 1000;
    let count = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (performance.now() < end || count < atLeast) {
          await new Promise((resolve, reject) =>
            scrypt("bench-password-1", salt, 32, options, (error, key) =>
              error ? reject(error) : resolve(key),
            ),
          );
          count++;
        }
      }),
    );
    return perSecond(count, performance.now() - start);
  };
  ctx.limits.scryptFastPerSec = await rate(1024, ctx.sizes.limits.seconds, parallel);
  ctx.row(
    S,
    `scrypt N=1024 hashes/s (${parallel} at once, as log-ins run)`,
    ctx.limits.scryptFastPerSec,
    "hashes/s",
  );
  ctx.limits.scryptDefaultPerSec = await rate(32_768, ctx.sizes.limits.seconds, parallel);
  ctx.row(S, `scrypt N=32768 (default cost) hashes/s`, ctx.limits.scryptDefaultPerSec, "hashes/s");
}

async function loopbackLimits(ctx: BenchContext): Promise<void> {
  const sizes = ctx.sizes;
  await withWorkers(1, "echo-server", ([server]) =>
    withWorkers(1, "echo-client", async ([client]) => {
      await server!.call("ping", null);
      ctx.limits.nodeIdleRssBytes = server!.stats().rssBytes;
      ctx.row(
        S,
        "RSS of an idle Node process (a load-generator process)",
        ctx.limits.nodeIdleRssBytes / MIB,
        "MiB",
      );

      const linesPort = await server!.call("echo.serveLines", null);
      const echo = await client!.call("echo.load", {
        port: linesPort,
        connections: sizes.live.pairs,
        lines: sizes.limits.echoLines,
        window: sizes.live.window,
        lineBytes: 150,
        timeoutMs: sizes.deadlineMs / 2,
      });
      if (echo.errors.length > 0) throw new Error(`echo: ${echo.errors.join("; ")}`);
      ctx.limits.echoLinesPerSec = perSecond(echo.done, echo.endMs - echo.startMs);
      ctx.row(
        S,
        `newline-JSON echo over loopback, ${sizes.live.pairs} connections × ${sizes.live.window} in flight (parse + stringify)`,
        ctx.limits.echoLinesPerSec,
        "lines/s",
      );

      const before = server!.stats().rssBytes;
      const opened = await client!.call("echo.idle", {
        port: linesPort,
        count: sizes.limits.idleSockets,
        concurrency: 64,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = server!.stats().rssBytes;
      ctx.limits.idleSocketBytes = Math.max(1, (after - before) / opened);
      ctx.row(
        S,
        `RSS per idle socket in a plain Node server (${opened} sockets)`,
        ctx.limits.idleSocketBytes / 1024,
        "KiB",
      );
      await client!.call("echo.closeIdle", null);

      const httpPort = await server!.call("echo.serveHttp", null);
      const url = `http://127.0.0.1:${httpPort}/normalizer`;
      const single = await client!.call("http.load", {
        url,
        requests: sizes.limits.httpRequests,
        concurrency: sizes.normalizer.concurrency,
        body: normalizeRequest(messyText(0, sizes.normalizer.textBytes)),
        headers: SOAP11_HEADERS("Normalize"),
        expect: "Envelope",
        timeoutMs: sizes.deadlineMs / 4,
      });
      if (single.errors.length > 0) throw new Error(`http echo: ${single.errors.join("; ")}`);
      ctx.limits.httpEchoPerSec = perSecond(single.done, single.endMs - single.startMs);
      ctx.row(
        S,
        `HTTP keep-alive echo of a Normalize-sized body, ${sizes.normalizer.concurrency} at once`,
        ctx.limits.httpEchoPerSec,
        "requests/s",
      );
      const texts = Array.from({ length: sizes.normalizer.batchTexts }, (_, i) =>
        messyText(i, sizes.normalizer.textBytes),
      );
      const batch = await client!.call("http.load", {
        url,
        requests: Math.max(sizes.normalizer.batchCalls, 20),
        concurrency: sizes.normalizer.concurrency,
        body: normalizeBatchRequest(texts),
        headers: SOAP11_HEADERS("NormalizeBatch"),
        expect: "Envelope",
        timeoutMs: sizes.deadlineMs / 4,
      });
      if (batch.errors.length > 0) throw new Error(`http echo: ${batch.errors.join("; ")}`);
      ctx.limits.httpBatchEchoPerSec = perSecond(batch.done, batch.endMs - batch.startMs);
      ctx.row(
        S,
        `HTTP keep-alive echo of a NormalizeBatch-sized body (${sizes.normalizer.batchTexts} texts)`,
        ctx.limits.httpBatchEchoPerSec,
        "requests/s",
      );
    }),
  );
}

async function nodeStartLimit(ctx: BenchContext): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = epochMs();
    const child = spawnNode(["-e", ""]);
    await new Promise((resolve) => child.once("exit", resolve));
    times.push(epochMs() - start);
  }
  ctx.limits.nodeStartMs = median(times);
  ctx.row(S, "node start-up and exit, empty script (median of 5)", ctx.limits.nodeStartMs, "ms");
}
