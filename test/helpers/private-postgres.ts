// A PostgreSQL server of a test's own, for tests that stop and start it (the machine's shared one
// must never be). initdb into a temp folder, postgres on a free port of 127.0.0.1 with its socket
// in that folder, fsync on as in production. postgres refuses to run as root, and CI runs as root:
// then initdb and postgres run as the `postgres` OS user.

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;

/** How to stop it: fast (SIGINT, a clean shutdown) or immediate (SIGQUIT, like a crash: recovery at the next start). */
export type StopMode = "fast" | "immediate";

export interface PrivatePostgres {
  readonly port: number;
  /** postgres://… of its `postgres` database. */
  readonly url: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(mode: StopMode): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (immediate) and removes its folder. Idempotent. */
  destroy(): Promise<void>;
  /** Whatever postgres wrote to stderr, for a failing test's message. */
  readonly log: string[];
}

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = fs
    .readdirSync(root)
    .filter((name) => fs.existsSync(path.join(root, name, "bin/postgres")))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL under ${root}`);
  return path.join(root, versions[0]!, "bin");
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** spawn's uid/gid when this process is root, which postgres refuses to run as. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  const user = runAs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-pg-"));
  const data = path.join(dir, "data");
  if (user !== undefined) fs.chownSync(dir, user.uid, user.gid);
  // Messages in English: readiness is read from the log.
  const env = { ...process.env, LC_ALL: "C", LANG: "C" };
  const init = spawnSync(
    path.join(bin, "initdb"),
    ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
    { env, encoding: "utf8", ...user },
  );
  if (init.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr}`);
  }
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const log: string[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let destroyed = false;

  const onExit = (): void => {
    // The test process is going away: a leftover postmaster would hold the port and the folder.
    child?.kill("SIGQUIT");
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  const start = async (): Promise<void> => {
    const proc = spawn(
      path.join(bin, "postgres"),
      [
        "-D",
        data,
        "-p",
        String(port),
        "-k",
        dir,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=on",
        "-c",
        "logging_collector=off",
        "-c",
        "lc_messages=C",
      ],
      { env, stdio: ["ignore", "ignore", "pipe"], ...user },
    );
    child = proc;
    exited = new Promise((resolve) => proc.on("exit", () => resolve()));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`postgres not ready within ${READY_TIMEOUT_MS} ms: ${log.join("")}`)),
        READY_TIMEOUT_MS,
      );
      proc.stderr!.on("data", (chunk) => {
        log.push(String(chunk));
        if (log.length > 200) log.splice(0, log.length - 200);
        if (String(chunk).includes("ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.on("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited (${code ?? signal}) while starting: ${log.join("")}`));
      });
    });
    await ready;
    // The log says so; a connection proves it.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.end();
  };

  const stop = async (mode: StopMode): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(mode === "fast" ? "SIGINT" : "SIGQUIT");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      exited,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`postgres did not stop within ${STOP_TIMEOUT_MS} ms`)),
          STOP_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    child = undefined;
  };

  try {
    await start();
  } catch (error) {
    await stop("immediate").catch(() => undefined);
    onExit();
    process.off("exit", onExit);
    throw error;
  }

  return {
    port,
    url,
    log,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop("immediate");
      onExit();
      process.off("exit", onExit);
    },
  };
}
