#!/usr/bin/env node
// parley-server: parse the command line, open the database, start the normalizer and the
// listener, and shut all of it down in order on SIGTERM or SIGINT.

import { parseCommandLine, type ServerSettings, UsageError, usage } from "./config.js";
import { createLogger } from "./logger.js";
import { openNormalizer } from "./normalization/open-normalizer.js";
import { connectionsWithin, DESCRIPTORS_IN_RESERVE, readOpenFileLimit } from "./open-file-limit.js";
import { ParleyServer } from "./server.js";
import { openStore } from "./store/open-store.js";

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

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
  const store = await openStore({ path: settings.dbPath, logger: log }).catch((error: Error) =>
    fail(`cannot open database ${settings.dbPath}: ${error.message}`, EXIT_FAILURE),
  );
  const normalizer = await openNormalizer(settings.normalizerUrl, log).catch(async (error: Error) => {
    await store.close();
    return fail(`cannot start the normalizer: ${error.message}`, EXIT_FAILURE);
  });
  const server = await ParleyServer.start({
    settings,
    store,
    normalizer: normalizer.normalizer,
    logger: log,
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
    await normalizer.close();
    await store.close();
    log.info("stopped");
    process.exitCode = 0;
  };
  process.on("SIGTERM", (signal) => void shutdown(signal));
  process.on("SIGINT", (signal) => void shutdown(signal));
  log.info("listening", {
    host: server.host,
    port: server.port,
    db: settings.dbPath,
    normalizer: normalizer.embedded ? "embedded" : normalizer.url,
  });
}

void main();
