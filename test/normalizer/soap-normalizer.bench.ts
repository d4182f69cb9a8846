// Throughput of the SoapNormalizer (strong-soap client) against the service, both in this
// process, next to the same batches posted with fetch and a hand-built envelope, which shows
// what strong-soap itself costs. Run: node dist/test/normalizer/soap-normalizer.bench.js

import { startNormalizerService } from "../../normalizer/service.js";
import { escapeXml } from "../../normalizer/xml-writer.js";
import { SoapNormalizer } from "../../server/normalization/soap-normalizer.js";

const TEXT_BYTES = 100;
const BATCH_SIZES = [1, 100, 500] as const;
const DURATION_MS = 3_000;

function makeTexts(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    `  message ${i}\twith  some   spacing `.padEnd(TEXT_BYTES, "x"),
  );
}

async function measure(
  label: string,
  batchSize: number,
  call: (texts: string[]) => Promise<unknown>,
): Promise<void> {
  const texts = makeTexts(batchSize);
  for (let i = 0; i < 20; i += 1) await call(texts);
  let batches = 0;
  const started = performance.now();
  while (performance.now() - started < DURATION_MS) {
    await call(texts);
    batches += 1;
  }
  const seconds = (performance.now() - started) / 1_000;
  const perSecond = Math.round((batches * batchSize) / seconds);
  const msPerBatch = ((seconds * 1_000) / batches).toFixed(2);
  console.log(
    `${label.padEnd(28)} batch ${String(batchSize).padStart(3)}: ${perSecond} texts/s, ${msPerBatch} ms per batch`,
  );
}

const service = await startNormalizerService({ host: "127.0.0.1", port: 0 });
const normalizer = new SoapNormalizer(service.url);
try {
  for (const batchSize of BATCH_SIZES) {
    await measure("SoapNormalizer (strong-soap)", batchSize, (texts) => normalizer.normalizeBatch(texts));
    await measure("fetch + hand-built envelope", batchSize, async (texts) => {
      const items = texts.map((text) => `<n:text>${escapeXml(text)}</n:text>`).join("");
      const response = await fetch(service.url, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><n:NormalizeBatch xmlns:n="urn:parley:normalizer">${items}</n:NormalizeBatch></s:Body></s:Envelope>`,
      });
      await response.text();
    });
  }
} finally {
  await normalizer.close();
  await service.close();
}
