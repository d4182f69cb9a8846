#!/usr/bin/env node
// parley-server: parse the command line, open the database, start the normalizer and the
// listener, and shut all of it down in order on SIGTERM or SIGINT. `parley-server admin …`
// administers accounts instead (server/admin/admin-cli.ts); `parley-server migrate-db …` copies a
// SQLite database into PostgreSQL (server/admin/migrate-db-cli.ts).

import { AdminSocket } from "./admin/admin-socket.js";
import { adminSocketPath, parseCommandLine, type ServerSettings, UsageError, usage } from "./config.js";
import { createLogger } from "./logger.js";
import { openNormalizer } from "./normalization/open-normalizer.js";
import { connectionsWithin, DESCRIPTORS_IN_RESERVE, readOpenFileLimit } from "./open-file-limit.js";
import { ParleyServer } from "./server.js";
import { describeDb, openStore } from "./store/open-store.js";

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
/** An admin command working on the database of a stopped server is given this long to finish. */
const ADMIN_SOCKET_WAIT_MS = 30_000;

function fail(message: string, code: number): never {
  process.stderr.write(`parley-server: ${message}\n`);
  process.exit(code);
}

function readSettings(): ServerSettings {
  try {
    const parsed = parseCommandLine(process.argv.slice(2), process.env);
    if (parsed.help) {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    }
    return parsed.config;
  } catch (error) {
    if (error instanceof UsageError) fail(`${error.message} (see --help)`, EXIT_USAGE);
    throw error;
  }
}

async function main(): Promise<void> {
  const requested = readSettings();
  const log = createLogger(requested.logLevel);
  const openFileLimit = readOpenFileLimit();
  let maxConnections: number;
  try {
    maxConnections = connectionsWithin(requested.maxConnections, openFileLimit);
  } catch (error) {
    return fail((error as Error).message, EXIT_FAILURE);
  }
  const settings: ServerSettings = { ...requested, maxConnections };
  if (maxConnections < requested.maxConnections) {
    log.warn("connections capped by the open-file limit", {
      maxConnections,
      requested: requested.maxConnections,
      openFileLimit,
      reserved: DESCRIPTORS_IN_RESERVE,
    });
  }
  // The store first: it takes the database's lock, so a second server on the same file is refused
  // at once, in one line, instead of waiting for the first one's admin socket.
  const store = await openStore({ path: settings.dbPath, logger: log }).catch((error: Error) =>
    fail(`cannot open database ${describeDb(settings.dbPath)}: ${error.message}`, EXIT_FAILURE),
  );
  // An admin command that had the database a moment ago may still be closing its socket.
  const socketPath = adminSocketPath(settings);
  const adminSocket =
    socketPath === undefined
      ? undefined
      : await AdminSocket.claim(socketPath, log, ADMIN_SOCKET_WAIT_MS).catch(async (error: Error) => {
          await store.close();
          return fail(`cannot take the admin socket: ${error.message}`, EXIT_FAILURE);
        });
  const normalizer = await openNormalizer(settings.normalizerUrl, log).catch(async (error: Error) => {
    await store.close();
    return fail(`cannot start the normalizer: ${error.message}`, EXIT_FAILURE);
  });
  // prom-client is loaded only when metrics are asked for, like the admin and migrate-db commands
  // below: what a server does not use should not sit in its memory.
  const metrics =
    settings.metricsPort === undefined
      ? undefined
      : new (await import("./metrics/prometheus-metrics.js")).PrometheusMetrics();
  const metricsListener = await metrics
    ?.serve(settings.metricsHost, settings.metricsPort!, log)
    .catch(async (error: Error) => {
      await normalizer.close();
      await store.close();
      return fail(
        `cannot serve metrics on ${settings.metricsHost}:${settings.metricsPort}: ${error.message}`,
        EXIT_FAILURE,
      );
    });
  const server = await ParleyServer.start({
    settings,
    store,
    normalizer: normalizer.normalizer,
    logger: log,
    ...(adminSocket === undefined ? {} : { adminSocket }),
    ...(metrics === undefined ? {} : { metrics }),
  }).catch(async (error: Error) => {
    await normalizer.close();
    await store.close();
    return fail(`cannot serve on ${settings.host}:${settings.port}: ${error.message}`, EXIT_FAILURE);
  });
  // Before the "listening" line: a supervisor may send SIGTERM the moment it reads it.
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    log.info("signal received", { signal });
    // A second signal (an impatient supervisor) must not cut the orderly shutdown short.
    if (stopping) return;
    stopping = true;
    // If anything hangs past the deadline, leave anyway: every acknowledged write is committed.
    setTimeout(() => process.exit(EXIT_FAILURE), settings.shutdownTimeoutMs + 2000).unref();
    await server.stop();
    metricsListener?.close();
    await normalizer.close();
    await store.close();
    // Last: an admin command that finds it gone works on the database itself.
    await adminSocket?.close();
    log.info("stopped");
    process.exitCode = 0;
  };
  process.on("SIGTERM", (signal) => void shutdown(signal));
  process.on("SIGINT", (signal) => void shutdown(signal));
  log.info("listening", {
    host: server.host,
    port: server.port,
    db: describeDb(settings.dbPath),
    normalizer: normalizer.embedded ? "embedded" : normalizer.url,
  });
}

if (process.argv[2] === "admin") {
  const { runAdminCommand } = await import("./admin/admin-cli.js");
  process.exitCode = await runAdminCommand(process.argv.slice(3), process.env);
} else if (process.argv[2] === "migrate-db") {
  const { runMigrateDbCommand } = await import("./admin/migrate-db-cli.js");
  process.exitCode = await runMigrateDbCommand(process.argv.slice(3));
} else {
  void main();
}
