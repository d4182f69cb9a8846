// The pure UI model (senpai's ui/buffers.go): session events and key presses in, state and
// intents out. It knows contacts and rooms, conversations, unread counts, marks, scroll
// positions, the input line and the log-in form, and builds the frame the screen paints. It never talks to
// the network: what it wants done comes back as `Intent`s for main.ts to carry out.

import type {
  DeviceEntry,
  MessageStatus,
  RoomEntry,
  RoomEvent,
  RoomMemberEntry,
  UserEntry,
} from "../server/protocol/messages.js";
import { codePointLength, hasInvalidCharacter, isBlank } from "../server/protocol/text-rules.js";
import { COMMANDS, parseCommandLine } from "./commands.js";
import { Conversation, isRoomName, sameUser } from "./conversation.js";
import { type LayoutLine, layoutConversation, MARKER_KEY, scrollTo, viewport } from "./conversation-view.js";
import { edit, isTyped, type KeyPress } from "./editing.js";
import { CHAT_KEYS, lookup } from "./keymap.js";
import { LineEditor } from "./line-editor.js";
import { type LoginErrors, LoginForm, loginErrorText } from "./login-form.js";
import { devicesOverlay, membersOverlay, searchOverlay, usersOverlay } from "./overlays.js";
import {
  type ChatGeometry,
  type ChatView,
  chatGeometry,
  type LoginView,
  noticeRows,
  type RoomHeader,
  renderChat,
  renderLogin,
} from "./render.js";
import type { SessionEvent } from "./session.js";
import type { Frame } from "./styled-text.js";
import { graphemes } from "./text-width.js";
import { TimeFormat } from "./time-format.js";

export type { KeyPress } from "./editing.js";
export type { LoginField } from "./login-form.js";
export { loginErrorText } from "./login-form.js";

export type Intent =
  | { kind: "login"; user: string; password: string }
  | { kind: "register"; user: string; password: string }
  | { kind: "send"; to: string; text: string }
  | { kind: "command"; line: string }
  /** A page of users: the first, or the one after the user `after`. */
  | { kind: "load_users"; after?: string }
  | { kind: "load_rooms" }
  /** A room's members (who is in, online, how far each has read), for its header. */
  | { kind: "load_members"; room: string }
  | { kind: "load_history"; peer: string; before: number | undefined }
  | { kind: "unregister"; password: string }
  | { kind: "redraw" }
  /** A message for this user in a conversation not on screen: the bell, and a desktop notification with `desktop`. */
  | { kind: "alert"; title: string; body: string; desktop: boolean }
  | { kind: "quit" };

/** What a message for this user elsewhere does: nothing, the bell, or the bell and a desktop notification. */
export type NotifyMode = "off" | "bell" | "desktop";
export const NOTIFY_MODES: readonly NotifyMode[] = ["off", "bell", "desktop"];

/** One entry of the activity list in the status bar: a conversation with unread messages. */
export interface Activity {
  readonly name: string;
  readonly unread: number;
  /** One of them is for this user: a direct message, or a room message naming them. */
  readonly highlight: boolean;
}

export type LinkState =
  | { readonly state: "connecting" }
  | { readonly state: "open" }
  | { readonly state: "waiting"; readonly retryInMs: number; readonly reason: string }
  /** No reconnecting on our own: the session was replaced or the client is closing. */
  | { readonly state: "held"; readonly reason: string };

export interface Contact {
  user: string;
  name: string;
  online: boolean;
  lastSeen: string | null;
}

/** A room this user is (or was) in, as far as the client knows. */
export interface Room {
  room: string;
  owner: string | undefined;
  /** From `rooms`, kept up to date by membership events. */
  memberCount: number | undefined;
  /** From `room_members`, kept up to date by membership and presence events. */
  members: Map<string, RoomMemberEntry> | undefined;
  /** False once this user left or was removed: the conversation stays, read-only. */
  joined: boolean;
}

/** One entry of the contacts pane: a user or a room. */
export interface ContactEntry {
  key: string;
  /** The user's or the room's name (`#lab`), as the server spells it. */
  user: string;
  online: boolean;
  unread: number;
  self: boolean;
  room: boolean;
}

export interface Notice {
  readonly text: string;
  readonly level: "info" | "error";
}

export interface ViewModelOptions {
  readonly host: string;
  readonly port: number;
  /** Fills the user field of the log-in form. */
  readonly user?: string | undefined;
  /** This client's device, to mark it in /devices. */
  readonly device?: string | undefined;
  readonly time?: TimeFormat;
  readonly now?: () => Date;
}

/** Conversations whose history is fetched right after a fresh login, most recent first. */
const PREFETCH_LIMIT = 50;

export class ViewModel {
  readonly #options: ViewModelOptions;
  readonly #time: TimeFormat;
  readonly #now: () => Date;
  #cols = 80;
  #rows = 24;

  #link: LinkState = { state: "connecting" };
  #serverName = "";
  #maxTextChars = 4096;
  #roomLimit = 1000;
  #notice: Notice | undefined;

  // ---- log-in screen ----
  #me: string | undefined;
  #online = false;
  readonly #login: LoginForm;

  // ---- chat screen ----
  readonly #contacts = new Map<string, Contact>();
  readonly #conversations = new Map<string, Conversation>();
  readonly #rooms = new Map<string, Room>();
  /**
   * Per conversation (lower case): the newest message id read on any device of this user,
   * from read markers and room_members. Applied to messages loaded later, too: a room's
   * history says nothing about what this user read.
   */
  readonly #readUpTo = new Map<string, number>();
  #active: string | undefined;
  readonly #input = new LineEditor();
  #unregisterPrompt: LineEditor | undefined;
  #overlay: { title: string; lines: readonly string[]; top: number } | undefined;
  /** Receipts for messages not loaded yet (e.g. before the resent send is answered). */
  readonly #orphanReceipts = new Map<number, MessageStatus>();
  #prefetched = false;
  /** The pages of a `users` answer so far, until the last one (`more: false`) arrives. */
  #usersPages: UserEntry[] | undefined;
  /** /users waits for the fresh list before it shows it. */
  #usersWanted = false;
  #notifyMode: NotifyMode = "bell";
  /** Conversations (lower case) with an unread message for this user. */
  readonly #highlights = new Set<string>();
  /** Per conversation: the message the unread-line marker stands before, set when it is opened. */
  readonly #markers = new Map<string, string>();
  /** Tab completion in progress: the line as it was, the candidates, which one is in. */
  #completion:
    | { before: string; after: string; candidates: string[]; index: number; line: string }
    | undefined;
  /** /search: the conversation and the text; its overlay follows as older messages load. */
  #search: { key: string; term: string } | undefined;

  constructor(options: ViewModelOptions) {
    this.#options = options;
    this.#time = options.time ?? new TimeFormat();
    this.#now = options.now ?? (() => new Date());
    this.#login = new LoginForm(options.user);
  }

  // ---- read-only views, for main.ts and tests ----

  get screen(): "login" | "chat" {
    return this.#me === undefined ? "login" : "chat";
  }

  get me(): string | undefined {
    return this.#me;
  }

  get activePeer(): string | undefined {
    return this.#active === undefined ? undefined : this.#conversation(this.#active).peer;
  }

  get notice(): Notice | undefined {
    return this.#notice;
  }

  get loginErrors(): Readonly<LoginErrors> {
    return this.#login.errors;
  }

  get inputValue(): string {
    return this.#input.value;
  }

  conversation(peer: string): Conversation | undefined {
    return this.#conversations.get(peer.toLowerCase());
  }

  room(name: string): Readonly<Room> | undefined {
    return this.#rooms.get(name.toLowerCase());
  }

  /**
   * Contacts in display order: most recent conversation first, then by name (rooms, whose
   * names start with `#`, before users among those with nothing said yet).
   */
  contacts(): ContactEntry[] {
    const keys = new Set<string>(this.#contacts.keys());
    for (const [key, room] of this.#rooms) if (room.joined) keys.add(key);
    for (const [key, conversation] of this.#conversations)
      if (conversation.messages.length > 0) keys.add(key);
    const entries = [...keys].map((key) => {
      const contact = this.#contacts.get(key);
      const conversation = this.#conversations.get(key);
      return {
        key,
        user: contact?.user ?? this.#rooms.get(key)?.room ?? conversation?.peer ?? key,
        online: contact?.online ?? false,
        unread: conversation?.unreadCount ?? 0,
        self: this.#me !== undefined && sameUser(key, this.#me),
        room: isRoomName(key),
        last: conversation?.lastActivityAt,
      };
    });
    entries.sort((a, b) => {
      // This user's own entry (notes to self) goes last: Tab and the eye start with others.
      if (a.self !== b.self) return a.self ? 1 : -1;
      if (a.last !== b.last) {
        if (a.last === undefined) return 1;
        if (b.last === undefined) return -1;
        return a.last > b.last ? -1 : 1;
      }
      return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    });
    return entries.map(({ last: _last, ...rest }) => rest);
  }

  /** Conversations worth reloading after a reconnect: those with something on screen. */
  openConversations(): string[] {
    const peers: string[] = [];
    for (const [key, conversation] of this.#conversations) {
      if (key === this.#active || conversation.history !== "none" || conversation.messages.length > 0) {
        peers.push(conversation.peer);
      }
    }
    return peers;
  }

  // ---- inputs ----

  resize(cols: number, rows: number): void {
    this.#cols = Math.max(1, cols);
    this.#rows = Math.max(1, rows);
  }

  setLink(link: LinkState): void {
    const wasOpen = this.#link.state === "open";
    this.#link = link;
    if (link.state !== "open") {
      this.#online = false;
      // A log-in on its way is lost with the connection; one typed while offline still waits.
      if (wasOpen && this.screen === "login") this.#login.connectionLost();
    }
  }

  notify(text: string, level: Notice["level"] = "info"): void {
    this.#notice = { text, level };
  }

  showOverlay(title: string, lines: readonly string[]): void {
    this.#overlay = { title, lines, top: 0 };
  }

  /** /users while online: the list is shown when the answer to the request just sent is in. */
  awaitUsers(): void {
    this.#usersWanted = true;
    this.notify("Fetching the user list…");
  }

  get notifyMode(): NotifyMode {
    return this.#notifyMode;
  }

  /** /notify: sets how a message for this user elsewhere is announced; without a mode, says which is set. */
  setNotify(mode: string | undefined): void {
    if (mode === undefined) {
      this.notify(`Notifications: ${this.#notifyMode} (/notify off, bell or desktop).`);
      return;
    }
    const chosen = NOTIFY_MODES.find((candidate) => candidate === mode.toLowerCase());
    if (chosen === undefined) {
      this.notify(`/notify takes ${NOTIFY_MODES.join(", ")}, not ${mode}.`, "error");
      return;
    }
    this.#notifyMode = chosen;
    this.notify(
      chosen === "off"
        ? "Notifications off."
        : chosen === "bell"
          ? "A message for you elsewhere rings the bell."
          : "A message for you elsewhere rings the bell and asks for a desktop notification.",
    );
  }

  /** /search TEXT: the open conversation's loaded messages holding TEXT, in an overlay; PgUp there loads older ones. */
  search(term: string): Intent[] {
    if (this.#active === undefined) {
      this.notify("/search looks in the open conversation: open one first.", "error");
      return [];
    }
    this.#search = { key: this.#active, term };
    this.#showSearch(0);
    return [];
  }

  #showSearch(top: number): void {
    const search = this.#search;
    if (search === undefined) return;
    const content = searchOverlay(this.#conversation(search.key), search.term, this.#time);
    this.#overlay = { ...content, top: Math.min(top, Math.max(0, content.lines.length - 1)) };
  }

  /** /users: everyone the client knows of, with presence, in an overlay. */
  showUsers(): void {
    const { title, lines } = usersOverlay([...this.#contacts.values()], this.#time, this.#now());
    this.showOverlay(title, lines);
  }

  /** /devices: this user's devices, with presence, in an overlay. */
  showDevices(devices: readonly DeviceEntry[]): void {
    const { title, lines } = devicesOverlay(devices, this.#options.device, this.#time, this.#now());
    this.showOverlay(title, lines);
  }

  /** /members: who is in the room, who is online, and how far each has read. */
  #showMembers(room: Room): void {
    const conversation = this.#conversations.get(room.room.toLowerCase());
    const { title, lines } = membersOverlay(room, conversation, (user) => this.#isMe(user), this.#time);
    this.showOverlay(title, lines);
  }

  #isMe(user: string): boolean {
    return this.#me !== undefined && sameUser(user, this.#me);
  }

  /** Applies one session event; returns what should be fetched because of it. */
  apply(event: SessionEvent): Intent[] {
    switch (event.type) {
      case "hello":
        this.#serverName = event.server;
        this.#maxTextChars = event.limits.maxTextChars;
        this.#roomLimit = event.limits.maxRoomMembers;
        return [];
      case "registered":
        this.notify(`Account ${event.user} created.`);
        return [];
      case "logged_in":
        return this.#loggedIn(event.user, event.resumed);
      case "auth_failed":
        this.#authFailed(event.stage, event.error, event.resumed);
        return [];
      case "message": {
        const { from, to } = event.message;
        const me = this.#me ?? to;
        // A room's message goes to the room; one this user sent from another device goes to
        // the conversation it was sent to (it is outgoing there, so never unread).
        const peer = isRoomName(to) || sameUser(from, me) ? to : from;
        const conversation = this.#conversation(peer);
        const known = conversation.messages.length;
        conversation.addStored(event.message, me);
        this.#applyReadUpTo(conversation);
        this.#adoptOrphans(conversation);
        if (conversation.messages.length === known || sameUser(from, me)) return [];
        return this.#announce(conversation, event.message.from, event.message.text);
      }
      case "read_marker": {
        const { with: peer, upTo } = event.marker;
        const key = peer.toLowerCase();
        this.#readUpTo.set(key, Math.max(this.#readUpTo.get(key) ?? 0, upTo));
        const conversation = this.#conversations.get(key);
        if (conversation !== undefined) this.#applyReadUpTo(conversation);
        const room = this.#rooms.get(key);
        const member = this.#me === undefined ? undefined : room?.members?.get(this.#me.toLowerCase());
        if (member !== undefined) member.readUpTo = Math.max(member.readUpTo ?? 0, upTo);
        return [];
      }
      case "room":
        return this.#roomEvent(event.event);
      case "rooms":
        return this.#roomList(event.rooms);
      case "room_members":
        return this.#roomMembers(event.room, event.members, event.show);
      case "devices":
        this.showDevices(event.devices);
        return [];
      case "room_done":
        return this.#roomDone(event.op, event.room, event.user);
      case "room_failed":
        // A version 1 server knows no rooms: nothing to show, nothing is wrong.
        if (event.op === "rooms" && event.error.code === "unknown_op") return [];
        this.notify(roomErrorText(event.op, event.room, event.user, event.error, this.#roomLimit), "error");
        return [];
      case "receipt": {
        const { id, to, status } = event.receipt;
        const conversation = this.#conversations.get(to.toLowerCase());
        if (conversation === undefined || !conversation.setStatus(id, status)) {
          const known = this.#orphanReceipts.get(id);
          if (known === undefined || rank(status) > rank(known)) this.#orphanReceipts.set(id, status);
        }
        return [];
      }
      case "presence": {
        const key = event.user.toLowerCase();
        const contact = this.#contacts.get(key) ?? {
          user: event.user,
          name: event.user,
          online: false,
          lastSeen: null,
        };
        contact.online = event.online;
        if (!event.online && event.at !== "") contact.lastSeen = event.at;
        this.#contacts.set(key, contact);
        for (const room of this.#rooms.values()) {
          const member = room.members?.get(key);
          if (member !== undefined) member.online = event.online;
        }
        return [];
      }
      case "users":
        return this.#usersPage(event.users, event.after, event.more);
      case "history":
        this.#history(event.with, event.before, event.limit, event.messages);
        return [];
      case "history_failed": {
        const conversation = this.#conversation(event.with);
        conversation.loadingOlder = false;
        if (conversation.history === "loading") conversation.history = "loaded";
        this.notify(
          `Could not load messages with ${event.with}: ${event.error.message || event.error.code}`,
          "error",
        );
        return [];
      }
      case "send_queued": {
        const conversation = this.#conversation(event.to);
        conversation.addPending(event.cid, this.#me ?? "", event.to, event.text, this.#now().toISOString());
        conversation.scroll = { follow: true };
        return [];
      }
      case "send_ok": {
        const conversation = this.#conversation(event.to);
        const entry = conversation.sendStored(event.cid, event.id, event.at);
        if (entry !== undefined) this.#adoptOrphans(conversation);
        return [];
      }
      case "send_failed":
        this.#conversation(event.to).sendFailed(event.cid, event.error, event.retrying);
        return [];
      case "logged_out":
        this.#resetToLogin("Logged out.");
        return [];
      case "unregistered":
        this.#resetToLogin(`Account ${event.user} deleted.`);
        return [];
      case "request_failed":
        this.notify(`${event.op} failed: ${event.error.message || event.error.code}`, "error");
        return [];
      case "session_replaced":
        this.#online = false;
        this.notify(
          "You logged in from somewhere else, so this session was closed. /reconnect takes it back.",
          "error",
        );
        return [];
      case "shutdown":
        this.notify("The server is shutting down; reconnecting when it is back.", "error");
        return [];
      case "server_error":
        // The log-in screen's own connection timing out is not news: the next log-in reconnects.
        if (event.error.code === "login_timeout" && this.screen === "login") return [];
        this.notify(`Server: ${event.error.message || event.error.code}`, "error");
        return [];
      case "pong":
        return [];
      case "protocol_violation":
        this.notify(`Ignored a frame from the server: ${event.detail}`, "error");
        return [];
    }
  }

  /**
   * A new message from someone else: elsewhere than on screen, it is activity; for this user
   * (a direct message, or a room message naming them) it is highlighted and rings.
   */
  #announce(conversation: Conversation, from: string, text: string): Intent[] {
    const onScreen = conversation.key === this.#active && this.#overlay === undefined;
    if (onScreen) return [];
    const forMe = !isRoomName(conversation.key) || (this.#me !== undefined && mentions(text, this.#me));
    if (!forMe) return [];
    this.#highlights.add(conversation.key);
    if (this.#notifyMode === "off") return [];
    const where = isRoomName(conversation.key) ? ` in ${conversation.peer}` : "";
    return [
      {
        kind: "alert",
        title: `Parley: ${from}${where}`,
        body: text.replace(/\s+/gu, " ").slice(0, 120),
        desktop: this.#notifyMode === "desktop",
      },
    ];
  }

  /** Conversations with unread messages, most recent first: the status bar's activity list. */
  activity(): Activity[] {
    return this.contacts()
      .filter((contact) => contact.unread > 0 && contact.key !== this.#active)
      .map((contact) => ({
        name: contact.user,
        unread: contact.unread,
        highlight: this.#highlights.has(contact.key),
      }));
  }

  #loggedIn(user: string, resumed: boolean): Intent[] {
    if (this.#me !== undefined && !sameUser(this.#me, user)) this.#clearChat();
    this.#me = user;
    this.#online = true;
    this.#login.loggedIn();
    if (!resumed)
      this.notify(`Logged in as ${user}. Tab picks a conversation; /help lists commands and keys.`);
    else this.notify("Reconnected.");
    const intents: Intent[] = [{ kind: "load_users" }, { kind: "load_rooms" }];
    // After a reconnect, what happened meanwhile is in the history of open conversations.
    for (const peer of this.openConversations()) {
      const conversation = this.#conversation(peer);
      if (conversation.history !== "loading") conversation.history = "loading";
      intents.push({ kind: "load_history", peer, before: undefined });
    }
    return intents;
  }

  #authFailed(stage: "register" | "login", error: { code: string; message: string }, resumed: boolean): void {
    if (resumed) {
      if (error.code === "rate_limited" || error.code === "unavailable") {
        this.notify("The server refused to log in again for now; retrying.", "error");
        return;
      }
      this.#resetToLogin(`Please log in again: ${loginErrorText(error)}.`, {
        password: loginErrorText(error),
      });
      return;
    }
    this.#login.failed(stage, error);
  }

  /** One page of `users`: collected until the last, then applied as one list. */
  #usersPage(users: readonly UserEntry[], after: string | undefined, more: boolean): Intent[] {
    if (after === undefined) this.#usersPages = [];
    const pages = this.#usersPages;
    if (pages === undefined) return []; // a page of a list that a newer request replaced
    for (const entry of users) pages.push(entry);
    const last = users[users.length - 1]?.user;
    if (more && typeof last === "string") return [{ kind: "load_users", after: last }];
    this.#usersPages = undefined;
    const intents = this.#users(pages);
    if (this.#usersWanted) {
      this.#usersWanted = false;
      this.showUsers();
    }
    return intents;
  }

  #users(users: readonly UserEntry[]): Intent[] {
    const seen = new Set<string>();
    for (const entry of users) {
      if (typeof entry?.user !== "string") continue;
      const key = entry.user.toLowerCase();
      seen.add(key);
      this.#contacts.set(key, {
        user: entry.user,
        name: typeof entry.name === "string" ? entry.name : entry.user,
        online: entry.online === true,
        lastSeen: entry.lastSeen ?? null,
      });
      const conversation = this.#conversations.get(key);
      if (conversation !== undefined) conversation.peer = entry.user;
    }
    for (const key of [...this.#contacts.keys()]) if (!seen.has(key)) this.#contacts.delete(key);
    if (this.#prefetched) return [];
    // Once per login: fetch recent messages with everyone (up to a bound), so that recent
    // conversations sort first and unread messages from earlier runs are counted.
    this.#prefetched = true;
    const intents: Intent[] = [];
    for (const contact of [...this.#contacts.values()].slice(0, PREFETCH_LIMIT)) {
      const conversation = this.#conversation(contact.user);
      if (conversation.history !== "none") continue;
      conversation.history = "loading";
      intents.push({ kind: "load_history", peer: contact.user, before: undefined });
    }
    return intents;
  }

  #history(peer: string, before: number | undefined, limit: number, messages: readonly HistoryLike[]): void {
    const conversation = this.#conversation(peer);
    const me = this.#me ?? "";
    for (const message of messages) {
      if (typeof message?.id !== "number") continue;
      conversation.addStored(message, me);
    }
    this.#applyReadUpTo(conversation);
    this.#adoptOrphans(conversation);
    if (messages.length < limit) conversation.reachedStart = true;
    if (before === undefined) conversation.history = "loaded";
    else conversation.loadingOlder = false;
    if (this.#search?.key === conversation.key && this.#overlay !== undefined)
      this.#showSearch(this.#overlay.top);
  }

  #applyReadUpTo(conversation: Conversation): void {
    const upTo = this.#readUpTo.get(conversation.key);
    if (upTo !== undefined) conversation.markReadUpTo(upTo);
  }

  #roomFor(name: string): Room {
    const key = name.toLowerCase();
    let room = this.#rooms.get(key);
    if (room === undefined) {
      room = { room: name, owner: undefined, memberCount: undefined, members: undefined, joined: true };
      this.#rooms.set(key, room);
    }
    return room;
  }

  /** The `rooms` answer: every room this user is in. Fetches what their unread counts need. */
  #roomList(rooms: readonly RoomEntry[]): Intent[] {
    const seen = new Set<string>();
    const intents: Intent[] = [];
    for (const entry of rooms) {
      if (typeof entry?.room !== "string") continue;
      const key = entry.room.toLowerCase();
      seen.add(key);
      const room = this.#roomFor(entry.room);
      room.room = entry.room;
      room.owner = typeof entry.owner === "string" ? entry.owner : room.owner;
      room.memberCount = typeof entry.members === "number" ? entry.members : room.memberCount;
      room.joined = true;
      const conversation = this.#conversation(entry.room);
      conversation.peer = entry.room;
      if (intents.length < 2 * PREFETCH_LIMIT) {
        if (conversation.history === "none") {
          conversation.history = "loading";
          intents.push({ kind: "load_history", peer: entry.room, before: undefined });
        }
        // How far this user has read is in room_members: it makes the unread count right.
        intents.push({ kind: "load_members", room: entry.room });
      }
    }
    for (const [key, room] of this.#rooms) if (!seen.has(key)) room.joined = false;
    return intents;
  }

  #roomMembers(name: string, members: readonly RoomMemberEntry[], show: boolean): Intent[] {
    const room = this.#roomFor(name);
    room.members = new Map();
    for (const member of members) {
      if (typeof member?.user !== "string") continue;
      const readUpTo = typeof member.readUpTo === "number" ? member.readUpTo : null;
      room.members.set(member.user.toLowerCase(), {
        user: member.user,
        online: member.online === true,
        readUpTo,
      });
      if (this.#isMe(member.user) && readUpTo !== null) {
        const key = room.room.toLowerCase();
        this.#readUpTo.set(key, Math.max(this.#readUpTo.get(key) ?? 0, readUpTo));
        const conversation = this.#conversations.get(key);
        if (conversation !== undefined) this.#applyReadUpTo(conversation);
      }
    }
    room.memberCount = room.members.size;
    if (show) this.#showMembers(room);
    return [];
  }

  /** A membership change: the room's state, a line in its conversation, news for this user. */
  #roomEvent(event: RoomEvent): Intent[] {
    const room = this.#roomFor(event.room);
    const conversation = this.#conversation(event.room);
    const me = this.#isMe(event.user);
    const byMe = this.#isMe(event.by);
    const who = me ? "you" : event.user;
    const by = byMe ? "you" : event.by;
    const intents: Intent[] = [];
    let text: string;
    switch (event.change) {
      case "created":
        room.owner = event.by;
        room.joined = true;
        text = `${by} created ${room.room}`;
        if (!byMe) this.notify(`${event.by} created the room ${room.room} with you.`);
        intents.push({ kind: "load_members", room: room.room });
        break;
      case "joined":
        if (me) {
          room.joined = true;
          if (!byMe) this.notify(`${event.by} added you to ${room.room}.`);
          intents.push({ kind: "load_members", room: room.room });
        } else if (room.members !== undefined && !room.members.has(event.user.toLowerCase())) {
          const online = this.#contacts.get(event.user.toLowerCase())?.online ?? false;
          room.members.set(event.user.toLowerCase(), { user: event.user, online, readUpTo: null });
          room.memberCount = room.members.size;
        } else if (room.members === undefined && room.memberCount !== undefined) {
          room.memberCount++;
        }
        text = sameUser(event.user, event.by) ? `${who} joined` : `${by} added ${who}`;
        break;
      case "left":
      case "removed":
        if (me) {
          room.joined = false;
          room.members = undefined;
          room.memberCount = undefined;
          if (event.change === "removed" && !byMe) this.notify(`${event.by} removed you from ${room.room}.`);
        } else {
          if (room.members?.delete(event.user.toLowerCase()) === true) room.memberCount = room.members.size;
          else if (room.members === undefined && room.memberCount !== undefined) room.memberCount--;
          // The owner leaving passes the room on: `rooms` says to whom.
          if (room.owner !== undefined && sameUser(room.owner, event.user))
            intents.push({ kind: "load_rooms" });
        }
        text = event.change === "left" ? `${who} left` : `${by} removed ${who}`;
        break;
    }
    conversation.addNotice(String(event.seq), text, event.at);
    return intents;
  }

  #roomDone(op: string, name: string, user: string | undefined): Intent[] {
    switch (op) {
      case "room_create": {
        const room = this.#roomFor(name);
        room.joined = true;
        room.owner = this.#me;
        this.notify(`Created ${name}. /add USER invites more; /help lists room commands.`);
        // An empty room has no history yet: opening it needs no request.
        const conversation = this.#conversation(name);
        if (conversation.history === "none") {
          conversation.history = "loaded";
          conversation.reachedStart = true;
        }
        return this.select(name);
      }
      case "room_add":
        this.notify(`Added ${user} to ${name}.`);
        return [];
      case "room_remove":
        this.notify(`Removed ${user} from ${name}.`);
        return [];
      default: {
        const room = this.#rooms.get(name.toLowerCase());
        if (room !== undefined) {
          room.joined = false;
          room.members = undefined;
        }
        this.notify(`You left ${name}.`);
        return [];
      }
    }
  }

  #adoptOrphans(conversation: Conversation): void {
    if (this.#orphanReceipts.size === 0) return;
    for (const [id, status] of this.#orphanReceipts) {
      if (conversation.setStatus(id, status)) this.#orphanReceipts.delete(id);
    }
  }

  #resetToLogin(message: string, errors: LoginErrors = {}): void {
    this.#clearChat();
    this.#me = undefined;
    this.#online = false;
    this.#login.reset(errors);
    this.notify(message);
  }

  #clearChat(): void {
    this.#contacts.clear();
    this.#conversations.clear();
    this.#rooms.clear();
    this.#readUpTo.clear();
    this.#orphanReceipts.clear();
    this.#active = undefined;
    this.#unregisterPrompt = undefined;
    this.#overlay = undefined;
    this.#prefetched = false;
    this.#usersPages = undefined;
    this.#usersWanted = false;
    this.#highlights.clear();
    this.#markers.clear();
    this.#completion = undefined;
    this.#search = undefined;
    this.#input.clear();
  }

  #conversation(peer: string): Conversation {
    const key = peer.toLowerCase();
    let conversation = this.#conversations.get(key);
    if (conversation === undefined) {
      conversation = new Conversation(this.#contacts.get(key)?.user ?? this.#rooms.get(key)?.room ?? peer);
      this.#conversations.set(key, conversation);
    }
    return conversation;
  }

  /**
   * Opens the conversation with `peer` (a user or a `#room`); asks for its history the first
   * time, and for a room's members each time (its header shows who is there and online).
   */
  select(peer: string): Intent[] {
    const conversation = this.#conversation(peer);
    if (this.#active !== undefined && this.#active !== conversation.key) this.#markers.delete(this.#active);
    this.#active = conversation.key;
    this.#highlights.delete(conversation.key);
    // The unread-line marker: before the first message not read when the conversation opens.
    const firstUnread = conversation.messages.find((message) => !message.outgoing && !message.read);
    if (firstUnread !== undefined) this.#markers.set(conversation.key, firstUnread.key);
    else this.#markers.delete(conversation.key);
    conversation.scroll =
      firstUnread === undefined ? { follow: true } : { follow: false, key: MARKER_KEY, offset: 0 };
    const intents: Intent[] = [];
    if (conversation.history === "none") {
      conversation.history = "loading";
      intents.push({ kind: "load_history", peer: conversation.peer, before: undefined });
    }
    if (isRoomName(conversation.key) && this.#rooms.get(conversation.key)?.joined !== false) {
      intents.push({ kind: "load_members", room: conversation.peer });
    }
    return intents;
  }

  // ---- keys and mouse ----

  key(key: KeyPress): Intent[] {
    if (key.full === "C-c") return [{ kind: "quit" }];
    return this.screen === "login" ? this.#login.key(key) : this.#chatKey(key);
  }

  /**
   * A paste, whole: it goes into the line being edited, line breaks included (one message,
   * sent with them); a log-in field or the password prompt takes it on one line.
   */
  paste(text: string): Intent[] {
    this.#completion = undefined;
    if (this.screen === "login") {
      this.#login.paste(text);
      return [];
    }
    if (this.#overlay !== undefined) this.#closeOverlay();
    if (this.#unregisterPrompt !== undefined) this.#unregisterPrompt.insert(text.replace(/\n+/gu, ""));
    else this.#input.insert(text);
    return [];
  }

  /** A mouse click at a cell: a click on a contact opens it. */
  click(x: number, y: number): Intent[] {
    if (this.screen !== "chat" || this.#overlay !== undefined) return [];
    const layout = this.#chatLayout();
    if (x >= layout.contactsWidth || y < 1 || y >= layout.bodyHeight) return [];
    const index = y - 1 + this.#contactsTop(layout.bodyHeight - 1);
    const contact = this.contacts()[index];
    return contact === undefined ? [] : this.select(contact.user);
  }

  /** The mouse wheel over the conversation: three lines a notch. */
  wheel(direction: "up" | "down"): Intent[] {
    if (this.screen !== "chat") return [];
    return this.#scrollBy(direction === "up" ? -3 : 3);
  }

  #chatKey(key: KeyPress): Intent[] {
    if (this.#overlay !== undefined) return this.#overlayKey(key);
    const editor = this.#unregisterPrompt ?? this.#input;
    const action = lookup(CHAT_KEYS, key.full);
    const completing = (key.full === "tab" || key.full === "S-tab") && this.#unregisterPrompt === undefined;
    if (!completing) this.#completion = undefined;
    switch (action) {
      case "quit":
        return [{ kind: "quit" }];
      case "redraw":
        return [{ kind: "redraw" }];
      case "next_conversation":
        if (completing && !this.#input.isEmpty) return this.#complete(1);
        return this.#cycle(1);
      case "previous_conversation":
        if (completing && !this.#input.isEmpty) return this.#complete(-1);
        return this.#cycle(-1);
      case "page_up":
        return this.#scrollBy(-this.#pageSize());
      case "page_down":
        return this.#scrollBy(this.#pageSize());
      case "submit":
        return this.#submit();
      case "cancel":
        if (this.#unregisterPrompt !== undefined) {
          this.#unregisterPrompt = undefined;
          this.notify("Account not deleted.");
        }
        return [];
      case "history_previous":
        if (editor === this.#input) this.#input.historyPrevious();
        return [];
      case "history_next":
        if (editor === this.#input) this.#input.historyNext();
        return [];
      case undefined:
        if (isTyped(key)) editor.insert(key.ch!);
        return [];
      default:
        edit(editor, action);
        return [];
    }
  }

  /**
   * Tab with text in the input: completes the word before the cursor — a command after a
   * leading slash, a #room, or a user — most recent conversation first; Tab again (or
   * Shift-Tab) takes the next (previous) candidate.
   */
  #complete(step: number): Intent[] {
    const input = this.#input;
    let state = this.#completion;
    if (state === undefined || state.line !== input.value) {
      const before = input.beforeCursor;
      const word = /\S*$/u.exec(before)![0];
      if (word === "") return [];
      const head = before.slice(0, before.length - word.length);
      const after = input.value.slice(before.length);
      const candidates = this.#candidates(word, head);
      if (candidates.length === 0) {
        this.notify(`Nothing to complete for ${word}.`);
        return [];
      }
      state = { before: head, after, candidates, index: step > 0 ? 0 : candidates.length - 1, line: "" };
    } else {
      state.index = (state.index + step + state.candidates.length) % state.candidates.length;
    }
    const completed = state.before + state.candidates[state.index]!;
    input.set(completed + state.after);
    for (let i = 0; i < graphemeCount(state.after); i++) input.left();
    state.line = input.value;
    this.#completion = state;
    if (state.candidates.length > 1) this.notify(`Tab: ${state.candidates.map((c) => c.trim()).join(" ")}`);
    return [];
  }

  #candidates(word: string, head: string): string[] {
    const lower = word.toLowerCase();
    if (head === "" && word.startsWith("/")) {
      return COMMANDS.map((command) => `/${command.name}`)
        .filter((name) => name.startsWith(lower))
        .map((name) => `${name} `);
    }
    // Recent first: the contact list's order, then this room's members, never this user.
    const names: string[] = [];
    const add = (name: string): void => {
      if (this.#isMe(name) || names.some((known) => sameUser(known, name))) return;
      if (name.toLowerCase().startsWith(lower) && name.length > 0) names.push(name);
    };
    for (const contact of this.contacts()) add(contact.user);
    const room = this.#active === undefined ? undefined : this.#rooms.get(this.#active);
    for (const member of room?.members?.values() ?? []) add(member.user);
    const lineStart = head === "" && !isRoomName(word);
    return names.map((name) => (lineStart && !isRoomName(name) ? `${name}: ` : `${name} `));
  }

  #closeOverlay(): void {
    this.#overlay = undefined;
    this.#search = undefined;
  }

  #overlayKey(key: KeyPress): Intent[] {
    const overlay = this.#overlay!;
    switch (key.full) {
      case "pageup":
      case "up": {
        const atTop = overlay.top === 0;
        overlay.top = Math.max(0, overlay.top - (key.full === "up" ? 1 : this.#pageSize()));
        const search = this.#search;
        if (search !== undefined && atTop && key.full === "pageup") {
          const conversation = this.#conversation(search.key);
          if (conversation.reachedStart || conversation.loadingOlder || conversation.history !== "loaded")
            return [];
          conversation.loadingOlder = true;
          this.#showSearch(0);
          return [{ kind: "load_history", peer: conversation.peer, before: conversation.oldestId }];
        }
        return [];
      }
      case "pagedown":
      case "down":
        overlay.top = Math.min(
          Math.max(0, overlay.lines.length - 1),
          overlay.top + (key.full === "down" ? 1 : this.#pageSize()),
        );
        return [];
      case "C-l":
        return [{ kind: "redraw" }];
      default:
        // Any other key closes it: help should never trap anyone.
        this.#closeOverlay();
        return [];
    }
  }

  #submit(): Intent[] {
    // A new line is a new subject: old news leaves the status bar.
    this.#notice = undefined;
    if (this.#unregisterPrompt !== undefined) {
      const password = this.#unregisterPrompt.value;
      this.#unregisterPrompt = undefined;
      return password === "" ? [] : [{ kind: "unregister", password }];
    }
    const line = this.#input.value;
    if (isBlank(line)) return [];
    if (line.startsWith("/") && !line.startsWith("//")) {
      // /msg's text is checked here, so that a text the server would refuse stays in the
      // input to be fixed, as it does in the conversation.
      const parsed = parseCommandLine(line.trim());
      if (!("error" in parsed) && parsed.command.name === "msg") {
        const problem = this.checkText(parsed.args[1] ?? "");
        if (problem !== undefined) {
          this.notify(problem, "error");
          return [];
        }
      }
      this.#input.commit();
      return [{ kind: "command", line: line.trim() }];
    }
    const text = line.startsWith("//") ? line.slice(1) : line;
    const peer = this.activePeer;
    if (peer === undefined) {
      this.notify("Pick a conversation first: Tab, a click on a contact, or /msg USER TEXT.", "error");
      return [];
    }
    const problem = this.checkText(text);
    if (problem !== undefined) {
      // The line stays in the input so it can be fixed rather than typed again.
      this.notify(problem, "error");
      return [];
    }
    this.#input.commit();
    return [{ kind: "send", to: peer, text }];
  }

  /** Why `text` cannot be sent, in plain words; undefined when it can. */
  checkText(text: string): string | undefined {
    if (isBlank(text)) return "The message is empty.";
    const length = codePointLength(text);
    if (length > this.#maxTextChars) {
      return `Too long: ${length} characters, the server takes at most ${this.#maxTextChars}.`;
    }
    if (hasInvalidCharacter(text)) return "The message holds control characters that cannot be sent.";
    return undefined;
  }

  /** /unregister: the input line becomes a masked password prompt. */
  startUnregisterPrompt(): void {
    this.#unregisterPrompt = new LineEditor({ maxHistory: 0 });
    this.notify(`Type your password and press Enter to delete the account ${this.#me ?? ""}; Esc cancels.`);
  }

  #cycle(step: number): Intent[] {
    const contacts = this.contacts();
    if (contacts.length === 0) return [];
    const index = contacts.findIndex((contact) => contact.key === this.#active);
    const next =
      index === -1
        ? step > 0
          ? 0
          : contacts.length - 1
        : (index + step + contacts.length) % contacts.length;
    return this.select(contacts[next]!.user);
  }

  #pageSize(): number {
    return Math.max(1, this.#chatLayout().bodyHeight - 2);
  }

  #scrollBy(delta: number): Intent[] {
    if (this.#active === undefined) return [];
    const conversation = this.#conversation(this.#active);
    const { lines, height } = this.#layoutActive();
    const current = viewport(lines, conversation.scroll, height);
    const top = Math.max(0, current.top + delta);
    conversation.scroll = scrollTo(lines, top, height);
    const after = viewport(lines, conversation.scroll, height);
    if (delta < 0 && after.atTop && !conversation.reachedStart && !conversation.loadingOlder) {
      if (conversation.history !== "loaded") return [];
      conversation.loadingOlder = true;
      return [{ kind: "load_history", peer: conversation.peer, before: conversation.oldestId }];
    }
    return [];
  }

  // ---- the frame ----

  #chatLayout(): ChatGeometry {
    const noticeLines = noticeRows(
      this.#statusText(),
      this.#identity(),
      this.#notice,
      this.#cols,
      this.activity(),
    ).length;
    return chatGeometry(this.#cols, this.#rows, noticeLines);
  }

  #layoutActive(): { lines: LayoutLine[]; height: number } {
    const layout = this.#chatLayout();
    const height = layout.conversationHeight;
    if (this.#active === undefined) return { lines: [], height };
    const lines = layoutConversation(this.#conversation(this.#active), {
      me: this.#me ?? "",
      width: layout.conversationWidth,
      time: this.#time,
      maxTextChars: this.#maxTextChars,
      markerBefore: this.#markers.get(this.#active),
    });
    return { lines, height };
  }

  #contactsTop(visibleRows: number): number {
    const contacts = this.contacts();
    const index = contacts.findIndex((contact) => contact.key === this.#active);
    if (index < visibleRows) return 0;
    return Math.min(index - visibleRows + 1, Math.max(0, contacts.length - visibleRows));
  }

  /**
   * The explicit step that moves read marks, run before each frame is painted: the messages
   * from others that the next frame shows of the open conversation become read, so the
   * contact list in that frame counts right. Returns the `read` the server should hear
   * about (the session skips repeats); undefined when nothing is to be said.
   */
  markShown(): { peer: string; upTo: number } | undefined {
    if (this.screen !== "chat" || this.#active === undefined || this.#overlay !== undefined) return undefined;
    const conversation = this.#conversation(this.#active);
    const { lines, height } = this.#layoutActive();
    const view = viewport(lines, conversation.scroll, height);
    let newest = 0;
    for (let i = view.top; i < view.end; i++) newest = Math.max(newest, lines[i]!.incomingId ?? 0);
    if (newest === 0) return undefined;
    conversation.markReadUpTo(newest);
    if (conversation.unreadCount === 0) this.#highlights.delete(conversation.key);
    return this.#online ? { peer: conversation.peer, upTo: newest } : undefined;
  }

  /** Builds the frame to paint from the current state; changes nothing. */
  frame(): Frame {
    if (this.screen === "login") return renderLogin(this.#loginView());
    return renderChat(this.#chatView());
  }

  #chatView(): ChatView {
    const layout = this.#chatLayout();
    const { lines, height } = this.#layoutActive();
    const contacts = this.contacts();
    const active = this.#active === undefined ? undefined : this.#conversation(this.#active);
    const contact = active === undefined ? undefined : this.#contacts.get(active.key);
    const room = active === undefined ? undefined : this.#rooms.get(active.key);
    const editor = this.#unregisterPrompt ?? this.#input;
    return {
      cols: this.#cols,
      rows: this.#rows,
      contactsWidth: layout.contactsWidth,
      contacts,
      contactsTop: this.#contactsTop(layout.bodyHeight - 1),
      activeKey: this.#active,
      header:
        active === undefined
          ? undefined
          : {
              peer: active.peer,
              online: contact?.online ?? false,
              lastSeen:
                contact?.lastSeen === null || contact?.lastSeen === undefined
                  ? undefined
                  : this.#time.since(contact.lastSeen, this.#now()),
              exists: contact !== undefined,
              room: isRoomName(active.key) ? this.#roomHeader(room) : undefined,
            },
      lines,
      viewport: active === undefined ? undefined : viewport(lines, active.scroll, height),
      activity: this.activity(),
      status: this.#statusText(),
      identity: this.#identity(),
      notice: this.#notice,
      prompt:
        this.#unregisterPrompt !== undefined
          ? "password: "
          : active === undefined
            ? "> "
            : `${active.peer}> `,
      editor,
      masked: this.#unregisterPrompt !== undefined,
      overlay: this.#overlay,
    };
  }

  #roomHeader(room: Room | undefined): RoomHeader {
    if (room === undefined || !room.joined) return { joined: false, memberCount: undefined, online: [] };
    const online = [...(room.members?.values() ?? [])]
      .filter((member) => member.online)
      .map((member) => member.user)
      .sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1));
    return {
      joined: true,
      memberCount: room.memberCount,
      online: room.members === undefined ? undefined : online,
    };
  }

  #loginView(): LoginView {
    return {
      cols: this.#cols,
      rows: this.#rows,
      mode: this.#login.mode,
      fields: this.#login.fields(),
      focused: this.#login.field,
      editors: this.#login.editors,
      errors: this.#login.errors,
      busy: this.#login.busy,
      server: `${this.#options.host}:${this.#options.port}`,
      status: this.#statusText(),
      notice: this.#notice,
    };
  }

  #identity(): string {
    return `${this.#me ?? ""}@${this.#options.host}:${this.#options.port}`;
  }

  #statusText(): { text: string; good: boolean } {
    const link = this.#link;
    switch (link.state) {
      case "connecting":
        return { text: "connecting…", good: false };
      case "waiting":
        return {
          text: `offline, retrying in ${Math.max(1, Math.round(link.retryInMs / 1000))} s (${link.reason})`,
          good: false,
        };
      case "held":
        return { text: link.reason, good: false };
      case "open":
        if (this.#me === undefined) return { text: "connected", good: true };
        return this.#online ? { text: "online", good: true } : { text: "logging in…", good: false };
    }
  }

  get server(): string {
    return `${this.#options.host}:${this.#options.port}${this.#serverName === "" ? "" : ` (${this.#serverName})`}`;
  }
}

type HistoryLike = { id: number; from: string; to: string; text: string; at: string; status?: MessageStatus };

const RANKS: Record<MessageStatus, number> = { sent: 1, delivered: 2, read: 3, undeliverable: 4, expired: 4 };

function rank(status: MessageStatus): number {
  return RANKS[status];
}

/** Whether `text` names `user` as a word ("bob:", "@bob", "thanks bob!"), in any case. */
export function mentions(text: string, user: string): boolean {
  const escaped = user.replace(/[.*+?^${}()|[\]\\]/gu, "\\$&");
  return new RegExp(`(^|[^A-Za-z0-9_.-])@?${escaped}($|[^A-Za-z0-9_-])`, "iu").test(text);
}

function graphemeCount(text: string): number {
  return graphemes(text).length;
}

/** A refused room operation in plain words. */
export function roomErrorText(
  op: string,
  room: string | undefined,
  user: string | undefined,
  error: { code: string; message: string },
  maxRoomMembers: number,
): string {
  const name = room ?? "the room";
  switch (error.code) {
    case "invalid_room":
      return `${name} is not a room name: # and 1-32 of A-Z a-z 0-9 _ . -`;
    case "room_exists":
      return `${name} exists already; pick another name`;
    case "no_such_room":
      return `There is no room called ${name}.`;
    case "not_member":
      return `You are not a member of ${name}.`;
    case "not_owner":
      return `Only the owner of ${name} removes members.`;
    case "no_such_user":
      return user === undefined ? error.message || "No such user." : `There is no user called ${user}.`;
    case "too_many_members":
      return `${name} is full: at most ${maxRoomMembers} members.`;
    case "bad_argument":
      if (op === "room_remove") return "To leave the room yourself, use /leave.";
      return error.message || error.code;
    case "unknown_op":
      return "This server has no rooms (it speaks protocol version 1).";
    default:
      return `${op.replace("room_", "")} ${name} failed: ${error.message || error.code}`;
  }
}
