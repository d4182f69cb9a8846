// The normalizer service embedded in the chat server: a worker thread of its own (own event loop,
// own bounded heap) listening on a Unix socket in a fresh folder only this user can enter
// (mode 0700), under a path that holds a per-start secret. Other local users cannot connect, and
// a large request is parsed beside the chat server's event loop instead of on it. A worker that
// dies (out of memory, a crash) is restarted on the same address: meanwhile the server sees an
// outage, keeps messages stored, and retries.

import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { type ResourceLimits, Worker } from "node:worker_threads";
import type { NormalizerLimits } from "../../normalizer/defaults.js";
import type { Logger } from "../logger.js";
import type {
  NormalizerWorkerCommand,
  NormalizerWorkerConfig,
  NormalizerWorkerReport,
} from "./normalizer-worker.js";

export interface EmbeddedNormalizerOptions {
  /** The worker's heap; past it the worker ends (and is restarted), the server is untouched. */
  readonly resourceLimits?: ResourceLimits;
  /** Connections the service holds open at once. */
  readonly maxConnections?: number;
  /** The service's request limits, its own defaults where unset; tests widen them. */
  readonly limits?: Partial<NormalizerLimits>;
  /** The first restart waits this long; each quick death doubles the wait, up to restartMaxMs. */
  readonly restartMinMs?: number;
  readonly restartMaxMs?: number;
  /** How long close() waits for the worker to finish its requests before terminating it. */
  readonly closeTimeoutMs?: number;
}

export const embeddedNormalizerDefaults = {
  // The service's own limits (1 MiB bodies, a few thousand elements) keep a request to a few
  // MiB of heap; this bound is for what they do not foresee.
  resourceLimits: { maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 32 },
  // The server uses one keep-alive connection; the rest is room for an operator's checks.
  maxConnections: 16,
  limits: {},
  restartMinMs: 100,
  restartMaxMs: 5_000,
  closeTimeoutMs: 3_000,
} as const;

// A worker that lived this long before dying was healthy: its restart waits the minimum again.
const HEALTHY_LIFETIME_MS = 30_000;
const FOLDER_PREFIX = "parley-normalizer-";
const SOCKET_NAME = "normalizer.sock";
// A folder younger than this may belong to a server still starting, or restarting its worker.
const STALE_AFTER_MS = 60_000;
const WORKER_URL = new URL("./normalizer-worker.js", import.meta.url);

export class EmbeddedNormalizer {
  /** Where the server's SOAP client finds it: http://unix:<socket>:/n/<secret>/normalizer. */
  readonly url: string;
  /** The url with its secret elided, for logs. */
  readonly redactedUrl: string;
  readonly socketPath: string;
  readonly #folder: string;
  readonly #config: NormalizerWorkerConfig;
  readonly #options: Required<EmbeddedNormalizerOptions>;
  readonly #log: Logger;
  #worker: Worker | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #restartDelayMs = 0;
  #restarting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    folder: string,
    config: NormalizerWorkerConfig,
    url: string,
    options: Required<EmbeddedNormalizerOptions>,
    log: Logger,
  ) {
    this.#folder = folder;
    this.socketPath = config.socketPath;
    this.#config = config;
    this.url = url;
    this.redactedUrl = url.replace(config.pathPrefix, "/n/…");
    this.#options = options;
    this.#log = log;
  }

  /** Resolves once the service answers; rejects, leaving nothing behind, when it cannot start. */
  static async start(log: Logger, options: EmbeddedNormalizerOptions = {}): Promise<EmbeddedNormalizer> {
    const settings: Required<EmbeddedNormalizerOptions> = { ...embeddedNormalizerDefaults, ...options };
    // mkdtemp creates the folder with mode 0700; the socket inside is reachable only through it.
    const base = socketBase();
    const folder = await fs.mkdtemp(path.join(base, FOLDER_PREFIX));
    const config: NormalizerWorkerConfig = {
      socketPath: path.join(folder, SOCKET_NAME),
      pathPrefix: `/n/${randomBytes(32).toString("hex")}`,
      maxConnections: settings.maxConnections,
      limits: settings.limits,
      debug: log.isDebug(),
    };
    try {
      const { url, worker } = await EmbeddedNormalizer.#spawn(config, settings, log);
      const embedded = new EmbeddedNormalizer(folder, config, url, settings, log);
      embedded.#adopt(worker);
      void removeStaleFolders(base, log);
      return embedded;
    } catch (error) {
      await fs.rm(folder, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Ends the worker as a crash would (tests use it; so may an operator's last resort): the
   * server sees an outage until the worker, restarted like after any death, answers again.
   */
  async terminateWorker(): Promise<void> {
    await this.#worker?.terminate();
  }

  /** Stops restarting, lets the worker finish its requests (up to closeTimeoutMs), removes the folder. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
      await this.#restarting;
      const worker = this.#worker;
      this.#worker = undefined;
      if (worker !== undefined) {
        const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
        worker.postMessage({ kind: "close" } satisfies NormalizerWorkerCommand);
        const deadline = setTimeout(() => void worker.terminate(), this.#options.closeTimeoutMs);
        await exited;
        clearTimeout(deadline);
      }
      await fs.rm(this.#folder, { recursive: true, force: true });
    })();
    return this.#closing;
  }

  /** Starts a worker and resolves once it listens; rejects if it dies first. */
  static #spawn(
    config: NormalizerWorkerConfig,
    options: Required<EmbeddedNormalizerOptions>,
    log: Logger,
  ): Promise<{ url: string; worker: Worker }> {
    const worker = new Worker(WORKER_URL, { workerData: config, resourceLimits: options.resourceLimits });
    return new Promise((resolve, reject) => {
      let lastError: unknown;
      worker.on("message", (report: NormalizerWorkerReport) => {
        if (report.kind === "log") log[report.level](report.msg, report.fields);
        else if (report.kind === "listening") resolve({ url: report.url, worker });
      });
      worker.on("error", (error) => {
        lastError = error;
      });
      worker.once("exit", (code) =>
        reject(new Error(`the normalizer's worker ended (${describeEnd(code, lastError)})`)),
      );
    });
  }

  #adopt(worker: Worker): void {
    // Unless closing, any end of the worker is a death: restart it.
    this.#worker = worker;
    const startedAt = Date.now();
    let lastError: unknown;
    worker.on("error", (error) => {
      lastError = error;
    });
    worker.once("exit", (code) => {
      if (this.#closing !== undefined || this.#worker !== worker) return;
      this.#worker = undefined;
      const lived = Date.now() - startedAt;
      this.#restartDelayMs =
        lived >= HEALTHY_LIFETIME_MS
          ? this.#options.restartMinMs
          : Math.min(
              this.#options.restartMaxMs,
              Math.max(this.#options.restartMinMs, this.#restartDelayMs * 2),
            );
      this.#log.error("embedded normalizer stopped; restarting it", {
        reason: describeEnd(code, lastError),
        restartInMs: this.#restartDelayMs,
      });
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarting = this.#restart().finally(() => {
        this.#restarting = undefined;
      });
    }, this.#restartDelayMs);
    this.#restartTimer.unref();
  }

  async #restart(): Promise<void> {
    if (this.#closing !== undefined) return;
    let worker: Worker;
    try {
      ({ worker } = await EmbeddedNormalizer.#spawn(this.#config, this.#options, this.#log));
    } catch (error) {
      if (this.#closing !== undefined) return;
      this.#restartDelayMs = Math.min(this.#options.restartMaxMs, this.#restartDelayMs * 2);
      this.#log.error("embedded normalizer could not restart; trying again", {
        error: error instanceof Error ? error.message : String(error),
        restartInMs: this.#restartDelayMs,
      });
      this.#scheduleRestart();
      return;
    }
    if (this.#closing !== undefined) {
      await worker.terminate();
      return;
    }
    this.#adopt(worker);
    this.#log.info("embedded normalizer restarted");
  }
}

/**
 * Where the socket's folder goes: the temp folder, unless its path would make the socket's too
 * long for the kernel (about 104 bytes) or hold a colon, which the client's URL form cannot carry.
 */
function socketBase(): string {
  const fits = (base: string) =>
    !base.includes(":") && Buffer.byteLength(path.join(base, "parley-normalizer-XXXXXX", SOCKET_NAME)) <= 100;
  return fits(os.tmpdir()) ? os.tmpdir() : "/tmp";
}

/**
 * Removes what embedded normalizers of killed servers left (SIGKILL skips close()): folders of
 * this user, untouched for a minute, whose socket nobody listens on. Never fails.
 */
async function removeStaleFolders(base: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(base);
  } catch {
    return;
  }
  for (const name of names.filter((entry) => entry.startsWith(FOLDER_PREFIX))) {
    const folder = path.join(base, name);
    try {
      const stat = await fs.lstat(folder);
      if (!stat.isDirectory() || stat.uid !== process.getuid?.()) continue;
      if (Date.now() - stat.mtimeMs < STALE_AFTER_MS) continue;
      if (await isListening(path.join(folder, SOCKET_NAME))) continue;
      await fs.rm(folder, { recursive: true, force: true });
      log.info("removed a stale embedded normalizer folder", { folder });
    } catch {
      // Removed meanwhile, or not readable: not ours to clean.
    }
  }
}

function isListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code !== "ENOENT" && error.code !== "ECONNREFUSED"),
    );
  });
}

function describeEnd(code: number, error: unknown): string {
  if (error instanceof Error) return `${error.message}${"code" in error ? ` [${String(error.code)}]` : ""}`;
  return `exit code ${code}`;
}
