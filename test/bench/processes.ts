// Every child process the bench starts, so that none outlives it: on exit, on Ctrl-C and on a
// scenario's deadline, each one still running is killed by its own pid.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";

const running = new Set<ChildProcess>();
const interruptCleanups: Array<() => Promise<void>> = [];
let installed = false;
/** How long Ctrl-C waits for the cleanups (dropping PostgreSQL databases) before it exits anyway. */
const INTERRUPT_CLEANUP_MS = 10_000;

export function killAll(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  running.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAll();
      const deadline = new Promise((resolve) => setTimeout(resolve, INTERRUPT_CLEANUP_MS).unref());
      void Promise.race([Promise.allSettled(interruptCleanups.map((cleanup) => cleanup())), deadline]).then(
        () => process.exit(130),
      );
    });
  }
}

/** Runs `cleanup` on Ctrl-C (or SIGTERM), after the children are killed and before the bench exits. */
export function onInterrupt(cleanup: () => Promise<void>): void {
  install();
  interruptCleanups.push(cleanup);
}

/** Resolves with the exit code (or signal name) once `child` has ended. */
export function exitOf(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode ?? child.signalCode ?? "unknown");
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
}

/**
 * Spawns `node ...args` through bash, first raising the open-file limit as far as allowed
 * (Node cannot call setrlimit itself). `exec` keeps the pid: it is node's.
 */
export function spawnNode(
  args: readonly string[],
  options: { ipc?: boolean; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  install();
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"';
  const child = spawn("bash", ["-c", script, process.execPath, ...args], {
    stdio: options.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<number | string> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Resident set size and CPU time of a process, from /proc. */
export interface ProcessStats {
  readonly rssBytes: number;
  readonly peakRssBytes: number;
  readonly anonRssBytes: number;
  readonly fileRssBytes: number;
  readonly cpuSeconds: number;
  readonly systemCpuSeconds: number;
}

export function processStats(pid: number): ProcessStats {
  const status = readProc(`/proc/${pid}/status`);
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  };
  const stat = readProc(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const userTicks = Number(rest[11]);
  const systemTicks = Number(rest[12]);
  return {
    rssBytes: field("VmRSS"),
    peakRssBytes: field("VmHWM"),
    /** Anonymous memory (heaps, SQLite's cache) and file-backed pages (code, mapped files). */
    anonRssBytes: field("RssAnon"),
    fileRssBytes: field("RssFile"),
    cpuSeconds: (userTicks + systemTicks) / CLOCK_TICKS,
    systemCpuSeconds: systemTicks / CLOCK_TICKS,
  };
}

// USER_HZ: 100 on every Linux architecture Node supports.
const CLOCK_TICKS = 100;

function readProc(file: string): string {
  return fs.readFileSync(file, "utf8");
}
