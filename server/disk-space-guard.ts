// The free disk space floor: while the database's file system has less free space than the
// floor, requests that grow the database are refused with `unavailable`, before SQLite fails
// halfway through a commit with SQLITE_FULL. Free space is read periodically, never per request.

import fs from "node:fs";
import type { Logger } from "./logger.js";

/** How often free space is read by default. */
export const DISK_CHECK_INTERVAL_MS = 5000;

/** Free bytes available to this process in the file system holding `folder`. */
export type FreeDiskBytes = (folder: string) => Promise<number>;

export const statfsFreeBytes: FreeDiskBytes = async (folder) => {
  const stats = await fs.promises.statfs(folder);
  return stats.bavail * stats.bsize;
};

/** What commands ask: is the disk below the floor now? */
export interface DiskSpace {
  readonly low: boolean;
}

/** No floor: never low (PostgreSQL, or --min-free-disk-mb 0). */
export const NO_DISK_FLOOR: DiskSpace = { low: false };

export class DiskSpaceGuard implements DiskSpace {
  readonly #folder: string;
  readonly #minFreeBytes: number;
  readonly #read: FreeDiskBytes;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #low = false;
  #checking = false;

  constructor(folder: string, minFreeBytes: number, read: FreeDiskBytes, log: Logger, intervalMs: number) {
    this.#folder = folder;
    this.#minFreeBytes = minFreeBytes;
    this.#read = read;
    this.#log = log;
    this.#timer = setInterval(() => void this.check(), intervalMs);
    this.#timer.unref();
  }

  get low(): boolean {
    return this.#low;
  }

  /** Reads free space once; logs a warning on entering the low state and on leaving it. */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const free = await this.#read(this.#folder);
      const low = free < this.#minFreeBytes;
      if (low === this.#low) return;
      this.#low = low;
      const fields = { folder: this.#folder, freeBytes: free, minFreeBytes: this.#minFreeBytes };
      if (low) this.#log.warn("disk space below the floor; refusing writes that grow the database", fields);
      else this.#log.warn("disk space back above the floor; accepting writes again", fields);
    } catch (error) {
      // A reading that fails leaves the state as it was: the store still reports a full disk.
      this.#log.warn("could not read free disk space", { folder: this.#folder, error: String(error) });
    } finally {
      this.#checking = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
