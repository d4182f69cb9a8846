// One conversation as the client knows it: the messages exchanged with one peer or in one
// room, merged from live events, this client's own sends and `history` pages, plus notices
// (a room's membership changes) that live only on this client. Pure data; the invariants
// (sorted by server id, never two entries for one message, statuses only move forward)
// are kept here so the view model cannot break them.

import type { HistoryMessage, MessageStatus } from "../server/protocol/messages.js";

/** A message's state as the screen shows it; `pending` and `failed` exist only on this client. */
export type DisplayStatus = "pending" | MessageStatus | "failed";

export interface MessageError {
  readonly code: string;
  readonly message: string;
}

export interface ChatMessage {
  /** Stable for the life of the entry: `c:<cid>` for this client's sends, `i:<id>` otherwise. */
  readonly key: string;
  id: number | undefined;
  readonly cid: string | undefined;
  readonly from: string;
  readonly to: string;
  text: string;
  /** ISO time; for a message not yet stored, the local time it was typed. */
  at: string;
  readonly outgoing: boolean;
  status: DisplayStatus;
  /** Why a send failed or is being retried; shown beside the message. */
  error: MessageError | undefined;
  /** For a message to this user: whether it has been on screen (or the server says read). */
  read: boolean;
  /** Orders messages without an id: after the message with this id, in typing order. */
  readonly afterId: number;
  readonly localSeq: number;
  /** A line about the conversation rather than a message in it ("bob added carol"). */
  readonly notice: boolean;
}

const STATUS_RANK: Record<DisplayStatus, number> = {
  pending: 0,
  sent: 1,
  delivered: 2,
  read: 3,
  undeliverable: 4,
  expired: 4,
  failed: 4,
};

/** Whether a status may replace another: news never moves a mark backwards. */
export function isStatusAdvance(from: DisplayStatus, to: DisplayStatus): boolean {
  return STATUS_RANK[to] > STATUS_RANK[from];
}

export type HistoryState = "none" | "loading" | "loaded";

export type ScrollPosition =
  | { readonly follow: true }
  /** The top line on screen: line `offset` of the block of the message `key`. */
  | { readonly follow: false; readonly key: string; readonly offset: number };

let localSeqCounter = 0;

export class Conversation {
  /** The peer's name as the server spells it. */
  peer: string;
  readonly #messages: ChatMessage[] = [];
  readonly #byId = new Map<number, ChatMessage>();
  readonly #byCid = new Map<string, ChatMessage>();
  history: HistoryState = "none";
  /** The oldest message is loaded: PgUp has nothing more to fetch. */
  reachedStart = false;
  loadingOlder = false;
  scroll: ScrollPosition = { follow: true };

  constructor(peer: string) {
    this.peer = peer;
  }

  get messages(): readonly ChatMessage[] {
    return this.#messages;
  }

  get key(): string {
    return this.peer.toLowerCase();
  }

  /** The time of the newest message, for ordering contacts by recent activity. */
  get lastActivityAt(): string | undefined {
    let latest: string | undefined;
    for (const message of this.#messages)
      if (latest === undefined || message.at > latest) latest = message.at;
    return latest;
  }

  get oldestId(): number | undefined {
    for (const message of this.#messages) if (message.id !== undefined) return message.id;
    return undefined;
  }

  get unreadCount(): number {
    let count = 0;
    for (const message of this.#messages) if (!message.outgoing && !message.read) count++;
    return count;
  }

  get newestId(): number {
    let newest = 0;
    for (const message of this.#messages)
      if (message.id !== undefined && message.id > newest) newest = message.id;
    return newest;
  }

  byId(id: number): ChatMessage | undefined {
    return this.#byId.get(id);
  }

  byCid(cid: string): ChatMessage | undefined {
    return this.#byCid.get(cid);
  }

  /**
   * Adds a stored message (a live event or a history entry). Returns false when it was
   * already known; then only its text (normalized by the server) and status are refreshed.
   */
  addStored(message: Omit<HistoryMessage, "status"> & { status?: MessageStatus }, me: string): boolean {
    const outgoing = sameUser(message.from, me);
    const known = this.#byId.get(message.id);
    if (known !== undefined) {
      known.text = message.text;
      known.at = message.at;
      if (message.status !== undefined) this.#applyStatus(known, message.status);
      return false;
    }
    const status: DisplayStatus = message.status ?? (outgoing ? "sent" : "delivered");
    const entry: ChatMessage = {
      key: `i:${message.id}`,
      id: message.id,
      cid: undefined,
      from: message.from,
      to: message.to,
      text: message.text,
      at: message.at,
      outgoing,
      status,
      error: undefined,
      read: status === "read" || outgoing,
      afterId: message.id,
      localSeq: 0,
      notice: false,
    };
    this.#byId.set(message.id, entry);
    this.#insert(entry);
    return true;
  }

  /** A message this client is sending: shown at once, marked pending until the server answers. */
  addPending(cid: string, from: string, to: string, text: string, at: string): ChatMessage {
    const entry: ChatMessage = {
      key: `c:${cid}`,
      id: undefined,
      cid,
      from,
      to,
      text,
      at,
      outgoing: true,
      status: "pending",
      error: undefined,
      read: true,
      afterId: this.newestId,
      localSeq: ++localSeqCounter,
      notice: false,
    };
    this.#byCid.set(cid, entry);
    this.#insert(entry);
    return entry;
  }

  /**
   * A notice, placed after the newest message known now. `key` makes it idempotent (an inbox
   * seq); returns false when a notice with that key is already there.
   */
  addNotice(key: string, text: string, at: string): boolean {
    const entryKey = `n:${key}`;
    if (this.#messages.some((message) => message.key === entryKey)) return false;
    this.#insert({
      key: entryKey,
      id: undefined,
      cid: undefined,
      from: "",
      to: "",
      text,
      at,
      outgoing: true,
      status: "sent",
      error: undefined,
      read: true,
      afterId: this.newestId,
      localSeq: ++localSeqCounter,
      notice: true,
    });
    return true;
  }

  /** The server stored a send. A copy that arrived first (a message to oneself) is merged. */
  sendStored(cid: string, id: number, at: string): ChatMessage | undefined {
    const entry = this.#byCid.get(cid);
    if (entry === undefined) return undefined;
    const twin = this.#byId.get(id);
    if (twin !== undefined && twin !== entry) {
      this.#remove(twin);
      if (isStatusAdvance(entry.status, twin.status)) entry.status = twin.status;
      entry.text = twin.text;
    }
    this.#remove(entry);
    entry.id = id;
    entry.at = at;
    entry.error = undefined;
    if (isStatusAdvance(entry.status, "sent")) entry.status = "sent";
    this.#byId.set(id, entry);
    this.#insert(entry);
    return entry;
  }

  sendFailed(cid: string, error: MessageError, retrying: boolean): void {
    const entry = this.#byCid.get(cid);
    if (entry === undefined || entry.id !== undefined) return;
    entry.error = error;
    if (!retrying) entry.status = "failed";
  }

  /** Applies a receipt or history status; returns false when no such message is loaded. */
  setStatus(id: number, status: MessageStatus): boolean {
    const entry = this.#byId.get(id);
    if (entry === undefined) return false;
    this.#applyStatus(entry, status);
    return true;
  }

  /** Marks messages from the peer up to `id` as read on this side; returns how many changed. */
  markReadUpTo(id: number): number {
    let changed = 0;
    for (const message of this.#messages) {
      if (!message.outgoing && !message.read && message.id !== undefined && message.id <= id) {
        message.read = true;
        changed++;
      }
    }
    return changed;
  }

  #applyStatus(entry: ChatMessage, status: MessageStatus): void {
    if (entry.outgoing) {
      if (isStatusAdvance(entry.status, status)) entry.status = status;
    } else if (status === "read") {
      entry.read = true;
    }
  }

  #insert(entry: ChatMessage): void {
    // Usually the newest: search from the end.
    let i = this.#messages.length;
    while (i > 0 && compare(this.#messages[i - 1]!, entry) > 0) i--;
    this.#messages.splice(i, 0, entry);
  }

  #remove(entry: ChatMessage): void {
    const index = this.#messages.indexOf(entry);
    if (index !== -1) this.#messages.splice(index, 1);
    if (entry.id !== undefined && this.#byId.get(entry.id) === entry) this.#byId.delete(entry.id);
  }
}

function compare(a: ChatMessage, b: ChatMessage): number {
  const aKey = a.id ?? a.afterId + 0.5;
  const bKey = b.id ?? b.afterId + 0.5;
  if (aKey !== bKey) return aKey - bKey;
  return a.localSeq - b.localSeq;
}

/** A room's name starts with `#`; user names never do. */
export function isRoomName(name: string): boolean {
  return name.startsWith("#");
}

/** User names are unique without regard to case. */
export function sameUser(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
