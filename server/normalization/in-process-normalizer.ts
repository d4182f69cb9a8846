import { normalize } from "../../normalizer/normalize.js";
import type { TextNormalizer } from "./text-normalizer.js";

/** The rule run in this process, behind the same seam as the SOAP client; for tests and tools. */
export class InProcessNormalizer implements TextNormalizer {
  async normalizeBatch(texts: readonly string[]): Promise<string[]> {
    return texts.map(normalize);
  }

  async close(): Promise<void> {}
}
