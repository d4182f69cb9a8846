// Connections are file descriptors: past the process's soft open-file limit (ulimit -n) accept()
// fails with EMFILE, and so may the database and the normalizer. Node 20 cannot read the limit
// (process.getrlimit does not exist), so Linux's /proc/self/limits is read at start-up.

import fs from "node:fs";

/** Descriptors kept for everything but clients: stdio, the database and its lock, the
 * normalizer's socket and connections, the worker threads, TLS files, libuv's own. */
export const DESCRIPTORS_IN_RESERVE = 64;

/** The soft limit on open files, or undefined where it cannot be read (not Linux) or is unlimited. */
export function readOpenFileLimit(limitsFile = "/proc/self/limits"): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(limitsFile, "utf8");
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft === undefined || !/^\d+$/.test(soft) ? undefined : Number(soft);
}

/**
 * The connections the server may hold: `maxConnections`, lowered to leave DESCRIPTORS_IN_RESERVE
 * under the open-file limit. Throws an Error (one line) when the limit leaves no room at all.
 */
export function connectionsWithin(maxConnections: number, openFileLimit: number | undefined): number {
  if (openFileLimit === undefined) return maxConnections;
  const room = openFileLimit - DESCRIPTORS_IN_RESERVE;
  if (room < 1) {
    throw new Error(
      `the open-file limit (ulimit -n) is ${openFileLimit}; the server needs more than ${DESCRIPTORS_IN_RESERVE}`,
    );
  }
  return Math.min(maxConnections, room);
}
