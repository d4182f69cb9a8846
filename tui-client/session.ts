// The client side of the Parley protocol, with no I/O (senpai's irc/session.go): server frames
// go in and typed events come out; requests come out as objects for the network module to
// write. It owns everything the protocol asks a client to remember across connections:
// which inbox events were handled and acknowledged, the sends not yet answered (with their
// cids), the password for logging in again, and which rid asked what.
//
// Version 2 (devices and rooms): the login names this client's device; `read_marker` and
// `room` are inbox events like messages (deduplicated by seq, acknowledged once handled); the
// room and device operations are requests whose answers come back as typed events.

import type {
  ClientRequest,
  DeviceEntry,
  ErrorCode,
  HistoryMessage,
  Limits,
  MessageEvent,
  ReadMarkerEvent,
  ReceiptEvent,
  ReceiptStatus,
  RoomChange,
  RoomEntry,
  RoomEvent,
  RoomMemberEntry,
  UserEntry,
} from "../server/protocol/messages.js";
import { PROTOCOL_VERSION } from "../server/protocol/messages.js";

export interface SessionOptions {
  /** Makes cids unique per sender across runs of the client: a random string. */
  readonly cidPrefix: string;
  /** Sent in `hello`. */
  readonly clientName: string;
  /** Sent in `login`: this client's device (1-32 of A-Z a-z 0-9 _ . -). */
  readonly device?: string;
}

export type Phase =
  /** No connection. */
  | "offline"
  /** Connected, not logged in: the log-in screen. */
  | "connected"
  /** A register or login request is on its way. */
  | "authenticating"
  /** Logged in: inbox events flow, requests are sent. */
  | "ready"
  /** Another login of the same user took over; the client must not reconnect by itself. */
  | "replaced";

/** The requests this client sends: the protocol's own type, shared with the server. */
export type { ClientRequest } from "../server/protocol/messages.js";

/** A room operation that changes membership; its success is `room_done`. */
export type RoomAction = "room_create" | "room_add" | "room_remove" | "room_leave";

export interface ProtocolError {
  readonly code: ErrorCode | string;
  readonly message: string;
}

export type SessionEvent =
  | { type: "hello"; server: string; limits: Limits }
  | { type: "registered"; user: string }
  /** `resumed` is true when the client logged in again by itself after a reconnect. */
  | { type: "logged_in"; user: string; pending: number; resumed: boolean }
  | { type: "auth_failed"; stage: "register" | "login"; error: ProtocolError; resumed: boolean }
  /** A message to this user. The caller must call `handled(seq)` once it has taken it in. */
  | { type: "message"; message: MessageEvent }
  /** News of a message this user sent. The caller must call `handled(seq)` too. */
  | { type: "receipt"; receipt: ReceiptEvent }
  /** Another device of this user read a conversation up to a message. `handled(seq)` too. */
  | { type: "read_marker"; marker: ReadMarkerEvent }
  /** A membership change in a room. `handled(seq)` too. */
  | { type: "room"; event: RoomEvent }
  /** The rooms this user is in (the `rooms` operation). */
  | { type: "rooms"; rooms: RoomEntry[] }
  /** A room's members; `show` when the user asked to see them (/members). */
  | { type: "room_members"; room: string; members: RoomMemberEntry[]; show: boolean }
  | { type: "devices"; devices: DeviceEntry[] }
  /** A room operation succeeded; `user` is the member added or removed. */
  | { type: "room_done"; op: RoomAction; room: string; user: string | undefined }
  /** A room or device operation failed; `room` names the room it concerned, if any. */
  | {
      type: "room_failed";
      op: RoomAction | "room_members" | "rooms";
      room: string | undefined;
      user: string | undefined;
      error: ProtocolError;
    }
  | { type: "presence"; user: string; online: boolean; at: string }
  /** One page of users: the first when `after` is undefined; `more` when another follows. */
  | { type: "users"; users: UserEntry[]; after: string | undefined; more: boolean }
  | {
      type: "history";
      with: string;
      before: number | undefined;
      limit: number;
      messages: HistoryMessage[];
    }
  | { type: "history_failed"; with: string; before: number | undefined; error: ProtocolError }
  /** A send was accepted by the client; it is resent with the same cid until answered. */
  | { type: "send_queued"; cid: string; to: string; text: string }
  | { type: "send_ok"; cid: string; to: string; id: number; at: string; duplicate: boolean }
  /** `retrying`: the server could not store it now, the same cid goes out again later. */
  | { type: "send_failed"; cid: string; to: string; error: ProtocolError; retrying: boolean }
  | { type: "logged_out" }
  | { type: "unregistered"; user: string }
  | { type: "request_failed"; op: string; error: ProtocolError }
  | { type: "session_replaced" }
  | { type: "shutdown" }
  /** An `error` event: the server usually closes the connection after it. */
  | { type: "server_error"; error: ProtocolError }
  | { type: "pong"; at: string }
  /** A frame the client could not make sense of; it was ignored. */
  | { type: "protocol_violation"; detail: string };

type PendingRequest =
  | { op: "hello"; version: number }
  | { op: "register"; user: string; password: string }
  | { op: "login"; user: string; password: string; resumed: boolean }
  | { op: "logout" }
  | { op: "unregister" }
  | { op: "send"; cid: string }
  | { op: "read"; with: string; upTo: number }
  | { op: "users"; after: string | undefined }
  | { op: "history"; with: string; before: number | undefined; limit: number }
  | { op: "ping"; sentAtMs: number }
  | { op: "devices" }
  | { op: "rooms" }
  | { op: RoomAction; room: string; user: string | undefined }
  | { op: "room_members"; room: string; show: boolean };

interface OutboxEntry {
  readonly cid: string;
  readonly to: string;
  readonly text: string;
  /** The rid of the request in flight on the current connection, if any. */
  rid: number | undefined;
  /** The server said `unavailable`: wait for `retryWaitingSends()`. */
  waiting: boolean;
}

const DEFAULT_LIMITS: Limits = {
  maxTextChars: 4096,
  maxFrameBytes: 65536,
  maxPending: 10000,
  maxInFlight: 1024,
  idleTimeoutMs: 120_000,
  maxDevices: 10,
  maxRoomMembers: 1000,
};

export const DEFAULT_HISTORY_LIMIT = 50;

export class Session {
  readonly #options: SessionOptions;
  #phase: Phase = "offline";
  #limits: Limits = DEFAULT_LIMITS;
  #nextRid = 1;
  #pending = new Map<number, PendingRequest>();
  #out: ClientRequest[] = [];

  /** Credentials confirmed by a successful login: used to log in again after a reconnect. */
  #credentials: { user: string; password: string } | undefined;
  /** A log-in the user asked for while there was no connection. */
  #queuedAuth: { stage: "register" | "login"; user: string; password: string } | undefined;

  // Inbox bookkeeping. Seqs only grow and arrive in order, so "handled" is a high-water mark.
  #receivedSeq = 0;
  #handledSeq = 0;
  #ackedSeq = 0;
  #ackDue = false;

  #cidCounter = 0;
  readonly #outbox = new Map<string, OutboxEntry>();

  /** Per peer (lower case): the highest id a `read` was confirmed for, and one in flight. */
  readonly #readConfirmed = new Map<string, number>();
  readonly #readInFlight = new Map<string, number>();
  readonly #historyInFlight = new Set<string>();
  #pingSentAtMs: number | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
  }

  get phase(): Phase {
    return this.#phase;
  }

  get limits(): Limits {
    return this.#limits;
  }

  /** The logged-in (or re-logging-in) user, if any. */
  get user(): string | undefined {
    return this.#credentials?.user;
  }

  /** A log-in or registration typed while offline, waiting for the connection. */
  get hasQueuedAuth(): boolean {
    return this.#queuedAuth !== undefined;
  }

  /** Sends the server has not answered yet, oldest first. */
  get unansweredSends(): readonly { cid: string; to: string; text: string }[] {
    return [...this.#outbox.values()].map(({ cid, to, text }) => ({ cid, to, text }));
  }

  /** When the oldest unanswered ping went out (ms, the caller's clock), if one is out. */
  get pingOutstandingSinceMs(): number | undefined {
    return this.#pingSentAtMs;
  }

  /** Requests to write, in order; the queue is emptied. */
  takeOutgoing(): ClientRequest[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  // ---- connection lifecycle ----

  /** A new connection is open: greet, and log in again if a login succeeded before. */
  connectionOpened(): void {
    this.#resetConnectionState();
    this.#phase = "connected";
    this.#sendHello(PROTOCOL_VERSION);
    if (this.#credentials !== undefined) {
      this.#sendLogin(this.#credentials.user, this.#credentials.password, true);
    } else if (this.#queuedAuth !== undefined) {
      const { stage, user, password } = this.#queuedAuth;
      this.#queuedAuth = undefined;
      if (stage === "register") this.register(user, password);
      else this.login(user, password);
    }
  }

  #sendHello(version: number): void {
    this.#request({ op: "hello", version }, (rid) => ({
      op: "hello",
      rid,
      version,
      client: this.#options.clientName,
    }));
  }

  /**
   * The connection is gone. Requests in flight are forgotten, except sends: they stay in
   * the outbox and go out again, same cid, after the next login.
   */
  connectionLost(): void {
    const wasReplaced = this.#phase === "replaced";
    this.#resetConnectionState();
    this.#phase = wasReplaced ? "replaced" : "offline";
  }

  #resetConnectionState(): void {
    this.#pending.clear();
    this.#out = [];
    for (const entry of this.#outbox.values()) entry.rid = undefined;
    this.#readInFlight.clear();
    this.#historyInFlight.clear();
    this.#pingSentAtMs = undefined;
    // Whatever was acknowledged on the old connection may not have arrived: the server
    // resends those events and we acknowledge them again when they come.
    this.#ackedSeq = 0;
    this.#ackDue = false;
  }

  // ---- requests the user makes ----

  register(user: string, password: string): void {
    if (this.#phase === "offline") {
      this.#queuedAuth = { stage: "register", user, password };
      return;
    }
    this.#phase = "authenticating";
    this.#request({ op: "register", user, password }, (rid) => ({ op: "register", rid, user, password }));
  }

  login(user: string, password: string): void {
    if (this.#phase === "offline") {
      this.#queuedAuth = { stage: "login", user, password };
      return;
    }
    this.#sendLogin(user, password, false);
  }

  #sendLogin(user: string, password: string, resumed: boolean): void {
    this.#phase = "authenticating";
    const device = this.#options.device;
    this.#request({ op: "login", user, password, resumed }, (rid) =>
      device === undefined
        ? { op: "login", rid, user, password }
        : { op: "login", rid, user, password, device },
    );
  }

  /** Logs out; the password is forgotten at once so no reconnect logs in again. */
  logout(): void {
    this.#forgetUser();
    if (this.#phase === "ready") this.#request({ op: "logout" }, (rid) => ({ op: "logout", rid }));
  }

  unregister(password: string): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "unregister" }, (rid) => ({ op: "unregister", rid, password }));
  }

  /**
   * Queues a message. It is written now if logged in, otherwise after the next login, and
   * again with the same cid after every reconnect until the server answers it.
   */
  send(to: string, text: string): SessionEvent[] {
    this.#cidCounter++;
    const cid = `${this.#options.cidPrefix}-${this.#cidCounter}`;
    const entry: OutboxEntry = { cid, to, text, rid: undefined, waiting: false };
    this.#outbox.set(cid, entry);
    if (this.#phase === "ready") this.#writeSend(entry);
    return [{ type: "send_queued", cid, to, text }];
  }

  /** Sends again what the server could not store (`unavailable`), same cids, in order. */
  retryWaitingSends(): void {
    if (this.#phase !== "ready") return;
    for (const entry of this.#outbox.values()) {
      if (entry.waiting && entry.rid === undefined) {
        entry.waiting = false;
        this.#writeSend(entry);
      }
    }
  }

  get hasWaitingSends(): boolean {
    for (const entry of this.#outbox.values()) if (entry.waiting) return true;
    return false;
  }

  #writeSend(entry: OutboxEntry): void {
    entry.rid = this.#request({ op: "send", cid: entry.cid }, (rid) => ({
      op: "send",
      rid,
      to: entry.to,
      text: entry.text,
      cid: entry.cid,
    }));
  }

  /**
   * Asks for a page of users: the first, or the one after the user `after`. A server
   * without paging answers everything at once, without `more`.
   */
  requestUsers(after?: string): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "users", after }, (rid) =>
      after === undefined ? { op: "users", rid } : { op: "users", rid, after },
    );
  }

  /** Asks for messages with `peer`; at most one identical request is in flight at a time. */
  requestHistory(peer: string, before?: number, limit = DEFAULT_HISTORY_LIMIT): void {
    if (this.#phase !== "ready") return;
    const key = `${peer.toLowerCase()}\u0000${before ?? ""}`;
    if (this.#historyInFlight.has(key)) return;
    this.#historyInFlight.add(key);
    this.#request({ op: "history", with: peer, before, limit }, (rid) =>
      before === undefined
        ? { op: "history", rid, with: peer, limit }
        : { op: "history", rid, with: peer, before, limit },
    );
  }

  /** Marks messages from `peer` up to `upTo` as read; repeats and regressions are skipped. */
  markRead(peer: string, upTo: number): void {
    if (this.#phase !== "ready") return;
    const key = peer.toLowerCase();
    const known = Math.max(this.#readConfirmed.get(key) ?? 0, this.#readInFlight.get(key) ?? 0);
    if (upTo <= known) return;
    this.#readInFlight.set(key, upTo);
    this.#request({ op: "read", with: peer, upTo }, (rid) => ({ op: "read", rid, with: peer, upTo }));
  }

  /** The rooms this user is in: answered by a `rooms` event. */
  requestRooms(): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "rooms" }, (rid) => ({ op: "rooms", rid }));
  }

  /** A room's members and how far each has read; `show` is handed back in the answer. */
  requestRoomMembers(room: string, show = false): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "room_members", room, show }, (rid) => ({ op: "room_members", rid, room }));
  }

  requestDevices(): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "devices" }, (rid) => ({ op: "devices", rid }));
  }

  /** Creates `room` with `members` (they join in that order, after this user, the owner). */
  createRoom(room: string, members: readonly string[]): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "room_create", room, user: undefined }, (rid) => ({
      op: "room_create",
      rid,
      room,
      members: [...members],
    }));
  }

  addToRoom(room: string, user: string): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "room_add", room, user }, (rid) => ({ op: "room_add", rid, room, user }));
  }

  removeFromRoom(room: string, user: string): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "room_remove", room, user }, (rid) => ({ op: "room_remove", rid, room, user }));
  }

  leaveRoom(room: string): void {
    if (this.#phase !== "ready") return;
    this.#request({ op: "room_leave", room, user: undefined }, (rid) => ({ op: "room_leave", rid, room }));
  }

  /** A ping, unless one is still unanswered. `nowMs` lets the caller detect a dead link. */
  ping(nowMs: number): void {
    if (this.#phase === "offline" || this.#pingSentAtMs !== undefined) return;
    this.#pingSentAtMs = nowMs;
    this.#request({ op: "ping", sentAtMs: nowMs }, (rid) => ({ op: "ping", rid }));
  }

  // ---- inbox acknowledgement ----

  /** The caller has taken in the inbox event with this seq (shown it, stored it). */
  handled(seq: number): void {
    if (seq > this.#handledSeq) this.#handledSeq = seq;
  }

  /**
   * Queues one `ack` for everything handled since the last one. Called after a batch of
   * events has been handled, so an event is acknowledged only once it is on screen.
   */
  flushAck(): void {
    if (this.#phase !== "ready") return;
    if (this.#handledSeq > this.#ackedSeq || (this.#ackDue && this.#handledSeq > 0)) {
      this.#out.push({ op: "ack", upTo: this.#handledSeq });
      this.#ackedSeq = this.#handledSeq;
      this.#ackDue = false;
    }
  }

  // ---- frames from the server ----

  handleFrame(frame: Record<string, unknown>): SessionEvent[] {
    if (typeof frame.ev === "string") return this.#handleEvent(frame);
    if ("rid" in frame && typeof frame.ok === "boolean") return this.#handleResponse(frame);
    return [{ type: "protocol_violation", detail: "a frame that is neither a response nor an event" }];
  }

  #handleEvent(frame: Record<string, unknown>): SessionEvent[] {
    switch (frame.ev) {
      case "message": {
        if (!isMessageEvent(frame)) return [violation("a malformed message event")];
        if (!this.#acceptSeq(frame.seq)) return [];
        return [{ type: "message", message: frame }];
      }
      case "receipt": {
        if (!isReceiptEvent(frame)) return [violation("a malformed receipt event")];
        if (!this.#acceptSeq(frame.seq)) return [];
        return [{ type: "receipt", receipt: frame }];
      }
      case "read_marker": {
        if (!isReadMarkerEvent(frame)) return [violation("a malformed read_marker event")];
        if (!this.#acceptSeq(frame.seq)) return [];
        // Read elsewhere: this device need not tell the server again.
        const key = frame.with.toLowerCase();
        this.#readConfirmed.set(key, Math.max(this.#readConfirmed.get(key) ?? 0, frame.upTo));
        return [{ type: "read_marker", marker: frame }];
      }
      case "room": {
        if (!isRoomEvent(frame)) return [violation("a malformed room event")];
        if (!this.#acceptSeq(frame.seq)) return [];
        return [{ type: "room", event: frame }];
      }
      case "presence": {
        if (typeof frame.user !== "string" || typeof frame.online !== "boolean") {
          return [violation("a malformed presence event")];
        }
        return [{ type: "presence", user: frame.user, online: frame.online, at: String(frame.at ?? "") }];
      }
      case "session_replaced":
        this.#phase = "replaced";
        return [{ type: "session_replaced" }];
      case "shutdown":
        return [{ type: "shutdown" }];
      case "error":
        return [{ type: "server_error", error: toError(frame) }];
      default:
        // Newer servers may push events this client does not know: ignoring them is safe.
        return [];
    }
  }

  /** False for a seq already seen: the server resends unacknowledged events after a login. */
  #acceptSeq(seq: number): boolean {
    if (seq <= this.#receivedSeq) {
      // It came back because our ack did not reach the server; acknowledge it again.
      this.#ackDue = true;
      return false;
    }
    this.#receivedSeq = seq;
    return true;
  }

  #handleResponse(frame: Record<string, unknown>): SessionEvent[] {
    const rid = frame.rid;
    const pending = typeof rid === "number" ? this.#pending.get(rid) : undefined;
    if (pending === undefined || typeof rid !== "number") {
      return [violation(`a response to a request this client did not make (rid ${String(rid)})`)];
    }
    this.#pending.delete(rid);
    const ok = frame.ok === true;
    const error = ok ? undefined : toError((frame.error ?? {}) as Record<string, unknown>);

    switch (pending.op) {
      case "hello":
        if (!ok && error!.code === "unsupported_version" && pending.version > 1) {
          // A version 1 server: it still carries every version 1 conversation.
          this.#sendHello(1);
          return [];
        }
        if (!ok) return [{ type: "server_error", error: error! }];
        this.#limits = { ...DEFAULT_LIMITS, ...(frame.limits as Partial<Limits> | undefined) };
        return [{ type: "hello", server: String(frame.server ?? ""), limits: this.#limits }];

      case "register":
        if (!ok) {
          this.#phase = "connected";
          return [{ type: "auth_failed", stage: "register", error: error!, resumed: false }];
        }
        this.#sendLogin(pending.user, pending.password, false);
        return [{ type: "registered", user: String(frame.user ?? pending.user) }];

      case "login":
        return this.#loginAnswered(pending, frame, error);

      case "logout":
        if (!ok) return [{ type: "request_failed", op: "logout", error: error! }];
        this.#phase = "connected";
        return [{ type: "logged_out" }];

      case "unregister": {
        if (!ok) return [{ type: "request_failed", op: "unregister", error: error! }];
        const user = this.#credentials?.user ?? "";
        this.#forgetUser();
        this.#phase = "connected";
        return [{ type: "unregistered", user }];
      }

      case "send":
        return this.#sendAnswered(pending.cid, frame, error);

      case "read": {
        const key = pending.with.toLowerCase();
        if (this.#readInFlight.get(key) === pending.upTo) this.#readInFlight.delete(key);
        if (!ok) return [{ type: "request_failed", op: "read", error: error! }];
        this.#readConfirmed.set(key, Math.max(this.#readConfirmed.get(key) ?? 0, pending.upTo));
        return [];
      }

      case "users":
        if (!ok) return [{ type: "request_failed", op: "users", error: error! }];
        return [
          {
            type: "users",
            users: Array.isArray(frame.users) ? (frame.users as UserEntry[]) : [],
            after: pending.after,
            more: frame.more === true,
          },
        ];

      case "history": {
        this.#historyInFlight.delete(`${pending.with.toLowerCase()}\u0000${pending.before ?? ""}`);
        if (!ok)
          return [{ type: "history_failed", with: pending.with, before: pending.before, error: error! }];
        const messages = Array.isArray(frame.messages) ? (frame.messages as HistoryMessage[]) : [];
        return [
          { type: "history", with: pending.with, before: pending.before, limit: pending.limit, messages },
        ];
      }

      case "ping":
        this.#pingSentAtMs = undefined;
        return [{ type: "pong", at: String(frame.at ?? "") }];

      case "devices":
        if (!ok) return [{ type: "request_failed", op: "devices", error: error! }];
        return [
          { type: "devices", devices: Array.isArray(frame.devices) ? (frame.devices as DeviceEntry[]) : [] },
        ];

      case "rooms":
        if (!ok)
          return [{ type: "room_failed", op: "rooms", room: undefined, user: undefined, error: error! }];
        return [{ type: "rooms", rooms: Array.isArray(frame.rooms) ? (frame.rooms as RoomEntry[]) : [] }];

      case "room_members": {
        if (!ok) {
          return [
            { type: "room_failed", op: "room_members", room: pending.room, user: undefined, error: error! },
          ];
        }
        const members = Array.isArray(frame.members) ? (frame.members as RoomMemberEntry[]) : [];
        return [{ type: "room_members", room: pending.room, members, show: pending.show }];
      }

      case "room_create":
      case "room_add":
      case "room_remove":
      case "room_leave": {
        if (!ok) {
          return [
            { type: "room_failed", op: pending.op, room: pending.room, user: pending.user, error: error! },
          ];
        }
        const room = typeof frame.room === "string" ? frame.room : pending.room;
        return [{ type: "room_done", op: pending.op, room, user: pending.user }];
      }
    }
  }

  #loginAnswered(
    pending: Extract<PendingRequest, { op: "login" }>,
    frame: Record<string, unknown>,
    error: ProtocolError | undefined,
  ): SessionEvent[] {
    if (error !== undefined) {
      this.#phase = "connected";
      // A refused password will not work on the next reconnect either; a rate limit might.
      if (error.code !== "rate_limited" && error.code !== "unavailable") this.#forgetUser();
      return [{ type: "auth_failed", stage: "login", error, resumed: pending.resumed }];
    }
    const user = typeof frame.user === "string" ? frame.user : pending.user;
    if (this.#credentials !== undefined && this.#credentials.user.toLowerCase() !== user.toLowerCase()) {
      this.#forgetUser();
    }
    this.#credentials = { user, password: pending.password };
    this.#phase = "ready";
    // Sends wait for the login to succeed: sent before it, they would fail as not_logged_in.
    for (const entry of this.#outbox.values()) {
      if (entry.rid === undefined && !entry.waiting) this.#writeSend(entry);
    }
    const pendingCount = typeof frame.pending === "number" ? frame.pending : 0;
    return [{ type: "logged_in", user, pending: pendingCount, resumed: pending.resumed }];
  }

  #sendAnswered(
    cid: string,
    frame: Record<string, unknown>,
    error: ProtocolError | undefined,
  ): SessionEvent[] {
    const entry = this.#outbox.get(cid);
    if (entry === undefined) return [];
    entry.rid = undefined;
    if (error === undefined) {
      this.#outbox.delete(cid);
      return [
        {
          type: "send_ok",
          cid,
          to: entry.to,
          id: Number(frame.id),
          at: String(frame.at ?? ""),
          duplicate: frame.duplicate === true,
        },
      ];
    }
    // Nothing was stored. `unavailable` is the server's "try again"; `not_logged_in` means
    // the session ended under us and the next login resends it. Anything else is final.
    if (error.code === "unavailable" || error.code === "not_logged_in") {
      entry.waiting = error.code === "unavailable";
      return [{ type: "send_failed", cid, to: entry.to, error, retrying: true }];
    }
    this.#outbox.delete(cid);
    return [{ type: "send_failed", cid, to: entry.to, error, retrying: false }];
  }

  #forgetUser(): void {
    this.#credentials = undefined;
    this.#queuedAuth = undefined;
    this.#outbox.clear();
    this.#receivedSeq = 0;
    this.#handledSeq = 0;
    this.#ackedSeq = 0;
    this.#ackDue = false;
    this.#readConfirmed.clear();
    this.#readInFlight.clear();
  }

  #request(pending: PendingRequest, build: (rid: number) => ClientRequest): number {
    const rid = this.#nextRid++;
    this.#pending.set(rid, pending);
    this.#out.push(build(rid));
    return rid;
  }
}

function violation(detail: string): SessionEvent {
  return { type: "protocol_violation", detail };
}

function toError(value: Record<string, unknown>): ProtocolError {
  return {
    code: typeof value.code === "string" ? value.code : "internal",
    message: typeof value.message === "string" ? value.message : "",
  };
}

function isMessageEvent(frame: Record<string, unknown>): frame is MessageEvent & Record<string, unknown> {
  return (
    Number.isSafeInteger(frame.seq) &&
    Number.isSafeInteger(frame.id) &&
    typeof frame.from === "string" &&
    typeof frame.to === "string" &&
    typeof frame.text === "string" &&
    typeof frame.at === "string"
  );
}

function isReadMarkerEvent(
  frame: Record<string, unknown>,
): frame is ReadMarkerEvent & Record<string, unknown> {
  return (
    Number.isSafeInteger(frame.seq) &&
    typeof frame.with === "string" &&
    Number.isSafeInteger(frame.upTo) &&
    typeof frame.at === "string"
  );
}

const ROOM_CHANGES: readonly RoomChange[] = ["created", "joined", "left", "removed"];

function isRoomEvent(frame: Record<string, unknown>): frame is RoomEvent & Record<string, unknown> {
  return (
    Number.isSafeInteger(frame.seq) &&
    typeof frame.room === "string" &&
    ROOM_CHANGES.includes(frame.change as RoomChange) &&
    typeof frame.user === "string" &&
    typeof frame.by === "string" &&
    typeof frame.at === "string"
  );
}

const RECEIPT_STATUSES: readonly ReceiptStatus[] = ["delivered", "read", "undeliverable", "expired"];

function isReceiptEvent(frame: Record<string, unknown>): frame is ReceiptEvent & Record<string, unknown> {
  return (
    Number.isSafeInteger(frame.seq) &&
    Number.isSafeInteger(frame.id) &&
    typeof frame.to === "string" &&
    RECEIPT_STATUSES.includes(frame.status as ReceiptStatus)
  );
}
