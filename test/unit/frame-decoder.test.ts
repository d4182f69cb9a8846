import v8 from "node:v8";
import vm from "node:vm";
import { expect } from "chai";
import { type DecodedItem, FrameDecoder } from "../../server/protocol/frame-decoder.js";

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): DecodedItem[] {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

describe("FrameDecoder (unit)", () => {
  const frame = Buffer.from('{"op":"send","rid":7,"text":"héllo 👋","to":"bob"}\n');

  it("decodes one frame split at every byte offset", () => {
    for (let cut = 0; cut <= frame.length; cut++) {
      const items = decodeAll(new FrameDecoder(1024), [frame.subarray(0, cut), frame.subarray(cut)]);
      expect(items, `cut at ${cut}`).to.deep.equal([
        { kind: "frame", value: { op: "send", rid: 7, text: "héllo 👋", to: "bob" } },
      ]);
    }
  });

  it("decodes a frame fed one byte at a time", () => {
    const decoder = new FrameDecoder(1024);
    const items = decodeAll(
      decoder,
      [...frame].map((byte) => Buffer.from([byte])),
    );
    expect(items).to.have.length(1);
  });

  it("decodes many frames in one chunk, in order", () => {
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ op: "ping", rid: i })).join("\n");
    const items = new FrameDecoder(1024).push(Buffer.from(`${lines}\n`));
    expect(items.map((item) => (item.kind === "frame" ? item.value.rid : -1))).to.deep.equal(
      Array.from({ length: 500 }, (_, i) => i),
    );
  });

  it("accepts CRLF and ignores blank lines", () => {
    const items = new FrameDecoder(1024).push(
      Buffer.from('\n\r\n  \n{"op":"ping","rid":1}\r\n\n{"op":"ping","rid":2}\n'),
    );
    expect(items).to.deep.equal([
      { kind: "frame", value: { op: "ping", rid: 1 } },
      { kind: "frame", value: { op: "ping", rid: 2 } },
    ]);
  });

  it("keeps a partial line until its end arrives", () => {
    const decoder = new FrameDecoder(1024);
    expect(decoder.push(Buffer.from('{"op":'))).to.deep.equal([]);
    expect(decoder.push(Buffer.from('"ping","rid":1}'))).to.deep.equal([]);
    expect(decoder.push(Buffer.from("\n"))).to.have.length(1);
  });

  it("refuses a line over the limit, even before its newline arrives, and then stops", () => {
    const decoder = new FrameDecoder(100);
    expect(decoder.push(Buffer.alloc(60, 0x61))).to.deep.equal([]);
    expect(decoder.push(Buffer.alloc(60, 0x61))).to.deep.equal([{ kind: "frame_too_large" }]);
    expect(decoder.push(Buffer.from('{"op":"ping","rid":1}\n'))).to.deep.equal([]);
  });

  it("refuses a complete line over the limit but accepts one exactly at it", () => {
    const atLimit = `{"op":"ping","rid":"${"x".repeat(100 - 22)}"}`;
    expect(Buffer.byteLength(atLimit)).to.equal(100);
    expect(new FrameDecoder(100).push(Buffer.from(`${atLimit}\r\n`))[0]!.kind).to.equal("frame");
    expect(new FrameDecoder(99).push(Buffer.from(`${atLimit}\n`))).to.deep.equal([
      { kind: "frame_too_large" },
    ]);
  });

  it("reports invalid UTF-8, bad JSON and non-objects as bad frames and carries on", () => {
    const decoder = new FrameDecoder(1024);
    const items = decoder.push(
      Buffer.concat([
        Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]),
        Buffer.from('{"op":\n[1,2]\n"text"\nnull\n{"op":"ping","rid":1}\n'),
      ]),
    );
    expect(items.map((item) => item.kind)).to.deep.equal([
      "bad_frame",
      "bad_frame",
      "bad_frame",
      "bad_frame",
      "bad_frame",
      "frame",
    ]);
    expect(items[0]).to.include({ reason: "the line is not valid UTF-8" });
  });

  it("holds a partial line trickled byte by byte in about one byte per byte", () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const used = () => {
      gc();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const trickled = 512 * 1024;
    const decoders = [new FrameDecoder(1024 * 1024)];
    const before = used();
    for (let i = 0; i < trickled; i++) decoders[0]!.push(Buffer.from([0x20]));
    const perByte = (used() - before) / trickled;
    // Kept alive to the measurement, as a connection keeps its decoder.
    expect(decoders[0]!.push(Buffer.from("{}\n"))).to.deep.equal([{ kind: "frame", value: {} }]);
    expect(perByte).to.be.below(4);
  });
});
