// Shared by the normalizer's tests: envelopes written by hand, a strong-soap client built from
// the served WSDL, and the checks every error response must pass.

import { expect } from "chai";
import { type SoapClient, type SoapOperation, soap } from "strong-soap";
import { readXml, type XmlElement } from "../../normalizer/xml-reader.js";

export const SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/";
export const SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope";
export const SOAP11_TYPE = "text/xml; charset=utf-8";
export const SOAP12_TYPE = "application/soap+xml; charset=utf-8";

export function envelope11(body: string, header = ""): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:n="urn:parley:normalizer">
  ${header}<soap:Body>${body}</soap:Body>
</soap:Envelope>`;
}

export function envelope12(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="${SOAP12_NS}" xmlns:n="urn:parley:normalizer"><env:Body>${body}</env:Body></env:Envelope>`;
}

export function normalizeCall(text: string): string {
  return `<n:Normalize><n:text>${text}</n:text></n:Normalize>`;
}

export function batchCall(texts: readonly string[]): string {
  return `<n:NormalizeBatch>${texts.map((text) => `<n:text>${text}</n:text>`).join("")}</n:NormalizeBatch>`;
}

export interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export async function post(
  url: string,
  body: string | Uint8Array,
  headers: Readonly<Record<string, string>> = { "content-type": SOAP11_TYPE },
): Promise<Reply> {
  const response = await fetch(url, { method: "POST", headers, body });
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    body: await response.text(),
  };
}

export async function get(url: string, method = "GET"): Promise<Reply> {
  const response = await fetch(url, { method });
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    body: await response.text(),
  };
}

/** The content of every `<n:text>` element in a response, as written (still escaped). */
export function resultTexts(body: string): string[] {
  return [...body.matchAll(/<n:text>([^<]*)<\/n:text>/g)].map((match) => match[1]!);
}

/** No stack frame, source path or module name may leak into an error response. */
export function expectNoInternals(body: string): void {
  expect(body).not.to.match(/^\s+at /m);
  expect(body).not.to.match(/\/work\/|node_modules|\.[cm]?[jt]s:\d+|Error:/);
}

/** Asserts a SOAP 1.1 fault and returns its faultstring. */
export function expectFault11(reply: Reply, faultcode = "soap:Client"): string {
  expect(reply.status, reply.body).to.equal(500);
  expect(reply.contentType).to.equal(SOAP11_TYPE);
  expectNoInternals(reply.body);
  expect(reply.body).to.contain(`<soap:Envelope xmlns:soap="${SOAP11_NS}">`);
  const fault = child(child(readXml(reply.body), "Body"), "Fault");
  expect(textOf(child(fault, "faultcode"))).to.equal(faultcode);
  const faultstring = textOf(child(fault, "faultstring"));
  expect(faultstring, reply.body).not.to.equal("");
  return faultstring;
}

function child(parent: XmlElement, localName: string): XmlElement {
  const found = parent.children.find(
    (node): node is XmlElement => typeof node !== "string" && node.localName === localName,
  );
  if (found === undefined) throw new Error(`no <${localName}> in <${parent.name}>`);
  return found;
}

function textOf(element: XmlElement): string {
  return element.children.filter((node): node is string => typeof node === "string").join("");
}

export function createSoapClient(url: string): Promise<SoapClient> {
  return new Promise((resolve, reject) => {
    soap.createClient(`${url}?wsdl`, { WSDL_CACHE: {} }, (error, client) => {
      if (!error && client !== undefined) resolve(client);
      else reject(error ?? new Error("no client"));
    });
  });
}

export function operationOf(client: SoapClient, port: string, name: string): SoapOperation {
  const service = client.NormalizerService as Record<string, Record<string, unknown>>;
  const operation = service[port]?.[name];
  if (typeof operation !== "function") throw new Error(`no ${port}.${name} in the WSDL`);
  return operation as SoapOperation;
}
