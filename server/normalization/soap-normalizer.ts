// The chat server's TextNormalizer: NormalizeBatch calls to the normalizer service, on keep-alive
// connections. strong-soap's client, built from the WSDL the service serves, checks once per
// connection that the service offers the operation (in a thread of its own: wsdl-check.ts); each
// call then writes its document/literal envelope itself and reads the texts out of the raw
// response envelope.
//
// Why not every call through strong-soap: it built each request as an object tree and parsed
// each response twice (into objects, which we cannot use: it trims every text node with
// String.prototype.trim, which also removes U+FEFF, a character the rule keeps; and it treats
// any text containing "<![CDATA[" as a CDATA section and deletes the marker). On the server's
// event loop that was most of the garbage it collected per message (the live benchmark spent a
// third of the main thread's time in the garbage collector).

import http from "node:http";
import https from "node:https";
import { normalizerDefaults } from "../../normalizer/defaults.js";
import { decodeResponse } from "../../normalizer/soap-message.js";
import { NORMALIZER_NAMESPACE, SERVICE_NAME, SOAP11_PORT, soapActionOf } from "../../normalizer/wsdl.js";
import { escapeXml, findIllegalXmlChar } from "../../normalizer/xml-writer.js";
import { codePointLength } from "../protocol/text-rules.js";
import { type TextNormalizer, TextRefusedError } from "./text-normalizer.js";
import { checkWsdl } from "./wsdl-check.js";

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
/** What starting the WSDL check's thread and loading strong-soap in it may take. */
const WSDL_CHECK_START_MS = 5_000;
// strong-soap asks for "Connection: close" unless told otherwise.
const KEEP_ALIVE_HEADERS = { Connection: "keep-alive" } as const;

export class SoapNormalizer implements TextNormalizer {
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #maxBatchTexts: number;
  readonly #maxRequestBytes: number;
  readonly #agent: http.Agent;
  /** The check of the WSDL, done or in progress; cleared when it fails, so the next call retries. */
  #operation: Promise<void> | undefined;
  readonly #target: {
    readonly socketPath?: string;
    readonly host?: string;
    readonly port?: string;
    readonly path: string;
  };
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
    this.#target = requestTarget(url);
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

    await this.#getOperation();
    const normalized: string[] = [];
    for (const chunk of this.#chunks(payloads)) {
      normalized.push(...(await this.#call(chunk)));
    }
    return normalized;
  }

  /**
   * Starts checking the WSDL now rather than at the first call, which would otherwise wait for
   * the check's thread to start (about a second). A failure is only remembered: calls retry it.
   */
  warmUp(): void {
    if (!this.#closed) this.#getOperation().catch(() => {});
  }

  /** Releases the keep-alive connections; later calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#agent.destroy();
  }

  #getOperation(): Promise<void> {
    if (this.#operation === undefined) {
      const attempt = this.#connect();
      this.#operation = attempt;
      attempt.catch(() => {
        if (this.#operation === attempt) this.#operation = undefined;
      });
    }
    return this.#operation;
  }

  async #connect(): Promise<void> {
    const wsdlUrl = `${this.#url}?wsdl`;
    try {
      await withDeadline(
        checkWsdl({
          url: this.#url,
          service: SERVICE_NAME,
          port: SOAP11_PORT,
          operation: OPERATION,
          timeoutMs: this.#timeoutMs,
        }),
        // The check bounds the service by timeoutMs itself; this also covers its thread's start.
        this.#timeoutMs + WSDL_CHECK_START_MS,
        `fetching ${wsdlUrl}`,
      );
    } catch (error) {
      throw new Error(`cannot load the normalizer's WSDL from ${wsdlUrl}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async #call(payloads: readonly string[]): Promise<string[]> {
    let texts: string[];
    try {
      const envelope = await withDeadline(this.#post(requestEnvelope(payloads)), this.#timeoutMs, OPERATION);
      texts = decodeResponse(envelope, OPERATION);
    } catch (error) {
      throw new Error(`${OPERATION} at ${this.#url} failed: ${messageOf(error)}`, { cause: error });
    }
    if (texts.length !== payloads.length) {
      throw new Error(`${OPERATION} at ${this.#url} answered ${texts.length} texts for ${payloads.length}`);
    }
    return texts;
  }

  /** POSTs one envelope; resolves with the response's body, whatever its status (faults are 500). */
  #post(envelope: string): Promise<string> {
    const body = Buffer.from(envelope, "utf8");
    const transport = this.#agent instanceof https.Agent ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        {
          ...this.#target,
          method: "POST",
          agent: this.#agent,
          headers: {
            "Content-Type": "text/xml; charset=utf-8",
            "Content-Length": body.length,
            SOAPAction: `"${soapActionOf(OPERATION)}"`,
            ...KEEP_ALIVE_HEADERS,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
          response.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(body);
    });
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

/** The NormalizeBatch request the WSDL describes, around texts already escaped. */
function requestEnvelope(payloads: readonly string[]): string {
  let texts = "";
  for (const payload of payloads) texts += `<n:text>${payload}</n:text>`;
  return (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">' +
    `<soap:Body><n:${OPERATION} xmlns:n="${NORMALIZER_NAMESPACE}">${texts}</n:${OPERATION}></soap:Body></soap:Envelope>`
  );
}

/** Where a request goes: a host and port, or a Unix socket (`http://unix:/path/to.sock:/endpoint`). */
function requestTarget(url: string): { socketPath?: string; host?: string; port?: string; path: string } {
  const unix = /^https?:\/\/unix:([^:]+):(\/.*)$/.exec(url);
  if (unix !== null) return { socketPath: unix[1]!, path: unix[2]! };
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port, path: `${parsed.pathname}${parsed.search}` };
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
