// The seam between the server and the normalizer service: the server only needs a batch
// call that returns one text per input text, in order.

export interface TextNormalizer {
  /** Resolves with one normalized text per input, in the same order; rejects when unreachable. */
  normalizeBatch(texts: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}
