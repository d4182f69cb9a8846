// Hand-written SOAP 1.1 requests for the normalizer (the element names are those of
// normalizer/wsdl.ts: document/literal, wrapped, elements qualified in urn:parley:normalizer).

import { padText } from "./bench-client.js";

const NAMESPACE = "urn:parley:normalizer";

export const SOAP11_HEADERS = (operation: "Normalize" | "NormalizeBatch") => ({
  "content-type": "text/xml; charset=utf-8",
  soapaction: `"${NAMESPACE}#${operation}"`,
});

/** A text of about `bytes` bytes with white space for the normalizer to trim and collapse. */
export function messyText(index: number, bytes: number): string {
  return `  ${padText(`text   ${index}`, bytes - 4)}  `;
}

function envelope(body: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' +
    body +
    "</soap:Body></soap:Envelope>"
  );
}

export function normalizeRequest(text: string): string {
  return envelope(`<n:Normalize xmlns:n="${NAMESPACE}"><n:text>${text}</n:text></n:Normalize>`);
}

export function normalizeBatchRequest(texts: readonly string[]): string {
  const items = texts.map((text) => `<n:text>${text}</n:text>`).join("");
  return envelope(`<n:NormalizeBatch xmlns:n="${NAMESPACE}">${items}</n:NormalizeBatch>`);
}
