// The normalizer's SOAP messages, without I/O: a request body in, a decoded request or a
// fault out; texts in, a response envelope out. Every way a request can be wrong ends here as
// a fault with a reason meant for the person who wrote the client, never as an exception.

import type { NormalizerLimits } from "./defaults.js";
import { NORMALIZER_NAMESPACE, OPERATIONS, type OperationName, TEXT_ELEMENT } from "./wsdl.js";
import { readXml, type XmlElement, type XmlLimits, XmlSyntaxError } from "./xml-reader.js";
import { escapeXml } from "./xml-writer.js";

export type SoapVersion = "1.1" | "1.2";

const ENVELOPE_NAMESPACES: Readonly<Record<SoapVersion, string>> = {
  "1.1": "http://schemas.xmlsoap.org/soap/envelope/",
  "1.2": "http://www.w3.org/2003/05/soap-envelope",
};
const MEDIA_TYPES: Readonly<Record<SoapVersion, string>> = {
  "1.1": "text/xml",
  "1.2": "application/soap+xml",
};
const MEDIA_TYPES_HINT = "SOAP 1.1 requests use text/xml, SOAP 1.2 requests application/soap+xml";
// The SOAP 1.1 names of the codes; SOAP 1.2 renamed Client and Server.
const SOAP11_FAULT_CODES: Readonly<Record<FaultCode, string>> = {
  Sender: "Client",
  Receiver: "Server",
  VersionMismatch: "VersionMismatch",
  MustUnderstand: "MustUnderstand",
};
const XML_SPACE_ONLY = /^[ \t\n\r]*$/;
// A fault quotes names and namespaces from the request; a hostile request can make them
// megabytes long, and the fault and its log line must not grow with them.
const MAX_QUOTED_CHARS = 80;
const MAX_REASON_CHARS = 400;
// Headers and the envelope around the texts: the elements a request may hold past its texts.
const ELEMENTS_BESIDE_TEXTS = 64;
// Fatal, so that broken UTF-8 is refused rather than read as U+FFFD; it also drops a BOM.
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** In SOAP 1.2 terms: Sender means the request was wrong, Receiver that the service failed. */
export type FaultCode = "Sender" | "Receiver" | "VersionMismatch" | "MustUnderstand";

export interface SoapFault {
  readonly version: SoapVersion;
  readonly code: FaultCode;
  /** One sentence for the client's author: what was wrong and, where it helps, what is expected. */
  readonly reason: string;
}

export interface NormalizerRequest {
  readonly version: SoapVersion;
  readonly operation: OperationName;
  /** Exactly one for Normalize. */
  readonly texts: readonly string[];
}

export type DecodedRequest =
  | { readonly kind: "request"; readonly request: NormalizerRequest }
  | { readonly kind: "fault"; readonly fault: SoapFault }
  /** The body is no attempt at SOAP at all (empty, JSON, form data, plain text...). */
  | { readonly kind: "not-soap"; readonly reason: string };

export interface EncodedMessage {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

class RequestError extends Error {
  constructor(readonly fault: SoapFault) {
    super(fault.reason);
  }
}

/** The SOAP version a Content-Type announces; 1.1 when it announces none. */
export function versionForContentType(contentType: string | undefined): SoapVersion {
  return parseContentType(contentType).mediaType === MEDIA_TYPES["1.2"] ? "1.2" : "1.1";
}

export function decodeRequest(
  contentType: string | undefined,
  body: Uint8Array,
  limits: Pick<NormalizerLimits, "maxTextChars" | "maxBatchTexts">,
): DecodedRequest {
  if (!startsLikeXml(body)) {
    return {
      kind: "not-soap",
      reason: body.length === 0 ? "the request body is empty" : "the request body is not XML",
    };
  }
  try {
    return { kind: "request", request: decode(contentType, body, limits) };
  } catch (error) {
    if (error instanceof RequestError) return { kind: "fault", fault: error.fault };
    throw error;
  }
}

type Fail = (reason: string, code?: FaultCode) => never;

/** Transport and XML first, then the envelope, then the call; each step throws a RequestError. */
function decode(
  contentType: string | undefined,
  body: Uint8Array,
  limits: Pick<NormalizerLimits, "maxTextChars" | "maxBatchTexts">,
): NormalizerRequest {
  const { mediaType, charset } = parseContentType(contentType);
  const declared = versionForContentType(contentType);
  const fail =
    (version: SoapVersion): Fail =>
    (reason, code = "Sender") => {
      throw new RequestError({ version, code, reason: bounded(reason, MAX_REASON_CHARS) });
    };

  if (contentType === undefined) fail(declared)(`the request has no Content-Type; ${MEDIA_TYPES_HINT}`);
  if (mediaType !== MEDIA_TYPES["1.1"] && mediaType !== MEDIA_TYPES["1.2"]) {
    fail(declared)(`Content-Type ${quoted(mediaType)} is not supported; ${MEDIA_TYPES_HINT}`);
  }
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    fail(declared)(`charset ${quoted(charset)} is not supported; send UTF-8`);
  }
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    return fail(declared)("the request body is not valid UTF-8");
  }
  let root: XmlElement;
  try {
    root = readXml(text, requestXmlLimits(limits));
  } catch (error) {
    if (error instanceof XmlSyntaxError) return fail(declared)(`malformed XML: ${error.message}`);
    throw error;
  }

  if (root.localName !== "Envelope") {
    fail(declared)(`the root element must be a SOAP Envelope, not <${quoted(root.name)}>`);
  }
  const version = (Object.keys(ENVELOPE_NAMESPACES) as SoapVersion[]).find(
    (v) => ENVELOPE_NAMESPACES[v] === root.namespace,
  );
  if (version === undefined) {
    return fail(declared)(
      `the Envelope's namespace "${quoted(root.namespace)}" is neither SOAP 1.1's (${ENVELOPE_NAMESPACES["1.1"]}) nor SOAP 1.2's (${ENVELOPE_NAMESPACES["1.2"]})`,
      "VersionMismatch",
    );
  }
  if (version !== declared) {
    // Answered in the version the Content-Type announced, which is what the client expects.
    fail(declared)(
      `a SOAP ${version} envelope must be sent as ${MEDIA_TYPES[version]}, not ${quoted(mediaType)}`,
      "VersionMismatch",
    );
  }
  const call = readEnvelope(root, ENVELOPE_NAMESPACES[version], fail(version));
  return { version, ...readCall(call, limits, fail(version)) };
}

/** The one element in the Body, once no header demands to be understood. */
function readEnvelope(envelope: XmlElement, soapNamespace: string, fail: Fail): XmlElement {
  const parts = childElements(envelope, fail);
  const isSoap = (element: XmlElement | undefined, localName: string) =>
    element?.namespace === soapNamespace && element.localName === localName;
  const header = isSoap(parts[0], "Header") ? parts[0] : undefined;
  const rest = header === undefined ? parts : parts.slice(1);
  if (!isSoap(rest[0], "Body")) fail("the Envelope must hold a Body, after an optional Header");
  if (rest.length > 1) fail(`unexpected <${quoted(rest[1]!.name)}> after the Body`);

  for (const entry of header === undefined ? [] : childElements(header, fail)) {
    const mustUnderstand = entry.attributes.find(
      (a) => a.namespace === soapNamespace && a.localName === "mustUnderstand",
    )?.value;
    if (mustUnderstand === "1" || mustUnderstand === "true") {
      fail(
        `header {${quoted(entry.namespace)}}${quoted(entry.localName)} is marked mustUnderstand; this service understands no headers`,
        "MustUnderstand",
      );
    }
  }

  const calls = childElements(rest[0]!, fail);
  if (calls.length !== 1) fail(`the Body must hold exactly one operation element, found ${calls.length}`);
  return calls[0]!;
}

function readCall(
  call: XmlElement,
  limits: Pick<NormalizerLimits, "maxTextChars" | "maxBatchTexts">,
  fail: Fail,
): { operation: OperationName; texts: string[] } {
  const operation = OPERATIONS.find((name) => name === call.localName);
  if (call.namespace !== NORMALIZER_NAMESPACE || operation === undefined) {
    return fail(
      `unknown operation {${quoted(call.namespace)}}${quoted(call.localName)}; this service offers ${OPERATIONS.join(" and ")} in namespace ${NORMALIZER_NAMESPACE}`,
    );
  }

  // Children are accepted unqualified too: hand-written clients often forget that
  // elementFormDefault="qualified" puts <text> in the service's namespace.
  const textElements = childElements(call, fail);
  for (const element of textElements) {
    const ours = element.namespace === NORMALIZER_NAMESPACE || element.namespace === "";
    if (element.localName !== TEXT_ELEMENT || !ours) {
      fail(`unexpected <${quoted(element.name)}> in ${operation}; expected <${TEXT_ELEMENT}> elements`);
    }
  }
  if (operation === "Normalize" && textElements.length !== 1) {
    fail(`Normalize takes exactly one <${TEXT_ELEMENT}> element, found ${textElements.length}`);
  }
  if (textElements.length > limits.maxBatchTexts) {
    fail(`the batch holds ${textElements.length} texts; the limit is ${limits.maxBatchTexts}`);
  }

  const texts = textElements.map((element, index) => {
    const name = operation === "Normalize" ? "the text" : `text ${index + 1}`;
    let value = "";
    for (const child of element.children) {
      if (typeof child !== "string") fail(`${name} must hold only characters, not <${quoted(child.name)}>`);
      value += child;
    }
    const chars = countCodePoints(value, limits.maxTextChars);
    if (chars > limits.maxTextChars) {
      fail(`${name} holds ${chars} characters; the limit is ${limits.maxTextChars}`);
    }
    return value;
  });
  return { operation, texts };
}

export function encodeResponse(request: NormalizerRequest, texts: readonly string[]): EncodedMessage {
  const items = texts.map((text) => `<n:${TEXT_ELEMENT}>${escapeXml(text)}</n:${TEXT_ELEMENT}>`).join("");
  const payload = `<n:${request.operation}Response xmlns:n="${NORMALIZER_NAMESPACE}">${items}</n:${request.operation}Response>`;
  return {
    status: 200,
    contentType: `${MEDIA_TYPES[request.version]}; charset=utf-8`,
    body: envelope(request.version, payload),
  };
}

export function encodeFault(fault: SoapFault): EncodedMessage {
  const reason = escapeXml(bounded(fault.reason, MAX_REASON_CHARS));
  let payload: string;
  let status = 500;
  if (fault.version === "1.1") {
    payload = `<soap:Fault><faultcode>soap:${SOAP11_FAULT_CODES[fault.code]}</faultcode><faultstring>${reason}</faultstring></soap:Fault>`;
  } else {
    payload = `<soap:Fault><soap:Code><soap:Value>soap:${fault.code}</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang="en">${reason}</soap:Text></soap:Reason></soap:Fault>`;
    // SOAP 1.2 part 2, section 7.5.1.2: a Sender fault travels as 400, every other as 500.
    if (fault.code === "Sender") status = 400;
  }
  return {
    status,
    contentType: `${MEDIA_TYPES[fault.version]}; charset=utf-8`,
    body: envelope(fault.version, payload),
  };
}

/**
 * Reads the texts out of a NormalizeResponse or NormalizeBatchResponse envelope, exactly as
 * sent; throws an Error that says what was wrong with the response, or the fault's reason.
 */
export function decodeResponse(xml: string, operation: OperationName): string[] {
  let root: XmlElement;
  try {
    root = readXml(xml);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw new Error(`malformed XML in the response: ${error.message}`);
    throw error;
  }
  const unexpected = (what: string): never => {
    throw new Error(`unexpected response from the normalizer: ${what}`);
  };
  const soapNamespace = root.namespace;
  if (root.localName !== "Envelope" || !Object.values(ENVELOPE_NAMESPACES).includes(soapNamespace)) {
    unexpected(`<${root.name}> is not a SOAP Envelope`);
  }
  const body = root.children.find(
    (child): child is XmlElement =>
      typeof child !== "string" && child.namespace === soapNamespace && child.localName === "Body",
  );
  const payload = body?.children.find((child): child is XmlElement => typeof child !== "string");
  if (payload === undefined) return unexpected("the Body is missing or empty");
  if (payload.namespace === soapNamespace && payload.localName === "Fault") {
    throw new Error(`the normalizer answered with a fault: ${faultReason(payload)}`);
  }
  if (payload.namespace !== NORMALIZER_NAMESPACE || payload.localName !== `${operation}Response`) {
    unexpected(`<${payload.name}> instead of ${operation}Response`);
  }
  return payload.children
    .filter((child): child is XmlElement => typeof child !== "string")
    .map((element) => {
      if (element.localName !== TEXT_ELEMENT) unexpected(`<${element.name}> in ${operation}Response`);
      return element.children
        .map((child) => (typeof child === "string" ? child : unexpected(`<${child.name}> in a text`)))
        .join("");
    });
}

function envelope(version: SoapVersion, payload: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="${ENVELOPE_NAMESPACES[version]}"><soap:Body>${payload}</soap:Body></soap:Envelope>\n`;
}

function faultReason(fault: XmlElement): string {
  const textOf = (element: XmlElement | undefined): string =>
    element === undefined
      ? ""
      : element.children.map((child) => (typeof child === "string" ? child : textOf(child))).join("");
  const find = (parent: XmlElement | undefined, localName: string) =>
    parent?.children.find(
      (child): child is XmlElement => typeof child !== "string" && child.localName === localName,
    );
  const reason = textOf(find(fault, "faultstring")) || textOf(find(fault, "Reason"));
  return reason === "" ? "(no reason given)" : reason;
}

/** Element children of `parent`; character data other than XML white space is a fault. */
function childElements(parent: XmlElement, fail: (reason: string) => never): XmlElement[] {
  const elements: XmlElement[] = [];
  for (const child of parent.children) {
    if (typeof child !== "string") elements.push(child);
    else if (!XML_SPACE_ONLY.test(child)) fail(`unexpected text in <${quoted(parent.name)}>`);
  }
  return elements;
}

function parseContentType(contentType: string | undefined): {
  mediaType: string;
  charset: string | undefined;
} {
  const [mediaType = "", ...parameters] = (contentType ?? "").split(";");
  let charset: string | undefined;
  for (const parameter of parameters) {
    const equals = parameter.indexOf("=");
    if (parameter.slice(0, equals).trim().toLowerCase() === "charset") {
      charset = parameter
        .slice(equals + 1)
        .trim()
        .replace(/^"(.*)"$/, "$1");
    }
  }
  return { mediaType: mediaType.trim().toLowerCase(), charset };
}

/** Whether the body, after an optional UTF-8 byte order mark and white space, opens a tag. */
function startsLikeXml(body: Uint8Array): boolean {
  let i = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0a || body[i] === 0x0d))
    i += 1;
  return body[i] === 0x3c;
}

/** The limits a request must keep while it is read, from the limits on its texts. */
function requestXmlLimits(limits: Pick<NormalizerLimits, "maxBatchTexts">): XmlLimits {
  return {
    maxElements: limits.maxBatchTexts + ELEMENTS_BESIDE_TEXTS,
    maxAttributesPerElement: 32,
    maxDepth: 32,
  };
}

/** Input quoted in a reason, shortened so that the reason stays one readable sentence. */
function quoted(text: string): string {
  return bounded(text, MAX_QUOTED_CHARS);
}

function bounded(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  // Not between the two halves of a surrogate pair, which XML cannot carry alone.
  const cut = /[\uD800-\uDBFF]/.test(text[maxChars - 1]!) ? maxChars - 1 : maxChars;
  return `${text.slice(0, cut)}… (${text.length} characters)`;
}

/** Code points in `text`; a text no longer than `limit` in UTF-16 units needs no counting. */
function countCodePoints(text: string, limit: number): number {
  if (text.length <= limit) return text.length;
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}
