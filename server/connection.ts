// One client connection: socket bytes in through the frame decoder to the request handler,
// and every outgoing frame out through send(), the single write path.
//
// Requests may be pipelined. Responses are written in request order even when later requests
// finish first, and a "barrier" request (anything that reads or changes session state) waits
// for every earlier request to finish and holds later ones until it has, so effects happen
// in arrival order.

import type { Socket } from "node:net";
import type { ServerSettings } from "./config.js";
import type { Session } from "./delivery/session.js";
import type { Logger } from "./logger.js";
import { FrameDecoder } from "./protocol/frame-decoder.js";
import { encodeFrame } from "./protocol/frame-encoder.js";
import type { ErrorCode, ServerEvent, ServerFrame } from "./protocol/messages.js";
import { classifyFrame, type Request } from "./protocol/request.js";

export type ConnectionSettings = Pick<
  ServerSettings,
  | "maxFrameBytes"
  | "maxBufferedBytes"
  | "drainTimeoutMs"
  | "idleTimeoutMs"
  | "maxQueuedRequests"
  | "loginTimeoutMs"
>;

/** What handling one request produced. */
export interface Outcome {
  /** The response, or nothing (ack). */
  readonly frame?: ServerFrame;
  /** Runs right after the response is written: work that must follow it on the wire. */
  readonly after?: () => void;
  /** Close the connection once the response is written. */
  readonly closeReason?: string;
}

export interface RequestHandler {
  /** A barrier runs alone: after every earlier request of its connection has finished. */
  isBarrier(request: Request): boolean;
  /** True for a request during which reading pauses while the handler is congested (a send). */
  mayHoldReading(request: Request): boolean;
  /** True while requests that may hold reading must hold it (the intake's window is full). */
  readonly congested: boolean;
  handle(connection: Connection, request: Request): Promise<Outcome>;
}

/** Output buffered past this pauses pushing and reading until the socket drains. */
const OUTPUT_HIGH_WATER_BYTES = 256 * 1024;
/** Bad frames in a row after which the connection is closed. */
const MAX_BAD_FRAMES_IN_A_ROW = 10;
/** A closing socket that does not flush within this is destroyed. */
const CLOSE_FLUSH_MS = 2000;

type State = "open" | "closing" | "closed";

interface Slot {
  done: boolean;
  outcome: Outcome;
}

export class Connection {
  readonly id: number;
  readonly remoteAddress: string;
  readonly log: Logger;
  readonly #socket: Socket;
  readonly #settings: ConnectionSettings;
  readonly #handler: RequestHandler;
  readonly #decoder: FrameDecoder;
  #state: State = "open";
  /** The logged-in device's session: set by login, the one owner of log-in state. */
  session: Session | undefined;

  readonly #waiting: Request[] = [];
  readonly #slots: Slot[] = [];
  #running = 0;
  /** Requests in progress during which a congested handler pauses reading (sends). */
  #holdingRunning = 0;
  #barrierRunning = false;
  #badFramesInARow = 0;
  #peerEnded = false;
  #draining = false;
  #readingPaused = false;
  #corked = false;
  readonly #connectedAtMs: number;
  /** When the last complete line arrived: half a line does not keep a connection alive. */
  #lastHeardMs: number;
  #blockedSinceMs: number | undefined;
  readonly #closeListeners: Array<(reason: string) => void> = [];
  readonly #writableListeners: Array<() => void> = [];

  constructor(
    id: number,
    socket: Socket,
    settings: ConnectionSettings,
    handler: RequestHandler,
    log: Logger,
  ) {
    this.id = id;
    this.#socket = socket;
    this.#settings = settings;
    this.#handler = handler;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    this.log = log;
    this.#decoder = new FrameDecoder(settings.maxFrameBytes);
    this.#connectedAtMs = Date.now();
    this.#lastHeardMs = this.#connectedAtMs;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.#onPeerEnd());
    socket.on("drain", () => this.#onDrain());
    socket.on("error", (error) => this.log.debug("socket error", { error: error.message }));
    socket.on("close", () => this.#onSocketClosed());
  }

  get state(): State {
    return this.#state;
  }

  /** True while output is not backed up: the inbox pusher checks it before pushing more. */
  get canPush(): boolean {
    return this.#state === "open" && this.#blockedSinceMs === undefined;
  }

  onClose(listener: (reason: string) => void): void {
    this.#closeListeners.push(listener);
  }

  onWritable(listener: () => void): () => void {
    this.#writableListeners.push(listener);
    return () => {
      const index = this.#writableListeners.indexOf(listener);
      if (index >= 0) this.#writableListeners.splice(index, 1);
    };
  }

  /** The single write path. Frames written in one turn of the event loop leave in one system call. */
  send(frame: ServerFrame): void {
    this.sendEncoded(encodeFrame(frame));
  }

  /** The same write path for frames already encoded (one broadcast, encoded once). */
  sendEncoded(lines: string): void {
    if (this.#state === "closed" || this.#socket.destroyed) return;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      // Uncorked once the event loop has run this turn's callbacks: every frame a connection
      // gets in one turn (answers, pushed events, receipts) leaves in one system call.
      setImmediate(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(lines);
    const buffered = this.#socket.writableLength;
    if (buffered > this.#settings.maxBufferedBytes) {
      this.#dropSlowReader(`output buffer over ${this.#settings.maxBufferedBytes} bytes`);
    } else if (buffered > OUTPUT_HIGH_WATER_BYTES && this.#blockedSinceMs === undefined) {
      this.#blockedSinceMs = Date.now();
      this.#updateReading();
    }
  }

  /**
   * Closes once: an optional last event, then the socket. Every path that ends a connection
   * (error, peer close, timeouts, logout, replacement, shutdown) comes through here.
   */
  close(reason: string, lastEvent?: ServerEvent): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.log.info("connection closing", { reason });
    if (lastEvent !== undefined) this.send(lastEvent);
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), CLOSE_FLUSH_MS).unref();
    this.#notifyClosed(reason);
  }

  /** Stops taking requests, answers those in progress, then closes. Used by shutdown. */
  drainAndClose(reason: string, lastEvent: ServerEvent): void {
    if (this.#state !== "open") return;
    this.send(lastEvent);
    this.#draining = true;
    this.#waiting.length = 0;
    this.#updateReading();
    this.#closeIfDone(reason);
  }

  /** Called by the server's one housekeeping timer: log-in, idle and stalled-output deadlines. */
  checkDeadlines(nowMs: number): void {
    if (this.#state !== "open") return;
    if (this.#blockedSinceMs !== undefined && nowMs - this.#blockedSinceMs > this.#settings.drainTimeoutMs) {
      this.#dropSlowReader(`output blocked for over ${this.#settings.drainTimeoutMs} ms`);
    } else if (this.session === undefined && nowMs - this.#connectedAtMs > this.#settings.loginTimeoutMs) {
      this.close("log-in timeout", this.#errorEvent("login_timeout", "log in sooner after connecting"));
    } else if (nowMs - this.#lastHeardMs > this.#settings.idleTimeoutMs) {
      this.close(
        "idle timeout",
        this.#errorEvent("idle_timeout", "nothing received for too long; ping to stay connected"),
      );
    }
  }

  #dropSlowReader(why: string): void {
    this.log.warn("disconnecting slow reader", { why });
    // Its unacknowledged events stay in its inbox for its next session.
    this.#state = "closing";
    this.#socket.destroy();
    this.#notifyClosed("slow reader");
  }

  #onData(chunk: Buffer): void {
    if (this.#state !== "open" || this.#draining) return;
    const items = this.#decoder.push(chunk);
    if (items.length > 0) this.#lastHeardMs = Date.now();
    for (const item of items) {
      if (item.kind === "frame_too_large") {
        this.close(
          "frame too large",
          this.#errorEvent("frame_too_large", `a line exceeded ${this.#settings.maxFrameBytes} bytes`),
        );
        return;
      }
      const classified =
        item.kind === "frame"
          ? classifyFrame(item.value)
          : { kind: "error" as const, code: "bad_frame" as const, message: item.reason, rid: undefined };
      if (classified.kind === "request") {
        this.#badFramesInARow = 0;
        this.#waiting.push(classified.request);
        continue;
      }
      this.#badFramesInARow++;
      const { code, message, rid } = classified;
      const frame: ServerFrame =
        rid === undefined ? this.#errorEvent(code, message) : { rid, ok: false, error: { code, message } };
      if (this.#badFramesInARow >= MAX_BAD_FRAMES_IN_A_ROW) {
        this.#slots.push({ done: true, outcome: { frame } });
        this.#slots.push({
          done: true,
          outcome: {
            frame: this.#errorEvent("too_many_errors", "too many bad frames in a row"),
            closeReason: "too many errors",
          },
        });
        this.#waiting.length = 0;
        this.#draining = true;
        break;
      }
      this.#slots.push({ done: true, outcome: { frame } });
    }
    this.#dispatch();
    this.#flushSlots();
    this.#updateReading();
  }

  #dispatch(): void {
    while (this.#waiting.length > 0 && this.#state === "open") {
      const request = this.#waiting[0]!;
      const barrier = this.#handler.isBarrier(request);
      if (this.#barrierRunning || (barrier && this.#running > 0)) return;
      this.#waiting.shift();
      const slot: Slot = { done: false, outcome: {} };
      this.#slots.push(slot);
      this.#running++;
      const holding = this.#handler.mayHoldReading(request);
      if (holding) this.#holdingRunning++;
      if (barrier) this.#barrierRunning = true;
      this.#handler.handle(this, request).then(
        (outcome) => this.#finish(slot, outcome, barrier, holding),
        (error: unknown) => {
          // The handler turns every failure into an outcome; reaching here is a bug.
          this.log.error("request handler failed", { error: String(error) });
          this.#finish(slot, { closeReason: "internal error" }, barrier, holding);
        },
      );
    }
  }

  #finish(slot: Slot, outcome: Outcome, barrier: boolean, holding: boolean): void {
    slot.done = true;
    slot.outcome = outcome;
    this.#running--;
    if (holding) this.#holdingRunning--;
    if (barrier) this.#barrierRunning = false;
    this.#flushSlots();
    this.#dispatch();
    this.#updateReading();
    this.#closeIfDone(this.#peerEnded ? "peer closed" : "shutdown");
  }

  #flushSlots(): void {
    while (this.#slots.length > 0 && this.#slots[0]!.done) {
      const { outcome } = this.#slots.shift()!;
      if (this.#state !== "open") continue;
      if (outcome.frame !== undefined) this.send(outcome.frame);
      outcome.after?.();
      if (outcome.closeReason !== undefined) this.close(outcome.closeReason);
    }
  }

  /** Reads again if nothing holds it back any more (the server calls it when the intake drains). */
  updateReading(): void {
    if (this.#state === "open") this.#updateReading();
  }

  #updateReading(): void {
    const shouldPause =
      this.#draining ||
      this.#blockedSinceMs !== undefined ||
      this.#waiting.length + this.#running >= this.#settings.maxQueuedRequests ||
      (this.#holdingRunning > 0 && this.#handler.congested);
    if (shouldPause && !this.#readingPaused) {
      this.#readingPaused = true;
      this.#socket.pause();
      if (this.log.isDebug())
        this.log.debug("reading paused", { sendsHeld: this.#holdingRunning > 0 && this.#handler.congested });
    } else if (!shouldPause && this.#readingPaused) {
      this.#readingPaused = false;
      this.#socket.resume();
      if (this.log.isDebug()) this.log.debug("reading resumed");
    }
  }

  #onPeerEnd(): void {
    // The peer will send no more; answer what it asked, then close.
    this.#peerEnded = true;
    this.#draining = true;
    this.#closeIfDone("peer closed");
  }

  #closeIfDone(reason: string): void {
    if (this.#draining && this.#waiting.length === 0 && this.#running === 0 && this.#slots.length === 0) {
      this.close(reason);
    }
  }

  #onDrain(): void {
    if (this.#blockedSinceMs === undefined) return;
    this.#blockedSinceMs = undefined;
    this.#updateReading();
    for (const listener of this.#writableListeners) listener();
  }

  #onSocketClosed(): void {
    this.#notifyClosed("socket closed");
    this.#state = "closed";
  }

  #notifyClosed(reason: string): void {
    if (this.#closeListeners.length === 0) return;
    const listeners = this.#closeListeners.splice(0);
    for (const listener of listeners) listener(reason);
  }

  #errorEvent(code: ErrorCode, message: string): ServerEvent {
    return { ev: "error", code, message };
  }
}
