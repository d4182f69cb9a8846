// An incremental decoder for newline-delimited JSON frames. Pure: bytes in, decoded items
// out, no socket in sight, so it can be tested by splitting input at every byte offset.

export type DecodedItem =
  | { kind: "frame"; value: Record<string, unknown> }
  /** A line that is not UTF-8 JSON or not an object: the connection carries on. */
  | { kind: "bad_frame"; reason: string; value?: unknown }
  /** A line over the limit: fatal, the decoder refuses further input. */
  | { kind: "frame_too_large" };

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const EMPTY = Buffer.alloc(0);
const FIRST_CAPACITY = 256;

export class FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #utf8 = new TextDecoder("utf-8", { fatal: true });
  // The partial line so far, in one buffer that grows by doubling: a line trickled a byte at a
  // time costs about a byte per byte, not a Buffer object per chunk.
  #pending = EMPTY;
  #pendingBytes = 0;
  #failed = false;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Feeds a chunk; returns every item it completes, in order. */
  push(chunk: Buffer): DecodedItem[] {
    if (this.#failed) return [];
    const items: DecodedItem[] = [];
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) break;
      const piece = chunk.subarray(start, newline);
      start = newline + 1;
      let line: Buffer;
      if (this.#pendingBytes > 0) {
        if (!this.#append(piece)) {
          items.push({ kind: "frame_too_large" });
          return items;
        }
        line = this.#pending.subarray(0, this.#pendingBytes);
        // Let go of the buffer: a connection that sent one long line must not keep its size.
        this.#pending = EMPTY;
        this.#pendingBytes = 0;
      } else {
        line = piece;
      }
      const item = this.#decodeLine(line);
      if (item === undefined) continue;
      items.push(item);
      if (item.kind === "frame_too_large") return items;
    }
    // Copied: the caller may reuse its buffer, and a partial line can outlive this call.
    if (start < chunk.length && !this.#append(chunk.subarray(start))) items.push({ kind: "frame_too_large" });
    return items;
  }

  /**
   * Adds bytes to the partial line; false, with the decoder failed, when the line would outgrow
   * the limit: it is refused before its end arrives, so a peer cannot make us buffer without
   * bound. The +1 leaves room for a CR.
   */
  #append(bytes: Buffer): boolean {
    const needed = this.#pendingBytes + bytes.length;
    if (needed > this.#maxFrameBytes + 1) {
      this.#fail();
      return false;
    }
    if (needed > this.#pending.length) {
      let capacity = Math.max(FIRST_CAPACITY, this.#pending.length * 2);
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(Math.min(capacity, this.#maxFrameBytes + 1));
      this.#pending.copy(grown, 0, 0, this.#pendingBytes);
      this.#pending = grown;
    }
    bytes.copy(this.#pending, this.#pendingBytes);
    this.#pendingBytes = needed;
    return true;
  }

  #decodeLine(raw: Buffer): DecodedItem | undefined {
    const line = raw.length > 0 && raw[raw.length - 1] === CARRIAGE_RETURN ? raw.subarray(0, -1) : raw;
    if (line.length > this.#maxFrameBytes) {
      this.#fail();
      return { kind: "frame_too_large" };
    }
    let text: string;
    try {
      text = this.#utf8.decode(line);
    } catch {
      return { kind: "bad_frame", reason: "the line is not valid UTF-8" };
    }
    if (text.trim() === "") return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { kind: "bad_frame", reason: "the line is not valid JSON" };
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return { kind: "bad_frame", reason: "a frame must be a JSON object", value };
    }
    return { kind: "frame", value: value as Record<string, unknown> };
  }

  #fail(): void {
    this.#failed = true;
    this.#pending = EMPTY;
    this.#pendingBytes = 0;
  }
}
