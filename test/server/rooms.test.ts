// Protocol version 2, rooms: closed group conversations with an owner, membership events in the
// inbox and room messages fanned out to every member's devices. Black-box, over real sockets,
// against the text of shared/PROTOCOL.md.

import path from "node:path";
import { expect } from "chai";
import { BACKENDS } from "../helpers/backends.js";
import { sendUntilKilled } from "../helpers/send-until-killed.js";
import { type ServerProcess, spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { type Frame, loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const isMessage = (id?: number) => (e: Frame) => e.ev === "message" && (id === undefined || e.id === id);
const isRoomEvent = (change?: string, user?: string) => (e: Frame) =>
  e.ev === "room" && (change === undefined || e.change === change) && (user === undefined || e.user === user);
const byUser = (a: { user: string }, b: { user: string }) => a.user.localeCompare(b.user);
const byRoom = (a: { room: string }, b: { room: string }) => a.room.localeCompare(b.room);

/** The room events a client has received so far, as [room, change, user, by]. */
const roomEventsOf = (client: TestClient) =>
  client.received.filter((f) => f.ev === "room").map((e) => [e.room, e.change, e.user, e.by]);

for (const backend of BACKENDS) {
  describe(`rooms (integration, protocol v2, ${backend})`, () => {
    let server: TestServer;
    const clients: TestClient[] = [];
    const connect = async () => {
      const client = await TestClient.connect(server.port);
      clients.push(client);
      return client;
    };
    const login = async (user: string, device?: string) => {
      const client = await loggedIn(server.port, user, PASSWORD, device);
      clients.push(client);
      return client;
    };
    const registerOnly = async (...users: string[]) => {
      const client = await connect();
      for (const user of users) await client.ok("register", { user, password: PASSWORD });
      client.destroy();
    };
    const restartWith = async (overrides: Parameters<typeof startTestServer>[0]) => {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
      server = await startTestServer(overrides, { backend });
    };
    const errorCode = async (client: TestClient, op: string, args: Frame) =>
      (await client.request(op, args)).error?.code;

    beforeEach(async () => {
      server = await startTestServer({}, { backend });
    });
    afterEach(async () => {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
    });

    it("needs a log-in for every room operation", async () => {
      const client = await connect();
      for (const [op, args] of [
        ["room_create", { room: "#lab" }],
        ["room_add", { room: "#lab", user: "bob" }],
        ["room_remove", { room: "#lab", user: "bob" }],
        ["room_leave", { room: "#lab" }],
        ["rooms", {}],
        ["room_members", { room: "#lab" }],
      ] as const) {
        expect(await errorCode(client, op, args), op).to.equal("not_logged_in");
      }
    });

    it("refuses missing or mistyped arguments with bad_argument", async () => {
      const alice = await login("alice");
      await registerOnly("bob");
      await alice.ok("room_create", { room: "#lab" });
      const cases: Array<[string, Frame]> = [
        ["room_create", {}],
        ["room_create", { room: 5 }],
        ["room_create", { room: "#x", members: "bob" }],
        ["room_create", { room: "#x", members: [5] }],
        ["room_add", { room: "#lab" }],
        ["room_add", { user: "bob" }],
        ["room_remove", { room: "#lab" }],
        ["room_remove", { room: "#lab", user: 3 }],
        ["room_leave", {}],
        ["room_members", { room: 7 }],
      ];
      for (const [op, args] of cases) {
        expect(await errorCode(alice, op, args), `${op} ${JSON.stringify(args)}`).to.equal("bad_argument");
      }
      // A failed request changes nothing.
      const { rooms } = await alice.ok("rooms");
      expect(rooms).to.deep.equal([{ room: "#lab", owner: "alice", members: 1 }]);
    });

    describe("room_create", () => {
      it("creates a room kept as named and tells each initial member, online or not, with `created`", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        await registerOnly("carol");
        const created = await alice.ok("room_create", { room: "#Lab", members: ["BOB", "carol"] });
        expect(created.room).to.equal("#Lab");
        for (const client of [alice, bob]) {
          const event = await client.expectEvent(isRoomEvent("created"));
          expect(event).to.deep.include({ room: "#Lab", change: "created", user: "alice", by: "alice" });
          expect(event.seq).to.be.a("number");
          expect(event.at).to.match(ISO_TIME);
        }
        const carol = await login("carol");
        expect(await carol.expectEvent(isRoomEvent())).to.deep.include({
          room: "#Lab",
          change: "created",
          user: "alice",
          by: "alice",
        });
        const { rooms } = await bob.ok("rooms");
        expect(rooms).to.deep.equal([{ room: "#Lab", owner: "alice", members: 3 }]);
        // One `created` each, and no `joined` for the initial members.
        const marker = await alice.ok("send", { to: "#Lab", text: "first", cid: "1" });
        for (const client of [bob, carol]) {
          await client.expectEvent(isMessage(marker.id));
          expect(roomEventsOf(client)).to.deep.equal([["#Lab", "created", "alice", "alice"]]);
        }
      });

      it("refuses bad names with invalid_room, a taken name in any case with room_exists, unknown members with no_such_user", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        for (const room of ["lab", "#", "#a b", `#${"x".repeat(33)}`, "#é", "##lab", "#lab!", "bob"]) {
          expect(await errorCode(alice, "room_create", { room }), room).to.equal("invalid_room");
        }
        await alice.ok("room_create", { room: `#${"x".repeat(32)}` });
        await alice.ok("room_create", { room: "#Az09_.-" });
        await alice.ok("room_create", { room: "#Lab" });
        expect(await errorCode(bob, "room_create", { room: "#lab" })).to.equal("room_exists");
        expect(await errorCode(alice, "room_create", { room: "#LAB" })).to.equal("room_exists");
        expect(await errorCode(bob, "room_create", { room: "#other", members: ["alice", "ghost"] })).to.equal(
          "no_such_user",
        );
        const { rooms } = await bob.ok("rooms");
        expect(rooms).to.deep.equal([]);
        // bob was named in a refused room_create: no `created` for him. A later event proves it.
        await alice.ok("room_add", { room: "#Lab", user: "bob" });
        await bob.expectEvent(isRoomEvent("joined"));
        expect(roomEventsOf(bob)).to.deep.equal([["#Lab", "joined", "bob", "alice"]]);
      });

      it("refuses more than maxRoomMembers members, the owner included, with too_many_members", async () => {
        await restartWith({ maxRoomMembers: 3 });
        const alice = await login("alice");
        const bob = await login("bob");
        await registerOnly("carol", "dave");
        expect(
          await errorCode(alice, "room_create", { room: "#big", members: ["bob", "carol", "dave"] }),
        ).to.equal("too_many_members");
        expect((await alice.ok("rooms")).rooms).to.deep.equal([]);
        await alice.ok("room_create", { room: "#big", members: ["bob", "carol"] });
        expect(await errorCode(alice, "room_add", { room: "#big", user: "dave" })).to.equal(
          "too_many_members",
        );
        // Adding someone already in a full room is no change, not an error.
        await alice.ok("room_add", { room: "#big", user: "carol" });
        await bob.ok("room_leave", { room: "#big" });
        await alice.ok("room_add", { room: "#big", user: "dave" });
        expect((await alice.ok("rooms")).rooms).to.deep.equal([{ room: "#big", owner: "alice", members: 3 }]);
      });
    });

    describe("room messages", () => {
      it("reach every other member and the sender's other devices, in order, with to = the room", async () => {
        const aliceLaptop = await login("alice", "laptop");
        const alicePhone = await login("alice", "phone");
        const bobLaptop = await login("bob", "laptop");
        const bobPhone = await login("bob", "phone");
        const carol = await login("carol");
        await aliceLaptop.ok("room_create", { room: "#Lab", members: ["bob", "carol"] });
        const sent: Frame[] = [];
        for (let i = 0; i < 5; i++)
          sent.push(await aliceLaptop.ok("send", { to: "#Lab", text: `  m ${i}  `, cid: `c${i}` }));
        for (const client of [alicePhone, bobLaptop, bobPhone, carol]) {
          const messages = await client.collectMessages(5);
          expect(messages.map((m) => m.id)).to.deep.equal(sent.map((s) => s.id));
          for (const [i, message] of messages.entries()) {
            expect(message).to.deep.include({
              from: "alice",
              to: "#Lab",
              text: `m ${i}`,
              at: sent[i]!.at,
            });
          }
          const seqs = messages.map((m) => m.seq);
          expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b));
        }
        // The sending device gets none of them: carol's reply is the first message it sees.
        const reply = await carol.ok("send", { to: "#Lab", text: "reply", cid: "r" });
        expect(await aliceLaptop.expectEvent(isMessage())).to.deep.include({
          id: reply.id,
          from: "carol",
          to: "#Lab",
        });
        await carol.roundtrip();
        expect(carol.received.filter(isMessage(reply.id))).to.deep.equal([]);
      });

      it("names rooms without regard to case in send, history, read and room_members", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        await alice.ok("room_create", { room: "#Lab", members: ["bob"] });
        const sent = await alice.ok("send", { to: "#LAB", text: "hello", cid: "1" });
        expect(await bob.expectEvent(isMessage(sent.id))).to.deep.include({ to: "#Lab" });
        const { messages } = await bob.ok("history", { with: "#lab" });
        expect(messages.map((m: { id: number; to: string }) => [m.id, m.to])).to.deep.equal([
          [sent.id, "#Lab"],
        ]);
        await bob.ok("read", { with: "#lAb", upTo: sent.id });
        const { members } = await alice.ok("room_members", { room: "#LAB" });
        expect(members.find((m: { user: string }) => m.user === "bob").readUpTo).to.equal(sent.id);
      });

      it("never answer mailbox_full, count toward no mailbox and produce no receipts", async () => {
        await restartWith({ maxPending: 2 });
        const alice = await login("alice");
        await registerOnly("bob");
        await alice.ok("room_create", { room: "#lab", members: ["bob"] });
        const roomIds: number[] = [];
        for (let i = 0; i < 5; i++)
          roomIds.push((await alice.ok("send", { to: "#lab", text: `r${i}`, cid: `r${i}` })).id);
        const directIds: number[] = [];
        for (let i = 0; i < 2; i++)
          directIds.push((await alice.ok("send", { to: "bob", text: `d${i}`, cid: `d${i}` })).id);
        // The limit is real: bob's mailbox is full of the two direct messages alone.
        expect(await errorCode(alice, "send", { to: "bob", text: "one too many", cid: "d2" })).to.equal(
          "mailbox_full",
        );
        await alice.ok("send", { to: "#lab", text: "rooms still go", cid: "r5" });

        const bob = await login("bob");
        const messages = await bob.collectMessages(8);
        expect(messages.map((m) => m.text)).to.deep.equal([
          "r0",
          "r1",
          "r2",
          "r3",
          "r4",
          "d0",
          "d1",
          "rooms still go",
        ]);
        await bob.roundtrip();
        await bob.ok("read", { with: "#lab", upTo: messages[7]!.id });
        await bob.ok("read", { with: "alice", upTo: directIds[1] });
        // Receipts for the direct messages only: 2 delivered and 2 read, the last one read of d1.
        for (const id of directIds)
          await alice.expectEvent((e) => e.ev === "receipt" && e.status === "read" && e.id === id);
        const receipts = alice.received.filter((f) => f.ev === "receipt");
        expect(receipts.map((r) => r.id).every((id) => directIds.includes(id))).to.equal(true);
        expect(receipts).to.have.length(4);
      });

      it("history of a room is its whole conversation, from before you joined, with status sent", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        await alice.ok("room_create", { room: "#lab", members: ["bob"] });
        const ids: number[] = [];
        for (let i = 0; i < 3; i++)
          ids.push((await alice.ok("send", { to: "#lab", text: ` a${i} `, cid: `a${i}` })).id);
        ids.push((await bob.ok("send", { to: "#lab", text: "b0", cid: "b0" })).id);
        const bobMessages = await bob.collectMessages(3);
        await bob.ok("read", { with: "#lab", upTo: bobMessages[2]!.id });
        await registerOnly("carol");
        await alice.ok("room_add", { room: "#lab", user: "carol" });
        const carol = await login("carol");
        const { messages } = await carol.ok("history", { with: "#lab" });
        expect(messages).to.have.length(4);
        expect(messages.map((m: Frame) => [m.id, m.from, m.to, m.text, m.status])).to.deep.equal([
          [ids[0], "alice", "#lab", "a0", "sent"],
          [ids[1], "alice", "#lab", "a1", "sent"],
          [ids[2], "alice", "#lab", "a2", "sent"],
          [ids[3], "bob", "#lab", "b0", "sent"],
        ]);
        for (const m of messages) expect(m.at).to.match(ISO_TIME);
        const newest = await carol.ok("history", { with: "#lab", limit: 2 });
        expect(newest.messages.map((m: Frame) => m.id)).to.deep.equal(ids.slice(2));
        const older = await carol.ok("history", { with: "#lab", before: ids[2], limit: 5 });
        expect(older.messages.map((m: Frame) => m.id)).to.deep.equal(ids.slice(0, 2));
        // Read by bob, still `sent` for everyone.
        const bobsView = await bob.ok("history", { with: "#lab" });
        expect(bobsView.messages.map((m: Frame) => m.status)).to.deep.equal(["sent", "sent", "sent", "sent"]);
        // The joiner's inbox starts at the join: the old messages are not pushed.
        const after = await alice.ok("send", { to: "#lab", text: "after", cid: "after" });
        expect((await carol.expectEvent(isMessage())).id).to.equal(after.id);
      });

      it("send, history and read answer no_such_room for a missing or malformed room, not_member when not in it", async () => {
        const alice = await login("alice");
        const eve = await login("eve");
        await alice.ok("room_create", { room: "#lab" });
        const sent = await alice.ok("send", { to: "#lab", text: "secret", cid: "1" });
        for (const room of ["#nope", "#bad name!", "#", `#${"x".repeat(33)}`]) {
          expect(await errorCode(alice, "send", { to: room, text: "x", cid: "2" }), room).to.equal(
            "no_such_room",
          );
          expect(await errorCode(alice, "history", { with: room }), room).to.equal("no_such_room");
          expect(await errorCode(alice, "read", { with: room, upTo: sent.id }), room).to.equal(
            "no_such_room",
          );
        }
        expect(await errorCode(eve, "send", { to: "#lab", text: "let me in", cid: "1" })).to.equal(
          "not_member",
        );
        expect(await errorCode(eve, "history", { with: "#lab" })).to.equal("not_member");
        expect(await errorCode(eve, "read", { with: "#lab", upTo: sent.id })).to.equal("not_member");
        expect(await errorCode(eve, "room_members", { room: "#lab" })).to.equal("not_member");
        expect(await errorCode(eve, "room_leave", { room: "#lab" })).to.equal("not_member");
        for (const [op, args] of [
          ["room_members", { room: "#nope" }],
          ["room_leave", { room: "#nope" }],
          ["room_add", { room: "#nope", user: "eve" }],
          ["room_remove", { room: "#nope", user: "eve" }],
        ] as const) {
          expect(await errorCode(alice, op, args), op).to.equal("no_such_room");
        }
        // no_such_user keeps its meaning for user names.
        expect(await errorCode(alice, "send", { to: "ghost", text: "x", cid: "3" })).to.equal("no_such_user");
        // Nothing eve tried was stored.
        expect((await alice.ok("history", { with: "#lab" })).messages).to.have.length(1);
      });
    });

    describe("membership", () => {
      it("room_add: `joined` reaches every device of every member, the new one included; no change when already in", async () => {
        const aliceLaptop = await login("alice", "laptop");
        const alicePhone = await login("alice", "phone");
        const bob = await login("bob");
        const carol = await login("carol");
        const eve = await login("eve");
        await registerOnly("dave");
        await aliceLaptop.ok("room_create", { room: "#lab", members: ["bob"] });
        const before = await aliceLaptop.ok("send", { to: "#lab", text: "before carol", cid: "1" });
        await bob.ok("room_add", { room: "#lab", user: "CAROL" });
        for (const client of [aliceLaptop, alicePhone, bob, carol]) {
          expect(await client.expectEvent(isRoomEvent("joined"))).to.deep.include({
            room: "#lab",
            change: "joined",
            user: "carol",
            by: "bob",
          });
        }
        await aliceLaptop.ok("room_add", { room: "#lab", user: "carol" });
        expect(await errorCode(eve, "room_add", { room: "#lab", user: "eve" })).to.equal("not_member");
        expect(await errorCode(aliceLaptop, "room_add", { room: "#lab", user: "ghost" })).to.equal(
          "no_such_user",
        );
        await aliceLaptop.ok("room_add", { room: "#lab", user: "dave" });
        await bob.expectEvent(isRoomEvent("joined", "dave"));
        expect(roomEventsOf(bob)).to.deep.equal([
          ["#lab", "created", "alice", "alice"],
          ["#lab", "joined", "carol", "bob"],
          ["#lab", "joined", "dave", "alice"],
        ]);
        const dave = await login("dave");
        expect(await dave.expectEvent(isRoomEvent())).to.deep.include({
          change: "joined",
          user: "dave",
          by: "alice",
        });
        const after = await aliceLaptop.ok("send", { to: "#lab", text: "after dave", cid: "2" });
        for (const client of [carol, dave]) {
          expect((await client.expectEvent(isMessage())).id).to.equal(after.id);
          expect(client.received.filter(isMessage(before.id))).to.deep.equal([]);
        }
        expect((await eve.ok("rooms")).rooms).to.deep.equal([]);
        expect((await dave.ok("rooms")).rooms).to.deep.equal([{ room: "#lab", owner: "alice", members: 4 }]);
      });

      it("room_remove: only the owner, never yourself; a non-member is no change; the removed get nothing more", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        const carol = await login("carol");
        const eve = await login("eve");
        await registerOnly("dave");
        await alice.ok("room_create", { room: "#lab", members: ["bob", "carol"] });
        expect(await errorCode(bob, "room_remove", { room: "#lab", user: "carol" })).to.equal("not_owner");
        expect(await errorCode(eve, "room_remove", { room: "#lab", user: "bob" })).to.equal("not_member");
        expect(await errorCode(alice, "room_remove", { room: "#lab", user: "alice" })).to.equal(
          "bad_argument",
        );
        expect(await errorCode(alice, "room_remove", { room: "#lab", user: "ghost" })).to.equal(
          "no_such_user",
        );
        await alice.ok("room_remove", { room: "#lab", user: "dave" });
        expect((await alice.ok("rooms")).rooms).to.deep.equal([{ room: "#lab", owner: "alice", members: 3 }]);

        await alice.ok("room_remove", { room: "#lab", user: "Carol" });
        for (const client of [alice, bob, carol]) {
          expect(await client.expectEvent(isRoomEvent("removed"))).to.deep.include({
            room: "#lab",
            change: "removed",
            user: "carol",
            by: "alice",
          });
        }
        const after = await alice.ok("send", { to: "#lab", text: "without carol", cid: "1" });
        await bob.expectEvent(isMessage(after.id));
        await alice.ok("room_add", { room: "#lab", user: "dave" });
        await bob.expectEvent(isRoomEvent("joined", "dave"));
        // A direct message after all that: carol gets it as the next event, and nothing from the room.
        const direct = await alice.ok("send", { to: "carol", text: "direct", cid: "2" });
        expect((await carol.expectEvent(isMessage())).id).to.equal(direct.id);
        expect(carol.received.filter((f) => f.ev === "message" && f.to === "#lab")).to.deep.equal([]);
        expect(roomEventsOf(carol)).to.deep.equal([
          ["#lab", "created", "alice", "alice"],
          ["#lab", "removed", "carol", "alice"],
        ]);
        expect(await errorCode(carol, "send", { to: "#lab", text: "hello?", cid: "1" })).to.equal(
          "not_member",
        );
        expect(await errorCode(carol, "history", { with: "#lab" })).to.equal("not_member");
        expect((await carol.ok("rooms")).rooms).to.deep.equal([]);
        // Not hers to change any more.
        expect(await errorCode(carol, "room_remove", { room: "#lab", user: "bob" })).to.equal("not_member");
      });

      it("room_leave hands ownership to the earliest joined member; the last one out frees the name", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        const carol = await login("carol");
        const dave = await login("dave");
        // carol joins before bob: the order given in room_create.
        await alice.ok("room_create", { room: "#Lab", members: ["carol", "bob"] });
        await alice.ok("room_add", { room: "#Lab", user: "dave" });

        await alice.ok("room_leave", { room: "#Lab" });
        for (const client of [alice, bob, carol, dave]) {
          expect(await client.expectEvent(isRoomEvent("left"))).to.deep.include({
            room: "#Lab",
            change: "left",
            user: "alice",
            by: "alice",
          });
        }
        expect((await bob.ok("rooms")).rooms).to.deep.equal([{ room: "#Lab", owner: "carol", members: 3 }]);
        expect((await alice.ok("rooms")).rooms).to.deep.equal([]);
        expect(await errorCode(alice, "room_leave", { room: "#Lab" })).to.equal("not_member");
        expect(await errorCode(alice, "send", { to: "#Lab", text: "x", cid: "1" })).to.equal("not_member");

        await carol.ok("room_leave", { room: "#Lab" });
        expect((await dave.ok("rooms")).rooms).to.deep.equal([{ room: "#Lab", owner: "bob", members: 2 }]);
        // The new owner can remove; the others cannot.
        expect(await errorCode(dave, "room_remove", { room: "#Lab", user: "bob" })).to.equal("not_owner");

        await bob.ok("room_leave", { room: "#Lab" });
        expect((await dave.ok("rooms")).rooms).to.deep.equal([{ room: "#Lab", owner: "dave", members: 1 }]);
        await dave.ok("room_leave", { room: "#Lab" });
        expect(await errorCode(dave, "room_members", { room: "#Lab" })).to.equal("no_such_room");
        expect(await errorCode(dave, "send", { to: "#Lab", text: "anyone?", cid: "1" })).to.equal(
          "no_such_room",
        );

        expect((await bob.ok("room_create", { room: "#lab" })).room).to.equal("#lab");
        expect((await bob.ok("rooms")).rooms).to.deep.equal([{ room: "#lab", owner: "bob", members: 1 }]);
      });

      it("rooms lists your rooms with owner and member count; room_members shows online and readUpTo", async () => {
        const alice = await login("alice");
        const bobLaptop = await login("bob", "laptop");
        const bobPhone = await login("bob", "phone");
        await registerOnly("carol", "dave");
        await alice.ok("room_create", { room: "#a", members: ["bob"] });
        await alice.ok("room_create", { room: "#b" });
        await bobLaptop.ok("room_create", { room: "#c", members: ["alice", "carol"] });
        expect((await alice.ok("rooms")).rooms.sort(byRoom)).to.deep.equal([
          { room: "#a", owner: "alice", members: 2 },
          { room: "#b", owner: "alice", members: 1 },
          { room: "#c", owner: "bob", members: 3 },
        ]);
        expect((await bobPhone.ok("rooms")).rooms.sort(byRoom)).to.deep.equal([
          { room: "#a", owner: "alice", members: 2 },
          { room: "#c", owner: "bob", members: 3 },
        ]);

        let { members } = await alice.ok("room_members", { room: "#c" });
        expect(members.sort(byUser)).to.deep.equal([
          { user: "alice", online: true, readUpTo: null },
          { user: "bob", online: true, readUpTo: null },
          { user: "carol", online: false, readUpTo: null },
        ]);
        const first = await alice.ok("send", { to: "#c", text: "one", cid: "1" });
        await alice.ok("send", { to: "#c", text: "two", cid: "2" });
        await bobLaptop.collectMessages(2);
        await bobLaptop.ok("read", { with: "#c", upTo: first.id });
        const marker = await bobPhone.expectEvent((e) => e.ev === "read_marker");
        expect(marker).to.deep.include({ with: "#c", upTo: first.id });
        expect(marker.seq).to.be.a("number");
        ({ members } = await alice.ok("room_members", { room: "#c" }));
        const bob = members.find((m: { user: string }) => m.user === "bob");
        const carol = members.find((m: { user: string }) => m.user === "carol");
        expect(bob).to.deep.equal({ user: "bob", online: true, readUpTo: first.id });
        expect(carol).to.deep.equal({ user: "carol", online: false, readUpTo: null });
      });

      it("unregister leaves every room: the other members get `left`, and ownership passes on", async () => {
        const alice = await login("alice");
        const bob = await login("bob");
        const carol = await login("carol");
        await alice.ok("room_create", { room: "#a", members: ["bob", "carol"] });
        await carol.ok("room_create", { room: "#b", members: ["bob"] });
        await bob.ok("unregister", { password: PASSWORD });
        await bob.closed;
        expect(await alice.expectEvent(isRoomEvent("left"))).to.deep.include({
          room: "#a",
          user: "bob",
          by: "bob",
        });
        const carolsLefts = [
          await carol.expectEvent(isRoomEvent("left")),
          await carol.expectEvent(isRoomEvent("left")),
        ];
        expect(carolsLefts.map((e) => [e.room, e.user, e.by]).sort()).to.deep.equal([
          ["#a", "bob", "bob"],
          ["#b", "bob", "bob"],
        ]);
        expect((await carol.ok("rooms")).rooms.sort(byRoom)).to.deep.equal([
          { room: "#a", owner: "alice", members: 2 },
          { room: "#b", owner: "carol", members: 1 },
        ]);
        await alice.ok("unregister", { password: PASSWORD });
        expect(await carol.expectEvent(isRoomEvent("left"))).to.deep.include({ room: "#a", user: "alice" });
        expect((await carol.ok("rooms")).rooms.sort(byRoom)).to.deep.equal([
          { room: "#a", owner: "carol", members: 1 },
          { room: "#b", owner: "carol", members: 1 },
        ]);
        // A new bob is nobody's member.
        const newBob = await login("bob");
        expect((await newBob.ok("rooms")).rooms).to.deep.equal([]);
        expect(await errorCode(newBob, "history", { with: "#b" })).to.equal("not_member");
      });
    });
  });
}

describe("rooms across restarts and crashes (integration, child process, protocol v2)", () => {
  let temp: ReturnType<typeof makeTempDir>;
  let dbPath: string;
  let running: ServerProcess | undefined;
  const clients: TestClient[] = [];

  const start = async () => {
    running = await spawnServer(dbPath);
    return running;
  };
  const connect = async (user: string) => {
    const client = await loggedIn(running!.port, user);
    clients.push(client);
    return client;
  };
  const registerOnly = async (user: string) => {
    const client = await TestClient.connect(running!.port);
    await client.ok("register", { user, password: PASSWORD });
    client.destroy();
  };

  beforeEach(() => {
    temp = makeTempDir();
    dbPath = path.join(temp.dir, "parley.db");
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    if (running !== undefined && running.child.exitCode === null) await running.stop("SIGKILL");
    running = undefined;
    temp.remove();
  });

  /** Takes message events, acknowledging each, until `until` has arrived; fails on a duplicate. */
  async function collectUntil(client: TestClient, until: number): Promise<number[]> {
    const ids: number[] = [];
    for (;;) {
      const message = await client.expectEvent((e) => e.ev === "message", 10_000);
      client.ack(message.seq);
      expect(ids.includes(message.id), `id ${message.id} delivered twice`).to.equal(false);
      ids.push(message.id);
      if (message.id === until) return ids;
    }
  }

  it("an offline member gets every room message once, in order, after a clean restart", async () => {
    await start();
    const alice = await connect("alice");
    await registerOnly("bob");
    await alice.ok("room_create", { room: "#lab", members: ["bob"] });
    const ids: number[] = [];
    for (let i = 0; i < 30; i++)
      ids.push((await alice.ok("send", { to: "#lab", text: `m${i}`, cid: `c${i}` })).id);
    expect(await running!.stop("SIGTERM")).to.equal(0);

    await start();
    const bob = await connect("bob");
    expect(await bob.expectEvent(isRoomEvent("created"))).to.deep.include({ room: "#lab", user: "alice" });
    const again = await connect("alice");
    const sentinel = await again.ok("send", { to: "#lab", text: "after the restart", cid: "after" });
    expect(await collectUntil(bob, sentinel.id)).to.deep.equal([...ids, sentinel.id]);
  });

  it("loses no acknowledged room message when killed with SIGKILL mid-stream", async () => {
    await start();
    const alice = await connect("alice");
    await registerOnly("bob");
    await registerOnly("carol");
    await alice.ok("room_create", { room: "#lab", members: ["bob", "carol"] });
    const acknowledged = await sendUntilKilled(alice, () => running!.stop("SIGKILL"), {
      to: "#lab",
      total: 5000,
      killAfter: 200,
    });

    await start();
    const aliceAgain = await connect("alice");
    const sentinel = await aliceAgain.ok("send", { to: "#lab", text: "after the crash", cid: "after" });
    for (const user of ["bob", "carol"]) {
      const member = await connect(user);
      // Everything acknowledged arrives; a send stored but not yet answered may arrive too.
      const received = await collectUntil(member, sentinel.id);
      expect(received, user).to.deep.equal([...received].sort((a, b) => a - b));
      const seen = new Set(received);
      expect(
        acknowledged.filter((id) => !seen.has(id)),
        `${user} is missing acknowledged messages`,
      ).to.deep.equal([]);
    }
  });
});
