// The embedded normalizer's worker thread: runs the SOAP service on its own event loop and heap,
// so that parsing a large request never stalls the chat server. It speaks to the thread that
// started it (embedded-normalizer.ts) through plain messages only.

import { rm } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import type { NormalizerLimits } from "../../normalizer/defaults.js";
import type { LogFields, NormalizerLogger } from "../../normalizer/logger.js";
import { startNormalizerService } from "../../normalizer/service.js";

/** What the worker is started with (its workerData). */
export interface NormalizerWorkerConfig {
  readonly socketPath: string;
  readonly pathPrefix: string;
  readonly maxConnections: number;
  readonly limits: Partial<NormalizerLimits>;
  /** Whether debug lines are wanted; they cross to the host only then. */
  readonly debug: boolean;
}

/** Worker → host. */
export type NormalizerWorkerReport =
  | { readonly kind: "listening"; readonly url: string }
  | {
      readonly kind: "log";
      readonly level: "debug" | "info" | "warn" | "error";
      readonly msg: string;
      readonly fields?: LogFields;
    };

/** Host → worker: finish the requests in flight, stop listening, and exit. */
export interface NormalizerWorkerCommand {
  readonly kind: "close";
}

if (parentPort === null) throw new Error("normalizer-worker.js runs only as a worker thread");
const port = parentPort;
const config = workerData as NormalizerWorkerConfig;
const report = (message: NormalizerWorkerReport) => port.postMessage(message);
const logger: NormalizerLogger = {
  info: (msg, fields) => report({ kind: "log", level: "info", msg, fields }),
  warn: (msg, fields) => report({ kind: "log", level: "warn", msg, fields }),
  error: (msg, fields) => report({ kind: "log", level: "error", msg, fields }),
  ...(config.debug ? { debug: (msg, fields) => report({ kind: "log", level: "debug", msg, fields }) } : {}),
};

// A worker that died cannot have removed its socket; the folder is the host's own.
await rm(config.socketPath, { force: true });
const service = await startNormalizerService({
  socketPath: config.socketPath,
  pathPrefix: config.pathPrefix,
  maxConnections: config.maxConnections,
  ...config.limits,
  logger,
});
port.on("message", (command: NormalizerWorkerCommand) => {
  if (command.kind !== "close") return;
  // Once the service and the port are closed the event loop is empty and the thread ends.
  void service.close().then(() => port.close());
});
report({ kind: "listening", url: service.url });
