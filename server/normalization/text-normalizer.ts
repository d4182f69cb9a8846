// The seam between the server and the normalizer service: the server only needs a batch
// call that returns one text per input text, in order.

/**
 * The normalizer can never take the text at `index` (a character or a length it cannot carry),
 * as opposed to being unreachable: retrying will not help, so that message is held.
 */
export class TextRefusedError extends Error {
  readonly index: number;

  constructor(index: number, message: string) {
    super(message);
    this.name = "TextRefusedError";
    this.index = index;
  }
}

export interface TextNormalizer {
  /**
   * Resolves with one normalized text per input, in the same order. Rejects with
   * TextRefusedError for a text it can never take, and with any other error when unreachable.
   */
  normalizeBatch(texts: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}
