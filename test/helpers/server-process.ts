// The built server and normalizer as child processes, for tests that stop, restart or kill
// them. Their JSON log lines are collected and can be waited for.

import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SERVER_MAIN = path.join(DIST, "server/main.js");
const NORMALIZER_MAIN = path.join(DIST, "normalizer/main.js");
const START_TIMEOUT_MS = 15_000;

export type LogLine = Record<string, unknown>;

export interface ChildService {
  readonly child: ChildProcess;
  /** Every JSON line written to stdout so far. */
  readonly lines: LogLine[];
  readonly stderr: string[];
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Resolves with the first line, already written or still to come, that matches. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface ServerProcess extends ChildService {
  readonly port: number;
}

export interface NormalizerProcess extends ChildService {
  readonly port: number;
  readonly url: string;
}

export const FAST_TEST_FLAGS = [
  "--scrypt-cost",
  "1024",
  "--send-rate",
  "0",
  "--registrations-per-address",
  "0",
  "--log-level",
  "info",
];

/** Runs the server to completion (for flags that make it exit) and reports what it said. */
export function runServer(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SERVER_MAIN, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code, signal) => resolve({ code: code ?? signal ?? "unknown", stdout, stderr }));
  });
}

function spawnService(script: string, args: string[], label: string): ChildService {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  let partial = "";
  child.stderr.on("data", (chunk) => stderr.push(String(chunk)));
  child.stdout.on("data", (chunk) => {
    partial += chunk;
    const complete = partial.split("\n");
    partial = complete.pop()!;
    for (const text of complete) {
      if (process.env.PARLEY_TEST_LOG) process.stderr.write(`[${label}] ${text}\n`);
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.predicate(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  return {
    child,
    lines,
    stderr,
    exited,
    waitForLine(predicate, timeoutMs = START_TIMEOUT_MS) {
      const seen = lines.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${label}: no matching log line within ${timeoutMs} ms`)),
          timeoutMs,
        );
        const waiter = {
          predicate,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
        void exited.then((code) => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${label} exited (${code}) while waited for: ${stderr.join("")}`));
        });
      });
    },
    stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts the server on port 0 with the given database and waits for its "listening" line. */
export async function spawnServer(dbPath: string, extraArgs: string[] = []): Promise<ServerProcess> {
  const service = spawnService(
    SERVER_MAIN,
    ["--port", "0", "--db", dbPath, ...FAST_TEST_FLAGS, ...extraArgs],
    "server",
  );
  const listening = await service
    .waitForLine((line) => line.msg === "listening")
    .catch(async (error) => {
      await service.stop("SIGKILL");
      throw error;
    });
  return { ...service, port: listening.port as number };
}

/** Starts the standalone normalizer (port 0 picks one) and waits until it listens. */
export async function spawnNormalizer(port = 0): Promise<NormalizerProcess> {
  const service = spawnService(NORMALIZER_MAIN, ["--port", String(port)], "normalizer");
  const listening = await service
    .waitForLine((line) => line.msg === "normalizer listening")
    .catch(async (error) => {
      await service.stop("SIGKILL");
      throw error;
    });
  const url = listening.url as string;
  return { ...service, url, port: Number(new URL(url).port) };
}

/**
 * `count` servers on one database (several nodes on PostgreSQL): one first, so that the others
 * find the schema migrated, then the rest at once.
 */
export async function spawnNodes(db: string, count: number): Promise<ServerProcess[]> {
  const first = await spawnServer(db);
  return [first, ...(await Promise.all(Array.from({ length: count - 1 }, () => spawnServer(db))))];
}
