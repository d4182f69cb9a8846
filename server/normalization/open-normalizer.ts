// Picks the normalizer the server talks to: an external service when given its URL, else the
// same SOAP service started inside this process on a free loopback port. Either way the
// server calls it over HTTP through the SOAP client, so there is a single code path.

import { startNormalizerService } from "../../normalizer/service.js";
import type { Logger } from "../logger.js";
import { SoapNormalizer } from "./soap-normalizer.js";
import type { TextNormalizer } from "./text-normalizer.js";

export interface OpenedNormalizer {
  readonly normalizer: TextNormalizer;
  /** Where the service answers. */
  readonly url: string;
  readonly embedded: boolean;
  /** Closes the client, and the service when it is embedded. */
  close(): Promise<void>;
}

export async function openNormalizer(
  externalUrl: string | undefined,
  log: Logger,
): Promise<OpenedNormalizer> {
  if (externalUrl !== undefined) {
    const normalizer = new SoapNormalizer(externalUrl);
    return { normalizer, url: externalUrl, embedded: false, close: () => normalizer.close() };
  }
  const service = await startNormalizerService({
    host: "127.0.0.1",
    port: 0,
    logger: log.child({ component: "normalizer" }),
  });
  const normalizer = new SoapNormalizer(service.url);
  return {
    normalizer,
    url: service.url,
    embedded: true,
    async close() {
      await normalizer.close();
      await service.close();
    },
  };
}
