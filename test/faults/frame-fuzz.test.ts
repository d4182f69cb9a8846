// Property tests of the framing layer and of every command's argument checks: the frame decoder
// on arbitrary bytes cut into arbitrary chunks, classifyFrame on arbitrary objects, and a real
// in-process server fed random requests, one per fresh connection, over a socket.

import { expect } from "chai";
import fc from "fast-check";
import { normalize } from "../../normalizer/normalize.js";
import { type DecodedItem, FrameDecoder } from "../../server/protocol/frame-decoder.js";
import { OPS } from "../../server/protocol/messages.js";
import { classifyFrame } from "../../server/protocol/request.js";
import { type Frame, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";
import {
  ARGUMENTS,
  OK_FIELDS,
  OP_ERROR_CODES,
  type RequestBody,
  requestBody,
  requestLine,
  trickyText,
} from "./fuzz-requests.js";

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
/** A small frame limit, so random input often crosses it. */
const SMALL_LIMIT = 64;

function decodeAll(decoder: FrameDecoder, chunks: readonly Buffer[]): DecodedItem[] {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

/** Cuts `bytes` at the given offsets (taken modulo its length, in any order, repeats allowed). */
function cut(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (const byte of bytes) if (byte === NEWLINE) count++;
  return count;
}

/** Byte soup that often holds line ends, JSON objects, JSON that is no object, and broken UTF-8. */
const byteSoup: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.uint8Array({ maxLength: 24 }) },
      { weight: 2, arbitrary: fc.constantFrom("\n", "\r\n", "\r", " \n", "\n\n") },
      { weight: 2, arbitrary: fc.json({ maxDepth: 2 }) },
      { weight: 1, arbitrary: fc.constantFrom('{"op":"ping","rid":1}', "\u00e9", "\u{1f600}", "{", "}") },
      {
        weight: 1,
        arbitrary: fc.constantFrom(Buffer.from([0xc3]), Buffer.from([0xff, 0xfe]), Buffer.alloc(70, 0x61)),
      },
    ),
    { maxLength: 30 },
  )
  .map((parts) =>
    Buffer.concat(
      parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : Buffer.from(part))),
    ),
  );

const cutOffsets = fc.array(fc.nat(), { maxLength: 12 });

/** A JSON object line as a client would write it, with the LF or CRLF it ends with. */
const objectLine = fc
  .tuple(
    fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })),
    fc.boolean(),
  )
  .map(([value, crlf]) => ({ text: JSON.stringify(value), ending: crlf ? "\r\n" : "\n" }));

const smallFrameLine = fc
  .record({ op: fc.constantFrom(...OPS), rid: fc.nat() })
  .map((value) => Buffer.from(`${JSON.stringify(value)}\n`));

describe("frame decoder under random input (unit)", () => {
  it("gives the same items whether the bytes come whole or in any chunks, and never throws", () => {
    fc.assert(
      fc.property(byteSoup, cutOffsets, (bytes, offsets) => {
        const whole = new FrameDecoder(SMALL_LIMIT).push(bytes);
        const chunked = decodeAll(new FrameDecoder(SMALL_LIMIT), cut(bytes, offsets));
        expect(chunked).to.deep.equal(whole);
      }),
      { numRuns: 2000 },
    );
  });

  it("never yields more frames than newlines, and frame_too_large only last and then nothing", () => {
    fc.assert(
      fc.property(byteSoup, cutOffsets, byteSoup, (bytes, offsets, more) => {
        const decoder = new FrameDecoder(SMALL_LIMIT);
        const items = decodeAll(decoder, cut(bytes, offsets));
        const lines = items.filter((item) => item.kind !== "frame_too_large");
        expect(lines.length).to.be.at.most(countNewlines(bytes));
        const fatal = items.findIndex((item) => item.kind === "frame_too_large");
        if (fatal !== -1) {
          expect(fatal).to.equal(items.length - 1);
          expect(decoder.push(more)).to.deep.equal([]);
          expect(decoder.push(Buffer.from('{"op":"ping","rid":1}\n'))).to.deep.equal([]);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips any JSON object line, in any chunks, up to exactly the limit", () => {
    fc.assert(
      fc.property(
        objectLine,
        cutOffsets,
        fc.constantFrom("", "\n", "  \r\n"),
        ({ text, ending }, offsets, blank) => {
          const bytes = Buffer.from(`${blank}${text}${ending}${blank}`);
          const size = Buffer.byteLength(text);
          // The limit counts the line without its ending: a line of exactly the limit passes.
          const items = decodeAll(new FrameDecoder(size), cut(bytes, offsets));
          expect(items).to.have.length(1);
          const [item] = items;
          expect(item!.kind).to.equal("frame");
          const value = (item as { value: unknown }).value;
          expect(value).to.deep.equal(JSON.parse(text));
          expect(JSON.stringify(value)).to.equal(text);
          // One byte less and it is refused.
          expect(decodeAll(new FrameDecoder(size - 1), cut(bytes, offsets))).to.deep.equal([
            { kind: "frame_too_large" },
          ]);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("answers a line over the limit with frame_too_large, after the frames before it, then nothing", () => {
    const overLimit = fc
      .tuple(
        fc.integer({ min: SMALL_LIMIT + 1, max: 4 * SMALL_LIMIT }),
        fc.uint8Array({ minLength: 4 * SMALL_LIMIT, maxLength: 4 * SMALL_LIMIT }),
      )
      .map(([length, random]) => {
        const line = Buffer.from(random.subarray(0, length)).map((byte) => (byte === NEWLINE ? 0x61 : byte));
        // A CR before the newline is not part of the line: keep the line over the limit.
        if (line[line.length - 1] === CARRIAGE_RETURN) line[line.length - 1] = 0x61;
        return line;
      });
    fc.assert(
      fc.property(
        fc.array(smallFrameLine, { maxLength: 3 }),
        overLimit,
        fc.boolean(),
        fc.array(smallFrameLine, { maxLength: 3 }),
        cutOffsets,
        (before, line, newline, after, offsets) => {
          const bytes = Buffer.concat([...before, line, ...(newline ? [Buffer.from("\n"), ...after] : [])]);
          const decoder = new FrameDecoder(SMALL_LIMIT);
          const items = decodeAll(decoder, cut(bytes, offsets));
          const frames = items.filter((item) => item.kind === "frame");
          expect(frames).to.have.length(before.length);
          // Without its newline, a line is refused once it holds more than the limit plus a CR.
          const refused = newline || line.length > SMALL_LIMIT + 1;
          expect(items.slice(before.length)).to.deep.equal(refused ? [{ kind: "frame_too_large" }] : []);
          if (refused) expect(decoder.push(Buffer.concat([...after, ...before]))).to.deep.equal([]);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

/** A usable rid as the protocol defines it; undefined when the string's length is ambiguous. */
function ridIsUsable(value: unknown): boolean | undefined {
  if (typeof value === "string") {
    const units = value.length;
    const codePoints = [...value].length;
    if (units <= 64) return true;
    return codePoints <= 64 ? undefined : false;
  }
  return Number.isSafeInteger(value);
}

const anyOpValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...OPS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const anyRidValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.string({ maxLength: 70 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, 1.5, -0, "r".repeat(64), "r".repeat(65)),
  },
);

describe("classifyFrame under random objects (unit)", () => {
  it("classifies every object as a request or a bad_frame/unknown_op, as the protocol says", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
        fc.option(anyOpValue, { nil: undefined }),
        fc.option(anyRidValue, { nil: undefined }),
        (extra, op, rid) => {
          const value: Record<string, unknown> = { ...extra };
          if (op !== undefined) value.op = op;
          if (rid !== undefined) value.rid = rid;
          const result = classifyFrame(value);
          const usable = ridIsUsable(value.rid) ?? result.kind === "request";
          const echoed = usable ? value.rid : undefined;
          if (typeof value.op !== "string") {
            expect(result).to.deep.include({ kind: "error", code: "bad_frame", rid: echoed });
          } else if (!(OPS as readonly string[]).includes(value.op)) {
            expect(result).to.deep.include({ kind: "error", code: "unknown_op", rid: echoed });
          } else if (!usable && value.op !== "ack") {
            expect(result).to.deep.include({ kind: "error", code: "bad_frame", rid: undefined });
          } else {
            expect(result).to.deep.equal({
              kind: "request",
              request: { op: value.op, rid: echoed, args: value },
            });
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("every command under random arguments (integration)", () => {
  let server: TestServer;
  const USERS = ["fz", "alice", "bob", "ghost"];
  let fzRegistered = false;

  const register = async (user: string) => {
    const client = await TestClient.connect(server.port);
    try {
      const response = await client.request("register", { user, password: PASSWORD });
      if (!response.ok && response.error.code !== "user_exists") throw new Error(JSON.stringify(response));
    } finally {
      client.destroy();
    }
  };

  interface Exchange {
    /** Every frame received after the request was written, the ping's response excepted. */
    readonly frames: Frame[];
    /** The ping sent after the request was answered: the connection is still open. */
    readonly answeredPing: boolean;
    readonly closed: boolean;
  }

  /** Writes `line` on a fresh connection (logged in as fz, or not), then a ping barrier. */
  async function exchange(line: string, logIn: boolean): Promise<Exchange> {
    if (logIn && !fzRegistered) {
      await register("fz");
      fzRegistered = true;
    }
    const client = await TestClient.connect(server.port);
    try {
      if (logIn) await client.ok("login", { user: "fz", password: PASSWORD });
      const start = client.received.length;
      client.write(line);
      // A rid of its own: the client's counter (1, 2, …) could collide with the random line's.
      const ping = "barrier-ping-after-the-random-line";
      client.write(`${JSON.stringify({ op: "ping", rid: ping })}\n`);
      const answeredPing = await client.waitForResponse(ping, 10_000).then(
        () => true,
        (error: Error) => {
          if (!client.isClosed) throw error;
          return false;
        },
      );
      const frames = client.received.slice(start).filter((frame) => frame.rid !== ping);
      return { frames, answeredPing, closed: client.isClosed };
    } finally {
      client.destroy();
    }
  }

  function checkResponse(body: RequestBody, response: Frame | undefined): void {
    const context = `${body.op} ${JSON.stringify(body.fields)} -> ${JSON.stringify(response)}`;
    if (body.op === "ack") {
      expect(response, `ack is never answered: ${context}`).to.equal(undefined);
      return;
    }
    expect(response, context).to.not.equal(undefined);
    if (response!.ok === true) {
      for (const field of OK_FIELDS[body.op]) expect(response, context).to.have.property(field);
      return;
    }
    expect(response!.ok, context).to.equal(false);
    expect(OP_ERROR_CODES[body.op], context).to.include(response!.error.code);
    expect(response!.error.message, context).to.be.a("string").and.not.equal("");
  }

  before(async () => {
    // Random log-ins fail often; the throttle is not what this test is about.
    server = await startTestServer({ loginFailuresPerUserPerMin: 1e9, loginFailuresPerAddressPerMin: 1e9 });
    await register("alice");
    await register("bob");
  });
  after(async () => {
    await server.stop();
  });

  for (const op of OPS) {
    const shown = ARGUMENTS[op].length === 0 ? "(no arguments)" : ARGUMENTS[op].join(", ");
    it(`${op} ${shown}: one response, ok or one of its own codes, and the connection stays open`, async () => {
      await fc.assert(
        fc.asyncProperty(requestBody(op, USERS), fc.boolean(), async (body, logIn) => {
          const result = await exchange(requestLine(body, "q"), logIn);
          const context = `${op} ${JSON.stringify(body.fields)} logged in: ${logIn}`;
          const errors = result.frames.filter((frame) => frame.ev === "error");
          expect(errors, context).to.deep.equal([]);
          const responses = result.frames.filter((frame) => "ok" in frame);
          expect(responses.length, `${context}: ${JSON.stringify(responses)}`).to.be.at.most(1);
          const response = responses[0];
          if (response !== undefined) expect(response.rid, context).to.equal("q");
          checkResponse(body, response);
          // Only a successful logout or unregister ends the connection.
          const ends = (op === "logout" || op === "unregister") && response?.ok === true;
          expect(result.answeredPing, context).to.equal(!ends);
          expect(result.closed, context).to.equal(ends);
          if (op === "unregister" && ends) fzRegistered = false;
        }),
        { numRuns: 60 },
      );
    });
  }

  it("answers any JSON object line with its response or a bad_frame/unknown_op, and stays open", async () => {
    const line = fc
      .tuple(
        fc.option(anyOpValue, { nil: undefined }),
        fc.option(anyRidValue, { nil: undefined }),
        fc.constantFrom(...OPS).chain((op) => requestBody(op, USERS)),
      )
      .map(([op, rid, body]) => {
        const fields = [...body.fields];
        if (op !== undefined) fields.unshift(["op", JSON.stringify(op)]);
        if (rid !== undefined) fields.unshift(["rid", JSON.stringify(rid)]);
        return `{${fields.map(([name, text]) => `${JSON.stringify(name)}:${text}`).join(",")}}\n`;
      });
    await fc.assert(
      fc.asyncProperty(line, async (text) => {
        const value = JSON.parse(text) as Record<string, unknown>;
        const result = await exchange(text, false);
        expect(result.answeredPing, text).to.equal(true);
        const usable = ridIsUsable(value.rid);
        const op = value.op;
        const known = typeof op === "string" && (OPS as readonly string[]).includes(op);
        const said = result.frames.filter((frame) => "ok" in frame || frame.ev === "error");
        if (op === "ack") {
          expect(said, text).to.deep.equal([]);
          return;
        }
        expect(said, text).to.have.length(1);
        const [frame] = said;
        if (known && usable !== false && "ok" in frame!) {
          expect(frame.rid, text).to.deep.equal(value.rid);
          checkResponse({ op: op as (typeof OPS)[number], fields: [] }, frame);
          return;
        }
        const code = typeof op !== "string" || known ? "bad_frame" : "unknown_op";
        if (usable === false || (usable === undefined && frame!.ev === "error")) {
          expect(frame, text).to.deep.include({ ev: "error", code });
        } else {
          expect(frame, text).to.deep.include({ rid: value.rid, ok: false });
          expect(frame!.error.code, text).to.equal(code);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** The text's characters outside printable ASCII, as U+XXXX, for failure messages. */
function codePoints(text: string): string {
  const shown = [...text].map((char) =>
    /^[\x20-\x7e]$/.test(char)
      ? char
      : `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} `,
  );
  return JSON.stringify(shown.join(""));
}

describe("texts that send accepts (integration)", () => {
  let server: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    server = await startTestServer();
    for (const user of ["alice", "bob"]) {
      const client = await TestClient.connect(server.port);
      await client.ok("register", { user, password: PASSWORD });
      client.destroy();
    }
    alice = await TestClient.connect(server.port);
    await alice.ok("login", { user: "alice", password: PASSWORD });
    bob = await TestClient.connect(server.port);
    await bob.ok("login", { user: "bob", password: PASSWORD });
  });
  after(async () => {
    alice.destroy();
    bob.destroy();
    await server.stop();
  });

  it("delivers every text it accepted, normalized, to its recipient", async () => {
    let cid = 0;
    await fc.assert(
      fc.asyncProperty(trickyText, async (text) => {
        const response = await alice.request("send", { to: "bob", text, cid: String(++cid) });
        if (!response.ok) return;
        const message = await bob
          .expectEvent((event) => event.ev === "message", 5000)
          .catch(() => {
            throw new Error(`send answered ok (id ${response.id}) but nothing arrived: ${codePoints(text)}`);
          });
        bob.ack(message.seq);
        expect(message).to.deep.include({ id: response.id, from: "alice", text: normalize(text) });
      }),
      {
        numRuns: 200,
        // A message the server cannot deliver may stop every later one, so each failure after
        // the first would say nothing about its own input: stop at the first, do not shrink.
        endOnFailure: true,
        // Always tried first: the edges of the text rules and of what XML 1.0 can carry.
        examples: [
          ["plain"],
          ["\u0085 next line \u2028 line separator"],
          ["\ufeff byte order mark"],
          ["<![CDATA[ markup ]]> &amp;"],
          ["\u{10ffff} last code point"],
          ["\ufffd replacement"],
          ["\ufffe noncharacter"],
          ["\uffff noncharacter"],
        ],
      },
    );
  });
});
