// Inboxes, acknowledgements, receipts and sessions against a real in-process server.

import { expect } from "chai";
import { BACKENDS } from "../helpers/backends.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

for (const backend of BACKENDS) {
  describe(`delivery (integration, ${backend})`, () => {
    let server: TestServer;
    const clients: TestClient[] = [];
    const login = async (user: string) => {
      const client = await loggedIn(server.port, user);
      clients.push(client);
      return client;
    };
    const registerOnly = async (user: string) => {
      const client = await TestClient.connect(server.port);
      await client.ok("register", { user, password: PASSWORD });
      client.destroy();
    };

    beforeEach(async () => {
      server = await startTestServer({}, { backend });
    });
    afterEach(async () => {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
    });

    it("delivers live, normalized, and the sender's mark moves to delivered and read", async () => {
      const alice = await login("alice");
      const bob = await login("bob");
      const sent = await alice.ok("send", { to: "bob", text: "  hello \t\n  bob  ", cid: "1" });
      const message = await bob.expectEvent((e) => e.ev === "message");
      expect(message).to.deep.include({
        id: sent.id,
        from: "alice",
        to: "bob",
        text: "hello bob",
        at: sent.at,
      });
      expect(message.seq).to.be.a("number");
      bob.ack(message.seq);
      const delivered = await alice.expectEvent((e) => e.ev === "receipt");
      expect(delivered).to.deep.include({ id: sent.id, to: "bob", status: "delivered" });
      alice.ack(delivered.seq);
      await bob.ok("read", { with: "alice", upTo: sent.id });
      const read = await alice.expectEvent((e) => e.ev === "receipt");
      expect(read).to.deep.include({ id: sent.id, to: "bob", status: "read" });
      expect(read.seq).to.be.greaterThan(delivered.seq);
      const { messages } = await alice.ok("history", { with: "bob" });
      expect(messages).to.deep.equal([
        { id: sent.id, from: "alice", to: "bob", text: "hello bob", at: sent.at, status: "read" },
      ]);
    });

    it("keeps messages for an offline user and delivers them in order at log-in", async () => {
      const alice = await login("alice");
      await registerOnly("bob");
      const ids = [];
      for (let i = 0; i < 20; i++)
        ids.push((await alice.ok("send", { to: "bob", text: `m${i}`, cid: `c${i}` })).id);
      await alice.roundtrip();
      const bob = await TestClient.connect(server.port);
      clients.push(bob);
      const loginResponse = await bob.ok("login", { user: "bob", password: PASSWORD });
      const messages = await bob.collectMessages(20);
      expect(messages.map((m) => m.id)).to.deep.equal(ids);
      expect(messages.map((m) => m.text)).to.deep.equal(ids.map((_, i) => `m${i}`));
      // The pending count may lag normalization by one batch; never more than was sent.
      expect(loginResponse.pending).to.be.at.most(20);
      const loginIndex = bob.received.findIndex((frame) => frame.rid === loginResponse.rid);
      const firstEvent = bob.received.findIndex((frame) => frame.ev === "message");
      expect(loginIndex).to.be.lessThan(firstEvent);
    });

    it("queues receipts for an offline sender", async () => {
      const alice = await login("alice");
      const bob = await login("bob");
      const sent = await alice.ok("send", { to: "bob", text: "are you there", cid: "x" });
      await alice.end();
      const message = await bob.expectEvent((e) => e.ev === "message");
      bob.ack(message.seq);
      await bob.ok("read", { with: "alice", upTo: sent.id });
      const back = await TestClient.connect(server.port);
      clients.push(back);
      expect(await back.ok("login", { user: "alice", password: PASSWORD })).to.include({ pending: 2 });
      const first = await back.expectEvent((e) => e.ev === "receipt");
      const second = await back.expectEvent((e) => e.ev === "receipt");
      expect([first.status, second.status]).to.deep.equal(["delivered", "read"]);
    });

    it("sends unacknowledged events again after a reconnect with the same seq, and acknowledged ones never", async () => {
      const alice = await login("alice");
      await registerOnly("bob");
      for (let i = 0; i < 4; i++) await alice.ok("send", { to: "bob", text: `m${i}`, cid: `c${i}` });
      let bob = await loggedIn(server.port, "bob");
      clients.push(bob);
      const firstTime = await bob.collectMessages(4, { ack: false });
      bob.ack(firstTime[1]!.seq);
      await bob.roundtrip();
      bob.destroy();
      await bob.closed;
      bob = await loggedIn(server.port, "bob");
      clients.push(bob);
      const again = await bob.collectMessages(2, { ack: false });
      expect(again.map((m) => m.seq)).to.deep.equal(firstTime.slice(2).map((m) => m.seq));
      expect(again.map((m) => m.text)).to.deep.equal(["m2", "m3"]);
      await bob.roundtrip();
      expect(bob.events.filter((e) => e.ev === "message")).to.deep.equal([]);
    });

    it("keeps at most maxInFlight events unacknowledged and sends more as acks come", async () => {
      await server.stop();
      server = await startTestServer({ maxInFlight: 5 }, { backend });
      const alice = await login("alice");
      await registerOnly("bob");
      for (let i = 0; i < 12; i++) await alice.ok("send", { to: "bob", text: `m${i}`, cid: `c${i}` });
      const bob = await login("bob");
      const window = await bob.collectMessages(5, { ack: false });
      await bob.roundtrip();
      expect(bob.events.filter((e) => e.ev === "message")).to.have.length(0);
      bob.ack(window[4]!.seq);
      const rest = await bob.collectMessages(7);
      expect([...window, ...rest].map((m) => m.text)).to.deep.equal(
        Array.from({ length: 12 }, (_, i) => `m${i}`),
      );
    });

    it("replaces a session: the old one is told and closed, the new one gets the unacknowledged events", async () => {
      const alice = await login("alice");
      const bob1 = await login("bob");
      await alice.ok("send", { to: "bob", text: "one", cid: "1" });
      const first = await bob1.expectEvent((e) => e.ev === "message");
      const bob2 = await loggedIn(server.port, "bob");
      clients.push(bob2);
      await bob1.expectEvent((e) => e.ev === "session_replaced");
      await bob1.closed;
      const again = await bob2.expectEvent((e) => e.ev === "message");
      expect(again).to.deep.equal(first);
      // The replaced session's close must not mark bob offline.
      const { users } = await alice.ok("users");
      expect(users.find((u: { user: string }) => u.user === "bob").online).to.equal(true);
    });

    it("turns waiting messages into undeliverable receipts when the recipient unregisters", async () => {
      const alice = await login("alice");
      await registerOnly("bob");
      const sent = await alice.ok("send", { to: "bob", text: "too late", cid: "1" });
      const bob = await loggedIn(server.port, "bob");
      await bob.ok("unregister", { password: PASSWORD });
      const receipt = await alice.expectEvent((e) => e.ev === "receipt");
      expect(receipt).to.deep.include({ id: sent.id, to: "bob", status: "undeliverable" });
      expect((await alice.request("send", { to: "bob", text: "x", cid: "2" })).error.code).to.equal(
        "no_such_user",
      );
    });

    it("expires undelivered messages after their lifetime with an expired receipt", async () => {
      await server.stop();
      server = await startTestServer({ messageTtlMs: 300 }, { backend });
      const alice = await login("alice");
      await registerOnly("bob");
      const sent = await alice.ok("send", { to: "bob", text: "ephemeral", cid: "1" });
      const receipt = await alice.expectEvent((e) => e.ev === "receipt", 5000);
      expect(receipt).to.deep.include({ id: sent.id, to: "bob", status: "expired" });
      const bob = await login("bob");
      expect((await bob.ok("history", { with: "alice" })).messages[0].status).to.equal("expired");
      await bob.roundtrip();
      expect(bob.events.filter((e) => e.ev === "message")).to.deep.equal([]);
    });

    it("pages history backwards with before and limit", async () => {
      const alice = await login("alice");
      const ids = [];
      for (let i = 0; i < 7; i++)
        ids.push((await alice.ok("send", { to: "alice", text: `note ${i}`, cid: `n${i}` })).id);
      await alice.collectMessages(7);
      const newest = await alice.ok("history", { with: "alice", limit: 3 });
      expect(newest.messages.map((m: { id: number }) => m.id)).to.deep.equal(ids.slice(4));
      const older = await alice.ok("history", { with: "alice", before: ids[4], limit: 3 });
      expect(older.messages.map((m: { id: number }) => m.id)).to.deep.equal(ids.slice(1, 4));
      for (const limit of [0, 201, "5"]) {
        expect((await alice.request("history", { with: "alice", limit })).error.code).to.equal(
          "bad_argument",
        );
      }
      expect((await alice.request("history", { with: "ghost" })).error.code).to.equal("no_such_user");
      expect((await alice.request("read", { with: "ghost", upTo: 1 })).error.code).to.equal("no_such_user");
    });

    it("disconnects a client that never reads, and it loses nothing", async () => {
      await server.stop();
      server = await startTestServer(
        { drainTimeoutMs: 300, maxInFlight: 100_000, maxPending: 100_000 },
        { backend },
      );
      const alice = await login("alice");
      const bob = await login("bob");
      bob.socket.pause();
      const text = `${"x".repeat(3000)} end`;
      const count = 2000;
      for (let i = 0; i < count; i++) alice.fire("send", { to: "bob", text: `${i} ${text}`, cid: `s${i}` });
      const dropped = await server.waitForLog("disconnecting slow reader", 20_000);
      expect(dropped.why).to.be.a("string");
      bob.destroy();
      await alice.roundtrip();
      const again = await login("bob");
      const messages = await again.collectMessages(count, { timeoutMs: 20_000 });
      expect(messages.map((m) => Number(m.text.split(" ")[0]))).to.deep.equal(
        Array.from({ length: count }, (_, i) => i),
      );
    });
  });
}
