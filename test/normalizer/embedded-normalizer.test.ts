// The normalizer embedded in the chat server: a worker thread on a Unix socket in a private
// folder, under a secret path. Real HTTP, a real chat server in this process, no mocks.

import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { DEFAULTS, type ServerSettings } from "../../server/config.js";
import { createLogger } from "../../server/logger.js";
import type { EmbeddedNormalizerOptions } from "../../server/normalization/embedded-normalizer.js";
import { type OpenedNormalizer, openNormalizer } from "../../server/normalization/open-normalizer.js";
import { ParleyServer } from "../../server/server.js";
import { openStore } from "../../server/store/open-store.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { loggedIn, type TestClient } from "../helpers/test-client.js";
import { TEST_SETTINGS } from "../helpers/test-server.js";
import { batchCall, envelope11, resultTexts, SOAP11_TYPE } from "./helpers.js";

type LogLine = Record<string, unknown>;

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP request over the Unix socket, on a connection of its own. */
function request(
  socketPath: string,
  method: string,
  requestPath: string,
  body?: string | Buffer,
  onUploaded?: () => void,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method,
        path: requestPath,
        agent: false,
        headers: body === undefined ? {} : { "content-type": SOAP11_TYPE },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (onUploaded !== undefined) req.on("finish", onUploaded);
    req.end(body);
  });
}

/** http://unix:SOCKET:PATH → PATH */
function endpointPath(opened: OpenedNormalizer): string {
  const socketPath = opened.embeddedService!.socketPath;
  return opened.url.slice(`http://unix:${socketPath}:`.length);
}

/** A chat server in this process with the embedded normalizer, and its log lines. */
class Harness {
  readonly lines: LogLine[] = [];
  readonly #waiters: Array<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  readonly #clients: TestClient[] = [];
  #stop: Array<() => Promise<void>> = [];
  opened!: OpenedNormalizer;
  port = 0;

  async start(dir: string, options: EmbeddedNormalizerOptions = {}): Promise<this> {
    const logger = createLogger("debug", (text) => {
      const line = JSON.parse(text) as LogLine;
      this.lines.push(line);
      for (const waiter of this.#waiters.filter((w) => w.predicate(line))) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
      if (process.env.PARLEY_TEST_LOG) process.stderr.write(text);
    });
    const dbPath = path.join(dir, "parley.db");
    const settings: ServerSettings = { ...DEFAULTS, ...TEST_SETTINGS, dbPath };
    const store = await openStore({ path: dbPath, logger });
    this.#stop.unshift(() => store.close());
    this.opened = await openNormalizer(undefined, logger, options);
    this.#stop.unshift(() => this.opened.close());
    const server = await ParleyServer.start({ settings, store, normalizer: this.opened.normalizer, logger });
    this.#stop.unshift(() => server.stop());
    this.port = server.port;
    return this;
  }

  async client(user: string): Promise<TestClient> {
    const client = await loggedIn(this.port, user);
    this.#clients.push(client);
    return client;
  }

  /** The first log line, past or future, that matches; rejects after timeoutMs. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no matching log line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    for (const client of this.#clients.splice(0)) client.destroy();
    for (const stop of this.#stop.splice(0)) await stop();
  }
}

const OUTAGE_LINE = (line: LogLine) =>
  line.level === "warn" && String(line.msg).startsWith("normalizer unavailable");
const SECRET = /[0-9a-f]{64}/;

/** 8 MiB of empty elements: within the body limit, about two seconds of parsing, then a fault. */
// The service's own limits refuse the flood before it costs anything; these let it through, so
// that the worker's isolation is still shown on a long parse and an exhausted heap.
const FLOOD_LIMITS = { maxBodyBytes: 8 * 1024 * 1024, maxBatchTexts: 2_000_000 };

function floodBody(): Buffer {
  const head = envelope11("<n:NormalizeBatch>").split("<n:NormalizeBatch>")[0]!;
  const tail = "</n:NormalizeBatch></soap:Body></soap:Envelope>";
  const unit = "<n:x/>";
  const count = Math.floor((8 * 1024 * 1024 - 1024 - head.length - tail.length) / unit.length);
  return Buffer.from(`${head}<n:NormalizeBatch>${unit.repeat(count)}${tail}`);
}

describe("embedded normalizer (integration, worker thread)", () => {
  let temp: ReturnType<typeof makeTempDir>;
  let harness: Harness;

  beforeEach(() => {
    temp = makeTempDir();
    harness = new Harness();
  });
  afterEach(async () => {
    await harness.stop();
    temp.remove();
  });

  it("listens on a Unix socket in a folder only its owner can enter, and removes it on close", async () => {
    await harness.start(temp.dir);
    const { socketPath } = harness.opened.embeddedService!;
    const folder = path.dirname(socketPath);
    expect(fs.statSync(folder).mode & 0o777).to.equal(0o700);
    expect(fs.statSync(socketPath).isSocket()).to.equal(true);
    expect(harness.opened.url).to.match(/^http:\/\/unix:\/.+:\/n\/[0-9a-f]{64}\/normalizer$/);
    await harness.stop();
    expect(fs.existsSync(folder)).to.equal(false);
  });

  it("removes the folders that killed servers left, and no other", async () => {
    // A private temporary folder: a server started meanwhile by another process would clean a
    // shared one's stale folder first, and this server would have nothing to log.
    const savedTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = fs.mkdtempSync(path.join(os.tmpdir(), "parley-tmp-"));
    const old = new Date(Date.now() - 10 * 60_000);
    const folder = () => fs.mkdtempSync(path.join(os.tmpdir(), "parley-normalizer-"));
    // A plain file where the socket was: connecting to it is refused, as to a dead socket.
    const stale = folder();
    fs.writeFileSync(path.join(stale, "normalizer.sock"), "");
    const young = folder();
    fs.writeFileSync(path.join(young, "normalizer.sock"), "");
    const live = folder();
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(path.join(live, "normalizer.sock"), resolve));
    try {
      for (const dir of [stale, live]) fs.utimesSync(dir, old, old);
      await harness.start(temp.dir);
      await harness.waitForLine(
        (line) => line.msg === "removed a stale embedded normalizer folder" && line.folder === stale,
      );
      expect(fs.existsSync(stale)).to.equal(false);
      expect(fs.existsSync(young)).to.equal(true);
      expect(fs.existsSync(live)).to.equal(true);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
      fs.rmSync(os.tmpdir(), { recursive: true, force: true });
      if (savedTmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmpdir;
    }
  });

  it("answers only under its secret path: anything else is 404 with the connection closed", async () => {
    await harness.start(temp.dir);
    const { socketPath } = harness.opened.embeddedService!;
    const endpoint = endpointPath(harness.opened);
    const prefix = endpoint.slice(0, -"/normalizer".length);
    const soap = envelope11(batchCall(["  a   b "]));

    const answered = await request(socketPath, "POST", endpoint, soap);
    expect(answered.status, answered.body).to.equal(200);
    expect(resultTexts(answered.body)).to.deep.equal(["a b"]);
    expect((await request(socketPath, "GET", `${endpoint}?wsdl`)).status).to.equal(200);
    expect((await request(socketPath, "GET", `${prefix}/healthz`)).body).to.equal("ok");

    const wrongSecret = `/n/${"0".repeat(64)}/normalizer`;
    for (const [method, requestPath, body] of [
      ["POST", "/normalizer", soap],
      ["POST", wrongSecret, soap],
      ["POST", `${prefix.slice(0, -1)}/normalizer`, soap],
      ["GET", "/normalizer?wsdl", undefined],
      ["GET", `${wrongSecret}?wsdl`, undefined],
      ["GET", "/healthz", undefined],
      ["GET", prefix, undefined],
    ] as const) {
      const reply = await request(socketPath, method, requestPath, body);
      expect(reply.status, `${method} ${requestPath}`).to.equal(404);
      expect(reply.headers.connection).to.equal("close");
      expect(reply.body).to.equal("not found\n");
    }
  });

  it("is restarted when its worker dies; meanwhile messages wait, then arrive normalized and in order", async () => {
    // A restart slow enough that the server surely tries, and fails, first.
    await harness.start(temp.dir, { restartMinMs: 1_000 });
    const bob = await harness.client("bob");
    const alice = await harness.client("alice");
    await alice.ok("send", { to: "bob", text: " before  ", cid: "c0" });
    expect((await bob.collectMessages(1))[0]!.text).to.equal("before");

    await harness.opened.embeddedService!.terminateWorker();
    const texts = ["  first\t\tone ", "second\n\nline", "\u3000third\u00a0 one"];
    const ids: number[] = [];
    for (const [i, text] of texts.entries()) {
      ids.push((await alice.ok("send", { to: "bob", text, cid: `c${i + 1}` })).id);
    }
    const outage = await harness.waitForLine(OUTAGE_LINE);
    expect(JSON.stringify(outage)).not.to.match(SECRET);
    await bob.roundtrip();
    expect(bob.events.filter((e) => e.ev === "message")).to.deep.equal([]);

    const messages = await bob.collectMessages(texts.length, { timeoutMs: 15_000 });
    expect(messages.map((m) => m.id)).to.deep.equal(ids);
    expect(messages.map((m) => m.text)).to.deep.equal(["first one", "second line", "third one"]);
    const stopped = await harness.waitForLine(
      (line) => line.msg === "embedded normalizer stopped; restarting it",
    );
    expect(stopped).to.include({ level: "error", component: "normalizer" });
    await harness.waitForLine((line) => line.msg === "embedded normalizer restarted");
    await harness.waitForLine((line) => line.msg === "normalization resumed");
    expect(harness.lines.filter(OUTAGE_LINE)).to.have.length(1);
    expect(JSON.stringify(harness.lines)).not.to.match(SECRET);
  });

  it("keeps the chat server answering while it parses a large request", async () => {
    await harness.start(temp.dir, { limits: FLOOD_LIMITS });
    const { socketPath } = harness.opened.embeddedService!;
    const client = await harness.client("alice");
    const flood = floodBody();
    // The worker logs (at debug) once it has read a body and is about to parse it.
    const parsing = harness.waitForLine(
      (line) => line.msg === "normalizer request read" && line.bytes === flood.length,
    );
    const events: string[] = [];
    const answered = request(socketPath, "POST", endpointPath(harness.opened), flood).then((reply) => {
      events.push("flood answered");
      return reply;
    });
    await parsing;
    events.push("flood parsing");
    for (let i = 0; i < 3; i++) {
      await client.roundtrip();
      events.push("ping answered");
    }
    const reply = await answered;
    // Parsed to the end, and refused: the elements are not <text>.
    expect(reply.status).to.equal(500);
    expect(reply.body).to.contain("unexpected &lt;n:x&gt; in NormalizeBatch");
    // On the server's own event loop, no ping could be answered until the parse was over.
    expect(events).to.deep.equal([
      "flood parsing",
      "ping answered",
      "ping answered",
      "ping answered",
      "flood answered",
    ]);
  });

  it("ends a worker that outgrows its heap, restarts it, and the server stays up", async () => {
    await harness.start(temp.dir, {
      resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 },
      limits: FLOOD_LIMITS,
    });
    const { socketPath } = harness.opened.embeddedService!;
    const client = await harness.client("alice");
    const flood = request(socketPath, "POST", endpointPath(harness.opened), floodBody()).then(
      () => "answered",
      (error: NodeJS.ErrnoException) => error.code,
    );
    const stopped = await harness.waitForLine(
      (line) => line.msg === "embedded normalizer stopped; restarting it",
    );
    expect(String(stopped.reason)).to.contain("ERR_WORKER_OUT_OF_MEMORY");
    expect(await flood).to.be.oneOf(["ECONNRESET", "EPIPE"]);
    await client.roundtrip();
    await harness.waitForLine((line) => line.msg === "embedded normalizer restarted");
    expect(await harness.opened.normalizer.normalizeBatch(["  still   here "])).to.deep.equal(["still here"]);
  });
});
