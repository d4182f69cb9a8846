// The wire types of Parley protocol version 1 (see README.md beside this file).
// Shared by the server, the TUI client and the benchmark, so it imports nothing.

export const PROTOCOL_VERSION = 1;

export type Rid = string | number;

export type ErrorCode =
  | "bad_frame"
  | "unknown_op"
  | "frame_too_large"
  | "too_many_errors"
  | "idle_timeout"
  | "login_timeout"
  | "server_full"
  | "too_many_connections"
  | "bad_argument"
  | "unsupported_version"
  | "invalid_username"
  | "weak_password"
  | "user_exists"
  | "bad_credentials"
  | "rate_limited"
  | "not_logged_in"
  | "no_such_user"
  | "empty_text"
  | "text_too_long"
  | "invalid_text"
  | "bad_cid"
  | "mailbox_full"
  | "unavailable"
  | "internal";

export interface Limits {
  readonly maxTextChars: number;
  readonly maxFrameBytes: number;
  readonly maxPending: number;
  readonly maxInFlight: number;
  readonly idleTimeoutMs: number;
}

export type MessageStatus = "sent" | "delivered" | "read" | "undeliverable" | "expired";
export type ReceiptStatus = "delivered" | "read" | "undeliverable" | "expired";

export interface HistoryMessage {
  id: number;
  from: string;
  to: string;
  text: string;
  at: string;
  status: MessageStatus;
}

export interface UserEntry {
  user: string;
  name: string;
  online: boolean;
  lastSeen: string | null;
}

export interface MessageEvent {
  ev: "message";
  seq: number;
  id: number;
  from: string;
  to: string;
  text: string;
  at: string;
}

export interface ReceiptEvent {
  ev: "receipt";
  seq: number;
  id: number;
  to: string;
  status: ReceiptStatus;
  at: string;
}

/** An event that lives in a user's inbox: it has a `seq` and is acknowledged. */
export type InboxEvent = MessageEvent | ReceiptEvent;

export interface PresenceEvent {
  ev: "presence";
  user: string;
  online: boolean;
  at: string;
}

export interface ErrorEvent {
  ev: "error";
  code: ErrorCode;
  message: string;
}

export type ServerEvent =
  | InboxEvent
  | PresenceEvent
  | ErrorEvent
  | { ev: "session_replaced" }
  | { ev: "shutdown" };

export interface OkResponse {
  rid: Rid;
  ok: true;
  [key: string]: unknown;
}

export interface ErrorResponse {
  rid: Rid;
  ok: false;
  error: { code: ErrorCode; message: string };
}

export type Response = OkResponse | ErrorResponse;

/** Anything the server writes on the wire. */
export type ServerFrame = Response | ServerEvent;

export const OPS = [
  "hello",
  "register",
  "login",
  "logout",
  "unregister",
  "send",
  "ack",
  "read",
  "users",
  "history",
  "ping",
] as const;

export type Op = (typeof OPS)[number];

export function isOp(value: unknown): value is Op {
  return typeof value === "string" && (OPS as readonly string[]).includes(value);
}

/** A usable rid: a string of at most 64 characters, or a safe integer. */
export function isRid(value: unknown): value is Rid {
  return (typeof value === "string" && value.length <= 64) || Number.isSafeInteger(value);
}
