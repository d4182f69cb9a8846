// A strict, non-validating, namespace-aware reader for the small XML documents SOAP carries.
// It exists because strong-soap's parser trims every text node with String.prototype.trim,
// which eats U+FEFF (not White_Space, so the rule must keep it) and the spaces around a
// CDATA section; the normalizer must see element text exactly as sent.
//
// It reads a whole document held in memory (the service caps the body size first) into a
// tree of elements and character data, and refuses it as soon as it passes a limit on
// elements, attributes or depth: a hostile body must cost no more than the limits allow,
// not a tree of millions of nodes that is refused afterwards. Comments are dropped; a DOCTYPE and processing
// instructions are refused, as SOAP forbids them, which also rules out entity expansion.

import { ILLEGAL_XML_CHAR } from "./xml-writer.js";

export interface XmlAttribute {
  /** The name as written, prefix included. */
  readonly name: string;
  /** The resolved namespace URI; "" for an unprefixed attribute. */
  readonly namespace: string;
  readonly localName: string;
  readonly value: string;
}

export interface XmlElement {
  /** The name as written, prefix included. */
  readonly name: string;
  /** The resolved namespace URI; "" when the element is in no namespace. */
  readonly namespace: string;
  readonly localName: string;
  /** Namespace declarations (xmlns, xmlns:p) are not listed. */
  readonly attributes: readonly XmlAttribute[];
  /** Child elements, and character data between them with adjacent text and CDATA merged. */
  readonly children: readonly XmlNode[];
}

export type XmlNode = XmlElement | string;

export class XmlSyntaxError extends Error {
  override readonly name = "XmlSyntaxError";

  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} (line ${line}, column ${column})`);
  }
}

/** Bounds checked while reading; the first one passed ends the reading with an XmlSyntaxError. */
export interface XmlLimits {
  /** Elements in the whole document, the root included. */
  readonly maxElements: number;
  /** Attributes on one element, namespace declarations included. */
  readonly maxAttributesPerElement: number;
  /** Elements open at once. Also keeps each name's namespace lookup, which walks them, cheap. */
  readonly maxDepth: number;
}

// SOAP needs four levels (Envelope, Body, operation, text) and a handful of attributes; these
// defaults are for documents read from a trusted peer, such as the normalizer's responses.
export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxElements: 100_000,
  maxAttributesPerElement: 64,
  maxDepth: 64,
};
const XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NAMESPACE = "http://www.w3.org/2000/xmlns/";

// XML 1.0 fifth edition, productions [4] and [4a], without the colon: names here are QNames.
const NAME_START_CHARS =
  "A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C\\u200D" +
  "\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}";
const NAME_CHARS = `${NAME_START_CHARS}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040`;
const NCNAME = `[${NAME_START_CHARS}][${NAME_CHARS}]*`;
const QNAME = new RegExp(`(?:${NCNAME}:)?${NCNAME}`, "uy");
const SPACE = /[ \t\n\r]*/y;
const CHAR_DATA = /[^<&]*/y;
const REFERENCE = /&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|([^;\s&<]+));/y;
const XML_DECLARATION = /<\?xml([ \t\n\r][^?]*)?\?>/y;
const PSEUDO_ATTRIBUTE = /[ \t\n\r]*([a-z]+)[ \t\n\r]*=[ \t\n\r]*(?:"([^"]*)"|'([^']*)')/y;
const PREDEFINED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ["lt", "<"],
  ["gt", ">"],
  ["amp", "&"],
  ["apos", "'"],
  ["quot", '"'],
]);

/** Parses a complete document and returns its root element; throws XmlSyntaxError. */
export function readXml(source: string, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlElement {
  return new Reader(source, limits).document();
}

interface RawAttribute {
  readonly name: string;
  readonly value: string;
  readonly at: number;
}

interface OpenElement {
  readonly name: string;
  readonly namespace: string;
  readonly localName: string;
  readonly attributes: readonly XmlAttribute[];
  readonly children: XmlNode[];
  /** Prefix to URI, "" for the default namespace; null when the element declares none. */
  readonly scope: ReadonlyMap<string, string> | null;
  text: string;
}

class Reader {
  readonly #text: string;
  readonly #limits: XmlLimits;
  #pos = 0;
  #elements = 0;
  readonly #open: OpenElement[] = [];

  constructor(source: string, limits: XmlLimits) {
    this.#limits = limits;
    // Section 2.11: every CR LF pair and lone CR reaches the application as LF. Character
    // references are untouched, so "&#13;" still yields a CR.
    this.#text = source.replace(/\r\n?/g, "\n");
  }

  document(): XmlElement {
    const illegal = ILLEGAL_XML_CHAR.exec(this.#text);
    if (illegal !== null) {
      const codePoint = illegal[0].codePointAt(0) ?? 0;
      this.#fail(`character U+${hex(codePoint)} is not allowed in XML 1.0`, illegal.index);
    }
    this.#declaration();
    let root: XmlElement | undefined;
    for (;;) {
      this.#skipSpace();
      if (this.#pos >= this.#text.length) break;
      if (this.#startsWith("<!--")) {
        this.#comment();
      } else if (this.#startsWith("<?")) {
        this.#fail("processing instructions are not allowed");
      } else if (this.#startsWith("<!DOCTYPE")) {
        this.#fail("a DOCTYPE is not allowed");
      } else if (this.#startsWith("<") && root === undefined) {
        root = this.#element();
      } else {
        this.#fail(root === undefined ? "expected the root element" : "content after the root element");
      }
    }
    if (root === undefined) this.#fail("no root element");
    return root;
  }

  #declaration(): void {
    if (!this.#startsWith("<?xml")) return;
    XML_DECLARATION.lastIndex = 0;
    const match = XML_DECLARATION.exec(this.#text);
    if (match === null) this.#fail("malformed XML declaration");
    const fields = new Map<string, string>();
    const body = match[1] ?? "";
    PSEUDO_ATTRIBUTE.lastIndex = 0;
    while (!/^[ \t\n\r]*$/.test(body.slice(PSEUDO_ATTRIBUTE.lastIndex))) {
      const field = PSEUDO_ATTRIBUTE.exec(body);
      if (field === null) this.#fail("malformed XML declaration");
      fields.set(field[1]!, field[2] ?? field[3] ?? "");
    }
    const version = fields.get("version");
    if (version === undefined) this.#fail("the XML declaration has no version");
    if (version !== "1.0") this.#fail(`XML version ${version} is not supported; use 1.0`);
    const encoding = fields.get("encoding");
    if (encoding !== undefined && !/^utf-?8$/i.test(encoding)) {
      this.#fail(`encoding ${encoding} is not supported; use UTF-8`);
    }
    this.#pos = XML_DECLARATION.lastIndex;
  }

  // The element tree is built with an explicit stack, so nesting depth costs no call stack.
  #element(): XmlElement {
    let root: XmlElement | undefined;
    this.#startTag((element) => {
      root = element;
    });
    while (this.#open.length > 0) {
      const top = this.#open[this.#open.length - 1]!;
      CHAR_DATA.lastIndex = this.#pos;
      const data = CHAR_DATA.exec(this.#text)![0];
      if (data.length > 0) {
        const end = data.indexOf("]]>");
        if (end >= 0) this.#fail("']]>' is not allowed in character data", this.#pos + end);
        top.text += data;
        this.#pos += data.length;
      }
      if (this.#pos >= this.#text.length) this.#fail(`<${top.name}> is not closed`);
      if (this.#text[this.#pos] === "&") {
        top.text += this.#reference();
      } else if (this.#startsWith("</")) {
        const element = this.#endTag(top);
        if (this.#open.length === 0) root = element;
        else this.#open[this.#open.length - 1]!.children.push(element);
      } else if (this.#startsWith("<!--")) {
        this.#comment();
      } else if (this.#startsWith("<![CDATA[")) {
        const end = this.#text.indexOf("]]>", this.#pos + 9);
        if (end < 0) this.#fail("unterminated CDATA section");
        top.text += this.#text.slice(this.#pos + 9, end);
        this.#pos = end + 3;
      } else if (this.#startsWith("<?")) {
        this.#fail("processing instructions are not allowed");
      } else if (this.#startsWith("<!")) {
        this.#fail("unexpected markup declaration");
      } else {
        flushText(top);
        this.#startTag((element) => top.children.push(element));
      }
    }
    return root!;
  }

  /** Reads a start tag; an empty-element tag is handed to `done`, an open one is pushed. */
  #startTag(done: (element: XmlElement) => void): void {
    this.#elements += 1;
    if (this.#elements > this.#limits.maxElements) {
      this.#fail(`the document holds more than ${this.#limits.maxElements} elements`);
    }
    this.#pos += 1;
    const name = this.#name("an element name");
    const raw: RawAttribute[] = [];
    const rawNames = new Set<string>();
    for (;;) {
      const spaced = this.#skipSpace();
      if (this.#startsWith("/>") || this.#startsWith(">")) break;
      if (!spaced) this.#fail("expected white space, '>' or '/>'");
      if (raw.length >= this.#limits.maxAttributesPerElement) {
        this.#fail(`an element has more than ${this.#limits.maxAttributesPerElement} attributes`);
      }
      const at = this.#pos;
      const attribute = this.#name("an attribute name");
      if (rawNames.has(attribute)) this.#fail(`duplicate attribute ${attribute}`, at);
      rawNames.add(attribute);
      this.#skipSpace();
      this.#expect("=");
      this.#skipSpace();
      raw.push({ name: attribute, value: this.#attributeValue(), at });
    }
    const empty = this.#startsWith("/>");
    this.#pos += empty ? 2 : 1;

    const scope = this.#declarations(raw);
    const [namespace, localName] = this.#resolve(name, true, scope, this.#pos);
    const attributes: XmlAttribute[] = [];
    const expandedNames = new Set<string>();
    for (const { name: qName, value, at } of raw) {
      if (qName === "xmlns" || qName.startsWith("xmlns:")) continue;
      const [attributeNamespace, attributeLocal] = this.#resolve(qName, false, scope, at);
      const expanded = `{${attributeNamespace}}${attributeLocal}`;
      if (expandedNames.has(expanded)) this.#fail(`duplicate attribute ${expanded}`, at);
      expandedNames.add(expanded);
      attributes.push({ name: qName, namespace: attributeNamespace, localName: attributeLocal, value });
    }
    if (empty) {
      done({ name, namespace, localName, attributes, children: [] });
    } else {
      const { maxDepth } = this.#limits;
      if (this.#open.length >= maxDepth) this.#fail(`elements are nested deeper than ${maxDepth}`);
      this.#open.push({ name, namespace, localName, attributes, children: [], scope, text: "" });
    }
  }

  #endTag(top: OpenElement): XmlElement {
    const at = this.#pos;
    this.#pos += 2;
    const name = this.#name("an element name");
    if (name !== top.name) this.#fail(`expected </${top.name}>, found </${name}>`, at);
    this.#skipSpace();
    this.#expect(">");
    this.#open.pop();
    flushText(top);
    const { namespace, localName, attributes, children } = top;
    return { name, namespace, localName, attributes, children };
  }

  #declarations(raw: readonly RawAttribute[]): Map<string, string> | null {
    let scope: Map<string, string> | null = null;
    for (const { name, value, at } of raw) {
      let prefix: string;
      if (name === "xmlns") prefix = "";
      else if (name.startsWith("xmlns:")) prefix = name.slice(6);
      else continue;
      if (prefix === "xmlns" || value === XMLNS_NAMESPACE)
        this.#fail("the xmlns prefix cannot be declared", at);
      if ((prefix === "xml") !== (value === XML_NAMESPACE)) {
        this.#fail("the xml prefix and the XML namespace belong only to each other", at);
      }
      if (prefix !== "" && value === "") this.#fail(`prefix ${prefix} cannot be undeclared`, at);
      scope ??= new Map();
      scope.set(prefix, value);
    }
    return scope;
  }

  /** Splits a QName and resolves its prefix: the tag's own declarations first, then its ancestors'. */
  #resolve(
    name: string,
    isElement: boolean,
    ownScope: ReadonlyMap<string, string> | null,
    at: number,
  ): [namespace: string, localName: string] {
    const colon = name.indexOf(":");
    const prefix = colon < 0 ? "" : name.slice(0, colon);
    const localName = name.slice(colon + 1);
    if (prefix === "" && !isElement) return ["", localName];
    if (prefix === "xml") return [XML_NAMESPACE, localName];
    const own = ownScope?.get(prefix);
    if (own !== undefined) return [own, localName];
    for (let i = this.#open.length - 1; i >= 0; i -= 1) {
      const uri = this.#open[i]!.scope?.get(prefix);
      if (uri !== undefined) return [uri, localName];
    }
    if (prefix === "") return ["", localName];
    return this.#fail(`namespace prefix ${prefix} is not declared`, at);
  }

  #attributeValue(): string {
    const quote = this.#text[this.#pos];
    if (quote !== '"' && quote !== "'") this.#fail("expected a quoted attribute value");
    const end = this.#text.indexOf(quote, this.#pos + 1);
    if (end < 0) this.#fail("unterminated attribute value");
    this.#pos += 1;
    let value = "";
    while (this.#pos < end) {
      const char = this.#text[this.#pos]!;
      if (char === "<") this.#fail("'<' is not allowed in an attribute value");
      if (char === "&") {
        value += this.#reference();
      } else {
        // Section 3.3.3: literal white space in an attribute value becomes a space.
        value += char === "\t" || char === "\n" ? " " : char;
        this.#pos += 1;
      }
    }
    this.#pos = end + 1;
    return value;
  }

  #reference(): string {
    REFERENCE.lastIndex = this.#pos;
    const match = REFERENCE.exec(this.#text);
    if (match === null) this.#fail("malformed reference; write & as &amp;");
    const [whole, hexDigits, decimalDigits, entity] = match;
    let replacement: string;
    if (entity !== undefined) {
      const known = PREDEFINED_ENTITIES.get(entity);
      if (known === undefined) this.#fail(`undefined entity &${entity};`);
      replacement = known;
    } else {
      const codePoint = hexDigits !== undefined ? Number.parseInt(hexDigits, 16) : Number(decimalDigits);
      const legal =
        codePoint <= 0x10ffff &&
        !(codePoint >= 0xd800 && codePoint <= 0xdfff) &&
        !ILLEGAL_XML_CHAR.test(String.fromCodePoint(codePoint));
      if (!legal) this.#fail(`${whole} is not a character allowed in XML 1.0`);
      replacement = String.fromCodePoint(codePoint);
    }
    this.#pos += whole.length;
    return replacement;
  }

  #comment(): void {
    const end = this.#text.indexOf("--", this.#pos + 4);
    if (end < 0) this.#fail("unterminated comment");
    if (this.#text[end + 2] !== ">") this.#fail("'--' is not allowed inside a comment", end);
    this.#pos = end + 3;
  }

  #name(what: string): string {
    QNAME.lastIndex = this.#pos;
    const match = QNAME.exec(this.#text);
    if (match === null) this.#fail(`expected ${what}`);
    this.#pos += match[0].length;
    return match[0];
  }

  #expect(literal: string): void {
    if (!this.#startsWith(literal)) this.#fail(`expected '${literal}'`);
    this.#pos += literal.length;
  }

  #startsWith(literal: string): boolean {
    return this.#text.startsWith(literal, this.#pos);
  }

  /** Returns whether any white space was skipped. */
  #skipSpace(): boolean {
    SPACE.lastIndex = this.#pos;
    const skipped = SPACE.exec(this.#text)![0].length;
    this.#pos += skipped;
    return skipped > 0;
  }

  #fail(problem: string, at = this.#pos): never {
    const reason = at >= this.#text.length ? `unexpected end of the document: ${problem}` : problem;
    let line = 1;
    let lineStart = 0;
    for (let i = this.#text.indexOf("\n"); i >= 0 && i < at; i = this.#text.indexOf("\n", i + 1)) {
      line += 1;
      lineStart = i + 1;
    }
    throw new XmlSyntaxError(reason, line, at - lineStart + 1);
  }
}

function flushText(element: OpenElement): void {
  if (element.text.length > 0) {
    element.children.push(element.text);
    element.text = "";
  }
}

function hex(codePoint: number): string {
  return codePoint.toString(16).toUpperCase().padStart(4, "0");
}
