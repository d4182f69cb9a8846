// An in-process Parley server for tests: a migrated SQLite file in a fresh temp folder (or, with
// backend "postgres", a PostgreSQL database of its own, dropped at stop; or the database that
// overrides.dbPath names, left as it is at stop) and a listener on 127.0.0.1:0. Set
// PARLEY_TEST_LOG=debug to see its log.

import type http from "node:http";
import type net from "node:net";
import path from "node:path";
import { AdminSocket } from "../../server/admin/admin-socket.js";
import { adminSocketPath, DEFAULTS, type ServerSettings } from "../../server/config.js";
import { createLogger, type LogLevel } from "../../server/logger.js";
import { PrometheusMetrics } from "../../server/metrics/prometheus-metrics.js";
import { openNormalizer } from "../../server/normalization/open-normalizer.js";
import { ParleyServer } from "../../server/server.js";
import { openStore } from "../../server/store/open-store.js";
import type { Store } from "../../server/store/store.js";
import type { Backend } from "./backends.js";
import { createTestDatabase } from "./pg-database.js";
import { makeTempDir } from "./temp-dir.js";

/** Settings that keep tests fast: cheap password hashing, no send or registration limit. */
export const TEST_SETTINGS: Partial<ServerSettings> = {
  host: "127.0.0.1",
  port: 0,
  scryptCost: 1024,
  sendRatePerSec: 0,
  registrationsPerAddressPerHour: 0,
};

export interface TestServer {
  readonly port: number;
  readonly dbPath: string;
  readonly settings: ServerSettings;
  /** With a metricsPort setting: where GET /metrics answers. */
  readonly metricsPort: number | undefined;
  readonly server: ParleyServer;
  readonly store: Store;
  /** The server's log lines, parsed. */
  readonly logLines: Array<Record<string, unknown>>;
  /** Resolves with the first log line (past or future) whose msg is `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the first log line (past or future) that matches. */
  waitForLogLine(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startTestServer(
  overrides: Partial<ServerSettings> = {},
  options: {
    dir?: string;
    backend?: Backend;
    wrapStore?: (store: Store) => Store;
    /** How often the free disk space floor reads the disk. */
    diskCheckIntervalMs?: number;
  } = {},
): Promise<TestServer> {
  // overrides.dbPath names a database the test owns: it is opened as it is, and kept at stop.
  const given = overrides.dbPath;
  const database =
    given === undefined && options.backend === "postgres" ? await createTestDatabase() : undefined;
  const temp =
    given === undefined && options.dir === undefined && database === undefined ? makeTempDir() : undefined;
  const dbPath = given ?? database?.url ?? path.join(options.dir ?? temp!.dir, "parley.db");
  const settings: ServerSettings = { ...DEFAULTS, ...TEST_SETTINGS, ...overrides, dbPath };
  const logLines: Array<Record<string, unknown>> = [];
  const logWaiters: Array<{
    test: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }> = [];
  const echo = process.env.PARLEY_TEST_LOG as LogLevel | undefined;
  const logger = createLogger(echo ?? "debug", (line) => {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    logLines.push(parsed);
    for (const waiter of logWaiters.filter((w) => w.test(parsed))) {
      logWaiters.splice(logWaiters.indexOf(waiter), 1);
      waiter.resolve(parsed);
    }
    if (echo) process.stderr.write(line);
  });
  const waitForLogLine = (
    test: (line: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
    what = "matching",
  ): Promise<Record<string, unknown>> => {
    const seen = logLines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${what} log line within ${timeoutMs} ms`)),
        timeoutMs,
      );
      logWaiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  };
  // As main.ts does: the admin socket before the store, released after it.
  const socketPath = adminSocketPath(settings);
  const adminSocket =
    socketPath === undefined ? undefined : await AdminSocket.claim(socketPath, logger, 10_000);
  const store = await openStore({ path: dbPath, logger });
  // The real path: the embedded SOAP service over HTTP, or the external one the test names.
  const normalizer = await openNormalizer(settings.normalizerUrl, logger);
  const served = options.wrapStore?.(store) ?? store;
  const metrics = settings.metricsPort === undefined ? undefined : new PrometheusMetrics();
  let metricsListener: http.Server | undefined;
  if (metrics !== undefined)
    metricsListener = await metrics.serve(settings.metricsHost, settings.metricsPort!, logger);
  const server = await ParleyServer.start({
    settings,
    store: served,
    normalizer: normalizer.normalizer,
    logger,
    ...(adminSocket === undefined ? {} : { adminSocket }),
    ...(metrics === undefined ? {} : { metrics }),
    ...(options.diskCheckIntervalMs === undefined
      ? {}
      : { diskCheckIntervalMs: options.diskCheckIntervalMs }),
  });
  return {
    port: server.port,
    dbPath,
    settings,
    metricsPort: (metricsListener?.address() as net.AddressInfo | undefined)?.port,
    server,
    store,
    logLines,
    waitForLog: (msg, timeoutMs = 10_000) =>
      waitForLogLine((line) => line.msg === msg, timeoutMs, `"${msg}"`),
    waitForLogLine,
    async stop() {
      await server.stop();
      metricsListener?.close();
      await normalizer.close();
      await store.close();
      await adminSocket?.close();
      temp?.remove();
      await database?.drop();
    },
  };
}
