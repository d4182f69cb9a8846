// `parley-server admin …`, the built command, as a child process: what an administrator types.

import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SERVER_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../server/main.js");

export interface AdminRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `parley-server admin <args>` on `db` (a file or a postgres:// URL), with `input` on its standard input. */
export function admin(db: string, args: readonly string[], input = ""): Promise<AdminRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_MAIN, "admin", "--db", db, ...args], {
      env: { ...process.env, PARLEY_SCRYPT_COST: "1024" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
