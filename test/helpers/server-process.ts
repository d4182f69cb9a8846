// The built server as a child process, for tests that restart it or kill it with SIGKILL.

import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../server/main.js");
const START_TIMEOUT_MS = 15_000;

export interface ServerProcess {
  readonly port: number;
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export const FAST_TEST_FLAGS = ["--scrypt-cost", "1024", "--send-rate", "0", "--log-level", "info"];

/** Runs the server to completion (for flags that make it exit) and reports what it said. */
export function runServer(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code, signal) => resolve({ code: code ?? signal ?? "unknown", stdout, stderr }));
  });
}

/** Starts the server on port 0 with the given database and waits for its "listening" line. */
export function spawnServer(dbPath: string, extraArgs: string[] = []): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [MAIN, "--port", "0", "--db", dbPath, ...FAST_TEST_FLAGS, ...extraArgs],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start: ${stderr.join("")}`));
    }, START_TIMEOUT_MS);
    let partial = "";
    child.stderr.on("data", (chunk) => stderr.push(String(chunk)));
    child.stdout.on("data", (chunk) => {
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        stdout.push(line);
        if (process.env.PARLEY_TEST_LOG) process.stderr.write(`[server] ${line}\n`);
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.msg === "listening") {
          clearTimeout(timer);
          resolve({
            port: parsed.port as number,
            child,
            stdout,
            stderr,
            exited,
            stop(signal: NodeJS.Signals = "SIGTERM") {
              child.kill(signal);
              return exited;
            },
          });
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${stderr.join("")}`));
    });
  });
}
