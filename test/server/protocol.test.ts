// The wire protocol against a real server on 127.0.0.1:0 with a SQLite file in a temp folder.

import { expect } from "chai";
import { BACKENDS } from "../helpers/backends.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

for (const backend of BACKENDS) {
  describe(`protocol (integration, ${backend})`, () => {
    let server: TestServer;
    const clients: TestClient[] = [];
    const connect = async () => {
      const client = await TestClient.connect(server.port);
      clients.push(client);
      return client;
    };
    const login = async (user: string) => {
      const client = await loggedIn(server.port, user);
      clients.push(client);
      return client;
    };

    beforeEach(async () => {
      server = await startTestServer({ maxPending: 3, idleTimeoutMs: 60_000 }, { backend });
    });
    afterEach(async () => {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
    });

    describe("hello and ping", () => {
      it("reports the server, version and the limits in force", async () => {
        const client = await connect();
        const response = await client.ok("hello", { version: 1, client: "test" });
        expect(response).to.deep.include({ rid: 1, ok: true, server: "parley/0.1.0", version: 1 });
        expect(response.limits).to.deep.equal({
          maxTextChars: 4096,
          maxFrameBytes: 65_536,
          maxPending: 3,
          maxInFlight: 1024,
          idleTimeoutMs: 60_000,
          maxDevices: 10,
          maxRoomMembers: 1000,
        });
      });

      it("refuses another version with unsupported_version", async () => {
        const client = await connect();
        const response = await client.request("hello", { version: 3 });
        expect(response.error.code).to.equal("unsupported_version");
      });

      it("answers ping with the time, with no log-in and with a string rid", async () => {
        const client = await connect();
        const response = await client.request("ping", { rid: "abc" });
        expect(response.rid).to.equal("abc");
        expect(response.at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      });
    });

    describe("accounts", () => {
      it("registers, refuses a name taken in another case, and keeps the case as registered", async () => {
        const client = await connect();
        expect(await client.ok("register", { user: "Alice", password: PASSWORD })).to.include({
          user: "Alice",
        });
        expect((await client.request("register", { user: "alice", password: PASSWORD })).error.code).to.equal(
          "user_exists",
        );
        expect(await client.ok("login", { user: "ALICE", password: PASSWORD })).to.include({
          user: "Alice",
          pending: 0,
        });
      });

      it("refuses bad user names, weak passwords and bad display names", async () => {
        const client = await connect();
        for (const user of ["", "a b", "x".repeat(33), "é", "a/b"]) {
          expect((await client.request("register", { user, password: PASSWORD })).error.code, user).to.equal(
            "invalid_username",
          );
        }
        expect((await client.request("register", { user: "bob", password: "short" })).error.code).to.equal(
          "weak_password",
        );
        expect(
          (await client.request("register", { user: "bob", password: "x".repeat(1025) })).error.code,
        ).to.equal("weak_password");
        expect(
          (await client.request("register", { user: "bob", password: PASSWORD, name: "   " })).error.code,
        ).to.equal("bad_argument");
        expect((await client.request("register", { user: "bob", password: 12345678 })).error.code).to.equal(
          "bad_argument",
        );
        await client.ok("register", { user: "bob", password: PASSWORD, name: "  Bob B.  " });
        await client.ok("login", { user: "bob", password: PASSWORD });
        const { users } = await client.ok("users");
        expect(users).to.deep.include({
          user: "bob",
          name: "Bob B.",
          online: true,
          lastSeen: users[0].lastSeen,
        });
      });

      it("answers a wrong password and an unknown user alike", async () => {
        const client = await connect();
        await client.ok("register", { user: "carol", password: PASSWORD });
        const wrong = await client.request("login", { user: "carol", password: "not the password" });
        const unknown = await client.request("login", { user: "nobody", password: "not the password" });
        expect(wrong.error).to.deep.equal(unknown.error);
        expect(wrong.error.code).to.equal("bad_credentials");
      });

      it("throttles repeated failed log-ins with rate_limited", async () => {
        const client = await connect();
        const codes: string[] = [];
        for (let i = 0; i < 12; i++)
          codes.push((await client.request("login", { user: "dave", password: "wrongwrong" })).error.code);
        expect(codes.slice(0, 10)).to.deep.equal(Array(10).fill("bad_credentials"));
        expect(codes.slice(10)).to.deep.equal(["rate_limited", "rate_limited"]);
      });

      it("needs a log-in for everything but hello, register, login and ping", async () => {
        const client = await connect();
        for (const op of ["logout", "unregister", "send", "read", "users", "history"]) {
          expect((await client.request(op, {})).error.code, op).to.equal("not_logged_in");
        }
      });

      it("logs out: answers, then closes, and presence tells the others", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        await alice.expectEvent((e) => e.ev === "presence" && e.user === "bob" && e.online === true);
        expect(await bob.ok("logout")).to.have.all.keys("rid", "ok");
        await bob.closed;
        const offline = await alice.expectEvent(
          (e) => e.ev === "presence" && e.user === "bob" && e.online === false,
        );
        expect(offline.at).to.be.a("string");
        const { users } = await alice.ok("users");
        expect(users.find((u: { user: string }) => u.user === "bob")).to.include({ online: false });
      });

      it("tells everyone of a burst of log-ins once per user, and nobody of themselves", async () => {
        const observer = await login("observer");
        const names = ["u1", "u2", "u3", "u4", "u5", "u6"];
        const burst = await Promise.all(names.map((name) => login(name)));
        const seen: string[] = [];
        while (seen.length < names.length) {
          seen.push((await observer.expectEvent((e) => e.ev === "presence" && e.online === true)).user);
        }
        expect(seen.sort()).to.deep.equal(names);
        for (const [index, client] of burst.entries()) {
          await client.roundtrip();
          expect(client.received.filter((f) => f.ev === "presence" && f.user === names[index])).to.deep.equal(
            [],
          );
        }
        await observer.roundtrip();
        expect(observer.events.filter((e) => e.ev === "presence")).to.deep.equal([]);
      });

      it("unregisters with the password only; the name can be registered again", async () => {
        const alice = await login("alice");
        expect((await alice.request("unregister", { password: "wrong password" })).error.code).to.equal(
          "bad_credentials",
        );
        await alice.ok("unregister", { password: PASSWORD });
        await alice.closed;
        const again = await connect();
        expect((await again.request("login", { user: "alice", password: PASSWORD })).error.code).to.equal(
          "bad_credentials",
        );
        await again.ok("register", { user: "alice", password: "another password" });
      });
    });

    describe("send", () => {
      it("stores, answers with id and at, and is idempotent by cid", async () => {
        const alice = await login("alice");
        await login("bob");
        const first = await alice.ok("send", { to: "bob", text: "hi", cid: "c1" });
        expect(first).to.include({ duplicate: false });
        expect(first.id).to.be.a("number");
        const again = await alice.ok("send", { to: "bob", text: "hi", cid: "c1" });
        expect(again).to.deep.include({ id: first.id, at: first.at, duplicate: true });
      });

      it("shows a message in both users' history, normalized, as soon as its send is answered", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        // Asked the moment the sends are answered: before, texts reached history only once a
        // later normalization pass had released them.
        // Three: this suite's server has maxPending 3.
        const sends = Array.from({ length: 3 }, (_, i) =>
          alice.ok("send", { to: "bob", text: `  message   ${i} `, cid: `h${i}` }),
        );
        const answered = await Promise.all(sends);
        const [mine, theirs] = await Promise.all([
          alice.ok("history", { with: "bob" }),
          bob.ok("history", { with: "alice" }),
        ]);
        for (const history of [mine, theirs]) {
          expect(history.messages.map((m: { id: number }) => m.id)).to.deep.equal(answered.map((a) => a.id));
          expect(history.messages[2]).to.include({ text: "message 2", from: "alice", to: "bob" });
        }
      });

      it("refuses each kind of bad send with its own code", async () => {
        const alice = await login("alice");
        await login("bob");
        const cases: Array<[Record<string, unknown>, string]> = [
          [{ to: "nobody", text: "x", cid: "a" }, "no_such_user"],
          [{ to: "bob", text: " \t\n\u3000", cid: "a" }, "empty_text"],
          [{ to: "bob", text: "x".repeat(4097), cid: "a" }, "text_too_long"],
          [{ to: "bob", text: "bell\u0007", cid: "a" }, "invalid_text"],
          [{ to: "bob", text: "half \ud83d", cid: "a" }, "invalid_text"],
          [{ to: "bob", text: "x", cid: "" }, "bad_cid"],
          [{ to: "bob", text: "x", cid: "c".repeat(65) }, "bad_cid"],
          [{ to: "bob", text: 5, cid: "a" }, "bad_argument"],
          [{ text: "x", cid: "a" }, "bad_argument"],
        ];
        for (const [args, code] of cases)
          expect((await alice.request("send", args)).error.code, JSON.stringify(args)).to.equal(code);
        // 4096 code points of a 2-unit emoji is still within the limit.
        await alice.ok("send", { to: "bob", text: "😀".repeat(4096), cid: "long" });
      });

      it("refuses mailbox_full once maxPending messages wait, and a duplicate still answers", async () => {
        const alice = await login("alice");
        const offline = await connect();
        await offline.ok("register", { user: "bob", password: PASSWORD });
        for (let i = 0; i < 3; i++) await alice.ok("send", { to: "bob", text: `m${i}`, cid: `m${i}` });
        expect((await alice.request("send", { to: "bob", text: "one more", cid: "m3" })).error.code).to.equal(
          "mailbox_full",
        );
        expect(await alice.ok("send", { to: "bob", text: "m0", cid: "m0" })).to.include({ duplicate: true });
      });

      it("limits a user's send rate with rate_limited", async () => {
        await server.stop();
        // One token per 100 s: none comes back while the test runs, however slow the machine.
        server = await startTestServer({ sendRatePerSec: 0.01, sendBurst: 3 }, { backend });
        const alice = await login("alice");
        const codes = [];
        for (let i = 0; i < 5; i++) {
          const response = await alice.request("send", { to: "alice", text: "x", cid: `r${i}` });
          codes.push(response.ok ? "ok" : response.error.code);
        }
        expect(codes).to.deep.equal(["ok", "ok", "ok", "rate_limited", "rate_limited"]);
      });
    });

    describe("framing errors", () => {
      it("answers bad frames and unknown ops, with a response when there is a rid and an event otherwise", async () => {
        const client = await connect();
        client.write('{"op":"dance","rid":9}\nnot json\n[1]\n{"rid":3}\n{"op":"ping"}\n');
        const unknown = await client.waitForResponse(9);
        expect(unknown).to.deep.include({
          ok: false,
          error: { code: "unknown_op", message: 'unknown op "dance"' },
        });
        const noOp = await client.waitForResponse(3);
        expect(noOp.error.code).to.equal("bad_frame");
        const events = [];
        for (let i = 0; i < 3; i++) events.push(await client.expectEvent((e) => e.ev === "error"));
        expect(events.map((e) => e.code)).to.deep.equal(["bad_frame", "bad_frame", "bad_frame"]);
        await client.roundtrip();
      });

      it("closes after ten bad frames in a row with too_many_errors", async () => {
        const client = await connect();
        client.write("x\n".repeat(9));
        client.write('{"op":"ping","rid":1}\n');
        await client.waitForResponse(1);
        client.write("x\n".repeat(10));
        const event = await client.expectEvent((e) => e.code === "too_many_errors");
        expect(event.ev).to.equal("error");
        await client.closed;
      });

      it("closes with frame_too_large when a line exceeds the limit", async () => {
        const client = await connect();
        client.write(`{"op":"ping","rid":1,"pad":"${"x".repeat(70_000)}"}\n`);
        const event = await client.expectEvent((e) => e.ev === "error");
        expect(event.code).to.equal("frame_too_large");
        await client.closed;
      });

      it("ignores unknown fields and never answers ack", async () => {
        const client = await login("alice");
        client.write('{"op":"ack","rid":77,"upTo":5,"future":true}\n');
        expect(await client.ok("ping", { futureField: [1, 2] })).to.include({ ok: true });
        expect(client.received.some((frame) => frame.rid === 77)).to.equal(false);
      });

      it("closes an idle connection with idle_timeout", async () => {
        await server.stop();
        server = await startTestServer({ idleTimeoutMs: 200 }, { backend });
        const client = await connect();
        const event = await client.expectEvent((e) => e.ev === "error");
        expect(event.code).to.equal("idle_timeout");
        await client.closed;
      });
    });

    describe("ordering", () => {
      it("answers pipelined requests in order", async () => {
        const alice = await login("alice");
        const rids: number[] = [];
        for (let i = 0; i < 50; i++) {
          rids.push(alice.fire("send", { to: "alice", text: `n${i}`, cid: `p${i}` }));
          if (i % 10 === 0) rids.push(alice.fire("users"));
        }
        rids.push(alice.fire("ping"));
        await alice.waitForResponse(rids.at(-1)!);
        const answered = alice.received
          .filter((frame) => "rid" in frame && rids.includes(frame.rid))
          .map((frame) => frame.rid);
        expect(answered).to.deep.equal(rids);
      });
    });
  });
}
