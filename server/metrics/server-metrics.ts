// What the server counts for its operator. The server calls these at the points where things
// happen; the Prometheus implementation (prometheus-metrics.ts) is made only with
// --metrics-port, and NO_METRICS costs nothing otherwise.

import type { CommitRecord } from "../store/store.js";

/** Readings taken at scrape time, from the server's own state. */
export interface ServerGauges {
  readonly connections: number;
  readonly sessions: number;
  /** Events pushed to sessions and not acknowledged yet, summed over the sessions. */
  readonly inFlightEvents: number;
  /** Sent messages between arrival and storage (the intake window's use). */
  readonly intakeMessages: number;
}

export interface ServerMetrics {
  /** The server's readings, taken at each scrape. */
  readGaugesFrom(read: () => ServerGauges): void;
  connectionAccepted(): void;
  /** A send was stored (answered ok, duplicates included). */
  messageSent(): void;
  /** Events pushed to a session. */
  eventsDelivered(count: number): void;
  /** An ack request arrived. */
  ackReceived(): void;
  storeCommitted(commits: readonly CommitRecord[]): void;
  /** One NormalizeBatch call, how long it took and whether it answered. */
  normalizerCalled(texts: number, seconds: number, ok: boolean): void;
}

export const NO_METRICS: ServerMetrics = {
  readGaugesFrom() {},
  connectionAccepted() {},
  messageSent() {},
  eventsDelivered() {},
  ackReceived() {},
  storeCommitted() {},
  normalizerCalled() {},
};
