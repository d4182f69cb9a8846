// Escaping for XML 1.0 text and attribute values, shared by the service's responses and the
// client's requests so that both ends agree on exactly what goes over the wire.

const TEXT_SPECIALS = /[&<>\r]/g;
const ATTRIBUTE_SPECIALS = /[&<>"'\t\n\r]/g;
const REPLACEMENTS: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  // A literal CR would reach the reader as LF (XML 1.0 section 2.11), and literal tabs and
  // newlines in an attribute as spaces (section 3.3.3); references keep them as they are.
  "\t": "&#x9;",
  "\n": "&#xA;",
  "\r": "&#xD;",
};

/** Escapes text for element content or, with `inAttribute`, for a quoted attribute value. */
export function escapeXml(text: string, inAttribute = false): string {
  return text.replace(inAttribute ? ATTRIBUTE_SPECIALS : TEXT_SPECIALS, (char) => REPLACEMENTS[char]!);
}

/** Production [2] inverted: a code point an XML 1.0 document cannot hold, even as a reference. */
export const ILLEGAL_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * The first code point XML 1.0 cannot carry at all, even as a reference (C0 controls other
 * than tab, LF and CR; lone surrogates; U+FFFE and U+FFFF), or undefined when there is none.
 */
export function findIllegalXmlChar(text: string): number | undefined {
  const match = ILLEGAL_XML_CHAR.exec(text);
  return match === null ? undefined : match[0].codePointAt(0);
}
