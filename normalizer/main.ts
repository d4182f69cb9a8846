#!/usr/bin/env node
// parley-normalizer: the normalizer service on its own. Exit codes: 0 after a clean stop on
// SIGTERM or SIGINT, 1 when the service cannot start, 2 for a usage error.

import { parseArgs } from "node:util";
import { normalizerDefaults } from "./defaults.js";
import { jsonLineLogger } from "./logger.js";
import { type NormalizerService, startNormalizerService } from "./service.js";

const USAGE = `Usage: parley-normalizer [--host HOST] [--port PORT]

Serves Parley's text normalizer over SOAP at http://HOST:PORT/normalizer
(WSDL at /normalizer?wsdl, health check at /healthz).

Options:
  --host HOST   address to listen on (env PARLEY_NORMALIZER_HOST; default ${normalizerDefaults.host})
  --port PORT   port to listen on, 0 for any free port (env PARLEY_NORMALIZER_PORT; default ${normalizerDefaults.port})
  -h, --help    show this help
`;

class UsageError extends Error {}

interface Config {
  readonly host: string;
  readonly port: number;
}

function parseConfig(args: readonly string[], env: NodeJS.ProcessEnv): Config | "help" {
  let values: { host?: string | undefined; port?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { host: { type: "string" }, port: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return "help";

  // An empty variable counts as unset, as shells and service managers often leave them so.
  const host = values.host ?? (env.PARLEY_NORMALIZER_HOST || normalizerDefaults.host);
  if (host === "") throw new UsageError("--host must not be empty");
  const portText = values.port ?? (env.PARLEY_NORMALIZER_PORT || String(normalizerDefaults.port));
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) {
    const source = values.port !== undefined ? "--port" : "PARLEY_NORMALIZER_PORT";
    throw new UsageError(`${source} must be a port number from 0 to 65535, not '${portText}'`);
  }
  return { host, port };
}

async function main(): Promise<number> {
  let config: Config | "help";
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`parley-normalizer: ${error.message} (try --help)\n`);
    return 2;
  }
  if (config === "help") {
    process.stdout.write(USAGE);
    return 0;
  }

  // Listening for the signals before anything is announced: whoever reads the "listening"
  // line may signal at once, and a signal during start-up stops the service once it is up.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  const logger = jsonLineLogger((line) => process.stdout.write(line));
  let service: NormalizerService;
  try {
    service = await startNormalizerService({ ...config, logger });
  } catch (error) {
    logger.error("normalizer could not start", {
      error: error instanceof Error ? error.message : String(error),
    });
    return 1;
  }
  logger.info("normalizer listening", { url: service.url });

  const signal = await stopSignal;
  logger.info("normalizer stopping", { signal });
  await service.close();
  logger.info("normalizer stopped");
  return 0;
}

process.exitCode = await main();
