// Picks the normalizer the server talks to: an external service when given its URL, else the
// same SOAP service embedded in a worker thread of this process, on a Unix socket only this
// user can reach (embedded-normalizer.ts). Either way the server calls it over HTTP through the
// SOAP client, so there is a single code path.

import type { Logger } from "../logger.js";
import { EmbeddedNormalizer, type EmbeddedNormalizerOptions } from "./embedded-normalizer.js";
import { SoapNormalizer } from "./soap-normalizer.js";
import { type TextNormalizer, TextRefusedError } from "./text-normalizer.js";

export interface OpenedNormalizer {
  readonly normalizer: TextNormalizer;
  /** Where the service answers; for the embedded one it holds a secret: never log it. */
  readonly url: string;
  readonly embedded: boolean;
  /** The embedded service's worker and address; undefined for an external service. */
  readonly embeddedService: EmbeddedNormalizer | undefined;
  /** Closes the client, and the service when it is embedded. */
  close(): Promise<void>;
}

export async function openNormalizer(
  externalUrl: string | undefined,
  log: Logger,
  embeddedOptions: EmbeddedNormalizerOptions = {},
): Promise<OpenedNormalizer> {
  if (externalUrl !== undefined) {
    const normalizer = new SoapNormalizer(externalUrl);
    normalizer.warmUp();
    return {
      normalizer,
      url: externalUrl,
      embedded: false,
      embeddedService: undefined,
      close: () => normalizer.close(),
    };
  }
  const service = await EmbeddedNormalizer.start(log.child({ component: "normalizer" }), embeddedOptions);
  const normalizer = new SoapNormalizer(service.url);
  normalizer.warmUp();
  return {
    normalizer: withoutSecretInErrors(normalizer, service.url, service.redactedUrl),
    url: service.url,
    embedded: true,
    embeddedService: service,
    async close() {
      await normalizer.close();
      await service.close();
    },
  };
}

/**
 * The client's errors name the URL, and the stage logs them: the embedded service's secret
 * is replaced there by its redacted form, so that it never reaches a log.
 */
function withoutSecretInErrors(inner: TextNormalizer, url: string, redactedUrl: string): TextNormalizer {
  return {
    async normalizeBatch(texts) {
      try {
        return await inner.normalizeBatch(texts);
      } catch (error) {
        if (error instanceof TextRefusedError || !(error instanceof Error)) throw error;
        if (!error.message.includes(url)) throw error;
        throw new Error(error.message.replaceAll(url, redactedUrl));
      }
    },
    close: () => inner.close(),
  };
}
