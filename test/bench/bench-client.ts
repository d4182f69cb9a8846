// A lean protocol client for the load generators: the server's own frame decoder, integer rids
// matched to callbacks, and every frame written in one tick leaving in one write. Events go to
// one handler; `onBatchEnd` runs after each chunk of input, which is where clients ack.

import net from "node:net";
import { FrameDecoder } from "../../server/protocol/frame-decoder.js";

export type Frame = Record<string, any>;

const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 15_000;

export class BenchConnection {
  readonly socket: net.Socket;
  /** Pushed events (frames without a rid), in arrival order. */
  onEvent: (event: Frame) => void = () => {};
  /** After every chunk of input has been handled. */
  onBatchEnd: () => void = () => {};
  readonly closed: Promise<void>;
  /** Bytes received since mute(). */
  mutedBytes = 0;
  readonly #decoder = new FrameDecoder(MAX_FRAME_BYTES);
  readonly #pending = new Map<number, (response: Frame) => void>();
  #out: string[] = [];
  #flushScheduled = false;
  #nextRid = 1;
  #isClosed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.#isClosed = true;
        const closedFrame = { ok: false, error: { code: "closed", message: "connection closed" } };
        for (const callback of this.#pending.values()) callback(closedFrame);
        this.#pending.clear();
        resolve();
      }),
    );
  }

  /** `localAddress` (another 127.x.y.z) makes the connection look like another client machine. */
  static connect(port: number, host = "127.0.0.1", localAddress?: string): Promise<BenchConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(localAddress === undefined ? { port, host } : { port, host, localAddress });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, CONNECT_TIMEOUT_MS);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", onError);
        resolve(new BenchConnection(socket));
      });
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once("error", onError);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** Sends a request; `callback` gets its response (or a synthetic error if the connection closes). */
  fire(op: string, args: Frame, callback: (response: Frame) => void): void {
    if (this.#isClosed) {
      callback({ ok: false, error: { code: "closed", message: "connection closed" } });
      return;
    }
    const rid = this.#nextRid++;
    this.#pending.set(rid, callback);
    this.write(JSON.stringify({ op, rid, ...args }));
  }

  request(op: string, args: Frame = {}): Promise<Frame> {
    return new Promise((resolve) => this.fire(op, args, resolve));
  }

  /** Like request(), but rejects unless the response is ok. */
  async ok(op: string, args: Frame = {}): Promise<Frame> {
    const response = await this.request(op, args);
    if (response.ok !== true) throw new Error(`${op} failed: ${JSON.stringify(response.error)}`);
    return response;
  }

  ack(upTo: number): void {
    this.write(`{"op":"ack","upTo":${upTo}}`);
  }

  /** Queues one line (without its newline); the tick's lines leave in one write. */
  write(line: string): void {
    this.#out.push(line);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(() => {
      this.#flushScheduled = false;
      const lines = this.#out;
      this.#out = [];
      if (!this.#isClosed) this.socket.write(`${lines.join("\n")}\n`);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Stops decoding input, only counting it: for idle connections, which still receive every
   * presence event and would otherwise spend the generator's CPU parsing them.
   */
  mute(): void {
    this.socket.removeAllListeners("data");
    this.socket.on("data", (chunk: Buffer) => {
      this.mutedBytes += chunk.length;
    });
  }

  #onData(chunk: Buffer): void {
    for (const item of this.#decoder.push(chunk)) {
      if (item.kind !== "frame") throw new Error(`server sent an undecodable line: ${JSON.stringify(item)}`);
      const frame = item.value as Frame;
      const rid = frame.rid;
      if (typeof rid === "number") {
        const callback = this.#pending.get(rid);
        if (callback !== undefined) {
          this.#pending.delete(rid);
          callback(frame);
        }
      } else {
        this.onEvent(frame);
      }
    }
    this.onBatchEnd();
  }
}

/**
 * Acks the highest inbox seq seen, once per chunk of input: every event gets acknowledged. With
 * `each`, every event gets its own ack frame as it is handled (what a broker's consumer does
 * with one basic.ack or PUBACK per message), not one cumulative ack per chunk.
 */
export class Acker {
  #highest = 0;
  #acked = 0;

  constructor(
    readonly connection: BenchConnection,
    readonly each = false,
  ) {}

  saw(seq: number): void {
    if (seq > this.#highest) this.#highest = seq;
    if (this.each) this.flush();
  }

  flush(): void {
    if (this.#highest > this.#acked) {
      this.#acked = this.#highest;
      this.connection.ack(this.#highest);
    }
  }
}

export const BENCH_PASSWORD = "bench-password-1";

/** Connects and registers `user` (tolerating user_exists), then logs in. */
export async function connectAndLogin(
  port: number,
  user: string,
  options: { register: boolean } = { register: true },
): Promise<BenchConnection> {
  const connection = await BenchConnection.connect(port);
  if (options.register) {
    const registered = await connection.request("register", { user, password: BENCH_PASSWORD });
    if (registered.ok !== true && registered.error?.code !== "user_exists") {
      throw new Error(`register ${user} failed: ${JSON.stringify(registered.error)}`);
    }
  }
  await connection.ok("login", { user, password: BENCH_PASSWORD });
  return connection;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A text of exactly `bytes` ASCII bytes that starts with `head` and survives normalization. */
export function padText(head: string, bytes: number): string {
  return head.length >= bytes ? head : `${head} ${"x".repeat(bytes - head.length - 1)}`;
}
