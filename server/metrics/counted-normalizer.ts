// A TextNormalizer that reports each NormalizeBatch call (its size, duration and outcome) to
// the metrics, so that calls from intake and from the normalization stage are all counted.

import type { TextNormalizer } from "../normalization/text-normalizer.js";
import type { ServerMetrics } from "./server-metrics.js";

export function countedNormalizer(normalizer: TextNormalizer, metrics: ServerMetrics): TextNormalizer {
  return {
    async normalizeBatch(texts) {
      const started = performance.now();
      try {
        const normalized = await normalizer.normalizeBatch(texts);
        metrics.normalizerCalled(texts.length, (performance.now() - started) / 1000, true);
        return normalized;
      } catch (error) {
        metrics.normalizerCalled(texts.length, (performance.now() - started) / 1000, false);
        throw error;
      }
    },
    close: () => normalizer.close(),
  };
}
