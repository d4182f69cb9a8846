// The chat server's TextNormalizer: NormalizeBatch calls to the normalizer service, through
// strong-soap's client built from the WSDL the service serves, on keep-alive connections.
//
// Two things bypass parts of strong-soap, each to keep texts exact. Texts go into the request
// already escaped ({ $xml }), because strong-soap treats any text containing "<![CDATA[" as a
// CDATA section and deletes the marker. Texts come out of the raw response envelope, because
// strong-soap trims every text node it parses with String.prototype.trim, which also removes
// U+FEFF, a character the rule keeps.

import http from "node:http";
import https from "node:https";
import { type SoapClient, type SoapOperation, soap } from "strong-soap";
import { normalizerDefaults } from "../../normalizer/defaults.js";
import { decodeResponse } from "../../normalizer/soap-message.js";
import { SERVICE_NAME, SOAP11_PORT } from "../../normalizer/wsdl.js";
import { escapeXml, findIllegalXmlChar } from "../../normalizer/xml-writer.js";
import { codePointLength } from "../protocol/text-rules.js";
import { type TextNormalizer, TextRefusedError } from "./text-normalizer.js";

export interface SoapNormalizerOptions {
  /** The longest wait for the WSDL or for one NormalizeBatch answer. */
  readonly timeoutMs?: number;
  /** Longer batches are split into several calls; keep it within the service's limit. */
  readonly maxBatchTexts?: number;
  /** Batches whose request would be larger are split; keep it within the service's body limit. */
  readonly maxRequestBytes?: number;
}

export const soapNormalizerDefaults = {
  timeoutMs: 5_000,
  maxBatchTexts: normalizerDefaults.maxBatchTexts,
  maxRequestBytes: normalizerDefaults.maxBodyBytes,
} as const;

// Generous upper bounds on what the envelope and each text's element add to the escaped texts.
const ENVELOPE_BYTES = 1_024;
const TEXT_ELEMENT_BYTES = 64;
const OPERATION = "NormalizeBatch";
// strong-soap asks for "Connection: close" unless told otherwise.
const KEEP_ALIVE_HEADERS = { Connection: "keep-alive" } as const;

export class SoapNormalizer implements TextNormalizer {
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #maxBatchTexts: number;
  readonly #maxRequestBytes: number;
  readonly #agent: http.Agent;
  /** The client being built or built; cleared when building fails, so the next call retries. */
  #operation: Promise<SoapOperation> | undefined;
  #closed = false;

  /** `url` is the service endpoint, e.g. http://127.0.0.1:8000/normalizer; nothing is fetched yet. */
  constructor(url: string, options: SoapNormalizerOptions = {}) {
    this.#url = url;
    this.#timeoutMs = options.timeoutMs ?? soapNormalizerDefaults.timeoutMs;
    this.#maxBatchTexts = options.maxBatchTexts ?? soapNormalizerDefaults.maxBatchTexts;
    this.#maxRequestBytes = options.maxRequestBytes ?? soapNormalizerDefaults.maxRequestBytes;
    this.#agent =
      new URL(url).protocol === "https:"
        ? new https.Agent({ keepAlive: true })
        : new http.Agent({ keepAlive: true });
  }

  /**
   * Resolves with one normalized text per input, in order. Rejects, within timeoutMs per
   * round trip, when the service cannot be reached, answers with a fault, or answers with a
   * different number of texts; and at once for a text XML 1.0 cannot carry.
   */
  async normalizeBatch(texts: readonly string[]): Promise<string[]> {
    if (this.#closed) throw new Error("the SOAP normalizer is closed");
    const payloads = texts.map((text, index) => {
      const illegal = findIllegalXmlChar(text);
      if (illegal !== undefined) {
        const codePoint = illegal.toString(16).toUpperCase().padStart(4, "0");
        throw new TextRefusedError(
          index,
          `text ${index + 1} holds U+${codePoint}, which XML 1.0 cannot carry to the normalizer`,
        );
      }
      if (codePointLength(text) > normalizerDefaults.maxTextChars) {
        throw new TextRefusedError(
          index,
          `text ${index + 1} is longer than the normalizer's ${normalizerDefaults.maxTextChars} characters`,
        );
      }
      return escapeXml(text);
    });
    if (payloads.length === 0) return [];

    const operation = await this.#getOperation();
    const normalized: string[] = [];
    for (const chunk of this.#chunks(payloads)) {
      normalized.push(...(await this.#call(operation, chunk)));
    }
    return normalized;
  }

  /** Releases the keep-alive connections; later calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#agent.destroy();
  }

  #getOperation(): Promise<SoapOperation> {
    if (this.#operation === undefined) {
      const attempt = this.#connect();
      this.#operation = attempt;
      attempt.catch(() => {
        if (this.#operation === attempt) this.#operation = undefined;
      });
    }
    return this.#operation;
  }

  async #connect(): Promise<SoapOperation> {
    const wsdlUrl = `${this.#url}?wsdl`;
    const building = new Promise<SoapClient>((resolve, reject) => {
      soap.createClient(
        wsdlUrl,
        {
          endpoint: this.#url,
          // A cache of its own: strong-soap's shared one would outlive this normalizer.
          WSDL_CACHE: {},
          wsdl_options: { agent: this.#agent, timeout: this.#timeoutMs },
          wsdl_headers: KEEP_ALIVE_HEADERS,
          prettyPrint: false,
        },
        (error, client) => {
          if (client !== undefined && !error) resolve(client);
          else reject(error ?? new Error("strong-soap built no client"));
        },
      );
    });
    let client: SoapClient;
    try {
      client = await withDeadline(building, this.#timeoutMs, `fetching ${wsdlUrl}`);
    } catch (error) {
      throw new Error(`cannot load the normalizer's WSDL from ${wsdlUrl}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    const service = client[SERVICE_NAME] as Record<string, Record<string, unknown> | undefined> | undefined;
    const operation = service?.[SOAP11_PORT]?.[OPERATION];
    if (typeof operation !== "function") {
      throw new Error(`the WSDL at ${wsdlUrl} offers no ${SERVICE_NAME}.${SOAP11_PORT}.${OPERATION}`);
    }
    return operation as SoapOperation;
  }

  async #call(operation: SoapOperation, payloads: readonly string[]): Promise<string[]> {
    let texts: string[];
    try {
      const call = operation(
        { text: payloads.map(($xml) => ({ $xml })) },
        { agent: this.#agent, timeout: this.#timeoutMs },
        KEEP_ALIVE_HEADERS,
      );
      const { envelope } = await withDeadline(call, this.#timeoutMs, OPERATION);
      texts = decodeResponse(envelope, OPERATION);
    } catch (error) {
      throw new Error(`${OPERATION} at ${this.#url} failed: ${messageOf(error)}`, { cause: error });
    }
    if (texts.length !== payloads.length) {
      throw new Error(`${OPERATION} at ${this.#url} answered ${texts.length} texts for ${payloads.length}`);
    }
    return texts;
  }

  *#chunks(payloads: readonly string[]): Generator<string[]> {
    let chunk: string[] = [];
    let bytes = ENVELOPE_BYTES;
    for (const payload of payloads) {
      const size = Buffer.byteLength(payload) + TEXT_ELEMENT_BYTES;
      if (chunk.length > 0 && (chunk.length >= this.#maxBatchTexts || bytes + size > this.#maxRequestBytes)) {
        yield chunk;
        chunk = [];
        bytes = ENVELOPE_BYTES;
      }
      chunk.push(payload);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }
}

function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim();
}
