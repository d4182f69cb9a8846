// The database file before SQLite opens it: its folders, the one-server lock, its size and its
// mode. Each refusal is an Error whose message is one line for the operator.

import fs from "node:fs";
import path from "node:path";
import { InstanceLock } from "./instance-lock.js";
import type { StoreLogger } from "./write-queue.js";

// SQLite gives the -wal and -shm files the database file's mode, but adopts existing ones as
// they are.
const COMPANIONS = ["", "-wal", "-shm"] as const;
const PRIVATE_MODE = 0o600;

/**
 * Creates the folders and, when missing, the file (mode 0600); takes the instance lock, which
 * the caller must release. Refuses an empty file this start did not create: SQLite would take it
 * for a new database and start serving nobody's accounts. Tightens a database, WAL or SHM file
 * that others may read (it holds password hashes and messages) to 0600.
 */
export function prepareDatabaseFile(file: string, logger: StoreLogger | undefined): InstanceLock {
  createFolders(path.dirname(path.resolve(file)));
  const lock = InstanceLock.acquire(file);
  try {
    let created = true;
    try {
      fs.closeSync(fs.openSync(file, "wx", PRIVATE_MODE));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      created = false;
    }
    if (!created && fs.statSync(file).size === 0) {
      throw new Error(
        `${file} is empty (0 bytes) and was not created by this start; restore it from a backup, or delete it to begin with no accounts`,
      );
    }
    for (const suffix of COMPANIONS) tighten(`${file}${suffix}`, logger);
    return lock;
  } catch (error) {
    lock.release();
    throw error;
  }
}

/**
 * mkdir -p, one folder at a time: Node's recursive mkdir spins forever under /proc, where
 * mkdir fails with ENOENT for a parent that exists.
 */
function createFolders(folder: string): void {
  const missing: string[] = [];
  for (let at = folder; !fs.existsSync(at); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const each of missing) {
    try {
      fs.mkdirSync(each, 0o700);
    } catch (error) {
      throw new Error(`cannot create the folder ${each}: ${(error as Error).message}`);
    }
  }
}

function tighten(file: string, logger: StoreLogger | undefined): void {
  let mode: number;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if ((mode & 0o077) === 0) return;
  fs.chmodSync(file, mode & 0o700);
  logger?.warn?.("database file was readable by others; made private", {
    file,
    was: mode.toString(8).padStart(4, "0"),
    now: (mode & 0o700).toString(8).padStart(4, "0"),
  });
}
