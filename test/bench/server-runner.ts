// The built server (and the standalone normalizer) as child processes of the bench: started on
// 127.0.0.1 port 0, ready once they print their "listening" line, measured through /proc,
// and stopped with SIGTERM so that a CPU profile, when asked for, gets written.

import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { epochMs } from "./bench-client.js";
import { processStats, spawnNode, stopProcess } from "./processes.js";

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SERVER_MAIN = path.join(DIST, "server", "main.js");
export const NORMALIZER_MAIN = path.join(DIST, "normalizer", "main.js");
const START_TIMEOUT_MS = 60_000;
const MAX_PROBLEMS_KEPT = 20;
const MIN_LIFETIME_MS = 100;
const CLOSE_REASON = /"msg":"connection closing".*?"reason":"([^"]*)"/;

export interface ServerOptions {
  readonly dbPath: string;
  /** Flags beyond --port 0 --db. */
  readonly args?: readonly string[];
  /** Write a V8 CPU profile of the server into this folder when it exits. */
  readonly cpuProfileDir?: string | undefined;
}

export class RunningProcess {
  constructor(
    readonly child: ChildProcess,
    /** The "listening" line, parsed. */
    readonly ready: Record<string, unknown>,
    /** From spawn to the "listening" line. */
    readonly startupMs: number,
    readonly stderr: string[],
    /** Warning and error lines logged after start-up. */
    readonly problems: string[],
    /** How many connections the server closed, by the reason it logged. */
    readonly closeReasons: Map<string, number>,
  ) {
    this.#readyAtMs = epochMs();
  }

  readonly #readyAtMs: number;

  get pid(): number {
    return this.child.pid!;
  }

  stats(): ReturnType<typeof processStats> {
    return processStats(this.pid);
  }

  /**
   * SIGTERM and wait; SIGKILL after the grace period. Resolves with the exit code. Never within
   * MIN_LIFETIME_MS of the ready line: the server installs its SIGTERM handler just after
   * printing it, and a signal that wins that race kills it without an orderly shutdown.
   */
  async stop(graceMs = 15_000): Promise<number | string> {
    const wait = this.#readyAtMs + MIN_LIFETIME_MS - epochMs();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return stopProcess(this.child, graceMs);
  }
}

export class ParleyServerProcess extends RunningProcess {
  get port(): number {
    return this.ready.port as number;
  }
}

export async function startServer(options: ServerOptions): Promise<ParleyServerProcess> {
  const nodeFlags =
    options.cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir];
  // Every scenario registers its users from this one address.
  const args = [
    ...nodeFlags,
    SERVER_MAIN,
    "--port",
    "0",
    "--db",
    options.dbPath,
    "--registrations-per-address",
    "0",
    ...(options.args ?? []),
  ];
  const started = await startAndWait("the server", args, (line) => line.msg === "listening");
  return new ParleyServerProcess(
    started.child,
    started.ready,
    started.startupMs,
    started.stderr,
    started.problems,
    started.closeReasons,
  );
}

export async function startNormalizer(): Promise<RunningProcess> {
  const started = await startAndWait(
    "the normalizer",
    [NORMALIZER_MAIN, "--port", "0"],
    (line) => line.msg === "normalizer listening",
  );
  return new RunningProcess(
    started.child,
    started.ready,
    started.startupMs,
    started.stderr,
    started.problems,
    started.closeReasons,
  );
}

interface Started {
  readonly child: ChildProcess;
  readonly ready: Record<string, unknown>;
  readonly startupMs: number;
  readonly stderr: string[];
  readonly problems: string[];
  readonly closeReasons: Map<string, number>;
}

/** Spawns node with `args` and waits for the JSON line on stdout that `isReady` accepts. */
function startAndWait(
  label: string,
  args: readonly string[],
  isReady: (line: Record<string, unknown>) => boolean,
): Promise<Started> {
  const spawnedMs = epochMs();
  const child = spawnNode(args);
  const stderr: string[] = [];
  const problems: string[] = [];
  const closeReasons = new Map<string, number>();
  child.stderr!.on("data", (chunk) => {
    stderr.push(String(chunk));
    if (process.env.PARLEY_BENCH_VERBOSE) process.stderr.write(`[server] ${chunk}`);
  });
  return new Promise((resolve, reject) => {
    let partial = "";
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      child.kill("SIGKILL");
      reject(new Error(`${label} did not start within ${START_TIMEOUT_MS} ms: ${stderr.join("")}`));
    }, START_TIMEOUT_MS);
    child.stdout!.on("data", (chunk) => {
      const readyMs = epochMs();
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const text of lines) {
        if (process.env.PARLEY_BENCH_VERBOSE) process.stderr.write(`[server] ${text}\n`);
        if (done) {
          if (/"level":"(?:warn|error)"/.test(text) && problems.length < MAX_PROBLEMS_KEPT)
            problems.push(text);
          const closing = CLOSE_REASON.exec(text);
          if (closing !== null) closeReasons.set(closing[1]!, (closeReasons.get(closing[1]!) ?? 0) + 1);
          continue;
        }
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (isReady(line)) {
          done = true;
          clearTimeout(timer);
          resolve({ child, ready: line, startupMs: readyMs - spawnedMs, stderr, problems, closeReasons });
        }
      }
    });
    child.once("exit", (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(
        new Error(`${label} exited (${code ?? signal}) before it was ready: ${stderr.join("").slice(-2000)}`),
      );
    });
  });
}

/** The .cpuprofile files in `dir`, newest last. */
export function profilesIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".cpuprofile"))
    .map((name) => path.join(dir, name))
    .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
}
