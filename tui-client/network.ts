// The socket, and nothing else: connect, write request lines, decode server lines, and
// reconnect with capped exponential backoff when the connection is lost. The only module of
// the client that touches `net`; what a lost connection means is the session's business.

import net from "node:net";
import tls from "node:tls";
import { type DecodedItem, FrameDecoder } from "../server/protocol/frame-decoder.js";

export interface NetworkOptions {
  readonly host: string;
  readonly port: number;
  /** Connect with TLS, trusting `ca` (PEM) besides the system's certificates when given. */
  readonly tls?: { readonly ca: Buffer | undefined };
  /** The first retry waits about this long; each failure doubles it, up to `maxBackoffMs`. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly connectTimeoutMs?: number;
  /** Larger than the server's request limit: a page of history can be big. */
  readonly maxFrameBytes?: number;
  readonly random?: () => number;
}

export interface NetworkListener {
  /** A connection attempt started. */
  connecting(): void;
  /** The connection is open; nothing has been written on it yet. */
  opened(): void;
  /** Lines decoded from one chunk, in order. */
  received(items: DecodedItem[]): void;
  /**
   * The connection is gone (or could not be made). `retryInMs` is when the next attempt
   * starts; undefined when the network was held or stopped and will not retry by itself.
   */
  closed(reason: string, retryInMs: number | undefined): void;
}

export const DEFAULT_NETWORK = {
  initialBackoffMs: 500,
  maxBackoffMs: 15_000,
  connectTimeoutMs: 10_000,
  maxFrameBytes: 16 * 1024 * 1024,
} as const;

/**
 * The wait before reconnect attempt `attempt` (0-based): exponential, capped, with "equal
 * jitter" so that clients dropped together by a restart do not all come back at once.
 */
export function backoffDelayMs(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export class Network {
  readonly #options: Required<NetworkOptions>;
  readonly #listener: NetworkListener;
  #socket: net.Socket | undefined;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #held = false;
  #stopped = false;
  /** Why the current socket is closing, when we chose to close it. */
  #closeReason: string | undefined;

  constructor(options: NetworkOptions, listener: NetworkListener) {
    this.#options = {
      ...DEFAULT_NETWORK,
      random: Math.random,
      ...stripUndefined(options),
    } as Required<NetworkOptions>;
    this.#listener = listener;
  }

  get isOpen(): boolean {
    return this.#socket !== undefined && this.#socket.readyState === "open";
  }

  /** True while a reconnect attempt is scheduled: the connection is lost and the backoff runs. */
  get retryPending(): boolean {
    return this.#retryTimer !== undefined;
  }

  start(): void {
    this.#connect();
  }

  /** Writes requests, one line each, in order. Dropped silently when not connected. */
  write(frames: readonly object[]): void {
    if (frames.length === 0 || !this.isOpen) return;
    this.#socket!.write(frames.map((frame) => `${JSON.stringify(frame)}\n`).join(""));
  }

  /** Closes the connection and reconnects after the backoff (a dead link, a `shutdown`). */
  drop(reason: string): void {
    if (this.#socket === undefined) return;
    this.#closeReason = reason;
    this.#socket.destroy();
  }

  /** Closes the connection and does not reconnect until `reconnectNow()`. */
  hold(reason: string): void {
    this.#held = true;
    this.#clearRetry();
    if (this.#socket !== undefined) {
      this.#closeReason = reason;
      this.#socket.destroy();
    }
  }

  /** Connects at once unless connected or connecting: ends a hold and skips a pending wait. */
  connectNow(): void {
    if (this.#socket !== undefined || this.#stopped) return;
    this.#held = false;
    this.#attempt = 0;
    this.#clearRetry();
    this.#connect();
  }

  /** Connects at once, dropping any current connection and forgetting the backoff. */
  reconnectNow(): void {
    this.#held = false;
    this.#attempt = 0;
    this.#clearRetry();
    if (this.#socket !== undefined) {
      this.#closeReason = "reconnecting";
      this.#socket.destroy();
    } else {
      this.#connect();
    }
  }

  /** The connection proved good (logged in): the next loss starts the backoff afresh. */
  resetBackoff(): void {
    this.#attempt = 0;
  }

  stop(): void {
    this.#stopped = true;
    this.#clearRetry();
    this.#socket?.destroy();
  }

  #connect(): void {
    if (this.#stopped || this.#socket !== undefined) return;
    this.#listener.connecting();
    const decoder = new FrameDecoder(this.#options.maxFrameBytes);
    const { host, port } = this.#options;
    const secure = this.#options.tls;
    const socket =
      secure === undefined
        ? net.connect({ host, port })
        : tls.connect({
            host,
            port,
            ...(secure.ca === undefined ? {} : { ca: secure.ca }),
            // SNI takes a name, never an address.
            ...(net.isIP(host) === 0 ? { servername: host } : {}),
          });
    this.#socket = socket;
    this.#closeReason = undefined;
    let failure: string | undefined;
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.connectTimeoutMs, () => {
      if (socket.connecting) {
        failure = "connection timed out";
        socket.destroy();
      }
    });
    // Over TLS the connection is usable only once the handshake is done.
    socket.on(secure === undefined ? "connect" : "secureConnect", () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      this.#listener.opened();
    });
    socket.on("data", (chunk: Buffer) => {
      const items = decoder.push(chunk);
      if (items.length > 0) this.#listener.received(items);
      if (items.some((item) => item.kind === "frame_too_large")) {
        failure = "the server sent a line too long to read";
        socket.destroy();
      }
    });
    socket.on("end", () => {
      failure ??= "the server closed the connection";
      socket.end();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      failure ??= describeError(error);
    });
    socket.on("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const reason = this.#closeReason ?? failure ?? "connection closed";
      if (this.#stopped || this.#held) {
        this.#listener.closed(reason, undefined);
        return;
      }
      if (this.#closeReason === "reconnecting") {
        this.#listener.closed(reason, 0);
        this.#connect();
        return;
      }
      const delay = backoffDelayMs(
        this.#attempt++,
        this.#options.initialBackoffMs,
        this.#options.maxBackoffMs,
        this.#options.random,
      );
      // Armed before the listener hears of it, so the listener may still call hold().
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#connect();
      }, delay);
      this.#listener.closed(reason, delay);
    });
  }

  #clearRetry(): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }
}

function describeError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "unknown host";
    case "ETIMEDOUT":
      return "connection timed out";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    default:
      return error.message;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
