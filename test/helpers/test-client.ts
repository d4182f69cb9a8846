// A protocol client for tests: request() matches responses by rid, expectEvent() waits for a
// pushed event (with a deadline) instead of sleeping, roundtrip() is a ping barrier.

import net from "node:net";
import tls from "node:tls";
import { FrameDecoder } from "../../server/protocol/frame-decoder.js";

export type Frame = Record<string, any>;

interface EventWaiter {
  predicate: (event: Frame) => boolean;
  resolve: (event: Frame) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 5000;

export class TestClient {
  readonly socket: net.Socket;
  /** Pushed events not yet taken by expectEvent, in arrival order. */
  readonly events: Frame[] = [];
  /** Every frame received, in arrival order. */
  readonly received: Frame[] = [];
  readonly closed: Promise<void>;
  readonly #decoder = new FrameDecoder(64 * 1024 * 1024);
  readonly #responses = new Map<
    string,
    { resolve: (frame: Frame) => void; reject: (error: Error) => void }
  >();
  /** Responses that arrived before anyone waited for them. */
  readonly #unclaimed = new Map<string, Frame>();
  readonly #eventWaiters: EventWaiter[] = [];
  #nextRid = 1;
  #isClosed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      for (const item of this.#decoder.push(chunk)) {
        if (item.kind === "frame") this.#onFrame(item.value);
        else throw new Error(`server sent an undecodable line: ${JSON.stringify(item)}`);
      }
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.#isClosed = true;
        for (const waiter of this.#responses.values())
          waiter.reject(new Error("connection closed before the response"));
        this.#responses.clear();
        for (const waiter of this.#eventWaiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error("connection closed while waiting for an event"));
        }
        resolve();
      }),
    );
  }

  /** `localAddress` (another 127.x address) makes the client a second client address. */
  static connect(port: number, host = "127.0.0.1", localAddress?: string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, localAddress }, () => {
        socket.off("error", reject);
        resolve(new TestClient(socket));
      });
      socket.once("error", reject);
    });
  }

  /** Connects over TLS, trusting `ca` (the test's self-signed certificate). */
  static connectTls(port: number, ca: Buffer, host = "127.0.0.1"): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ port, host, ca, servername: "localhost" }, () => {
        socket.off("error", reject);
        resolve(new TestClient(socket));
      });
      socket.once("error", reject);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Sends a request with a fresh rid (unless one is given) and resolves with its response. */
  request(op: string, args: Frame = {}): Promise<Frame> {
    const rid = args.rid ?? this.#nextRid++;
    const response = this.waitForResponse(rid);
    this.write(`${JSON.stringify({ op, rid, ...args })}\n`);
    return response;
  }

  /** Like request(), but fails the test unless the response is ok. */
  async ok(op: string, args: Frame = {}): Promise<Frame> {
    const response = await this.request(op, args);
    if (response.ok !== true) throw new Error(`${op} failed: ${JSON.stringify(response.error)}`);
    return response;
  }

  waitForResponse(rid: string | number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Frame> {
    const early = this.#unclaimed.get(String(rid));
    if (early !== undefined) {
      this.#unclaimed.delete(String(rid));
      return Promise.resolve(early);
    }
    if (this.#isClosed) return Promise.reject(new Error("connection is closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no response to rid ${rid} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#responses.set(String(rid), {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /** Sends a request without waiting (pipelining); returns its rid. */
  fire(op: string, args: Frame = {}): number {
    const rid = this.#nextRid++;
    this.write(`${JSON.stringify({ op, rid, ...args })}\n`);
    return rid;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  ack(upTo: number): void {
    this.write(`${JSON.stringify({ op: "ack", upTo })}\n`);
  }

  /** A ping: once answered, every earlier request has been answered. */
  async roundtrip(): Promise<void> {
    await this.ok("ping");
  }

  /** Takes the first event (already received or still to come) that matches. */
  expectEvent(predicate: (event: Frame) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Frame> {
    const index = this.events.findIndex(predicate);
    if (index !== -1) return Promise.resolve(this.events.splice(index, 1)[0]!);
    if (this.#isClosed) return Promise.reject(new Error("connection is closed"));
    return new Promise((resolve, reject) => {
      const waiter: EventWaiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#eventWaiters.splice(this.#eventWaiters.indexOf(waiter), 1);
          reject(
            new Error(
              `no matching event within ${timeoutMs} ms; unclaimed: ${JSON.stringify(this.events.slice(-5))}`,
            ),
          );
        }, timeoutMs),
      };
      this.#eventWaiters.push(waiter);
    });
  }

  /** Collects `count` message events, acknowledging each batch as it arrives. */
  async collectMessages(
    count: number,
    options: { ack?: boolean; timeoutMs?: number } = {},
  ): Promise<Frame[]> {
    const messages: Frame[] = [];
    while (messages.length < count) {
      const event = await this.expectEvent(
        (e) => e.ev === "message",
        options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
      messages.push(event);
      if (options.ack !== false) this.ack(event.seq);
    }
    return messages;
  }

  end(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onFrame(frame: Frame): void {
    this.received.push(frame);
    if ("rid" in frame && "ok" in frame) {
      const waiter = this.#responses.get(String(frame.rid));
      if (waiter !== undefined) {
        this.#responses.delete(String(frame.rid));
        waiter.resolve(frame);
      } else {
        this.#unclaimed.set(String(frame.rid), frame);
      }
      return;
    }
    const waiter = this.#eventWaiters.find((w) => w.predicate(frame));
    if (waiter !== undefined) {
      this.#eventWaiters.splice(this.#eventWaiters.indexOf(waiter), 1);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
      return;
    }
    this.events.push(frame);
  }
}

export const PASSWORD = "correct horse battery";

/**
 * Registers `user` (ignoring user_exists) and logs in on a new connection, as `device` when one is
 * given (protocol version 2) and as the default device otherwise.
 */
export async function loggedIn(
  port: number,
  user: string,
  password = PASSWORD,
  device?: string,
): Promise<TestClient> {
  const client = await TestClient.connect(port);
  const registered = await client.request("register", { user, password });
  if (!registered.ok && registered.error.code !== "user_exists") {
    throw new Error(`register ${user}: ${JSON.stringify(registered.error)}`);
  }
  await client.ok("login", device === undefined ? { user, password } : { user, password, device });
  return client;
}
