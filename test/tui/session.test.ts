// The client protocol session, unit: frames in, events and requests out, no socket.

import { expect } from "chai";
import { type ClientRequest, Session, type SessionEvent } from "../../tui-client/session.js";

const LIMITS = {
  maxTextChars: 4096,
  maxFrameBytes: 65536,
  maxPending: 10000,
  maxInFlight: 1024,
  idleTimeoutMs: 120000,
  maxDevices: 10,
  maxRoomMembers: 1000,
};

function newSession(): Session {
  return new Session({ cidPrefix: "t", clientName: "test" });
}

/** Finds the one request with this op among what the session wants written. */
function only<O extends ClientRequest["op"]>(
  requests: ClientRequest[],
  op: O,
): Extract<ClientRequest, { op: O }> {
  const found = requests.filter((request) => request.op === op);
  expect(found, `requests with op ${op}`).to.have.length(1);
  return found[0] as Extract<ClientRequest, { op: O }>;
}

function rid(request: ClientRequest): number {
  return (request as { rid: number }).rid;
}

/** Opens a connection and logs in as `user`; returns the session with its queue drained. */
function loggedIn(user = "alice", pending = 0): Session {
  const session = newSession();
  session.connectionOpened();
  const hello = only(session.takeOutgoing(), "hello");
  session.handleFrame({ rid: hello.rid, ok: true, server: "parley/test", version: 1, limits: LIMITS });
  session.login(user, "correct horse");
  const login = only(session.takeOutgoing(), "login");
  session.handleFrame({ rid: login.rid, ok: true, user, pending });
  session.takeOutgoing();
  return session;
}

function message(seq: number, id: number, text = `m${id}`): Record<string, unknown> {
  return { ev: "message", seq, id, from: "bob", to: "alice", text, at: "2026-11-24T10:00:00.000Z" };
}

describe("tui session (unit)", () => {
  describe("connection and log-in", () => {
    it("greets with hello, then reports the server's limits", () => {
      const session = newSession();
      session.connectionOpened();
      const hello = only(session.takeOutgoing(), "hello");
      expect(hello).to.include({ version: 2, client: "test" });
      const events = session.handleFrame({
        rid: hello.rid,
        ok: true,
        server: "parley/x",
        version: 1,
        limits: LIMITS,
      });
      expect(events).to.deep.equal([{ type: "hello", server: "parley/x", limits: LIMITS }]);
      expect(session.phase).to.equal("connected");
    });

    it("turns a refused login into auth_failed and does not remember the password", () => {
      const session = newSession();
      session.connectionOpened();
      session.takeOutgoing();
      session.login("alice", "wrong");
      const login = only(session.takeOutgoing(), "login");
      const events = session.handleFrame({
        rid: login.rid,
        ok: false,
        error: { code: "bad_credentials", message: "Wrong user name or password." },
      });
      expect(events).to.deep.equal([
        {
          type: "auth_failed",
          stage: "login",
          error: { code: "bad_credentials", message: "Wrong user name or password." },
          resumed: false,
        },
      ]);
      expect(session.user).to.equal(undefined);
      session.connectionLost();
      session.connectionOpened();
      expect(session.takeOutgoing().map((request) => request.op)).to.deep.equal(["hello"]);
    });

    it("logs in after a successful register, with the same password", () => {
      const session = newSession();
      session.connectionOpened();
      session.takeOutgoing();
      session.register("carol", "long enough");
      const register = only(session.takeOutgoing(), "register");
      const events = session.handleFrame({ rid: register.rid, ok: true, user: "carol" });
      expect(events).to.deep.equal([{ type: "registered", user: "carol" }]);
      const login = only(session.takeOutgoing(), "login");
      expect(login).to.include({ user: "carol", password: "long enough" });
    });

    it("holds a log-in typed while offline until the connection opens", () => {
      const session = newSession();
      session.login("alice", "pw-pw-pw-pw");
      expect(session.takeOutgoing()).to.deep.equal([]);
      session.connectionOpened();
      expect(session.takeOutgoing().map((request) => request.op)).to.deep.equal(["hello", "login"]);
    });

    it("logs in again by itself after a reconnect, and says the login was resumed", () => {
      const session = loggedIn();
      session.connectionLost();
      expect(session.phase).to.equal("offline");
      session.connectionOpened();
      const out = session.takeOutgoing();
      expect(out.map((request) => request.op)).to.deep.equal(["hello", "login"]);
      const login = only(out, "login");
      expect(login).to.include({ user: "alice", password: "correct horse" });
      const events = session.handleFrame({ rid: login.rid, ok: true, user: "alice", pending: 0 });
      expect(events).to.deep.equal([{ type: "logged_in", user: "alice", pending: 0, resumed: true }]);
    });

    it("does not log in again after session_replaced until asked to connect", () => {
      const session = loggedIn();
      expect(session.handleFrame({ ev: "session_replaced" })).to.deep.equal([{ type: "session_replaced" }]);
      session.connectionLost();
      expect(session.phase).to.equal("replaced");
    });
  });

  describe("rid bookkeeping", () => {
    it("gives every request its own rid and matches responses by rid, in any order", () => {
      const session = loggedIn();
      session.requestHistory("bob");
      session.requestUsers();
      const out = session.takeOutgoing();
      const history = only(out, "history");
      const users = only(out, "users");
      expect(history.rid).to.not.equal(users.rid);
      const usersEvents = session.handleFrame({
        rid: users.rid,
        ok: true,
        users: [{ user: "bob", name: "Bob", online: true, lastSeen: null }],
      });
      expect(usersEvents[0]).to.deep.include({ type: "users" });
      const historyEvents = session.handleFrame({ rid: history.rid, ok: true, messages: [] });
      expect(historyEvents).to.deep.equal([
        { type: "history", with: "bob", before: undefined, limit: 50, messages: [] },
      ]);
    });

    it("pages users: asks after a user name, and reads `more` (missing: false)", () => {
      const session = loggedIn();
      session.requestUsers();
      const first = only(session.takeOutgoing(), "users");
      expect(first).to.not.have.property("after");
      const page = session.handleFrame({ rid: first.rid, ok: true, users: [], more: true });
      expect(page[0]).to.deep.include({ type: "users", after: undefined, more: true });
      session.requestUsers("bob");
      const next = only(session.takeOutgoing(), "users");
      expect(next).to.include({ op: "users", after: "bob" });
      const last = session.handleFrame({ rid: next.rid, ok: true, users: [] });
      expect(last[0]).to.deep.include({ type: "users", after: "bob", more: false });
    });

    it("reports a response to an unknown rid instead of guessing", () => {
      const session = loggedIn();
      const events = session.handleFrame({ rid: 999, ok: true });
      expect(events[0]!.type).to.equal("protocol_violation");
    });

    it("does not ask for the same history page twice while one request is out", () => {
      const session = loggedIn();
      session.requestHistory("bob", 10);
      session.requestHistory("Bob", 10);
      expect(session.takeOutgoing()).to.have.length(1);
    });

    it("forgets requests in flight when the connection is lost", () => {
      const session = loggedIn();
      session.requestUsers();
      const users = only(session.takeOutgoing(), "users");
      session.connectionLost();
      expect(session.handleFrame({ rid: users.rid, ok: true, users: [] })[0]!.type).to.equal(
        "protocol_violation",
      );
    });
  });

  describe("inbox: dedupe and ack", () => {
    it("passes an inbox event on once and acknowledges it only after it is handled", () => {
      const session = loggedIn();
      const events = session.handleFrame(message(1, 41));
      expect(events).to.have.length(1);
      expect(events[0]!.type).to.equal("message");
      session.flushAck();
      expect(session.takeOutgoing(), "no ack before handled").to.deep.equal([]);
      session.handled(1);
      session.flushAck();
      expect(session.takeOutgoing()).to.deep.equal([{ op: "ack", upTo: 1 }]);
    });

    it("acknowledges a batch with one ack up to the highest handled seq", () => {
      const session = loggedIn();
      for (const seq of [1, 2, 3]) {
        session.handleFrame(message(seq, 40 + seq));
        session.handled(seq);
      }
      session.handleFrame({
        ev: "receipt",
        seq: 4,
        id: 7,
        to: "bob",
        status: "delivered",
        at: "2026-11-24T10:00:00.000Z",
      });
      session.handled(4);
      session.flushAck();
      expect(session.takeOutgoing()).to.deep.equal([{ op: "ack", upTo: 4 }]);
      session.flushAck();
      expect(session.takeOutgoing(), "nothing new, no ack").to.deep.equal([]);
    });

    it("drops a seq already handled, and acknowledges it again", () => {
      const session = loggedIn();
      session.handleFrame(message(1, 41));
      session.handled(1);
      session.flushAck();
      session.takeOutgoing();
      expect(session.handleFrame(message(1, 41)), "the repeat").to.deep.equal([]);
      session.flushAck();
      expect(session.takeOutgoing()).to.deep.equal([{ op: "ack", upTo: 1 }]);
    });

    it("drops events resent after a reconnect and re-acknowledges what it handled", () => {
      const session = loggedIn();
      session.handleFrame(message(5, 41));
      session.handled(5);
      session.flushAck();
      session.takeOutgoing();
      // The ack may have been lost with the connection: the server sends seq 5 again.
      session.connectionLost();
      session.connectionOpened();
      const login = only(session.takeOutgoing(), "login");
      session.handleFrame({ rid: login.rid, ok: true, user: "alice", pending: 2 });
      session.takeOutgoing();
      expect(session.handleFrame(message(5, 41))).to.deep.equal([]);
      const fresh = session.handleFrame(message(6, 42));
      expect(fresh).to.have.length(1);
      session.handled(6);
      session.flushAck();
      expect(session.takeOutgoing()).to.deep.equal([{ op: "ack", upTo: 6 }]);
    });

    it("does not acknowledge while logged out", () => {
      const session = newSession();
      session.connectionOpened();
      session.takeOutgoing();
      session.handled(3);
      session.flushAck();
      expect(session.takeOutgoing()).to.deep.equal([]);
    });

    it("rejects a malformed inbox event without moving the seq mark", () => {
      const session = loggedIn();
      expect(session.handleFrame({ ev: "message", seq: 1, id: "x" })[0]!.type).to.equal("protocol_violation");
      expect(session.handleFrame(message(1, 41))).to.have.length(1);
    });
  });

  describe("sending", () => {
    it("gives each send a unique cid and reports the stored id", () => {
      const session = loggedIn();
      const first = session.send("bob", "one");
      const second = session.send("bob", "two");
      const out = session.takeOutgoing();
      expect(out.map((request) => request.op)).to.deep.equal(["send", "send"]);
      const cids = out.map((request) => (request as { cid: string }).cid);
      expect(new Set(cids).size).to.equal(2);
      expect(first).to.deep.equal([{ type: "send_queued", cid: cids[0], to: "bob", text: "one" }]);
      expect(second[0]).to.include({ cid: cids[1] });
      const events = session.handleFrame({
        rid: rid(out[0]!),
        ok: true,
        id: 42,
        at: "2026-11-24T10:00:00.000Z",
        duplicate: false,
      });
      expect(events).to.deep.equal([
        {
          type: "send_ok",
          cid: cids[0],
          to: "bob",
          id: 42,
          at: "2026-11-24T10:00:00.000Z",
          duplicate: false,
        },
      ]);
      expect(session.unansweredSends.map((entry) => entry.cid)).to.deep.equal([cids[1]]);
    });

    it("resends unanswered sends with the same cids, in order, after the next login", () => {
      const session = loggedIn();
      session.send("bob", "one");
      session.send("carol", "two");
      const before = session.takeOutgoing() as Extract<ClientRequest, { op: "send" }>[];
      session.connectionLost();
      session.connectionOpened();
      const reconnect = session.takeOutgoing();
      expect(
        reconnect.map((request) => request.op),
        "no send before the login is answered",
      ).to.deep.equal(["hello", "login"]);
      session.handleFrame({ rid: rid(only(reconnect, "login")), ok: true, user: "alice", pending: 0 });
      const resent = session.takeOutgoing() as Extract<ClientRequest, { op: "send" }>[];
      expect(resent.map(({ op, to, text, cid }) => ({ op, to, text, cid }))).to.deep.equal(
        before.map(({ op, to, text, cid }) => ({ op, to, text, cid })),
      );
      // The server had stored the first one: it says so, with the original id.
      const events = session.handleFrame({
        rid: resent[0]!.rid,
        ok: true,
        id: 9,
        at: "2026-11-24T10:00:00.000Z",
        duplicate: true,
      });
      expect(events[0]).to.include({ type: "send_ok", cid: before[0]!.cid, id: 9, duplicate: true });
    });

    it("keeps resending across several reconnects until the send is answered", () => {
      const session = loggedIn();
      session.send("bob", "persistent");
      const cid = (only(session.takeOutgoing(), "send") as { cid: string }).cid;
      for (let attempt = 0; attempt < 3; attempt++) {
        session.connectionLost();
        session.connectionOpened();
        const login = only(session.takeOutgoing(), "login");
        session.handleFrame({ rid: login.rid, ok: true, user: "alice", pending: 0 });
        expect(only(session.takeOutgoing(), "send").cid).to.equal(cid);
      }
    });

    it("queues a send made while offline and writes it after login", () => {
      const session = loggedIn();
      session.connectionLost();
      session.send("bob", "typed offline");
      expect(session.takeOutgoing()).to.deep.equal([]);
      session.connectionOpened();
      const login = only(session.takeOutgoing(), "login");
      session.handleFrame({ rid: login.rid, ok: true, user: "alice", pending: 0 });
      expect(only(session.takeOutgoing(), "send").text).to.equal("typed offline");
    });

    it("gives up on a send the server refused for good, and says why", () => {
      const session = loggedIn();
      session.send("bob", "x".repeat(10));
      const send = only(session.takeOutgoing(), "send");
      const events = session.handleFrame({
        rid: send.rid,
        ok: false,
        error: { code: "mailbox_full", message: "bob has too many messages waiting" },
      });
      expect(events).to.deep.equal([
        {
          type: "send_failed",
          cid: send.cid,
          to: "bob",
          error: { code: "mailbox_full", message: "bob has too many messages waiting" },
          retrying: false,
        },
      ]);
      session.connectionLost();
      session.connectionOpened();
      const login = only(session.takeOutgoing(), "login");
      session.handleFrame({ rid: login.rid, ok: true, user: "alice", pending: 0 });
      expect(session.takeOutgoing(), "not resent").to.deep.equal([]);
    });

    it("retries a send the server could not store (unavailable) with the same cid", () => {
      const session = loggedIn();
      session.send("bob", "later");
      const send = only(session.takeOutgoing(), "send");
      const events = session.handleFrame({
        rid: send.rid,
        ok: false,
        error: { code: "unavailable", message: "disk full" },
      });
      expect(events[0]).to.include({ type: "send_failed", retrying: true });
      expect(session.hasWaitingSends).to.equal(true);
      session.retryWaitingSends();
      expect(only(session.takeOutgoing(), "send").cid).to.equal(send.cid);
    });

    it("forgets pending sends and the seq mark on logout", () => {
      const session = loggedIn();
      session.handleFrame(message(3, 30));
      session.handled(3);
      session.connectionLost();
      session.send("bob", "never");
      session.logout();
      expect(session.unansweredSends).to.deep.equal([]);
      expect(session.user).to.equal(undefined);
    });
  });

  describe("read markers and pings", () => {
    it("sends read only when it moves forward, counting the one in flight", () => {
      const session = loggedIn();
      session.markRead("bob", 10);
      session.markRead("bob", 10);
      session.markRead("bob", 8);
      const out = session.takeOutgoing();
      expect(out).to.have.length(1);
      expect(out[0]).to.include({ op: "read", with: "bob", upTo: 10 });
      session.handleFrame({ rid: rid(out[0]!), ok: true });
      session.markRead("Bob", 10);
      expect(session.takeOutgoing()).to.deep.equal([]);
      session.markRead("bob", 11);
      expect(session.takeOutgoing()).to.have.length(1);
    });

    it("sends a read again after a reconnect if its answer was lost", () => {
      const session = loggedIn();
      session.markRead("bob", 10);
      session.takeOutgoing();
      session.connectionLost();
      session.connectionOpened();
      const login = only(session.takeOutgoing(), "login");
      session.handleFrame({ rid: login.rid, ok: true, user: "alice", pending: 0 });
      session.takeOutgoing();
      session.markRead("bob", 10);
      expect(session.takeOutgoing()).to.have.length(1);
    });

    it("keeps one ping outstanding and reports when it went out", () => {
      const session = loggedIn();
      session.ping(1000);
      session.ping(2000);
      const out = session.takeOutgoing();
      expect(out).to.have.length(1);
      expect(session.pingOutstandingSinceMs).to.equal(1000);
      const events: SessionEvent[] = session.handleFrame({
        rid: rid(out[0]!),
        ok: true,
        at: "2026-11-24T10:00:00.000Z",
      });
      expect(events).to.deep.equal([{ type: "pong", at: "2026-11-24T10:00:00.000Z" }]);
      expect(session.pingOutstandingSinceMs).to.equal(undefined);
    });
  });

  describe("other events", () => {
    it("passes presence, shutdown and error events through", () => {
      const session = loggedIn();
      expect(session.handleFrame({ ev: "presence", user: "bob", online: true, at: "t" })).to.deep.equal([
        { type: "presence", user: "bob", online: true, at: "t" },
      ]);
      expect(session.handleFrame({ ev: "shutdown" })).to.deep.equal([{ type: "shutdown" }]);
      expect(session.handleFrame({ ev: "error", code: "idle_timeout", message: "idle" })).to.deep.equal([
        { type: "server_error", error: { code: "idle_timeout", message: "idle" } },
      ]);
      expect(session.handleFrame({ ev: "something_new" }), "unknown events are ignored").to.deep.equal([]);
    });
  });

  describe("devices and rooms (version 2)", () => {
    function loggedInOn(device: string): Session {
      const session = new Session({ cidPrefix: "t", clientName: "test", device });
      session.connectionOpened();
      const hello = only(session.takeOutgoing(), "hello");
      session.handleFrame({ rid: hello.rid, ok: true, server: "parley/test", version: 2, limits: LIMITS });
      session.login("alice", "correct horse");
      const login = only(session.takeOutgoing(), "login");
      expect(login).to.include({ user: "alice", device });
      session.handleFrame({ rid: login.rid, ok: true, user: "alice", pending: 0 });
      session.takeOutgoing();
      return session;
    }

    /** Answers the one request with this op with `result` and returns the events. */
    function answer(session: Session, op: ClientRequest["op"], result: Record<string, unknown>) {
      const request = only(session.takeOutgoing(), op);
      return { request, events: session.handleFrame({ rid: rid(request), ...result }) };
    }

    it("names its device in login, and again when it logs in by itself after a reconnect", () => {
      const session = loggedInOn("laptop");
      session.connectionLost();
      session.connectionOpened();
      expect(only(session.takeOutgoing(), "login")).to.include({ user: "alice", device: "laptop" });
    });

    it("says hello 1 to a server that does not speak version 2", () => {
      const session = newSession();
      session.connectionOpened();
      const hello = only(session.takeOutgoing(), "hello");
      const events = session.handleFrame({
        rid: hello.rid,
        ok: false,
        error: { code: "unsupported_version", message: "version 1 only" },
      });
      expect(events).to.deep.equal([]);
      expect(only(session.takeOutgoing(), "hello")).to.include({ version: 1 });
    });

    it("passes read_marker and room events on once each and acknowledges them once handled", () => {
      const session = loggedInOn("laptop");
      const marker = { ev: "read_marker", seq: 3, with: "bob", upTo: 41, at: "2026-11-25T10:00:00.000Z" };
      const room = {
        ev: "room",
        seq: 4,
        room: "#lab",
        change: "joined",
        user: "carol",
        by: "alice",
        at: "2026-11-25T10:00:01.000Z",
      };
      expect(session.handleFrame(marker)).to.deep.equal([{ type: "read_marker", marker }]);
      expect(session.handleFrame(room)).to.deep.equal([{ type: "room", event: room }]);
      session.flushAck();
      expect(session.takeOutgoing(), "nothing handled yet").to.deep.equal([]);
      session.handled(3);
      session.handled(4);
      session.flushAck();
      expect(session.takeOutgoing()).to.deep.equal([{ op: "ack", upTo: 4 }]);
      expect(session.handleFrame(marker), "a repeat is dropped").to.deep.equal([]);
      expect(session.handleFrame(room), "a repeat is dropped").to.deep.equal([]);
      session.flushAck();
      expect(session.takeOutgoing(), "and acknowledged again").to.deep.equal([{ op: "ack", upTo: 4 }]);
      expect(
        session.handleFrame({ ev: "room", seq: 5, room: "#lab", change: "exploded" }),
      ).to.have.nested.property("[0].type", "protocol_violation");
    });

    it("does not send a read that another device already made", () => {
      const session = loggedInOn("laptop");
      session.handleFrame({
        ev: "read_marker",
        seq: 1,
        with: "#lab",
        upTo: 20,
        at: "2026-11-25T10:00:00.000Z",
      });
      session.markRead("#lab", 20);
      expect(session.takeOutgoing()).to.deep.equal([]);
      session.markRead("#LAB", 21);
      expect(only(session.takeOutgoing(), "read")).to.include({ with: "#LAB", upTo: 21 });
    });

    it("creates a room with its members and reports success with the server's spelling", () => {
      const session = loggedInOn("laptop");
      session.createRoom("#Lab", ["bob", "carol"]);
      const { request, events } = answer(session, "room_create", { ok: true, room: "#Lab" });
      expect(request).to.deep.include({ op: "room_create", room: "#Lab", members: ["bob", "carol"] });
      expect(events).to.deep.equal([{ type: "room_done", op: "room_create", room: "#Lab", user: undefined }]);
    });

    it("adds, removes and leaves, naming the room and the user in the answer or the refusal", () => {
      const session = loggedInOn("laptop");
      session.addToRoom("#lab", "dave");
      let result = answer(session, "room_add", { ok: true });
      expect(result.request).to.deep.include({ room: "#lab", user: "dave" });
      expect(result.events).to.deep.equal([
        { type: "room_done", op: "room_add", room: "#lab", user: "dave" },
      ]);

      session.removeFromRoom("#lab", "bob");
      const notOwner = { code: "not_owner", message: "Only the owner removes members." };
      result = answer(session, "room_remove", { ok: false, error: notOwner });
      expect(result.request).to.deep.include({ room: "#lab", user: "bob" });
      expect(result.events).to.deep.equal([
        { type: "room_failed", op: "room_remove", room: "#lab", user: "bob", error: notOwner },
      ]);

      session.leaveRoom("#lab");
      result = answer(session, "room_leave", { ok: true });
      expect(result.request).to.deep.equal({ op: "room_leave", rid: rid(result.request), room: "#lab" });
      expect(result.events).to.deep.equal([
        { type: "room_done", op: "room_leave", room: "#lab", user: undefined },
      ]);
    });

    it("asks for rooms, members and devices, and hands their lists on", () => {
      const session = loggedInOn("laptop");
      const rooms = [{ room: "#lab", owner: "alice", members: 3 }];
      session.requestRooms();
      expect(answer(session, "rooms", { ok: true, rooms }).events).to.deep.equal([{ type: "rooms", rooms }]);

      const members = [{ user: "alice", online: true, readUpTo: 12 }];
      session.requestRoomMembers("#lab", true);
      const shown = answer(session, "room_members", { ok: true, members });
      expect(shown.request).to.deep.include({ op: "room_members", room: "#lab" });
      expect(shown.events).to.deep.equal([{ type: "room_members", room: "#lab", members, show: true }]);
      session.requestRoomMembers("#lab");
      expect(answer(session, "room_members", { ok: true, members }).events[0]).to.include({ show: false });

      const devices = [
        { device: "laptop", online: true, lastSeen: null },
        { device: "phone", online: false, lastSeen: "2026-11-25T09:00:00.000Z" },
      ];
      session.requestDevices();
      expect(answer(session, "devices", { ok: true, devices }).events).to.deep.equal([
        { type: "devices", devices },
      ]);
    });

    it("asks nothing of the server while not logged in", () => {
      const session = newSession();
      session.createRoom("#lab", []);
      session.requestRooms();
      session.requestDevices();
      session.requestRoomMembers("#lab");
      expect(session.takeOutgoing()).to.deep.equal([]);
    });
  });
});
