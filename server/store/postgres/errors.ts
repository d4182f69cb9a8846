// How PostgreSQL's errors become the store's: the one place that reads SQLSTATE codes.

import pg from "pg";
import { StoreError } from "../store.js";

/** A unique index refused the row (a taken user or room name). */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === "23505";
}

/**
 * An error of the write itself (a constraint, bad data, a refusal of the store's own) rather than
 * of the database or the connection: only that write fails, the rest of its batch commits.
 */
export function isOwnFailure(error: unknown): boolean {
  if (error instanceof StoreError) return true;
  if (!(error instanceof pg.DatabaseError) || error.code === undefined) return false;
  return error.code.startsWith("23") || error.code.startsWith("22");
}

export function unavailable(cause: unknown): StoreError {
  if (cause instanceof StoreError && cause.code === "unavailable") return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StoreError("unavailable", `the database is unavailable: ${detail}`, { cause });
}
