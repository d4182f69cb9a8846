// Scenario 5: the standalone normalizer service over HTTP keep-alive, with hand-written SOAP
// 1.1 envelopes: Normalize (one text per call) and NormalizeBatch (many texts per call).

import type { BenchContext } from "../bench-context.js";
import { startNormalizer } from "../server-runner.js";
import { messyText, normalizeBatchRequest, normalizeRequest, SOAP11_HEADERS } from "../soap-envelopes.js";
import { perSecond } from "../stats.js";
import { withWorkers } from "../worker-host.js";

const S = "normalizer";

function normalized(text: string): string {
  return text.trim().replace(/\s+/g, " ");
}

export async function normalizerScenario(ctx: BenchContext): Promise<void> {
  const size = ctx.sizes.normalizer;
  const service = await startNormalizer();
  try {
    const url = service.ready.url as string;
    await withWorkers(1, S, async ([worker]) => {
      const text = messyText(7, size.textBytes);
      const single = await worker!.call("http.load", {
        url,
        requests: size.calls,
        concurrency: size.concurrency,
        body: normalizeRequest(text),
        headers: SOAP11_HEADERS("Normalize"),
        expect: `>${normalized(text)}<`,
        timeoutMs: ctx.sizes.deadlineMs / 3,
      });
      if (single.errors.length > 0) throw new Error(single.errors.join("; "));
      ctx.row(
        S,
        `Normalize calls/s (1 text of ${size.textBytes} bytes, ${size.concurrency} at once)`,
        perSecond(single.done, single.endMs - single.startMs),
        "calls/s",
        {
          bound: ctx.bound("HTTP echo", ctx.limits.httpEchoPerSec, "requests/s"),
        },
      );

      const texts = Array.from({ length: size.batchTexts }, (_, i) => messyText(i, size.textBytes));
      const batch = await worker!.call("http.load", {
        url,
        requests: size.batchCalls,
        concurrency: size.concurrency,
        body: normalizeBatchRequest(texts),
        headers: SOAP11_HEADERS("NormalizeBatch"),
        expect: `>${normalized(texts.at(-1)!)}<`,
        timeoutMs: ctx.sizes.deadlineMs / 3,
      });
      if (batch.errors.length > 0) throw new Error(batch.errors.join("; "));
      const batchRate = perSecond(batch.done, batch.endMs - batch.startMs);
      ctx.row(S, `NormalizeBatch calls/s (${size.batchTexts} texts per call)`, batchRate, "calls/s", {
        bound: ctx.bound("HTTP echo, same body", ctx.limits.httpBatchEchoPerSec, "requests/s"),
      });
      ctx.row(S, "NormalizeBatch texts/s", batchRate * size.batchTexts, "texts/s", {
        bound: ctx.bound(
          "HTTP echo, same body",
          ctx.limits.httpBatchEchoPerSec === undefined
            ? undefined
            : ctx.limits.httpBatchEchoPerSec * size.batchTexts,
          "texts/s",
        ),
      });
      ctx.row(S, "normalizer RSS afterwards", service.stats().rssBytes / 2 ** 20, "MiB");
    });
  } finally {
    await service.stop();
  }
}
