import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { expect } from "chai";
import { normalize } from "../../normalizer/normalize.js";
import { type NormalizerService, startNormalizerService } from "../../normalizer/service.js";
import { buildWsdl } from "../../normalizer/wsdl.js";
import { SoapNormalizer } from "../../server/normalization/soap-normalizer.js";

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (error: unknown) => {
      expect(error).to.be.instanceOf(Error);
      return error as Error;
    },
  );
}

async function listen(server: net.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** An HTTP server that serves the real WSDL and answers every POST with `answer` (or never). */
async function startFakeService(answer: ((res: http.ServerResponse) => void) | "hang"): Promise<{
  url: string;
  server: http.Server;
}> {
  const server = http.createServer();
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}/normalizer`;
  const wsdl = buildWsdl(url, { maxTextChars: 65_536, maxBatchTexts: 1_000 });
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.method === "GET") {
      res.setHeader("content-type", "text/xml");
      res.end(wsdl);
      return;
    }
    req.resume();
    if (answer !== "hang") req.on("end", () => answer(res));
  });
  return { url, server };
}

describe("SoapNormalizer against the service (integration)", () => {
  let service: NormalizerService;
  let normalizer: SoapNormalizer;

  before(async () => {
    service = await startNormalizerService({ host: "127.0.0.1", port: 0 });
    normalizer = new SoapNormalizer(service.url);
  });

  after(async () => {
    await normalizer.close();
    await service.close();
  });

  it("round-trips a batch exactly, one text per text, in order", async () => {
    const texts = [
      "  hello   world ",
      "",
      " \t\r\n ",
      "a\tb\nc",
      "a\r\nb",
      "😀  👍🏽\u3000語  Grüße",
      ` <b>&amp;</b> & < > " ' `,
      "\uFEFFkept\uFEFF",
      " x <![CDATA[y]]> z ",
      "]]> &#13; &lt;",
      "\u0085next\u2028line\u00A0nbsp",
    ];
    const results = await normalizer.normalizeBatch(texts);
    expect(results).to.deep.equal(texts.map(normalize));
    expect(results[2]).to.equal("");
    expect(results[6]).to.equal(`<b>&amp;</b> & < > " '`);
    expect(results[7]).to.equal("\uFEFFkept\uFEFF");
    expect(results[8]).to.equal("x <![CDATA[y]]> z");
  });

  it("keeps order across a batch of a few hundred texts", async () => {
    const texts = Array.from({ length: 300 }, (_, i) => `  text\t${i}  `);
    expect(await normalizer.normalizeBatch(texts)).to.deep.equal(texts.map((_, i) => `text ${i}`));
  });

  it("answers an empty batch with no round trip", async () => {
    const idle = new SoapNormalizer("http://127.0.0.1:9/normalizer");
    expect(await idle.normalizeBatch([])).to.deep.equal([]);
    await idle.close();
  });

  it("splits batches longer than maxBatchTexts into several calls", async () => {
    const strict = await startNormalizerService({ host: "127.0.0.1", port: 0, maxBatchTexts: 3 });
    const client = new SoapNormalizer(strict.url, { maxBatchTexts: 3 });
    try {
      const texts = Array.from({ length: 10 }, (_, i) => ` ${i} `);
      expect(await client.normalizeBatch(texts)).to.deep.equal(texts.map((t) => t.trim()));
    } finally {
      await client.close();
      await strict.close();
    }
  });

  it("rejects with the fault's reason when the service refuses a text", async () => {
    const strict = await startNormalizerService({ host: "127.0.0.1", port: 0, maxTextChars: 5 });
    const client = new SoapNormalizer(strict.url);
    try {
      const error = await rejection(client.normalizeBatch(["short", "too long"]));
      expect(error.message).to.contain("text 2 holds 8 characters; the limit is 5");
    } finally {
      await client.close();
      await strict.close();
    }
  });

  it("rejects at once a text that XML 1.0 cannot carry", async () => {
    const error = await rejection(normalizer.normalizeBatch(["fine", "form\ffeed"]));
    expect(error.message).to.equal("text 2 holds U+000C, which XML 1.0 cannot carry to the normalizer");
  });

  it("checks the WSDL on one connection, then reuses one keep-alive connection for every call", async () => {
    const servicePort = Number(new URL(service.url).port);
    const sockets: net.Socket[] = [];
    const proxy = net.createServer((socket) => {
      const upstream = net.connect(servicePort, "127.0.0.1");
      sockets.push(socket, upstream);
      socket.pipe(upstream).pipe(socket);
      socket.on("error", () => upstream.destroy());
      upstream.on("error", () => socket.destroy());
    });
    const port = await listen(proxy);
    const client = new SoapNormalizer(`http://127.0.0.1:${port}/normalizer`);
    try {
      for (let i = 0; i < 5; i += 1) {
        expect(await client.normalizeBatch([` call ${i} `])).to.deep.equal([`call ${i}`]);
      }
      // Each connection through the proxy is two sockets: the check's, and the calls' one.
      expect(sockets).to.have.length(4);
    } finally {
      await client.close();
      for (const socket of sockets) socket.destroy();
      await closeServer(proxy);
    }
  });

  it("rejects promptly while the service is stopped, and works again once it is back on the port", async () => {
    const first = await startNormalizerService({ host: "127.0.0.1", port: 0 });
    const port = Number(new URL(first.url).port);
    const client = new SoapNormalizer(first.url, { timeoutMs: 2_000 });
    try {
      expect(await client.normalizeBatch([" up "])).to.deep.equal(["up"]);
      await first.close();

      // Promptly: the refusal itself, not the 2 s deadline ("took longer than"), rejects the call.
      const error = await rejection(client.normalizeBatch([" down "]));
      expect(error.message).to.match(/ECONNREFUSED|ECONNRESET|socket hang up/);
      expect(error.message).not.to.include("took longer than");

      const second = await startNormalizerService({ host: "127.0.0.1", port });
      try {
        expect(await client.normalizeBatch([" back "])).to.deep.equal(["back"]);
      } finally {
        await second.close();
      }
    } finally {
      await client.close();
    }
  });

  it("retries fetching the WSDL on the next call when the service was down at the first", async () => {
    const probe = await startNormalizerService({ host: "127.0.0.1", port: 0 });
    const url = probe.url;
    await probe.close();
    const client = new SoapNormalizer(url);
    try {
      const error = await rejection(client.normalizeBatch(["a"]));
      expect(error.message).to.match(/^cannot load the normalizer's WSDL from .*\?wsdl: .*ECONNREFUSED/);
      const revived = await startNormalizerService({ host: "127.0.0.1", port: Number(new URL(url).port) });
      try {
        expect(await client.normalizeBatch([" a  b "])).to.deep.equal(["a b"]);
      } finally {
        await revived.close();
      }
    } finally {
      await client.close();
    }
  });

  it("rejects when the service answers with a different number of texts", async () => {
    const fake = await startFakeService((res) => {
      res.setHeader("content-type", "text/xml; charset=utf-8");
      res.end(
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' +
          '<n:NormalizeBatchResponse xmlns:n="urn:parley:normalizer"><n:text>only one</n:text></n:NormalizeBatchResponse>' +
          "</soap:Body></soap:Envelope>",
      );
    });
    const client = new SoapNormalizer(fake.url);
    try {
      const error = await rejection(client.normalizeBatch(["a", "b"]));
      expect(error.message).to.equal(`NormalizeBatch at ${fake.url} answered 1 texts for 2`);
    } finally {
      await client.close();
      await closeServer(fake.server);
    }
  });

  it("rejects after timeoutMs when the service does not answer", async () => {
    const fake = await startFakeService("hang");
    const held = new Promise<http.ServerResponse>((resolve) =>
      fake.server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (req.method === "POST") resolve(res);
      }),
    );
    const client = new SoapNormalizer(fake.url, { timeoutMs: 200 });
    try {
      // Its own deadline's message: neither a connection failure nor an answer ended the call.
      const error = await rejection(client.normalizeBatch(["a"]));
      expect(error.message).to.equal(
        `NormalizeBatch at ${fake.url} failed: NormalizeBatch took longer than 200 ms`,
      );
      // The service did get the call, and still held it unanswered when the client gave up.
      const response = await held;
      expect(response.writableEnded, "answered").to.equal(false);
    } finally {
      await client.close();
      await closeServer(fake.server);
    }
  });

  it("rejects after timeoutMs when the WSDL does not come", async () => {
    const sockets: net.Socket[] = [];
    let connected: () => void;
    const fetched = new Promise<void>((resolve) => {
      connected = resolve;
    });
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      connected();
    });
    const port = await listen(silent);
    const client = new SoapNormalizer(`http://127.0.0.1:${port}/normalizer`, { timeoutMs: 200 });
    try {
      // A deadline's message (the check's own, or strong-soap's socket timeout, whichever fires
      // first), from a service that took the connection and never said a word.
      const error = await rejection(client.normalizeBatch(["a"]));
      expect(error.message).to.match(
        /^cannot load the normalizer's WSDL from \S+\?wsdl: .*(took longer than|timed? ?out|ETIMEDOUT)/i,
      );
      await fetched;
    } finally {
      await client.close();
      for (const socket of sockets) socket.destroy();
      await closeServer(silent);
    }
  });

  it("rejects every call after close()", async () => {
    const client = new SoapNormalizer(service.url);
    expect(await client.normalizeBatch(["  a "])).to.deep.equal(["a"]);
    await client.close();
    const error = await rejection(client.normalizeBatch(["a"]));
    expect(error.message).to.equal("the SOAP normalizer is closed");
  });
});
