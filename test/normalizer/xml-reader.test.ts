import { expect } from "chai";
import fc from "fast-check";
import { readXml, type XmlElement, XmlSyntaxError } from "../../normalizer/xml-reader.js";
import { escapeXml } from "../../normalizer/xml-writer.js";

function textOf(element: XmlElement): string {
  return element.children.map((child) => (typeof child === "string" ? child : textOf(child))).join("");
}

function only(element: XmlElement, index = 0): XmlElement {
  const child = element.children.filter((c): c is XmlElement => typeof c !== "string")[index];
  if (child === undefined) throw new Error(`no child element ${index} in <${element.name}>`);
  return child;
}

function syntaxError(xml: string): XmlSyntaxError {
  try {
    readXml(xml);
  } catch (error) {
    expect(error).to.be.instanceOf(XmlSyntaxError);
    return error as XmlSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(xml)} to be refused`);
}

function syntaxError2(xml: string, limits: Parameters<typeof readXml>[1]): XmlSyntaxError {
  try {
    readXml(xml, limits);
  } catch (error) {
    expect(error).to.be.instanceOf(XmlSyntaxError);
    return error as XmlSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(xml)} to be refused`);
}

describe("readXml (unit)", () => {
  it("keeps element text exactly: spaces, tabs, newlines, U+FEFF, emoji", () => {
    const text = " \t a\n\n b \uFEFF😀 ";
    expect(textOf(readXml(`<t>${text}</t>`))).to.equal(text);
  });

  it("reads an empty element, either form, as no text", () => {
    expect(readXml("<t></t>").children).to.deep.equal([]);
    expect(readXml("<t/>").children).to.deep.equal([]);
  });

  it("decodes the predefined entities and character references", () => {
    expect(textOf(readXml("<t>&lt;&gt;&amp;&quot;&apos;&#65;&#x1F600;&#xD;&#9;</t>"))).to.equal(
      "<>&\"'A😀\r\t",
    );
  });

  it("turns literal CR LF and lone CR into LF, but keeps &#13; as CR", () => {
    expect(textOf(readXml("<t>a\r\nb\rc&#13;d</t>"))).to.equal("a\nb\nc\rd");
  });

  it("merges text, CDATA and text around comments into one string, spaces included", () => {
    const root = readXml("<t>a <![CDATA[<b> & ]]> c<!-- note --> d</t>");
    expect(root.children).to.deep.equal(["a <b> &  c d"]);
  });

  it("resolves namespaces, default and prefixed, and undeclaring the default", () => {
    const root = readXml(
      `<e:Envelope xmlns:e="urn:e" xmlns="urn:d"><Body e:attr="1" plain="2"><x xmlns=""/></Body></e:Envelope>`,
    );
    expect([root.namespace, root.localName]).to.deep.equal(["urn:e", "Envelope"]);
    const body = only(root);
    expect([body.namespace, body.localName]).to.deep.equal(["urn:d", "Body"]);
    expect(body.attributes).to.deep.equal([
      { name: "e:attr", namespace: "urn:e", localName: "attr", value: "1" },
      { name: "plain", namespace: "", localName: "plain", value: "2" },
    ]);
    expect(only(body).namespace).to.equal("");
  });

  it("normalizes literal white space in attribute values but not references", () => {
    const root = readXml(`<t a="x\ty\nz&#9;w"/>`);
    expect(root.attributes[0]!.value).to.equal("x y z\tw");
  });

  it("accepts an XML declaration with UTF-8 and a document with comments around the root", () => {
    const root = readXml(
      `<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<!-- c -->\n<t>x</t>\n<!-- d -->\n`,
    );
    expect(textOf(root)).to.equal("x");
  });

  it("reads nesting 64 deep", () => {
    expect(() => readXml(`${"<a>".repeat(64)}${"</a>".repeat(64)}`)).not.to.throw();
  });

  it("stays linear on hostile input: many attributes, long names, long references", () => {
    const started = performance.now();
    const attributes = Array.from({ length: 100_000 }, (_, i) => `a${i}="${i}"`).join(" ");
    const generous = { maxElements: 10, maxAttributesPerElement: 100_000, maxDepth: 64 };
    expect(readXml(`<t ${attributes}/>`, generous).attributes).to.have.length(100_000);
    expect(() => readXml(`<t>&${"x".repeat(1_000_000)}</t>`)).to.throw(XmlSyntaxError);
    expect(() => readXml(`<${"n".repeat(1_000_000)}/>`)).not.to.throw();
    expect(performance.now() - started).to.be.below(2_000);
  });

  it("round-trips any text written with escapeXml", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const legal = text.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "");
        expect(textOf(readXml(`<t>${escapeXml(legal)}</t>`))).to.equal(legal);
        expect(readXml(`<t a="${escapeXml(legal, true)}"/>`).attributes[0]!.value).to.equal(legal);
      }),
    );
  });

  describe("limits, enforced while reading", () => {
    const limits = { maxElements: 5, maxAttributesPerElement: 3, maxDepth: 4 };

    // Each document is broken after the point where the limit is passed: the error names the
    // limit, so the reader stopped there instead of reading on and building the tree.
    it("refuses the element past maxElements", () => {
      const error = syntaxError2(`<r>${"<a/>".repeat(10)}<<<`, limits);
      expect(error.message).to.match(/^the document holds more than 5 elements \(line 1, column 20\)$/);
    });

    it("refuses the attribute past maxAttributesPerElement, namespace declarations included", () => {
      const error = syntaxError2(`<r xmlns:p="u" a="1" b="2" c="3" d="4" <<<`, limits);
      expect(error.message).to.match(/^an element has more than 3 attributes/);
    });

    it("refuses nesting past maxDepth", () => {
      expect(syntaxError2(`${"<a>".repeat(5)}<<<`, limits).message).to.match(/nested deeper than 4/);
    });

    it("reads a document exactly at every limit", () => {
      const xml = `<r x="1" y="2" z="3"><a><b><c/></b></a><d/></r>`;
      expect(readXml(xml, limits).attributes).to.have.length(3);
    });
  });

  describe("refuses", () => {
    const cases: [what: string, xml: string, reason: RegExp][] = [
      ["an unclosed element", "<a><b></b>", /unexpected end of the document: <a> is not closed/],
      ["mismatched tags", "<a></b>", /expected <\/a>, found <\/b>/],
      ["a bare ampersand", "<a>x & y</a>", /malformed reference/],
      ["an undefined entity", "<a>&nbsp;</a>", /undefined entity &nbsp;/],
      ["a reference to an illegal character", "<a>&#0;</a>", /&#0; is not a character allowed/],
      ["form feed as a reference", "<a>&#12;</a>", /&#12; is not a character allowed/],
      ["a lone surrogate as a reference", "<a>&#xD800;</a>", /&#xD800; is not a character allowed/],
      ["a control character", "<a>x\u0001</a>", /character U\+0001 is not allowed/],
      ["a DOCTYPE", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, /a DOCTYPE is not allowed/],
      ["a processing instruction", "<a><?pi x?></a>", /processing instructions are not allowed/],
      ["a second root", "<a/><b/>", /content after the root element/],
      ["text before the root", "x<a/>", /expected the root element/],
      ["an empty document", "", /no root element/],
      ["an unbound prefix", "<p:a/>", /namespace prefix p is not declared/],
      ["a duplicate attribute", `<a x="1" x="2"/>`, /duplicate attribute x/],
      [
        "a duplicate expanded attribute",
        `<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`,
        /duplicate attribute \{u\}x/,
      ],
      ["'<' in an attribute", `<a x="<"/>`, /'<' is not allowed in an attribute value/],
      ["']]>' in text", "<a>]]></a>", /']]>' is not allowed/],
      ["'--' in a comment", "<a><!-- a -- b --></a>", /'--' is not allowed inside a comment/],
      ["an unterminated CDATA section", "<a><![CDATA[x</a>", /unterminated CDATA section/],
      [
        "another encoding",
        `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`,
        /encoding ISO-8859-1 is not supported/,
      ],
      ["XML 1.1", `<?xml version="1.1"?><a/>`, /XML version 1.1 is not supported/],
      ["nesting deeper than 64", `${"<a>".repeat(65)}${"</a>".repeat(65)}`, /nested deeper than 64/],
    ];
    for (const [what, xml, reason] of cases) {
      it(what, () => {
        expect(syntaxError(xml).message).to.match(reason);
      });
    }

    it("with the line and column of the problem", () => {
      const error = syntaxError("<a>\n  <b>\n  </c>\n</a>");
      expect([error.line, error.column]).to.deep.equal([3, 3]);
      expect(error.message).to.equal("expected </b>, found </c> (line 3, column 3)");
    });
  });
});
