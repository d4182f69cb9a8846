// The wire types of Parley protocol version 2 (see README.md beside this file): version 1 plus
// devices and rooms. Shared by the server, the TUI client and the benchmark, so it imports nothing.

/** The newest version this server speaks; `hello` accepts every version from 1 up to it. */
export const PROTOCOL_VERSION = 2;

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
  | "no_such_device"
  | "invalid_room"
  | "room_exists"
  | "no_such_room"
  | "not_member"
  | "not_owner"
  | "too_many_members"
  | "internal";

export interface Limits {
  readonly maxTextChars: number;
  readonly maxFrameBytes: number;
  readonly maxPending: number;
  readonly maxInFlight: number;
  readonly idleTimeoutMs: number;
  readonly maxDevices: number;
  readonly maxRoomMembers: number;
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

/** `read` on another device of yours: everything from `with` up to `upTo` is read. */
export interface ReadMarkerEvent {
  ev: "read_marker";
  seq: number;
  with: string;
  upTo: number;
  at: string;
}

export type RoomChange = "created" | "joined" | "left" | "removed";

/** A membership change in a room you are (or were, for `left`/`removed` of you) a member of. */
export interface RoomEvent {
  ev: "room";
  seq: number;
  room: string;
  change: RoomChange;
  user: string;
  by: string;
  at: string;
}

/** An event that lives in a user's inbox: it has a `seq` and is acknowledged. */
export type InboxEvent = MessageEvent | ReceiptEvent | ReadMarkerEvent | RoomEvent;

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

export interface DeviceEntry {
  device: string;
  online: boolean;
  lastSeen: string | null;
}

export interface RoomEntry {
  room: string;
  owner: string;
  members: number;
}

export interface RoomMemberEntry {
  user: string;
  online: boolean;
  /** The id of the newest room message this member has read, or null. */
  readUpTo: number | null;
}

export interface HelloResult {
  server: string;
  version: number;
  limits: Limits;
}

/** What each operation answers on success, beside `rid` and `ok`. */
export interface OpResults {
  hello: HelloResult;
  register: { user: string };
  login: { user: string; pending: number };
  logout: Record<never, never>;
  unregister: Record<never, never>;
  send: { id: number; at: string; duplicate: boolean };
  ack: never;
  read: Record<never, never>;
  /** `more`: further users follow the last one listed. */
  users: { users: UserEntry[]; more: boolean };
  history: { messages: HistoryMessage[] };
  ping: { at: string };
  devices: { devices: DeviceEntry[] };
  forget_device: Record<never, never>;
  room_create: { room: string };
  room_add: Record<never, never>;
  room_remove: Record<never, never>;
  room_leave: Record<never, never>;
  rooms: { rooms: RoomEntry[] };
  room_members: { members: RoomMemberEntry[] };
}

/** What each operation takes, beside `op` and `rid`. */
export interface OpArguments {
  hello: { version: number; client?: string };
  register: { user: string; password: string; name?: string };
  login: { user: string; password: string; device?: string };
  logout: Record<never, never>;
  unregister: { password: string };
  send: { to: string; text: string; cid: string };
  ack: { upTo: number };
  read: { with: string; upTo: number };
  /** `after`: the page starts after this user name, in user-name order; `limit` 1–500, default 500. */
  users: { after?: string; limit?: number };
  history: { with: string; before?: number; limit?: number };
  ping: Record<never, never>;
  devices: Record<never, never>;
  forget_device: { device: string };
  room_create: { room: string; members?: string[] };
  room_add: { room: string; user: string };
  room_remove: { room: string; user: string };
  room_leave: { room: string };
  rooms: Record<never, never>;
  room_members: { room: string };
}

/** A request as a client writes it: every op has a `rid` but `ack`, which is never answered. */
export type ClientRequest = {
  [O in Op]: { op: O } & (O extends "ack" ? Record<never, never> : { rid: Rid }) & OpArguments[O];
}[Op];

export type OkResponse<O extends Op = Op> = { rid: Rid; ok: true } & OpResults[O];

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
  "devices",
  "forget_device",
  "room_create",
  "room_add",
  "room_remove",
  "room_leave",
  "rooms",
  "room_members",
] as const;

export type Op = (typeof OPS)[number];

export function isOp(value: unknown): value is Op {
  return typeof value === "string" && (OPS as readonly string[]).includes(value);
}

/** A usable rid: a string of at most 64 characters, or a safe integer. */
export function isRid(value: unknown): value is Rid {
  return (typeof value === "string" && value.length <= 64) || Number.isSafeInteger(value);
}
