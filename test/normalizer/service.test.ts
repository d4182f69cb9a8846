import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { expect } from "chai";
import { type NormalizerService, startNormalizerService } from "../../normalizer/service.js";
import { readXml } from "../../normalizer/xml-reader.js";
import {
  batchCall,
  createSoapClient,
  envelope11,
  envelope12,
  expectFault11,
  expectNoInternals,
  get,
  normalizeCall,
  operationOf,
  post,
  resultTexts,
  SOAP11_NS,
  SOAP11_TYPE,
  SOAP12_NS,
  SOAP12_TYPE,
} from "./helpers.js";

describe("normalizer service (integration)", () => {
  let service: NormalizerService;

  before(async () => {
    service = await startNormalizerService({ host: "127.0.0.1", port: 0 });
  });

  after(async () => {
    await service.close();
  });

  it("reports its URL with the port it bound", () => {
    expect(service.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/normalizer$/);
    expect(service.url).not.to.match(/:0\//);
  });

  it("answers GET /healthz with 200 ok", async () => {
    const reply = await get(service.url.replace("/normalizer", "/healthz"));
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal("ok");
  });

  describe("WSDL", () => {
    it("is served at ?wsdl as XML that parses, with both ports at the service's address", async () => {
      const reply = await get(`${service.url}?wsdl`);
      expect(reply.status).to.equal(200);
      expect(reply.contentType).to.equal("text/xml; charset=utf-8");
      const root = readXml(reply.body);
      expect([root.localName, root.namespace]).to.deep.equal([
        "definitions",
        "http://schemas.xmlsoap.org/wsdl/",
      ]);
      expect(reply.body).to.contain(`<soap:address location="${service.url}"/>`);
      expect(reply.body).to.contain(`<soap12:address location="${service.url}"/>`);
      expect((await get(`${service.url}?WSDL`)).status).to.equal(200);
    });

    it("builds a strong-soap client describing both operations on both ports", async () => {
      const client = await createSoapClient(service.url);
      const ports = client.describe().NormalizerService!;
      expect(Object.keys(ports)).to.deep.equal(["NormalizerSoap11", "NormalizerSoap12"]);
      for (const port of Object.values(ports)) {
        expect(Object.keys(port)).to.deep.equal(["Normalize", "NormalizeBatch"]);
      }
    });
  });

  describe("a client built from the WSDL with strong-soap", () => {
    for (const port of ["NormalizerSoap11", "NormalizerSoap12"]) {
      it(`calls Normalize and NormalizeBatch over ${port}`, async () => {
        const client = await createSoapClient(service.url);
        const single = await operationOf(client, port, "Normalize")({ text: "  a\tb\nc  " });
        expect(single.result).to.deep.equal({ text: "a b c" });
        const batch = await operationOf(
          client,
          port,
          "NormalizeBatch",
        )({
          text: [" one  two ", "😀\u3000 <&> \"quoted\" 'single'", "x"],
        });
        expect(batch.result).to.deep.equal({ text: ["one two", "😀 <&> \"quoted\" 'single'", "x"] });
      });
    }

    it("receives a batch over the limit as a rejected call carrying the fault", async () => {
      const client = await createSoapClient(service.url);
      const call = operationOf(
        client,
        "NormalizerSoap11",
        "NormalizeBatch",
      )({ text: Array(1_001).fill("a") });
      const error: Error = await call.then(
        () => expect.fail("the call should fail"),
        (e: Error) => e,
      );
      expect(error.message).to.contain("faultstring: the batch holds 1001 texts; the limit is 1000");
    });
  });

  describe("hand-written SOAP 1.1", () => {
    async function normalizeOne(text: string): Promise<string> {
      const reply = await post(service.url, envelope11(normalizeCall(text)));
      expect(reply.status, reply.body).to.equal(200);
      expect(reply.contentType).to.equal(SOAP11_TYPE);
      expect(reply.body).to.contain('<n:NormalizeResponse xmlns:n="urn:parley:normalizer">');
      const texts = resultTexts(reply.body);
      expect(texts).to.have.length(1);
      return texts[0]!;
    }

    it("answers Normalize with the exact envelope", async () => {
      const reply = await post(service.url, envelope11(normalizeCall("  Hello, \t\n world  ")));
      expect(reply.status).to.equal(200);
      expect(reply.body).to.equal(
        `<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="${SOAP11_NS}"><soap:Body>` +
          '<n:NormalizeResponse xmlns:n="urn:parley:normalizer"><n:text>Hello, world</n:text></n:NormalizeResponse>' +
          "</soap:Body></soap:Envelope>\n",
      );
    });

    it("keeps tabs, newlines and CR LF from the XML parser until the rule turns them into spaces", async () => {
      expect(await normalizeOne("a\tb\nc")).to.equal("a b c");
      expect(await normalizeOne("a\r\nb")).to.equal("a b");
      expect(await normalizeOne("a&#13;&#10;b&#9;c")).to.equal("a b c");
    });

    it("round-trips empty and whitespace-only texts as empty", async () => {
      expect(await normalizeOne("")).to.equal("");
      expect(await normalizeOne(" \t\r\n \u00A0\u3000 ")).to.equal("");
      const reply = await post(service.url, envelope11("<n:Normalize><n:text/></n:Normalize>"));
      expect(resultTexts(reply.body)).to.deep.equal([""]);
    });

    it("carries XML specials, multi-byte text and emoji through", async () => {
      expect(await normalizeOne(" &amp; &lt;b&gt; \"q\" 'a' ")).to.equal("&amp; &lt;b&gt; \"q\" 'a'");
      expect(await normalizeOne("  Grüße  語  😀👍🏽 ")).to.equal("Grüße 語 😀👍🏽");
      expect(await normalizeOne("<![CDATA[ <raw> & ]]>")).to.equal("&lt;raw&gt; &amp;");
    });

    it("keeps U+FEFF, which is not White_Space, even at either end", async () => {
      expect(await normalizeOne("\uFEFF a \uFEFF")).to.equal("\uFEFF a \uFEFF");
      expect(await normalizeOne("\uFEFFb\uFEFF")).to.equal("\uFEFFb\uFEFF");
    });

    it("answers NormalizeBatch with one text per text, in order", async () => {
      const reply = await post(service.url, envelope11(batchCall(["  b  a ", "", "z", " ", "c\td"])));
      expect(reply.status).to.equal(200);
      expect(reply.body).to.contain('<n:NormalizeBatchResponse xmlns:n="urn:parley:normalizer">');
      expect(resultTexts(reply.body)).to.deep.equal(["b a", "", "z", "", "c d"]);
    });

    it("answers an empty batch with an empty response", async () => {
      const reply = await post(service.url, envelope11("<n:NormalizeBatch/>"));
      expect(reply.status).to.equal(200);
      expect(reply.body).to.contain(
        '<n:NormalizeBatchResponse xmlns:n="urn:parley:normalizer"></n:NormalizeBatchResponse>',
      );
    });

    it("accepts a full batch with a text at the length limit, white space included", async () => {
      const texts = [` ${"x".repeat(65_534)} `, ...Array(999).fill(" y ")];
      const reply = await post(service.url, envelope11(batchCall(texts)));
      expect(reply.status).to.equal(200);
      const results = resultTexts(reply.body);
      expect(results).to.have.length(1_000);
      expect(results[0]).to.equal("x".repeat(65_534));
    });

    it("accepts unqualified <text> elements, a Header and a gzip body", async () => {
      const body = envelope11(
        '<n:Normalize><text xmlns=""> a  b </text></n:Normalize>',
        '<soap:Header><h:Trace xmlns:h="urn:other">1</h:Trace></soap:Header>',
      );
      const reply = await post(service.url, gzipSync(body), {
        "content-type": SOAP11_TYPE,
        "content-encoding": "gzip",
      });
      expect(reply.status, reply.body).to.equal(200);
      expect(resultTexts(reply.body)).to.deep.equal(["a b"]);
    });
  });

  describe("hand-written SOAP 1.2", () => {
    it("answers in a SOAP 1.2 envelope", async () => {
      const reply = await post(service.url, envelope12(batchCall([" p \n q ", ""])), {
        "content-type": `${SOAP12_TYPE}; action="urn:parley:normalizer#NormalizeBatch"`,
      });
      expect(reply.status).to.equal(200);
      expect(reply.contentType).to.equal(SOAP12_TYPE);
      expect(reply.body).to.contain(`<soap:Envelope xmlns:soap="${SOAP12_NS}">`);
      expect(resultTexts(reply.body)).to.deep.equal(["p q", ""]);
    });

    it("sends a Sender fault as HTTP 400 and a SOAP 1.2 Fault", async () => {
      const reply = await post(service.url, envelope12("<n:Nope/>"), { "content-type": SOAP12_TYPE });
      expect(reply.status).to.equal(400);
      expect(reply.contentType).to.equal(SOAP12_TYPE);
      expectNoInternals(reply.body);
      expect(reply.body).to.contain("<soap:Code><soap:Value>soap:Sender</soap:Value></soap:Code>");
      expect(reply.body).to.contain(
        '<soap:Reason><soap:Text xml:lang="en">unknown operation {urn:parley:normalizer}Nope; this service offers Normalize and NormalizeBatch in namespace urn:parley:normalizer</soap:Text></soap:Reason>',
      );
    });
  });

  describe("SOAP 1.1 faults", () => {
    const longText = "x".repeat(65_537);
    const cases: [
      what: string,
      body: string | (() => Uint8Array),
      headers: Record<string, string>,
      faultstring: RegExp,
      faultcode?: string,
    ][] = [
      [
        "malformed XML",
        envelope11("<n:Normalize><n:text>a</n:Normalize>"),
        {},
        /^malformed XML: expected <\/n:text>, found <\/n:Normalize> \(line 3, column \d+\)$/,
      ],
      ["a truncated envelope", "<soap:Envelope", {}, /^malformed XML: unexpected end of the document/],
      [
        "a missing text element",
        envelope11("<n:Normalize/>"),
        {},
        /^Normalize takes exactly one <text> element, found 0$/,
      ],
      [
        "two texts for Normalize",
        envelope11("<n:Normalize><n:text>a</n:text><n:text>b</n:text></n:Normalize>"),
        {},
        /found 2$/,
      ],
      [
        "an unexpected element",
        envelope11("<n:Normalize><n:txt>a</n:txt></n:Normalize>"),
        {},
        /^unexpected <n:txt> in Normalize; expected <text> elements$/,
      ],
      [
        "markup inside a text",
        envelope11(normalizeCall("a <b>bold</b>")),
        {},
        /^the text must hold only characters, not <b>$/,
      ],
      [
        "a text over its limit",
        envelope11(batchCall(["ok", longText])),
        {},
        /^text 2 holds 65537 characters; the limit is 65536$/,
      ],
      [
        "a text over its limit in code points, not UTF-16 units",
        envelope11(normalizeCall("😀".repeat(65_537))),
        {},
        /^the text holds 65537 characters; the limit is 65536$/,
      ],
      [
        "a batch over its limit",
        envelope11(batchCall(Array(1_001).fill("a"))),
        {},
        /^the batch holds 1001 texts; the limit is 1000$/,
      ],
      [
        "an unknown operation",
        envelope11("<n:Shout><n:text>a</n:text></n:Shout>"),
        {},
        /^unknown operation \{urn:parley:normalizer\}Shout; this service offers Normalize and NormalizeBatch/,
      ],
      [
        "an operation in another namespace",
        envelope11('<Normalize xmlns="urn:other"><text>a</text></Normalize>'),
        {},
        /^unknown operation \{urn:other\}Normalize/,
      ],
      ["an empty Body", envelope11(""), {}, /^the Body must hold exactly one operation element, found 0$/],
      [
        "an envelope without a Body",
        `<soap:Envelope xmlns:soap="${SOAP11_NS}"/>`,
        {},
        /^the Envelope must hold a Body/,
      ],
      [
        "a root that is no Envelope",
        "<Normalize><text>a</text></Normalize>",
        {},
        /^the root element must be a SOAP Envelope, not <Normalize>$/,
      ],
      [
        "an unknown envelope namespace",
        '<e:Envelope xmlns:e="urn:nope"><e:Body/></e:Envelope>',
        {},
        /neither SOAP 1\.1's/,
        "soap:VersionMismatch",
      ],
      [
        "a SOAP 1.2 envelope sent as text/xml",
        envelope12(normalizeCall("a")),
        {},
        /^a SOAP 1\.2 envelope must be sent as application\/soap\+xml, not text\/xml$/,
        "soap:VersionMismatch",
      ],
      [
        "a header that must be understood",
        envelope11(
          normalizeCall("a"),
          `<soap:Header><h:Auth xmlns:h="urn:h" soap:mustUnderstand="1"/></soap:Header>`,
        ),
        {},
        /^header \{urn:h\}Auth is marked mustUnderstand/,
        "soap:MustUnderstand",
      ],
      [
        "a wrong content type",
        envelope11(normalizeCall("a")),
        { "content-type": "application/json" },
        /^Content-Type application\/json is not supported; SOAP 1\.1 requests use text\/xml/,
      ],
      [
        "no content type",
        () => new TextEncoder().encode(envelope11(normalizeCall("a"))),
        { "content-type": "" },
        /^the request has no Content-Type/,
      ],
      [
        "a charset other than UTF-8",
        envelope11(normalizeCall("a")),
        { "content-type": "text/xml; charset=iso-8859-1" },
        /^charset iso-8859-1 is not supported; send UTF-8$/,
      ],
      [
        "invalid UTF-8",
        () =>
          Buffer.concat([
            Buffer.from(envelope11(normalizeCall("a")).slice(0, 60)),
            Buffer.from([0xc3, 0x28]),
          ]),
        {},
        /^the request body is not valid UTF-8$/,
      ],
      [
        "a DOCTYPE",
        `<!DOCTYPE x [<!ENTITY a "b">]>${envelope11(normalizeCall("&a;")).replace(/^<\?xml[^>]*>/, "")}`,
        {},
        /^malformed XML: a DOCTYPE is not allowed/,
      ],
      [
        "a form feed, which XML 1.0 cannot carry",
        envelope11(normalizeCall("a&#12;b")),
        {},
        /^malformed XML: &#12; is not a character allowed in XML 1\.0/,
      ],
      [
        "an unsupported Content-Encoding",
        envelope11(normalizeCall("a")),
        { "content-encoding": "bogus" },
        /^Content-Encoding bogus is not supported/,
      ],
    ];
    for (const [what, body, headers, faultstring, faultcode] of cases) {
      it(`answers ${what} with a Fault`, async () => {
        const payload = typeof body === "function" ? body() : body;
        const allHeaders: Record<string, string> = { "content-type": SOAP11_TYPE, ...headers };
        if (allHeaders["content-type"] === "") delete allHeaders["content-type"];
        const reply = await post(service.url, payload, allHeaders);
        expect(expectFault11(reply, faultcode)).to.match(faultstring);
      });
    }

    it("answers a body over the size limit with a Fault", async () => {
      const small = await startNormalizerService({ host: "127.0.0.1", port: 0, maxBodyBytes: 1_024 });
      try {
        const reply = await post(small.url, envelope11(normalizeCall("x".repeat(2_000))));
        expect(expectFault11(reply)).to.equal("the request body exceeds the limit of 1024 bytes");
      } finally {
        await small.close();
      }
    });

    it("answers a body over the default limit of 1 MiB with a Fault", async () => {
      const reply = await post(service.url, envelope11(normalizeCall("x".repeat(2 * 1024 * 1024))));
      expect(expectFault11(reply)).to.equal("the request body exceeds the limit of 1048576 bytes");
    });

    describe("hostile XML within the audit's 8 MiB bodies", () => {
      let roomy: NormalizerService;

      before(async () => {
        roomy = await startNormalizerService({ host: "127.0.0.1", port: 0, maxBodyBytes: 8 * 1024 * 1024 });
      });

      after(async () => {
        await roomy.close();
      });

      it("refuses 2 million elements at the element limit, while reading", async () => {
        const reply = await post(
          roomy.url,
          envelope11(`<n:NormalizeBatch>${"<a/>".repeat(2_000_000)}</n:NormalizeBatch>`),
        );
        expect(expectFault11(reply)).to.match(/^malformed XML: the document holds more than 1064 elements/);
      });

      it("refuses 800,000 attributes on one element at the attribute limit", async () => {
        const attributes = Array.from({ length: 800_000 }, (_, i) => `a${i.toString(36)}=""`).join(" ");
        const reply = await post(
          roomy.url,
          envelope11(normalizeCall("x")).replace("<soap:Body>", `<soap:Body ${attributes}>`),
        );
        expect(expectFault11(reply)).to.match(/^malformed XML: an element has more than 32 attributes/);
      });

      it("quotes at most a short excerpt of an 8 MB namespace in the fault", async () => {
        const namespace = `urn:${"x".repeat(8_000_000)}`;
        const reply = await post(roomy.url, envelope11(normalizeCall("x")).replace(SOAP11_NS, namespace));
        const faultstring = expectFault11(reply, "soap:VersionMismatch");
        expect(faultstring).to.contain("urn:xxx").and.to.contain("(8000004 characters)");
        expect(reply.body.length).to.be.below(1_000);
      });
    });

    it("escapes the XML specials a faultstring quotes", async () => {
      const reply = await post(
        service.url,
        envelope11("<n:Normalize><n:a-b_c.d>x</n:a-b_c.d></n:Normalize>"),
      );
      expect(reply.body).to.contain(
        "<faultstring>unexpected &lt;n:a-b_c.d&gt; in Normalize; expected &lt;text&gt; elements</faultstring>",
      );
      expect(expectFault11(reply)).to.equal("unexpected <n:a-b_c.d> in Normalize; expected <text> elements");
    });
  });

  describe("requests that are not SOAP at all", () => {
    const cases: [what: string, body: string, contentType: string][] = [
      ["an empty body", "", SOAP11_TYPE],
      ["JSON", '{"text":"a  b"}', "application/json"],
      ["plain text", "hello", "text/plain"],
      ["a form", "text=a+b", "application/x-www-form-urlencoded"],
    ];
    for (const [what, body, contentType] of cases) {
      it(`answers ${what} with 400`, async () => {
        const reply = await post(service.url, body, { "content-type": contentType });
        expect(reply.status).to.equal(400);
        expect(reply.contentType).to.equal("text/plain; charset=utf-8");
        expect(reply.body).to.match(/^not a SOAP request: /);
        expectNoInternals(reply.body);
      });
    }

    it("answers GET without ?wsdl with 400, other methods with 405, other paths with 404", async () => {
      const plainGet = await get(service.url);
      expect(plainGet.status).to.equal(400);
      expect(plainGet.body).to.contain("?wsdl");
      const put = await get(service.url, "PUT");
      expect(put.status).to.equal(405);
      const missing = await get(service.url.replace("/normalizer", "/nothing"));
      expect(missing.status).to.equal(404);
      const badPath = await get(service.url.replace("/normalizer", "/%E0%A4%A"));
      expect(badPath.status).to.be.within(400, 404);
      for (const reply of [plainGet, put, missing, badPath]) expectNoInternals(reply.body);
    });
  });

  it("lets a request in flight finish when closing, then closes without waiting for the deadline", async () => {
    // A deadline far beyond the test's timeout: closing that completes at all did not wait for it.
    const other = await startNormalizerService({ host: "127.0.0.1", port: 0, shutdownGraceMs: 3_600_000 });
    const agent = new http.Agent({ keepAlive: true });
    try {
      const body = envelope11(normalizeCall(" in   flight "));
      const response = new Promise<{ status: number; connection: string | undefined; body: string }>(
        (resolve, reject) => {
          const request = http.request(
            other.url,
            {
              method: "POST",
              agent,
              headers: { "content-type": SOAP11_TYPE, "content-length": body.length, expect: "100-continue" },
            },
            (res) => {
              let text = "";
              res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }),
              );
            },
          );
          request.on("error", reject);
          // "100 Continue" says the server holds the request; its body is still to come.
          request.on("continue", () => {
            closing = other.close();
            request.end(body);
          });
        },
      );
      let closing: Promise<void> | undefined;
      const reply = await response;
      expect(reply.status).to.equal(200);
      expect(reply.connection).to.equal("close");
      expect(resultTexts(reply.body)).to.deep.equal(["in flight"]);
      await closing;
    } finally {
      agent.destroy();
      await other.close();
    }
  });

  it("closes promptly while a client holds an idle keep-alive connection", async () => {
    // Deadlines far beyond the test's timeout, and an agent that never lets an idle socket go:
    // closing that completes at all closed the idle connection itself, at once.
    const other = await startNormalizerService({
      host: "127.0.0.1",
      port: 0,
      shutdownGraceMs: 3_600_000,
      keepAliveTimeoutMs: 3_600_000,
    });
    const agent = new http.Agent({ keepAlive: true });
    try {
      const body = envelope11(normalizeCall("a"));
      const reply = await new Promise<{ status: number; connection: string | undefined }>(
        (resolve, reject) => {
          const request = http.request(
            other.url,
            {
              method: "POST",
              agent,
              headers: { "content-type": SOAP11_TYPE, "content-length": body.length },
            },
            (res) => {
              res.resume();
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
              );
            },
          );
          request.on("error", reject);
          request.end(body);
        },
      );
      expect(reply).to.deep.equal({ status: 200, connection: "keep-alive" });
      await other.close();
      await other.close();
    } finally {
      agent.destroy();
    }
  });
});

describe("normalizer service connection bounds (integration)", () => {
  let service: NormalizerService | undefined;
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await service?.close();
    service = undefined;
  });

  /** A raw connection; resolves once connected. */
  async function connect(url: string): Promise<net.Socket> {
    const { hostname, port } = new URL(url);
    const socket = net.connect(Number(port), hostname);
    sockets.push(socket);
    socket.on("error", () => {});
    await once(socket, "connect");
    return socket;
  }

  /** One keep-alive GET /healthz on `socket`; resolves with what came back. */
  async function healthz(socket: net.Socket): Promise<string> {
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    const [chunk] = (await once(socket, "data")) as [Buffer];
    return chunk.toString();
  }

  it("closes connections beyond maxConnections at once", async () => {
    service = await startNormalizerService({ host: "127.0.0.1", port: 0, maxConnections: 2 });
    const held = [await connect(service.url), await connect(service.url)];
    // Each has been answered, so the service counts both.
    for (const socket of held) expect(await healthz(socket)).to.match(/^HTTP\/1\.1 200 /);
    const third = await connect(service.url);
    third.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const data: Buffer[] = [];
    third.on("data", (chunk: Buffer) => data.push(chunk));
    await once(third, "close");
    expect(Buffer.concat(data).toString()).to.equal("");
    expect(await healthz(held[0]!)).to.match(/^HTTP\/1\.1 200 /);
  });

  it("closes a connection whose headers do not arrive in time", async () => {
    service = await startNormalizerService({ host: "127.0.0.1", port: 0, headersTimeoutMs: 200 });
    const socket = await connect(service.url);
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    const data: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => data.push(chunk));
    await once(socket, "close");
    expect(Buffer.concat(data).toString()).to.match(/^HTTP\/1\.1 408 /);
  });

  it("closes an idle keep-alive connection after keepAliveTimeoutMs", async () => {
    service = await startNormalizerService({ host: "127.0.0.1", port: 0, keepAliveTimeoutMs: 200 });
    const socket = await connect(service.url);
    expect(await healthz(socket)).to.match(/^HTTP\/1\.1 200 /);
    await once(socket, "close");
  });

  it("answers only under its path prefix when given one, over TCP too", async () => {
    service = await startNormalizerService({ host: "127.0.0.1", port: 0, pathPrefix: "/n/s3cret" });
    expect(service.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/n\/s3cret\/normalizer$/);
    expect(resultTexts((await post(service.url, envelope11(normalizeCall(" a  b ")))).body)).to.deep.equal([
      "a b",
    ]);
    expect(
      (await get(service.url.replace("/n/s3cret", "/healthz").replace("/normalizer", ""))).status,
    ).to.equal(404);
    expect(
      (await post(service.url.replace("/n/s3cret", ""), envelope11(normalizeCall("a")))).status,
    ).to.equal(404);
    expect((await get(service.url.replace("/normalizer", "/healthz"))).body).to.equal("ok");
  });
});
