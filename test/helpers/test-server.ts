// An in-process Parley server for tests: a migrated SQLite file in a fresh temp folder and a
// listener on 127.0.0.1:0. Set PARLEY_TEST_LOG=debug to see its log.

import path from "node:path";
import { DEFAULTS, type ServerSettings } from "../../server/config.js";
import { createLogger, type LogLevel } from "../../server/logger.js";
import { openNormalizer } from "../../server/normalization/open-normalizer.js";
import { ParleyServer } from "../../server/server.js";
import { openStore } from "../../server/store/open-store.js";
import type { Store } from "../../server/store/store.js";
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
  options: { dir?: string; wrapStore?: (store: Store) => Store } = {},
): Promise<TestServer> {
  const temp = options.dir === undefined ? makeTempDir() : undefined;
  const dir = options.dir ?? temp!.dir;
  const dbPath = path.join(dir, "parley.db");
  const settings: ServerSettings = { ...DEFAULTS, ...TEST_SETTINGS, dbPath, ...overrides };
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
  const store = await openStore({ path: dbPath, logger });
  // The real path: the embedded SOAP service over HTTP, or the external one the test names.
  const normalizer = await openNormalizer(settings.normalizerUrl, logger);
  const served = options.wrapStore?.(store) ?? store;
  const server = await ParleyServer.start({
    settings,
    store: served,
    normalizer: normalizer.normalizer,
    logger,
  });
  return {
    port: server.port,
    dbPath,
    server,
    store,
    logLines,
    waitForLog: (msg, timeoutMs = 10_000) =>
      waitForLogLine((line) => line.msg === msg, timeoutMs, `"${msg}"`),
    waitForLogLine,
    async stop() {
      await server.stop();
      await normalizer.close();
      await store.close();
      temp?.remove();
    },
  };
}
