// The normalizer service's tunables, in one place. Every one can be overridden through the
// options of startNormalizerService; tests use that to exercise the limits cheaply.

export const normalizerDefaults = {
  host: "127.0.0.1",
  port: 8000,
  /**
   * The largest request body read, after any Content-Encoding is undone. The longest text
   * (65,536 code points, at most 5 bytes each once escaped) fits; the chat server splits its
   * batches to stay under it. Bodies are held whole in memory, so it bounds each request's cost.
   */
  maxBodyBytes: 1024 * 1024,
  /** Counted in Unicode code points, before normalization, as the chat protocol counts. */
  maxTextChars: 65_536,
  maxBatchTexts: 1_000,
  /** How long close() lets requests in flight finish before it drops their connections. */
  shutdownGraceMs: 2_000,
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: 256,
  /** The longest wait for a request's headers, and for its whole body. */
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: 5_000,
} as const;

export interface NormalizerLimits {
  readonly maxBodyBytes: number;
  readonly maxTextChars: number;
  readonly maxBatchTexts: number;
}

/** Bounds on the HTTP connections themselves, so that idle or slow clients cannot pile up. */
export interface NormalizerConnectionLimits {
  readonly maxConnections: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}
