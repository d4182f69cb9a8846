// The view model, unit: session events and keys in, state and frames out. Frames are read as
// plain text, the way capture-pane shows the real screen.

import { expect } from "chai";
import type { HistoryMessage } from "../../server/protocol/messages.js";
import type { SessionEvent } from "../../tui-client/session.js";
import { type Frame, frameText, rowWidth } from "../../tui-client/styled-text.js";
import { TimeFormat } from "../../tui-client/time-format.js";
import { type Intent, type KeyPress, ViewModel } from "../../tui-client/view-model.js";

const LIMITS = {
  maxTextChars: 4096,
  maxFrameBytes: 65536,
  maxPending: 10000,
  maxInFlight: 1024,
  idleTimeoutMs: 120000,
  maxDevices: 10,
  maxRoomMembers: 1000,
};
const DAY1 = "2026-11-24";
const DAY2 = "2026-11-25";

function newView(cols = 80, rows = 24): ViewModel {
  const view = new ViewModel({
    host: "127.0.0.1",
    port: 7878,
    time: new TimeFormat({ locale: "en-GB", timeZone: "UTC" }),
    now: () => new Date(`${DAY2}T12:00:00.000Z`),
  });
  view.resize(cols, rows);
  view.setLink({ state: "open" });
  return view;
}

function apply(view: ViewModel, ...events: SessionEvent[]): Intent[] {
  return events.flatMap((event) => view.apply(event));
}

function loggedInView(cols = 80, rows = 24): ViewModel {
  const view = newView(cols, rows);
  apply(
    view,
    { type: "hello", server: "parley/test", limits: LIMITS },
    { type: "logged_in", user: "alice", pending: 0, resumed: false },
    {
      type: "users",
      users: [
        { user: "alice", name: "alice", online: true, lastSeen: null },
        { user: "bob", name: "bob", online: true, lastSeen: null },
        { user: "carol", name: "carol", online: false, lastSeen: `${DAY1}T09:00:00.000Z` },
      ],
      after: undefined,
      more: false,
    },
  );
  for (const peer of ["alice", "bob", "carol"]) {
    apply(view, { type: "history", with: peer, before: undefined, limit: 50, messages: [] });
  }
  return view;
}

let seq = 0;
function incoming(
  id: number,
  from = "bob",
  text = `hello ${id}`,
  at = `${DAY2}T10:00:00.000Z`,
): SessionEvent {
  return { type: "message", message: { ev: "message", seq: ++seq, id, from, to: "alice", text, at } };
}

function history(
  id: number,
  from: string,
  to: string,
  status: HistoryMessage["status"],
  at = `${DAY2}T08:00:00.000Z`,
): HistoryMessage {
  return { id, from, to, text: `history ${id}`, at, status };
}

function typeText(view: ViewModel, text: string): Intent[] {
  return [...text].flatMap((ch) => view.key({ full: ch, ch }));
}

function press(view: ViewModel, full: string): Intent[] {
  const key: KeyPress = { full };
  return view.key(key);
}

/** What main.ts does for each render: read marks move in their own step, then the frame. */
function show(view: ViewModel): Frame {
  view.markShown();
  return view.frame();
}

function screen(view: ViewModel): string {
  return frameText(show(view));
}

function contactLine(view: ViewModel, user: string): string {
  return screen(view)
    .split("\n")
    .map((line) => line.split("│")[0]!)
    .find((line) => line.includes(` ${user}`))!;
}

describe("tui view model (unit)", () => {
  describe("contacts", () => {
    it("lists every user with an online mark, alphabetically while nobody has talked, and you last (issue 12)", () => {
      const view = loggedInView();
      expect(view.contacts().map((contact) => contact.user)).to.deep.equal(["bob", "carol", "alice"]);
      const text = screen(view);
      expect(text).to.include("● alice (you)");
      expect(text).to.include("● bob");
      expect(text).to.include("○ carol");
    });

    it("puts the most recent conversation first", () => {
      const view = loggedInView();
      apply(view, incoming(1, "carol", "hi", `${DAY2}T10:00:00.000Z`));
      expect(view.contacts()[0]!.user).to.equal("carol");
      apply(view, incoming(2, "bob", "later", `${DAY2}T10:05:00.000Z`));
      expect(view.contacts().map((contact) => contact.user)).to.deep.equal(["bob", "carol", "alice"]);
    });

    it("follows presence events, and adds users it did not know", () => {
      const view = loggedInView();
      apply(view, { type: "presence", user: "carol", online: true, at: `${DAY2}T11:00:00.000Z` });
      apply(view, { type: "presence", user: "dave", online: true, at: `${DAY2}T11:00:00.000Z` });
      const contacts = view.contacts();
      expect(contacts.find((contact) => contact.user === "carol")!.online).to.equal(true);
      expect(contacts.find((contact) => contact.user === "dave")!.online).to.equal(true);
      apply(view, { type: "presence", user: "bob", online: false, at: `${DAY2}T11:30:00.000Z` });
      expect(contactLine(view, "bob")).to.include("○ bob");
    });

    it("selects a contact on a click in the contacts pane", () => {
      const view = loggedInView();
      show(view);
      const intents = view.click(3, 2); // row 0 is the title; carol is the second contact
      expect(view.activePeer).to.equal("carol");
      expect(intents).to.deep.equal([]);
    });
  });

  describe("unread counts and read markers", () => {
    it("counts messages that arrive in a conversation not on screen", () => {
      const view = loggedInView();
      apply(view, incoming(1), incoming(2));
      expect(view.contacts().find((contact) => contact.user === "bob")!.unread).to.equal(2);
      expect(contactLine(view, "bob")).to.match(/bob\s+2/u);
      expect(view.markShown()).to.equal(undefined);
    });

    it("clears the count once the conversation is shown, and marks up to the newest shown", () => {
      const view = loggedInView();
      apply(view, incoming(1), incoming(2));
      press(view, "tab"); // bob: the most recent conversation comes first
      expect(view.activePeer).to.equal("bob");
      const text = screen(view);
      expect(text).to.include("hello 2");
      expect(view.contacts().find((contact) => contact.user === "bob")!.unread).to.equal(0);
      expect(view.markShown()).to.deep.equal({ peer: "bob", upTo: 2 });
    });

    it("counts unread messages from history that were delivered but never read", () => {
      const view = loggedInView();
      apply(view, {
        type: "history",
        with: "carol",
        before: undefined,
        limit: 50,
        messages: [history(1, "carol", "alice", "read"), history(2, "carol", "alice", "delivered")],
      });
      expect(view.contacts().find((contact) => contact.user === "carol")!.unread).to.equal(1);
    });

    it("does not mark messages read while they are scrolled out of sight", () => {
      const view = loggedInView(80, 12);
      view.select("bob");
      for (let id = 1; id <= 30; id++) apply(view, incoming(id));
      show(view);
      press(view, "pageup");
      press(view, "pageup");
      show(view);
      const marker = view.markShown()!;
      expect(marker.upTo).to.be.lessThan(30);
      apply(view, incoming(31));
      show(view);
      expect(view.contacts().find((contact) => contact.user === "bob")!.unread).to.be.greaterThan(0);
      expect(screen(view)).to.include("more below");
    });
  });

  describe("marks on own messages", () => {
    function markOf(view: ViewModel, text: string): string {
      const line = screen(view)
        .split("\n")
        .find((row) => row.includes(text))!;
      return line.split("│")[1]!.slice(6, 8).trim();
    }

    it("moves from pending to sent to delivered to read, never backwards", () => {
      const view = loggedInView();
      view.select("bob");
      apply(view, { type: "send_queued", cid: "c-1", to: "bob", text: "are you there?" });
      expect(markOf(view, "are you there?")).to.equal("…");
      apply(view, {
        type: "send_ok",
        cid: "c-1",
        to: "bob",
        id: 10,
        at: `${DAY2}T11:00:00.000Z`,
        duplicate: false,
      });
      expect(markOf(view, "are you there?")).to.equal("✓");
      const receipt = (status: "delivered" | "read"): SessionEvent => ({
        type: "receipt",
        receipt: { ev: "receipt", seq: ++seq, id: 10, to: "bob", status, at: `${DAY2}T11:01:00.000Z` },
      });
      apply(view, receipt("delivered"));
      expect(markOf(view, "are you there?")).to.equal("✓✓");
      apply(view, receipt("read"));
      expect(markOf(view, "are you there?")).to.equal("✔✔");
      apply(view, receipt("delivered"));
      expect(markOf(view, "are you there?"), "a late delivered does not undo read").to.equal("✔✔");
    });

    it("takes statuses from history", () => {
      const view = loggedInView();
      view.select("bob");
      apply(view, {
        type: "history",
        with: "bob",
        before: undefined,
        limit: 50,
        messages: [
          history(5, "alice", "bob", "sent"),
          history(6, "alice", "bob", "delivered"),
          history(7, "alice", "bob", "read"),
        ],
      });
      expect(markOf(view, "history 5")).to.equal("✓");
      expect(markOf(view, "history 6")).to.equal("✓✓");
      expect(markOf(view, "history 7")).to.equal("✔✔");
    });

    it("keeps a receipt that arrives before the resent send is answered", () => {
      const view = loggedInView();
      view.select("bob");
      apply(view, { type: "send_queued", cid: "c-9", to: "bob", text: "lost answer" });
      apply(view, {
        type: "receipt",
        receipt: {
          ev: "receipt",
          seq: ++seq,
          id: 77,
          to: "bob",
          status: "delivered",
          at: `${DAY2}T11:01:00.000Z`,
        },
      });
      apply(view, {
        type: "send_ok",
        cid: "c-9",
        to: "bob",
        id: 77,
        at: `${DAY2}T11:00:00.000Z`,
        duplicate: true,
      });
      expect(markOf(view, "lost answer")).to.equal("✓✓");
    });

    it("shows a refused send beside the message, in plain words", () => {
      const view = loggedInView();
      view.select("bob");
      apply(view, { type: "send_queued", cid: "c-2", to: "bob", text: "too much" });
      apply(view, {
        type: "send_failed",
        cid: "c-2",
        to: "bob",
        error: { code: "rate_limited", message: "slow down" },
        retrying: false,
      });
      const lines = screen(view).split("\n");
      const index = lines.findIndex((line) => line.includes("too much"));
      expect(lines[index]).to.include("✗");
      expect(lines[index + 1]).to.include("not sent: you are sending too fast");
    });

    it("shows mailbox_full and text_too_long beside their messages", () => {
      const view = loggedInView();
      view.select("bob");
      apply(view, { type: "send_queued", cid: "c-3", to: "bob", text: "first" });
      apply(view, { type: "send_queued", cid: "c-4", to: "bob", text: "second" });
      apply(view, {
        type: "send_failed",
        cid: "c-3",
        to: "bob",
        error: { code: "mailbox_full", message: "" },
        retrying: false,
      });
      apply(view, {
        type: "send_failed",
        cid: "c-4",
        to: "bob",
        error: { code: "text_too_long", message: "" },
        retrying: false,
      });
      const text = screen(view);
      expect(text).to.match(/first\n.*bob's mailbox is full/u);
      expect(text).to.match(/second\n.*longer than 4096 characters/u);
    });

    it("shows one entry for a message to oneself, whichever copy comes first", () => {
      const view = loggedInView();
      view.select("alice");
      apply(view, { type: "send_queued", cid: "c-5", to: "alice", text: "note to self" });
      apply(view, {
        type: "message",
        message: {
          ev: "message",
          seq: ++seq,
          id: 50,
          from: "alice",
          to: "alice",
          text: "note to self",
          at: `${DAY2}T11:00:00.000Z`,
        },
      });
      apply(view, {
        type: "send_ok",
        cid: "c-5",
        to: "alice",
        id: 50,
        at: `${DAY2}T11:00:00.000Z`,
        duplicate: false,
      });
      expect(view.conversation("alice")!.messages).to.have.length(1);
      expect(screen(view).match(/note to self/gu)).to.have.length(1);
    });
  });

  describe("conversation pane", () => {
    it("shows local time, sender and wrapped text, with a separator for each day", () => {
      const view = loggedInView();
      view.select("bob");
      apply(
        view,
        incoming(1, "bob", "yesterday's news", `${DAY1}T22:15:00.000Z`),
        incoming(2, "bob", `today ${"word ".repeat(30)}end`, `${DAY2}T07:05:00.000Z`),
      );
      const text = screen(view);
      expect(text).to.include("Tuesday, 24 November 2026");
      expect(text).to.include("Wednesday, 25 November 2026");
      expect(text).to.match(/22:15\s+bob yesterday's news/u);
      expect(text).to.match(/07:05\s+bob today word/u);
      const lines = text.split("\n");
      const first = lines.findIndex((line) => line.includes("today word"));
      expect(lines[first + 1]!.split("│")[1]!.trim()).to.match(/^word/u);
      expect(lines.findIndex((line) => line.includes("24 November"))).to.be.lessThan(
        lines.findIndex((line) => line.includes("25 November")),
      );
    });

    it("converts times to the configured zone", () => {
      const view = new ViewModel({
        host: "h",
        port: 1,
        time: new TimeFormat({ locale: "en-GB", timeZone: "Asia/Tokyo" }),
      });
      view.resize(80, 24);
      apply(view, { type: "logged_in", user: "alice", pending: 0, resumed: false });
      view.select("bob");
      apply(view, incoming(1, "bob", "late", `${DAY1}T22:15:00.000Z`));
      const text = screen(view);
      expect(text).to.match(/07:15\s+bob late/u);
      expect(text).to.include("Wednesday, 25 November 2026");
    });

    it("merges history pages without duplicates, oldest first", () => {
      const view = newView();
      apply(view, { type: "logged_in", user: "alice", pending: 0, resumed: false });
      view.select("bob");
      apply(view, incoming(8, "bob", "live 8"), incoming(9, "bob", "live 9"));
      apply(view, {
        type: "history",
        with: "bob",
        before: undefined,
        limit: 3,
        messages: [
          history(7, "bob", "alice", "delivered"),
          history(8, "bob", "alice", "delivered"),
          history(9, "bob", "alice", "delivered"),
        ],
      });
      apply(view, {
        type: "history",
        with: "bob",
        before: 7,
        limit: 3,
        messages: [
          history(4, "alice", "bob", "read"),
          history(5, "bob", "alice", "read"),
          history(6, "alice", "bob", "read"),
        ],
      });
      const ids = view.conversation("bob")!.messages.map((message) => message.id);
      expect(ids).to.deep.equal([4, 5, 6, 7, 8, 9]);
      view.conversation("bob")!.reachedStart = false; // loggedInView loaded an empty history
    });

    it("loads older messages when PgUp reaches the top, then knows when the start is reached", () => {
      const view = loggedInView(80, 14);
      const first = view.select("bob");
      expect(first).to.deep.equal([]); // history already loaded (empty) in loggedInView
      const page = Array.from({ length: 20 }, (_, i) =>
        history(100 + i, i % 2 ? "alice" : "bob", i % 2 ? "bob" : "alice", "read"),
      );
      apply(view, { type: "history", with: "bob", before: undefined, limit: 20, messages: page });
      view.conversation("bob")!.reachedStart = false;
      show(view);
      let intents: Intent[] = [];
      for (let i = 0; i < 5 && intents.length === 0; i++) intents = press(view, "pageup");
      expect(intents).to.deep.equal([{ kind: "load_history", peer: "bob", before: 100 }]);
      expect(press(view, "pageup"), "no second request while one is out").to.deep.equal([]);
      const topBefore = screen(view);
      apply(view, {
        type: "history",
        with: "bob",
        before: 100,
        limit: 50,
        messages: [history(98, "bob", "alice", "read"), history(99, "bob", "alice", "read")],
      });
      expect(view.conversation("bob")!.reachedStart).to.equal(true);
      expect(screen(view), "the view stays where it was").to.include(
        topBefore.split("\n")[3]!.split("│")[1]!.trim(),
      );
      press(view, "pageup");
      expect(screen(view)).to.include("start of your conversation with bob");
    });

    it("asks for a conversation's history the first time it is opened", () => {
      const view = newView();
      apply(view, { type: "logged_in", user: "alice", pending: 0, resumed: false });
      expect(view.select("zed")).to.deep.equal([{ kind: "load_history", peer: "zed", before: undefined }]);
      expect(view.select("zed")).to.deep.equal([]);
    });

    it("fits every row to the terminal width, with emoji and wide characters", () => {
      for (const [cols, rows] of [
        [80, 24],
        [100, 30],
        [43, 12],
      ] as const) {
        const view = loggedInView(cols, rows);
        view.select("bob");
        apply(view, incoming(1, "bob", `${"日本語のテキスト👋🏽 ".repeat(12)}x`));
        apply(view, { type: "send_queued", cid: "c-w", to: "bob", text: "👍".repeat(60) });
        for (const chars of [..."héllo wörld 🎉"]) view.key({ full: chars, ch: chars });
        const frame = show(view);
        expect(frame.rows).to.have.length(rows);
        for (const row of frame.rows) expect(rowWidth(row)).to.equal(cols);
        expect(frame.cursor!.x).to.be.lessThan(cols);
      }
    });
  });

  describe("input line", () => {
    it("sends the line to the open conversation on Enter and keeps it for Up", () => {
      const view = loggedInView();
      view.select("bob");
      typeText(view, "hi bob");
      expect(press(view, "enter")).to.deep.equal([{ kind: "send", to: "bob", text: "hi bob" }]);
      expect(view.inputValue).to.equal("");
      press(view, "up");
      expect(view.inputValue).to.equal("hi bob");
      press(view, "down");
      expect(view.inputValue).to.equal("");
    });

    it("hands /commands to the command table, and sends //text as /text", () => {
      const view = loggedInView();
      view.select("bob");
      typeText(view, "/msg carol hey there");
      expect(press(view, "enter")).to.deep.equal([{ kind: "command", line: "/msg carol hey there" }]);
      typeText(view, "//shrug");
      expect(press(view, "enter")).to.deep.equal([{ kind: "send", to: "bob", text: "/shrug" }]);
    });

    it("refuses to send with no conversation open, keeping the text", () => {
      const view = loggedInView();
      typeText(view, "to whom?");
      expect(press(view, "enter")).to.deep.equal([]);
      expect(view.inputValue).to.equal("to whom?");
      expect(view.notice!.level).to.equal("error");
    });

    it("keeps a too-long text in the input line and says why", () => {
      const view = loggedInView();
      apply(view, { type: "hello", server: "x", limits: { ...LIMITS, maxTextChars: 5 } });
      view.select("bob");
      typeText(view, "123456");
      expect(press(view, "enter")).to.deep.equal([]);
      expect(view.inputValue).to.equal("123456");
      expect(view.notice!.text).to.include("at most 5");
    });

    it("cycles through conversations with Tab and Shift-Tab, and Ctrl-N / Ctrl-P, yourself last (issue 12)", () => {
      const view = loggedInView();
      press(view, "tab");
      expect(view.activePeer, "the first Tab opens someone else").to.equal("bob");
      press(view, "C-n");
      expect(view.activePeer).to.equal("carol");
      press(view, "S-tab");
      expect(view.activePeer).to.equal("bob");
      press(view, "C-p");
      expect(view.activePeer).to.equal("alice");
    });

    it("quits on Ctrl-C and asks for a redraw on Ctrl-L", () => {
      const view = loggedInView();
      expect(press(view, "C-c")).to.deep.equal([{ kind: "quit" }]);
      expect(press(view, "C-l")).to.deep.equal([{ kind: "redraw" }]);
    });

    it("asks for the password, masked, before deleting the account", () => {
      const view = loggedInView();
      view.startUnregisterPrompt();
      typeText(view, "secret-pw");
      expect(screen(view)).to.include("password: •••••••••");
      expect(screen(view)).to.not.include("secret-pw");
      expect(press(view, "enter")).to.deep.equal([{ kind: "unregister", password: "secret-pw" }]);
    });
  });

  describe("log-in screen", () => {
    it("logs in with the typed name and password, the password masked", () => {
      const view = newView();
      typeText(view, "alice");
      press(view, "enter");
      typeText(view, "correct horse");
      expect(screen(view)).to.include("[•••••••••••••");
      expect(screen(view)).to.not.include("correct horse");
      expect(press(view, "enter")).to.deep.equal([
        { kind: "login", user: "alice", password: "correct horse" },
      ]);
    });

    it("asks for the password twice when registering and catches a mismatch", () => {
      const view = newView();
      press(view, "C-r");
      typeText(view, "alice");
      press(view, "enter");
      typeText(view, "password-1");
      press(view, "enter");
      typeText(view, "password-2");
      expect(press(view, "enter")).to.deep.equal([]);
      expect(screen(view)).to.match(/Again\s+\[•+\s*\] the two passwords differ/u);
      for (let i = 0; i < 10; i++) press(view, "backspace");
      typeText(view, "password-1");
      expect(press(view, "enter")).to.deep.equal([
        { kind: "register", user: "alice", password: "password-1" },
      ]);
    });

    it("shows the server's errors in plain words beside the field they concern", () => {
      const cases = [
        ["bad_credentials", "Password", "wrong user name or password"],
        ["rate_limited", "Password", "too many tries; wait a minute"],
        ["weak_password", "Password", "too weak"],
        ["user_exists", "User", "that name is taken"],
        ["invalid_username", "User", "use 1-32 of"],
      ] as const;
      for (const [code, field, words] of cases) {
        const view = newView();
        apply(view, {
          type: "auth_failed",
          stage: code === "user_exists" ? "register" : "login",
          error: { code, message: "server words" },
          resumed: false,
        });
        const line = screen(view)
          .split("\n")
          .find((row) => row.trimStart().startsWith(field))!;
        expect(line, code).to.include(words);
      }
    });

    it("switches to the chat screen on login and back on logout", () => {
      const view = newView();
      expect(view.screen).to.equal("login");
      apply(view, { type: "logged_in", user: "alice", pending: 0, resumed: false });
      expect(view.screen).to.equal("chat");
      apply(view, { type: "logged_out" });
      expect(view.screen).to.equal("login");
    });

    it("returns to the log-in screen when logging in again after a reconnect is refused", () => {
      const view = loggedInView();
      apply(view, {
        type: "auth_failed",
        stage: "login",
        error: { code: "bad_credentials", message: "" },
        resumed: true,
      });
      expect(view.screen).to.equal("login");
      expect(screen(view)).to.include("wrong user name or password");
    });
  });

  describe("after a reconnect", () => {
    it("reloads users and the history of open conversations", () => {
      const view = loggedInView();
      view.select("bob");
      view.setLink({ state: "waiting", retryInMs: 1000, reason: "connection refused" });
      expect(screen(view)).to.include("offline, retrying in 1 s");
      view.setLink({ state: "open" });
      const intents = apply(view, { type: "logged_in", user: "alice", pending: 0, resumed: true });
      expect(intents[0]).to.deep.equal({ kind: "load_users" });
      expect(intents).to.deep.include({ kind: "load_history", peer: "bob", before: undefined });
      expect(view.screen).to.equal("chat");
    });

    it("says plainly that the session was replaced", () => {
      const view = loggedInView();
      apply(view, { type: "session_replaced" });
      view.setLink({ state: "held", reason: "session taken over elsewhere" });
      const text = screen(view);
      expect(text).to.include("session taken over elsewhere");
      expect(text).to.include("logged in from somewhere else");
    });
  });

  describe("rooms and devices", () => {
    function roomMessage(id: number, from: string, text: string, at = `${DAY2}T10:00:00.000Z`): SessionEvent {
      return { type: "message", message: { ev: "message", seq: ++seq, id, from, to: "#lab", text, at } };
    }

    function roomEvent(
      change: "created" | "joined" | "left" | "removed",
      user: string,
      by: string,
    ): SessionEvent {
      return {
        type: "room",
        event: { ev: "room", seq: ++seq, room: "#lab", change, user, by, at: `${DAY2}T09:00:00.000Z` },
      };
    }

    function withRoom(cols = 80, rows = 24): ViewModel {
      const view = loggedInView(cols, rows);
      apply(view, { type: "rooms", rooms: [{ room: "#lab", owner: "bob", members: 3 }] });
      apply(view, { type: "history", with: "#lab", before: undefined, limit: 50, messages: [] });
      return view;
    }

    function unread(view: ViewModel, key: string): number {
      return view.contacts().find((contact) => contact.key === key)!.unread;
    }

    it("asks for rooms after logging in", () => {
      const view = newView();
      const intents = apply(view, { type: "logged_in", user: "alice", pending: 0, resumed: false });
      expect(intents).to.deep.include({ kind: "load_rooms" });
    });

    it("lists rooms among the contacts as #name, and fetches their history and members", () => {
      const view = loggedInView();
      const intents = apply(view, { type: "rooms", rooms: [{ room: "#Lab", owner: "bob", members: 3 }] });
      expect(intents).to.deep.equal([
        { kind: "load_history", peer: "#Lab", before: undefined },
        { kind: "load_members", room: "#Lab" },
      ]);
      const entry = view.contacts().find((contact) => contact.key === "#lab")!;
      expect(entry).to.include({ user: "#Lab", room: true, unread: 0 });
      expect(contactLine(view, "#Lab"), "where a user has ●").to.match(/^ {3}#Lab\s*$/u);
    });

    it("puts room messages in the room, under their authors, and counts them unread", () => {
      const view = withRoom();
      apply(view, roomMessage(1, "bob", "standup in 5"), roomMessage(2, "carol", "coming"));
      expect(view.conversation("#lab")!.messages.map((message) => message.from)).to.deep.equal([
        "bob",
        "carol",
      ]);
      expect(view.conversation("bob")?.messages ?? []).to.have.length(0);
      expect(unread(view, "#lab")).to.equal(2);
      expect(contactLine(view, "#lab")).to.match(/#lab\s+2/u);
      expect(view.contacts()[0]!.key, "the room is the most recent conversation").to.equal("#lab");
      press(view, "tab");
      expect(view.activePeer).to.equal("#lab");
      const text = screen(view);
      expect(text).to.match(/10:00\s+bob standup in 5/u);
      expect(text).to.match(/10:00\s+carol coming/u);
      expect(unread(view, "#lab")).to.equal(0);
      expect(view.markShown()).to.deep.equal({ peer: "#lab", upTo: 2 });
    });

    it("shows own messages from another device in the right conversation, never unread", () => {
      const view = withRoom();
      apply(view, {
        type: "message",
        message: {
          ev: "message",
          seq: ++seq,
          id: 5,
          from: "alice",
          to: "bob",
          text: "from my phone",
          at: `${DAY2}T10:00:00.000Z`,
        },
      });
      apply(view, roomMessage(6, "alice", "phone to the room"));
      expect(view.conversation("bob")!.messages.map((message) => message.text)).to.deep.equal([
        "from my phone",
      ]);
      expect(view.conversation("#lab")!.messages.map((message) => message.text)).to.deep.equal([
        "phone to the room",
      ]);
      expect(view.conversation("alice")?.messages ?? [], "not a message to oneself").to.have.length(0);
      expect(unread(view, "bob")).to.equal(0);
      expect(unread(view, "#lab")).to.equal(0);
      view.select("bob");
      const line = screen(view)
        .split("\n")
        .find((row) => row.includes("from my phone"))!;
      expect(line).to.match(/✓\s+alice from my phone/u);
      // A receipt for it (it goes to every device) moves its mark.
      apply(view, {
        type: "receipt",
        receipt: { ev: "receipt", seq: ++seq, id: 5, to: "bob", status: "read", at: `${DAY2}T10:01:00.000Z` },
      });
      expect(view.conversation("bob")!.byId(5)!.status).to.equal("read");
    });

    it("clears unread counts up to a read marker from another device", () => {
      const view = withRoom();
      apply(view, incoming(1), incoming(2), incoming(3));
      apply(view, roomMessage(10, "bob", "a"), roomMessage(11, "carol", "b"));
      expect(unread(view, "bob")).to.equal(3);
      apply(view, {
        type: "read_marker",
        marker: { ev: "read_marker", seq: ++seq, with: "bob", upTo: 2, at: "" },
      });
      expect(unread(view, "bob")).to.equal(1);
      apply(view, {
        type: "read_marker",
        marker: { ev: "read_marker", seq: ++seq, with: "#LAB", upTo: 11, at: "" },
      });
      expect(unread(view, "#lab")).to.equal(0);
    });

    it("counts a room's history as read up to where room_members says this user got", () => {
      const view = loggedInView();
      apply(view, { type: "rooms", rooms: [{ room: "#lab", owner: "bob", members: 2 }] });
      const page = [1, 2, 3, 4].map((id) => ({ ...history(id, id === 2 ? "alice" : "bob", "#lab", "sent") }));
      apply(view, { type: "history", with: "#lab", before: undefined, limit: 50, messages: page });
      expect(unread(view, "#lab"), "before the members answer").to.equal(3);
      apply(view, {
        type: "room_members",
        room: "#lab",
        show: false,
        members: [
          { user: "alice", online: true, readUpTo: 3 },
          { user: "bob", online: true, readUpTo: 4 },
        ],
      });
      expect(unread(view, "#lab")).to.equal(1);
    });

    it("heads a room with its members and who of them is online, following presence", () => {
      const view = withRoom();
      const intents = view.select("#lab");
      expect(intents).to.deep.equal([{ kind: "load_members", room: "#lab" }]);
      apply(view, {
        type: "room_members",
        room: "#lab",
        show: false,
        members: [
          { user: "alice", online: true, readUpTo: null },
          { user: "bob", online: true, readUpTo: null },
          { user: "carol", online: false, readUpTo: null },
        ],
      });
      const header = () => screen(view).split("\n")[0]!.split("│")[1]!;
      expect(header()).to.include("#lab  3 members, online: alice, bob");
      apply(view, { type: "presence", user: "carol", online: true, at: "" });
      apply(view, { type: "presence", user: "bob", online: false, at: `${DAY2}T11:00:00.000Z` });
      expect(header()).to.include("3 members, online: alice, carol");
    });

    it("follows membership events: state, a line in the room, news for this user", () => {
      const view = loggedInView();
      const created = apply(view, roomEvent("created", "bob", "bob"));
      expect(created).to.deep.equal([{ kind: "load_members", room: "#lab" }]);
      expect(view.contacts().some((contact) => contact.key === "#lab")).to.equal(true);
      expect(view.notice!.text).to.include("bob created the room #lab with you");
      apply(view, {
        type: "room_members",
        room: "#lab",
        show: false,
        members: [
          { user: "bob", online: true, readUpTo: null },
          { user: "alice", online: true, readUpTo: null },
        ],
      });
      apply(view, roomEvent("joined", "carol", "bob"));
      expect(view.room("#lab")!.memberCount).to.equal(3);
      apply(view, roomEvent("left", "carol", "carol"));
      expect(view.room("#lab")!.memberCount).to.equal(2);
      view.select("#lab");
      const text = screen(view);
      expect(text).to.include("· bob created #lab");
      expect(text).to.include("· bob added carol");
      expect(text).to.include("· carol left");
      expect(unread(view, "#lab"), "notices are not unread messages").to.equal(0);

      apply(view, roomEvent("removed", "alice", "bob"));
      expect(view.room("#lab")!.joined).to.equal(false);
      expect(view.notice!.text).to.include("bob removed you from #lab");
      expect(screen(view)).to.include("· bob removed you");
      expect(screen(view).split("\n")[0]).to.include("you are not a member");
    });

    it("asks for rooms again when the owner leaves (someone else owns it now)", () => {
      const view = withRoom();
      expect(apply(view, roomEvent("left", "bob", "bob"))).to.deep.equal([{ kind: "load_rooms" }]);
    });

    it("opens a room it created", () => {
      const view = loggedInView();
      const intents = apply(view, { type: "room_done", op: "room_create", room: "#lab", user: undefined });
      expect(view.activePeer).to.equal("#lab");
      expect(intents).to.deep.equal([{ kind: "load_members", room: "#lab" }]);
      expect(screen(view).split("\n").at(-1)).to.equal("#lab>");
      typeText(view, "hello room");
      expect(press(view, "enter")).to.deep.equal([{ kind: "send", to: "#lab", text: "hello room" }]);
    });

    it("says in plain words why a room operation was refused, and nothing when the server has no rooms", () => {
      const view = withRoom();
      apply(view, {
        type: "room_failed",
        op: "room_remove",
        room: "#lab",
        user: "bob",
        error: { code: "not_owner", message: "" },
      });
      expect(view.notice).to.deep.equal({ text: "Only the owner of #lab removes members.", level: "error" });
      apply(view, {
        type: "room_failed",
        op: "room_add",
        room: "#lab",
        user: "zed",
        error: { code: "no_such_user", message: "" },
      });
      expect(view.notice!.text).to.equal("There is no user called zed.");
      view.notify("before");
      apply(view, {
        type: "room_failed",
        op: "rooms",
        room: undefined,
        user: undefined,
        error: { code: "unknown_op", message: "" },
      });
      expect(view.notice!.text).to.equal("before");
    });

    it("/members: lists members with presence, owner and how far each has read", () => {
      const view = withRoom(100, 30);
      apply(
        view,
        roomMessage(1, "bob", "one"),
        roomMessage(2, "carol", "two"),
        roomMessage(3, "bob", "three"),
      );
      apply(view, {
        type: "room_members",
        room: "#lab",
        show: true,
        members: [
          { user: "alice", online: true, readUpTo: 3 },
          { user: "bob", online: true, readUpTo: 3 },
          { user: "carol", online: false, readUpTo: 1 },
          { user: "dave", online: false, readUpTo: null },
        ],
      });
      const text = screen(view);
      expect(text).to.include("#lab: 4 members, 2 online");
      expect(text).to.match(/● alice \(you\)\s+has read everything/u);
      expect(text).to.match(/● bob\s+has read everything\s+owner/u);
      expect(text).to.match(/○ carol\s+2 messages behind \(read up to 10:00 bob\)/u);
      expect(text).to.match(/○ dave\s+has read nothing yet/u);
    });

    it("/devices: lists devices with presence or last seen, marking this one", () => {
      const view = new ViewModel({
        host: "127.0.0.1",
        port: 7878,
        device: "laptop",
        time: new TimeFormat({ locale: "en-GB", timeZone: "UTC" }),
        now: () => new Date(`${DAY2}T12:00:00.000Z`),
      });
      view.resize(80, 24);
      view.setLink({ state: "open" });
      apply(view, { type: "logged_in", user: "alice", pending: 0, resumed: false });
      apply(view, {
        type: "devices",
        devices: [
          { device: "Laptop", online: true, lastSeen: null },
          { device: "phone", online: false, lastSeen: `${DAY2}T10:00:00.000Z` },
        ],
      });
      const text = screen(view);
      expect(text).to.include("Devices: 2, 1 online");
      expect(text).to.match(/● Laptop\s+online\s+\(this one\)/u);
      expect(text).to.match(/○ phone\s+offline, last seen/u);
    });

    it("fits every row to the terminal width with rooms in the contacts and a room open", () => {
      for (const [cols, rows] of [
        [80, 24],
        [43, 12],
      ] as const) {
        const view = withRoom(cols, rows);
        view.select("#lab");
        apply(view, roomEvent("joined", "a-very-long-user-name-indeed", "bob"));
        apply(view, roomMessage(1, "a-very-long-user-name-indeed", `${"日本語 ".repeat(20)}x`));
        const frame = show(view);
        expect(frame.rows).to.have.length(rows);
        for (const row of frame.rows) expect(rowWidth(row)).to.equal(cols);
      }
    });
  });

  describe("issue 12: defects and weechat-grade features", () => {
    function labMessage(id: number, from: string, text: string): SessionEvent {
      return {
        type: "message",
        message: { ev: "message", seq: ++seq, id, from, to: "#lab", text, at: `${DAY2}T10:00:00.000Z` },
      };
    }

    function withLab(): ViewModel {
      const view = loggedInView();
      apply(view, { type: "rooms", rooms: [{ room: "#lab", owner: "bob", members: 3 }] });
      apply(view, { type: "history", with: "#lab", before: undefined, limit: 50, messages: [] });
      return view;
    }

    function statusBar(view: ViewModel): string {
      const lines = screen(view).split("\n");
      return lines[lines.length - 2]!;
    }

    it("returns to the log-in form in log-in mode after /logout, even when the session registered", () => {
      const view = newView();
      press(view, "C-r");
      expect(screen(view)).to.include("Again");
      apply(
        view,
        { type: "registered", user: "alice" },
        { type: "logged_in", user: "alice", pending: 0, resumed: false },
      );
      apply(view, { type: "logged_out" });
      expect(view.screen).to.equal("login");
      expect(screen(view)).to.not.include("Again");
    });

    it("keeps /msg's line in the input when its text is over the limit", () => {
      const view = loggedInView();
      const line = `/msg bob ${"x".repeat(LIMITS.maxTextChars + 1)}`;
      view.paste(line);
      expect(press(view, "enter")).to.deep.equal([]);
      expect(view.inputValue).to.equal(line);
      expect(view.notice).to.deep.include({ level: "error" });
      expect(view.notice!.text).to.include("Too long");
      view.key({ full: "C-u" });
      view.paste("/msg bob fine");
      expect(press(view, "enter")).to.deep.equal([{ kind: "command", line: "/msg bob fine" }]);
    });

    it("shows /users from the answer to its own request, not the list from before", () => {
      const view = loggedInView();
      view.awaitUsers();
      expect(screen(view)).to.not.include("Users:");
      apply(view, {
        type: "users",
        users: [
          { user: "alice", name: "alice", online: true, lastSeen: null },
          { user: "bob", name: "bob", online: true, lastSeen: null },
          { user: "dave", name: "dave", online: true, lastSeen: null },
        ],
        after: undefined,
        more: false,
      });
      const text = screen(view);
      expect(text).to.include("Users: 3, 3 online");
      expect(text).to.include("dave");
      expect(text).to.not.include("carol");
    });

    it("pages through users until `more` is false, then applies the whole list", () => {
      const view = loggedInView();
      const entry = (user: string) => ({ user, name: user, online: false, lastSeen: null });
      expect(
        apply(view, { type: "users", users: [entry("alice"), entry("bob")], after: undefined, more: true }),
      ).to.deep.equal([{ kind: "load_users", after: "bob" }]);
      expect(apply(view, { type: "users", users: [entry("dave")], after: "bob", more: true })).to.deep.equal([
        { kind: "load_users", after: "dave" },
      ]);
      expect(view.contacts().map((c) => c.user)).to.include("carol"); // not pruned mid-way
      expect(
        apply(view, { type: "users", users: [entry("erin")], after: "dave", more: false }),
      ).to.deep.equal([]);
      expect(view.contacts().map((c) => c.user)).to.deep.equal(["bob", "dave", "erin", "alice"]);
      // A page of an older listing, after a new one began, is ignored.
      expect(apply(view, { type: "users", users: [entry("zed")], after: "erin", more: false })).to.deep.equal(
        [],
      );
      expect(view.contacts().map((c) => c.user)).to.not.include("zed");
    });

    it("rings for a message for you elsewhere, and lists activity in the status bar", () => {
      const view = withLab();
      view.select("carol");
      const intents = apply(view, incoming(1, "bob", "are you there?"));
      expect(intents).to.deep.equal([
        { kind: "alert", title: "Parley: bob", body: "are you there?", desktop: false },
      ]);
      expect(apply(view, labMessage(2, "bob", "coffee anyone?")), "not for you: no bell").to.deep.equal([]);
      expect(statusBar(view)).to.match(/Act: #lab\(1\) bob\(1\)\*/u);
      expect(apply(view, labMessage(3, "bob", "alice: and you?"))).to.have.length(1);
      expect(statusBar(view)).to.match(/#lab\(2\)\*/u);
      // Shown, it leaves the list.
      view.select("bob");
      expect(statusBar(view)).to.not.match(/bob\(1\)/u);
      // Not in the conversation on screen, and not with /notify off; desktop adds OSC.
      expect(apply(view, incoming(4, "bob", "here"))).to.deep.equal([]);
      view.setNotify("off");
      expect(apply(view, incoming(5, "carol", "psst"))).to.deep.equal([]);
      view.setNotify("desktop");
      expect(apply(view, incoming(6, "carol", "psst"))).to.deep.equal([
        { kind: "alert", title: "Parley: carol", body: "psst", desktop: true },
      ]);
      view.setNotify("loud");
      expect(view.notifyMode).to.equal("desktop");
    });

    it("makes one message of a multi-line paste, shown on several lines", () => {
      const view = loggedInView();
      view.select("bob");
      view.paste("one\ntwo\nthree");
      expect(view.inputValue).to.equal("one\ntwo\nthree");
      expect(screen(view)).to.include("bob> one↵two↵three");
      expect(press(view, "enter")).to.deep.equal([{ kind: "send", to: "bob", text: "one\ntwo\nthree" }]);
      apply(view, { type: "send_queued", cid: "c-1", to: "bob", text: "one\ntwo\nthree" });
      const lines = screen(view).split("\n");
      const first = lines.findIndex((line) => line.includes("alice one"));
      expect(first).to.be.greaterThan(-1);
      expect(lines[first + 1]).to.match(/\s+two\s*$/u);
      expect(lines[first + 2]).to.match(/\s+three\s*$/u);
    });

    it("completes user names, rooms and commands with Tab, most recent first", () => {
      const view = withLab();
      apply(view, {
        type: "users",
        users: [
          { user: "alice", name: "alice", online: true, lastSeen: null },
          { user: "bob", name: "bob", online: true, lastSeen: null },
          { user: "barbara", name: "barbara", online: true, lastSeen: null },
        ],
        after: undefined,
        more: false,
      });
      apply(view, incoming(1, "barbara", "hi", `${DAY2}T11:00:00.000Z`));
      view.select("bob");
      typeText(view, "b");
      press(view, "tab");
      expect(view.inputValue, "barbara spoke last").to.equal("barbara: ");
      press(view, "tab");
      expect(view.inputValue).to.equal("bob: ");
      press(view, "S-tab");
      expect(view.inputValue).to.equal("barbara: ");
      expect(view.activePeer, "Tab with text does not switch").to.equal("bob");
      view.key({ full: "C-u" });
      typeText(view, "/ms");
      press(view, "tab");
      expect(view.inputValue).to.equal("/msg ");
      typeText(view, "bo");
      press(view, "tab");
      expect(view.inputValue).to.equal("/msg bob ");
      view.key({ full: "C-u" });
      typeText(view, "see #l");
      press(view, "tab");
      expect(view.inputValue).to.equal("see #lab ");
      typeText(view, "al");
      press(view, "tab");
      expect(view.inputValue, "never yourself").to.equal("see #lab al");
    });

    it("marks the line where you stopped reading when a conversation opens", () => {
      const view = loggedInView();
      apply(view, incoming(1, "bob", "first"));
      view.select("bob");
      screen(view);
      view.select("carol");
      apply(view, incoming(2, "bob", "second"), incoming(3, "bob", "third"));
      view.select("bob");
      const lines = screen(view).split("\n");
      const marker = lines.findIndex((line) => /─ new ─/u.test(line));
      expect(marker).to.be.greaterThan(lines.findIndex((line) => line.includes("first")));
      expect(lines[marker + 1]).to.include("second");
      view.select("carol");
      view.select("bob");
      expect(screen(view)).to.not.match(/─ new ─/u);
    });

    it("searches the open conversation's loaded messages, PgUp loading older ones", () => {
      const view = loggedInView();
      view.select("bob");
      apply(view, {
        type: "history",
        with: "bob",
        before: undefined,
        limit: 2,
        messages: [history(10, "bob", "alice", "read"), history(11, "alice", "bob", "read")],
      });
      view.conversation("bob")!.reachedStart = false; // loggedInView loaded an empty history
      view.search("history 1");
      let text = screen(view);
      expect(text).to.include('Search bob for "history 1": 2 found');
      expect(press(view, "pageup")).to.deep.equal([{ kind: "load_history", peer: "bob", before: 10 }]);
      apply(view, {
        type: "history",
        with: "bob",
        before: 10,
        limit: 50,
        messages: [history(9, "bob", "alice", "read")],
      });
      text = screen(view);
      expect(text).to.include("2 found; all messages searched"); // "history 9" does not hold "history 1"
      press(view, "q");
      expect(screen(view)).to.not.include("Search bob");
    });

    it("changes no state when it builds a frame: read marks move in markShown", () => {
      const view = loggedInView();
      apply(view, incoming(1), incoming(2));
      view.select("bob");
      view.frame();
      view.frame();
      expect(view.contacts().find((contact) => contact.user === "bob")!.unread).to.equal(2);
      expect(view.markShown()).to.deep.equal({ peer: "bob", upTo: 2 });
      expect(view.contacts().find((contact) => contact.user === "bob")!.unread).to.equal(0);
    });
  });
});
