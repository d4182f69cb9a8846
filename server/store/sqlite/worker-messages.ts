// What crosses between the server's thread and the SQLite store's worker thread: plain data,
// in batches (every call of one event-loop turn in one message, every answer of one in another).

import type { CommitRecord, LiveEvent, StoreErrorCode } from "../store.js";

export interface StoreCall {
  readonly id: number;
  readonly method: string;
  readonly args: readonly unknown[];
}

export type CallOutcome =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

export type SerializedError =
  | { readonly kind: "store"; readonly code: StoreErrorCode; readonly message: string }
  | { readonly kind: "other"; readonly name: string; readonly message: string };

/** From the server's thread to the worker. */
export type ToWorker = { readonly calls: readonly StoreCall[] } | { readonly close: true };

/** From the worker to the server's thread. */
export type FromWorker =
  | { readonly ready: true; readonly unnormalized: boolean }
  | { readonly openFailed: string }
  | {
      readonly outcomes: readonly CallOutcome[];
      /** The events the commits since the last message added to streams, in seq order. */
      readonly events: readonly LiveEvent[];
      /** The transactions committed since the last message. */
      readonly commits: readonly CommitRecord[];
      readonly unnormalized: boolean;
    }
  | { readonly log: { readonly msg: string; readonly fields?: Readonly<Record<string, unknown>> } }
  | { readonly closed: true };
