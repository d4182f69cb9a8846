// The normalizer service's tunables, in one place. Every one can be overridden through the
// options of startNormalizerService; tests use that to exercise the limits cheaply.

export const normalizerDefaults = {
  host: "127.0.0.1",
  port: 8000,
  /** The largest request body read, after any Content-Encoding is undone. */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Counted in Unicode code points, before normalization, as the chat protocol counts. */
  maxTextChars: 65_536,
  maxBatchTexts: 1_000,
  /** How long close() lets requests in flight finish before it drops their connections. */
  shutdownGraceMs: 2_000,
} as const;

export interface NormalizerLimits {
  readonly maxBodyBytes: number;
  readonly maxTextChars: number;
  readonly maxBatchTexts: number;
}
