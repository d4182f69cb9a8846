// The contract every Store backend passes: each method and each guarantee written in
// server/store/store.ts, tested through the interface alone. A backend's test file calls
// describeStoreContract with a factory that gives each test a fresh, empty store.

import { expect } from "chai";
import type { InboxEvent, ReceiptEvent } from "../../server/protocol/messages.js";
import {
  type Conversation,
  type RoomRecord,
  type Store,
  StoreError,
  type StoreErrorCode,
  type UserRecord,
} from "../../server/store/store.js";
import { rejection } from "../helpers/rejection.js";

export interface StoreFixture {
  readonly store: Store;
  /** Closes the store if still open, and removes whatever the factory created. */
  cleanup(): Promise<void>;
}

const BASE_MS = Date.UTC(2026, 10, 24, 10, 0, 0);
const MAX_PENDING = 10_000;
const MAX_DEVICES = 10;
const MAX_MEMBERS = 50;
// Probe messages are dated long before any other, so expiring them touches nothing else.
const PROBE_AT = "2001-01-01T00:00:00.000Z";
const PROBE_EXPIRY = "2001-01-02T00:00:00.000Z";

/** A timestamp `seconds` after the tests' epoch. */
function at(seconds: number): string {
  return new Date(BASE_MS + seconds * 1000).toISOString();
}

function sorted(ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

async function expectStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  const error = await rejection(promise);
  expect(error).to.be.instanceOf(StoreError);
  expect((error as StoreError).code).to.equal(code);
}

export function describeStoreContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    let fixture: StoreFixture | undefined;
    let store: Store;
    let clock: number;
    let cids: number;
    let prober: UserRecord | undefined;
    /** Each user's first device, attached when the tests' helpers create the user. */
    let mainDevices: Map<number, number>;
    /** What the listener heard, one entry per commit that gave someone events. */
    let heard: number[][];

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
      clock = 100;
      cids = 0;
      prober = undefined;
      mainDevices = new Map();
      heard = [];
      store.onNewEvents((events) => heard.push([...new Set(events.flatMap((live) => live.userIds))]));
    });

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    // --- helpers, all through the interface ---

    function tick(): string {
      clock += 1;
      return at(clock);
    }

    /** Creates an account and logs in its first device, "main". */
    async function createUser(user: string, name = user): Promise<UserRecord> {
      const record = await store.createUser({ user, name, passwordHash: `hash-of-${user}`, at: at(0) });
      const { device } = await store.attachDevice(record.id, "main", at(0), MAX_DEVICES);
      mainDevices.set(record.id, device.id);
      return record;
    }

    async function users(...names: string[]): Promise<UserRecord[]> {
      const created: UserRecord[] = [];
      for (const user of names) created.push(await createUser(user));
      return created;
    }

    /** The user's first device. */
    function dev(user: UserRecord): number {
      const id = mainDevices.get(user.id);
      if (id === undefined) return expect.fail(`${user.user} has no main device`);
      return id;
    }

    async function attach(user: UserRecord, device: string, when = tick()): Promise<number> {
      return (await store.attachDevice(user.id, device, when, MAX_DEVICES)).device.id;
    }

    function withUser(user: UserRecord): Conversation {
      return { kind: "user", id: user.id };
    }

    function inRoom(room: RoomRecord): Conversation {
      return { kind: "room", id: room.id };
    }

    /** The users the listener was told of for the commits of `write`, each once. */
    async function notified(write: () => Promise<unknown>): Promise<number[]> {
      heard = [];
      await write();
      return sorted([...new Set(heard.flat())]);
    }

    async function send(
      from: UserRecord,
      to: string,
      text = "hello",
      maxPending = MAX_PENDING,
      deviceId = dev(from),
    ): Promise<number> {
      cids += 1;
      const sent = await store.enqueueMessage({
        senderId: from.id,
        senderDeviceId: deviceId,
        to,
        cid: `cid-${cids}`,
        text,
        at: tick(),
        maxPending,
      });
      return sent.id;
    }

    /** Sends with the normalized text given at intake: in its inboxes at once when nothing waits. */
    async function say(from: UserRecord, to: string, text = "hello", deviceId = dev(from)): Promise<number> {
      cids += 1;
      const sent = await store.enqueueMessage({
        senderId: from.id,
        senderDeviceId: deviceId,
        to,
        cid: `cid-${cids}`,
        text: ` ${text} `,
        normalizedText: text,
        at: tick(),
        maxPending: MAX_PENDING,
      });
      return sent.id;
    }

    /** Sends and releases with the same text: a message in the recipient's inbox. */
    async function deliver(from: UserRecord, to: string, text = "hello"): Promise<number> {
      const id = await send(from, to, text);
      await store.releaseMessages([{ id, text }], tick());
      return id;
    }

    /** Where the device stands in its user's stream (0 once the device is gone). */
    async function position(user: UserRecord, deviceId: number): Promise<number> {
      return (await store.listDevices(user.id)).find((device) => device.id === deviceId)?.ackedSeq ?? 0;
    }

    /** The events waiting for a device: its stream past its position. */
    async function inbox(user: UserRecord, deviceId = dev(user)): Promise<InboxEvent[]> {
      return store.inboxAfter(user.id, deviceId, await position(user, deviceId), 1000);
    }

    /** The device's whole stream, acknowledged or not (until pruned). */
    async function stream(user: UserRecord, deviceId = dev(user)): Promise<InboxEvent[]> {
      return store.inboxAfter(user.id, deviceId, 0, 1000);
    }

    async function receipts(user: UserRecord): Promise<Array<Omit<ReceiptEvent, "seq" | "at">>> {
      return (await inbox(user))
        .filter((event): event is ReceiptEvent => event.ev === "receipt")
        .map(({ id, to, status, ev }) => ({ ev, id, to, status }));
    }

    async function lastSeq(user: UserRecord, deviceId = dev(user)): Promise<number> {
      const events = await inbox(user, deviceId);
      return events.length === 0 ? position(user, deviceId) : events[events.length - 1]!.seq;
    }

    /** Acknowledges everything waiting for the device. */
    async function ackAll(user: UserRecord, deviceId = dev(user)): Promise<void> {
      await store.acknowledge(user.id, deviceId, await lastSeq(user, deviceId), tick());
    }

    async function statusOf(a: UserRecord, b: UserRecord, id: number): Promise<string | undefined> {
      return (await store.history(a.id, withUser(b), undefined, 200)).find((message) => message.id === id)
        ?.status;
    }

    /**
     * How many messages wait for `to`, seen through the mailbox limit alone: a send with
     * maxPending n is refused exactly when n or more wait. The one probe that gets through is
     * expired again at once, so the count is left as it was.
     */
    async function waitingFor(to: string): Promise<number> {
      prober ??= await createUser("zz-prober");
      for (let n = 1; n <= 1000; n++) {
        cids += 1;
        const probe = {
          senderId: prober.id,
          senderDeviceId: dev(prober),
          to,
          cid: `probe-${cids}`,
          text: "probe",
          at: PROBE_AT,
          maxPending: n,
        };
        const error = await store.enqueueMessage(probe).then(
          () => undefined,
          (reason: unknown) => reason,
        );
        if (error === undefined) {
          await store.expireMessages(PROBE_EXPIRY, PROBE_AT);
          return n - 1;
        }
        if (!(error instanceof StoreError && error.code === "mailbox_full")) throw error;
      }
      return expect.fail("more than 1000 messages waiting");
    }

    /** Events without their seq and time, to compare. */
    function plain(events: readonly InboxEvent[]): Array<Record<string, unknown>> {
      return events.map(({ seq: _seq, at: _at, ...rest }) => rest);
    }

    describe("accounts", () => {
      it("createUser returns the account as stored, and findUser finds it", async () => {
        const alice = await store.createUser({
          user: "Alice",
          name: "Alice A.",
          passwordHash: "h1",
          at: at(1),
        });
        expect(alice).to.include({
          user: "Alice",
          name: "Alice A.",
          passwordHash: "h1",
          createdAt: at(1),
          lastSeen: null,
        });
        expect(alice.id).to.be.a("number");
        expect(await store.findUser("Alice")).to.deep.equal(alice);
      });

      it("findUser compares names without regard to case and knows no one else", async () => {
        const alice = await createUser("Alice");
        expect(await store.findUser("aLICE")).to.deep.equal(alice);
        expect(await store.findUser("alice2")).to.equal(undefined);
        expect(await store.findUser("")).to.equal(undefined);
      });

      it("createUser rejects a taken name, in any case, with user_exists and changes nothing", async () => {
        const alice = await createUser("alice", "First");
        await expectStoreError(createUser("ALICE", "Second"), "user_exists");
        expect(await store.findUser("alice")).to.deep.equal(alice);
        expect((await store.listUsers(undefined, 500)).users.map((u) => u.name)).to.deep.equal(["First"]);
      });

      it("listUsers returns every live account ordered by name without regard to case", async () => {
        await users("carol", "Bob", "alice", "Dave");
        const dave = await store.findUser("dave");
        await store.deleteUser(dave!.id, at(5));
        expect((await store.listUsers(undefined, 500)).users.map((u) => u.user)).to.deep.equal([
          "alice",
          "Bob",
          "carol",
        ]);
      });

      it("listUsers pages in name order without regard to case: after a name, at most limit, and more", async () => {
        await users("carol", "Bob", "alice", "Dave", "erin");
        const erin = await store.findUser("erin");
        await store.deleteUser(erin!.id, at(5));
        const first = await store.listUsers(undefined, 2);
        expect(first.users.map((u) => u.user)).to.deep.equal(["alice", "Bob"]);
        expect(first.more).to.equal(true);
        // The name it starts after is compared without regard to case, and need not exist.
        const second = await store.listUsers("BOB", 2);
        expect(second.users.map((u) => u.user)).to.deep.equal(["carol", "Dave"]);
        expect(second.more).to.equal(false);
        expect((await store.listUsers("bz", 1)).users.map((u) => u.user)).to.deep.equal(["carol"]);
        expect(await store.listUsers("dave", 10)).to.deep.equal({ users: [], more: false });
        expect((await store.listUsers(undefined, 4)).more).to.equal(false);
      });

      it("recordPresence records the last-seen time at log-in and log-out; resetPresence keeps it", async () => {
        const [alice, bob] = await users("alice", "bob");
        await store.recordPresence(alice!.id, true, at(10));
        expect((await store.findUser("alice"))!.lastSeen).to.equal(at(10));
        await store.recordPresence(alice!.id, false, at(20));
        expect((await store.findUser("alice"))!.lastSeen).to.equal(at(20));
        await store.recordPresence(bob!.id, true, at(30));
        await store.resetPresence();
        expect((await store.findUser("alice"))!.lastSeen).to.equal(at(20));
        expect((await store.findUser("bob"))!.lastSeen).to.equal(at(30));
      });

      it("attachDevice rejects a deleted account with no_such_user and adds no device", async () => {
        const [alice] = await users("alice");
        await store.deleteUser(alice!.id, at(5));
        await expectStoreError(store.attachDevice(alice!.id, "laptop", at(6), MAX_DEVICES), "no_such_user");
        expect(await store.listDevices(alice!.id)).to.deep.equal([]);
      });

      it("setPasswordHash replaces a live account's hash, and refuses a deleted one with no_such_user", async () => {
        const [alice, bob] = await users("alice", "bob");
        await store.setPasswordHash(alice!.id, "new-hash");
        expect((await store.findUser("alice"))!.passwordHash).to.equal("new-hash");
        expect((await store.findUser("bob"))!.passwordHash).to.equal(bob!.passwordHash);
        await store.deleteUser(bob!.id, at(5));
        await expectStoreError(store.setPasswordHash(bob!.id, "other"), "no_such_user");
      });

      it("deleteUser frees the name for a new account", async () => {
        const [alice] = await users("alice", "bob");
        await store.deleteUser(alice!.id, at(5));
        expect(await store.findUser("alice")).to.equal(undefined);
        expect((await store.listUsers(undefined, 500)).users.map((u) => u.user)).to.deep.equal(["bob"]);
        const again = await createUser("ALICE");
        expect(again.id).to.not.equal(alice!.id);
        expect(await store.findUser("alice")).to.deep.equal(again);
      });
    });

    describe("enqueueMessage", () => {
      it("stores a message and answers its id and time; ids grow", async () => {
        const [alice] = await users("alice", "bob");
        const first = await store.enqueueMessage({
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "bob",
          cid: "a",
          text: " hi ",
          at: at(1),
          maxPending: 5,
        });
        const second = await store.enqueueMessage({
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "bob",
          cid: "b",
          text: "yo",
          at: at(2),
          maxPending: 5,
        });
        expect(first).to.include({ at: at(1), duplicate: false });
        expect(second).to.include({ at: at(2), duplicate: false });
        expect(second.id).to.be.greaterThan(first.id);
        expect(await store.unnormalizedMessages(10)).to.deep.equal([
          { id: first.id, text: " hi " },
          { id: second.id, text: "yo" },
        ]);
      });

      it("finds the recipient without regard to case", async () => {
        const [alice, bob] = await users("alice", "Bob");
        await deliver(alice!, "bOB", "hi");
        expect((await inbox(bob!)).map((event) => event.ev)).to.deep.equal(["message"]);
      });

      it("is idempotent on (sender, cid): a resend answers the first id and time and stores nothing", async () => {
        const [alice] = await users("alice", "bob");
        const message = {
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "bob",
          cid: "same",
          text: "first",
          at: at(1),
          maxPending: 5,
        };
        const first = await store.enqueueMessage(message);
        const again = await store.enqueueMessage({ ...message, text: "second", at: at(2) });
        expect(again).to.deep.equal({ id: first.id, at: at(1), duplicate: true });
        expect(await store.unnormalizedMessages(10)).to.deep.equal([{ id: first.id, text: "first" }]);
        expect(await waitingFor("bob")).to.equal(1);
      });

      it("treats the same cid from another sender as another message", async () => {
        const [alice, carol] = await users("alice", "carol", "bob");
        const one = await store.enqueueMessage({
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "bob",
          cid: "x",
          text: "1",
          at: at(1),
          maxPending: 5,
        });
        const two = await store.enqueueMessage({
          senderId: carol!.id,
          senderDeviceId: dev(carol!),
          to: "bob",
          cid: "x",
          text: "2",
          at: at(2),
          maxPending: 5,
        });
        expect(two.duplicate).to.equal(false);
        expect(two.id).to.not.equal(one.id);
      });

      it("rejects an unknown or deleted recipient with no_such_user and stores nothing", async () => {
        const [alice, bob] = await users("alice", "bob");
        await expectStoreError(send(alice!, "nobody"), "no_such_user");
        await store.deleteUser(bob!.id, at(3));
        await expectStoreError(send(alice!, "bob"), "no_such_user");
        expect(await store.unnormalizedMessages(10)).to.deep.equal([]);
      });

      it("rejects with mailbox_full when maxPending messages wait, and stores nothing", async () => {
        const [alice] = await users("alice", "bob");
        for (let i = 0; i < 3; i++) await send(alice!, "bob", `m${i}`, 3);
        await expectStoreError(send(alice!, "bob", "one too many", 3), "mailbox_full");
        expect(await store.unnormalizedMessages(10)).to.have.length(3);
        await send(alice!, "bob", "a higher limit", 4);
      });

      it("never refuses a duplicate, even when the mailbox is full or the recipient was deleted since", async () => {
        const [alice, bob] = await users("alice", "bob");
        const message = {
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "bob",
          cid: "keep",
          text: "t",
          at: at(1),
          maxPending: 1,
        };
        const first = await store.enqueueMessage(message);
        expect(await store.enqueueMessage(message)).to.deep.equal({ ...first, duplicate: true });
        await store.deleteUser(bob!.id, at(2));
        expect(await store.enqueueMessage(message)).to.deep.equal({ ...first, duplicate: true });
      });

      it("keeps the message from its recipient until it is released", async () => {
        const [alice, bob] = await users("alice", "bob");
        await send(alice!, "bob");
        expect(await inbox(bob!)).to.deep.equal([]);
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(0);
        expect(await store.history(bob!.id, withUser(alice!), undefined, 50)).to.deep.equal([]);
      });
    });

    describe("normalization: unnormalizedMessages, releaseMessages, holdMessage", () => {
      it("unnormalizedMessages lists stored messages oldest first, with their raw text, at most limit", async () => {
        const [alice, bob] = await users("alice", "bob");
        const ids = [
          await send(alice!, "bob", " a "),
          await send(bob!, "alice", "b  b"),
          await send(alice!, "alice", "c"),
        ];
        expect(await store.unnormalizedMessages(2)).to.deep.equal([
          { id: ids[0], text: " a " },
          { id: ids[1], text: "b  b" },
        ]);
        await store.releaseMessages([{ id: ids[0]!, text: "a" }], tick());
        await store.holdMessage(ids[1]!, tick());
        expect(await store.unnormalizedMessages(10)).to.deep.equal([{ id: ids[2], text: "c" }]);
      });

      it("releaseMessages puts each message in its recipient's inbox, in the order given", async () => {
        const [alice, bob, carol] = await users("Alice", "bob", "carol");
        const first = await store.enqueueMessage({
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "BOB",
          cid: "1",
          text: " hi  bob ",
          at: at(1),
          maxPending: 9,
        });
        const second = await store.enqueueMessage({
          senderId: carol!.id,
          senderDeviceId: dev(carol!),
          to: "bob",
          cid: "2",
          text: "x",
          at: at(2),
          maxPending: 9,
        });
        const third = await store.enqueueMessage({
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "carol",
          cid: "3",
          text: "y",
          at: at(3),
          maxPending: 9,
        });
        const told = await notified(() =>
          store.releaseMessages(
            [
              { id: second.id, text: "x" },
              { id: first.id, text: "hi bob" },
              { id: third.id, text: "y" },
            ],
            at(10),
          ),
        );
        expect(told).to.deep.equal(sorted([bob!.id, carol!.id]));
        const events = await inbox(bob!);
        expect(events.map(({ seq: _seq, ...rest }) => rest)).to.deep.equal([
          { ev: "message", id: second.id, from: "carol", to: "bob", text: "x", at: at(2) },
          { ev: "message", id: first.id, from: "Alice", to: "bob", text: "hi bob", at: at(1) },
        ]);
        expect(events[1]!.seq).to.be.greaterThan(events[0]!.seq);
        expect(await store.unnormalizedMessages(10)).to.deep.equal([]);
      });

      it("releaseMessages skips messages no longer waiting", async () => {
        const [alice, bob] = await users("alice", "bob", "carol");
        const expired = await send(alice!, "bob");
        await store.expireMessages(at(clock + 1), tick());
        const released = await deliver(alice!, "bob");
        const held = await send(alice!, "bob");
        await store.holdMessage(held, tick());
        const orphan = await send(alice!, "carol");
        await store.deleteUser((await store.findUser("carol"))!.id, tick());
        const before = await inbox(bob!);
        const told = await notified(() =>
          store.releaseMessages(
            [released, held, expired, orphan].map((id) => ({ id, text: "again" })),
            tick(),
          ),
        );
        expect(told).to.deep.equal([]);
        expect(await inbox(bob!)).to.deep.equal(before);
        expect(before.filter((event) => event.ev === "message")).to.have.length(1);
      });

      it("holdMessage takes a message out of normalization for good and ends it, with an undeliverable receipt", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await send(alice!, "bob", "\u200b");
        expect(await waitingFor("bob")).to.equal(1);
        const heldAt = tick();
        expect(await notified(() => store.holdMessage(id, heldAt))).to.deep.equal([alice!.id]);
        expect(await store.unnormalizedMessages(10)).to.deep.equal([]);
        expect(await waitingFor("bob")).to.equal(0);
        expect((await inbox(alice!)).map(({ seq: _seq, ...rest }) => rest)).to.deep.equal([
          { ev: "receipt", id, to: "bob", status: "undeliverable", at: heldAt },
        ]);
        expect(await notified(() => store.holdMessage(id, tick()))).to.deep.equal([]);
        expect(await notified(() => store.releaseMessages([{ id, text: "late" }], tick()))).to.deep.equal([]);
        expect(await inbox(bob!)).to.deep.equal([]);
        expect(await store.history(alice!.id, withUser(bob!), undefined, 50)).to.deep.equal([]);
        expect(await notified(() => store.expireMessages(at(clock + 1), tick()))).to.deep.equal([]);
        expect(await receipts(alice!)).to.have.length(1);
        expect(await waitingFor("bob")).to.equal(0);
      });

      it("holdMessage queues no receipt to a deleted sender", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await send(alice!, "bob");
        await store.deleteUser(alice!.id, tick());
        expect(await notified(() => store.holdMessage(id, tick()))).to.deep.equal([]);
        expect(await store.inboxCount(alice!.id, dev(alice!))).to.equal(0);
        expect(await waitingFor("bob")).to.equal(0);
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(0);
      });

      it("hands out a message left behind by a hold or release of a later one", async () => {
        const [alice] = await users("alice", "bob");
        const ids = [
          await send(alice!, "bob", "a"),
          await send(alice!, "bob", "b"),
          await send(alice!, "bob", "c"),
        ];
        await store.holdMessage(ids[1]!, tick());
        expect((await store.unnormalizedMessages(10)).map((m) => m.id)).to.deep.equal([ids[0], ids[2]]);
        await store.releaseMessages([{ id: ids[2]!, text: "c" }], tick());
        expect(await store.unnormalizedMessages(10)).to.deep.equal([{ id: ids[0], text: "a" }]);
        await store.releaseMessages([{ id: ids[0]!, text: "a" }], tick());
        expect(await store.unnormalizedMessages(10)).to.deep.equal([]);
        const later = await send(alice!, "bob", "d");
        expect(await store.unnormalizedMessages(10)).to.deep.equal([{ id: later, text: "d" }]);
      });
    });

    describe("inboxAfter and inboxCount", () => {
      it("inboxAfter returns the events after a seq, in seq order, at most limit", async () => {
        const [alice, bob] = await users("alice", "bob");
        for (let i = 0; i < 5; i++) await deliver(alice!, "bob", `m${i}`);
        const all = await inbox(bob!);
        expect(all.map((event) => (event.ev === "message" ? event.text : ""))).to.deep.equal([
          "m0",
          "m1",
          "m2",
          "m3",
          "m4",
        ]);
        const seqs = all.map((event) => event.seq);
        expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b));
        expect(new Set(seqs).size).to.equal(5);
        expect(await store.inboxAfter(bob!.id, dev(bob!), seqs[1]!, 2)).to.deep.equal(all.slice(2, 4));
        expect(await store.inboxAfter(bob!.id, dev(bob!), seqs[4]!, 10)).to.deep.equal([]);
        expect(await inbox(alice!)).to.deep.equal([]);
      });

      it("inboxCount counts the messages and receipts waiting", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(alice!, "bob");
        await deliver(alice!, "bob");
        await deliver(bob!, "alice");
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(2);
        await store.acknowledge(bob!.id, dev(bob!), await lastSeq(bob!), tick());
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(0);
        expect(await store.inboxCount(alice!.id, dev(alice!))).to.equal(3);
      });

      it("gives new events a seq above every earlier one, even after all were acknowledged", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(alice!, "bob");
        await deliver(alice!, "bob");
        const highest = await lastSeq(bob!);
        await store.acknowledge(bob!.id, dev(bob!), highest, tick());
        await store.acknowledge(alice!.id, dev(alice!), await lastSeq(alice!), tick());
        await deliver(alice!, "bob");
        const [next] = await inbox(bob!);
        expect(next!.seq).to.be.greaterThan(highest);
      });
    });

    describe("acknowledge", () => {
      it("removes the events up to the seq, marks their messages delivered and tells the senders", async () => {
        const [alice, bob] = await users("alice", "Bob");
        const first = await deliver(alice!, "bob", "one");
        const second = await deliver(alice!, "bob", "two");
        const [event1, event2] = await inbox(bob!);
        const told = await notified(() => store.acknowledge(bob!.id, dev(bob!), event1!.seq, at(500)));
        expect(told).to.deep.equal([alice!.id]);
        expect(await inbox(bob!)).to.deep.equal([event2]);
        const [receipt] = await inbox(alice!);
        expect(receipt).to.deep.include({
          ev: "receipt",
          id: first,
          to: "Bob",
          status: "delivered",
          at: at(500),
        });
        expect(await statusOf(alice!, bob!, first)).to.equal("delivered");
        expect(await statusOf(alice!, bob!, second)).to.equal("sent");
      });

      it("does nothing more when the same events are acknowledged again", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(alice!, "bob");
        const seq = await lastSeq(bob!);
        await store.acknowledge(bob!.id, dev(bob!), seq, tick());
        const told = await notified(() => store.acknowledge(bob!.id, dev(bob!), seq, tick()));
        expect(told).to.deep.equal([]);
        expect(await receipts(alice!)).to.have.length(1);
      });

      it("only touches the acknowledging user's own inbox", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(alice!, "bob");
        await deliver(bob!, "alice");
        const aliceInbox = await inbox(alice!);
        await store.acknowledge(bob!.id, dev(bob!), 0, tick());
        await store.acknowledge(bob!.id, dev(bob!), Number.MAX_SAFE_INTEGER, tick());
        expect(await inbox(bob!)).to.deep.equal([]);
        expect(await inbox(alice!)).to.have.length(aliceInbox.length + 1);
        expect((await inbox(alice!)).slice(0, aliceInbox.length)).to.deep.equal(aliceInbox);
      });

      it("queues nothing for acknowledged receipts", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(alice!, "bob");
        await store.acknowledge(bob!.id, dev(bob!), await lastSeq(bob!), tick());
        const told = await notified(() => ackAll(alice!));
        expect(told).to.deep.equal([]);
        expect(await inbox(alice!)).to.deep.equal([]);
        expect(await inbox(bob!)).to.deep.equal([]);
      });

      it("sends no delivered receipt for a message already read", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await deliver(alice!, "bob");
        await store.markRead(bob!.id, dev(bob!), withUser(alice!), id, tick());
        const told = await notified(() => ackAll(bob!));
        expect(told).to.deep.equal([]);
        expect(await receipts(alice!)).to.deep.equal([{ ev: "receipt", id, to: "bob", status: "read" }]);
        expect(await statusOf(alice!, bob!, id)).to.equal("read");
      });

      it("sends no receipt to a deleted sender", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(alice!, "bob");
        await store.deleteUser(alice!.id, tick());
        const told = await notified(() => ackAll(bob!));
        expect(told).to.deep.equal([]);
        expect(await store.inboxCount(alice!.id, dev(alice!))).to.equal(0);
      });

      it("tells each sender once, with one receipt per message", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const ids = [
          await deliver(alice!, "carol"),
          await deliver(bob!, "carol"),
          await deliver(alice!, "carol"),
        ];
        const told = await notified(() => ackAll(carol!));
        expect(told).to.deep.equal(sorted([alice!.id, bob!.id]));
        expect((await receipts(alice!)).map((receipt) => receipt.id)).to.deep.equal([ids[0], ids[2]]);
        expect((await receipts(bob!)).map((receipt) => receipt.id)).to.deep.equal([ids[1]]);
      });
    });

    describe("markRead", () => {
      it("marks the messages from one user up to an id read and queues read receipts", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const first = await deliver(alice!, "bob");
        const fromCarol = await deliver(carol!, "bob");
        const second = await deliver(alice!, "bob");
        const third = await deliver(alice!, "bob");
        const told = await notified(() =>
          store.markRead(bob!.id, dev(bob!), withUser(alice!), second, at(600)),
        );
        expect(told).to.deep.equal([alice!.id]);
        const events = await inbox(alice!);
        expect(events.map(({ seq: _seq, ...rest }) => rest)).to.deep.equal([
          { ev: "receipt", id: first, to: "bob", status: "read", at: at(600) },
          { ev: "receipt", id: second, to: "bob", status: "read", at: at(600) },
        ]);
        expect(await statusOf(alice!, bob!, third)).to.equal("sent");
        expect(await statusOf(carol!, bob!, fromCarol)).to.equal("sent");
        expect(await receipts(carol!)).to.deep.equal([]);
      });

      it("leaves the read messages in the reader's inbox until acknowledged", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await deliver(alice!, "bob");
        const before = await inbox(bob!);
        await store.markRead(bob!.id, dev(bob!), withUser(alice!), id, tick());
        expect(await inbox(bob!)).to.deep.equal(before);
      });

      it("queues one read receipt per message however often it is read, and none for unreleased ones", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await deliver(alice!, "bob");
        const unreleased = await send(alice!, "bob");
        await store.markRead(bob!.id, dev(bob!), withUser(alice!), unreleased, tick());
        const again = await notified(() =>
          store.markRead(bob!.id, dev(bob!), withUser(alice!), unreleased, tick()),
        );
        expect(again).to.deep.equal([]);
        expect(await receipts(alice!)).to.deep.equal([{ ev: "receipt", id, to: "bob", status: "read" }]);
      });

      it("reads delivered messages too, after their delivered receipt", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await deliver(alice!, "bob");
        await store.acknowledge(bob!.id, dev(bob!), await lastSeq(bob!), tick());
        await store.markRead(bob!.id, dev(bob!), withUser(alice!), id, tick());
        expect((await receipts(alice!)).map((receipt) => receipt.status)).to.deep.equal([
          "delivered",
          "read",
        ]);
        expect(await statusOf(alice!, bob!, id)).to.equal("read");
      });

      it("queues no receipt to a deleted sender", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await deliver(alice!, "bob");
        await store.deleteUser(alice!.id, tick());
        expect(
          await notified(() => store.markRead(bob!.id, dev(bob!), withUser(alice!), id, tick())),
        ).to.deep.equal([]);
        expect(await store.inboxCount(alice!.id, dev(alice!))).to.equal(0);
      });
    });

    describe("deleteUser", () => {
      it("drops the inbox and makes every message still waiting undeliverable, with receipts", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const delivered = await deliver(alice!, "bob", "acknowledged");
        await store.acknowledge(bob!.id, dev(bob!), await lastSeq(bob!), tick());
        const released = await deliver(alice!, "bob", "in the inbox");
        const stored = await send(carol!, "bob", "not yet normalized");
        const held = await send(alice!, "bob", "held");
        await store.holdMessage(held, tick());
        await deliver(alice!, "alice", "unrelated");
        const aliceBefore = (await inbox(alice!)).length;

        const told = await notified(() => store.deleteUser(bob!.id, at(900)));
        expect(told).to.deep.equal(sorted([alice!.id, carol!.id]));
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(0);
        const aliceReceipts = (await inbox(alice!)).slice(aliceBefore);
        // The held message ended when it was held, with its own receipt (counted in aliceBefore).
        expect(aliceReceipts.map(({ seq: _seq, ...rest }) => rest)).to.deep.equal([
          { ev: "receipt", id: released, to: "bob", status: "undeliverable", at: at(900) },
        ]);
        expect(await receipts(carol!)).to.deep.equal([
          { ev: "receipt", id: stored, to: "bob", status: "undeliverable" },
        ]);
        expect(await statusOf(alice!, bob!, released)).to.equal("undeliverable");
        expect(await statusOf(alice!, bob!, delivered)).to.equal("delivered");
      });

      it("sends no receipt to the deleted user itself or to a deleted sender", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(bob!, "bob", "note to self");
        await deliver(alice!, "bob");
        await store.deleteUser(alice!.id, tick());
        expect(await notified(() => store.deleteUser(bob!.id, tick()))).to.deep.equal([]);
        expect(await store.inboxCount(alice!.id, dev(alice!))).to.equal(0);
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(0);
      });

      it("keeps the deleted user's name on old messages", async () => {
        const [alice, bob] = await users("alice", "bob");
        await deliver(alice!, "bob", "from alice");
        await deliver(bob!, "alice", "to alice");
        await store.deleteUser(alice!.id, tick());
        const [event] = await inbox(bob!);
        expect(event).to.deep.include({ ev: "message", from: "alice", to: "bob", text: "from alice" });
        const history = await store.history(bob!.id, withUser(alice!), undefined, 50);
        expect(history.map((m) => [m.from, m.to, m.status])).to.deep.equal([
          ["alice", "bob", "sent"],
          ["bob", "alice", "undeliverable"],
        ]);
      });

      it("sends new messages for the name to the account that took it next", async () => {
        const [alice, oldBob] = await users("alice", "bob");
        await deliver(alice!, "bob", "to the old bob");
        await store.deleteUser(oldBob!.id, tick());
        const newBob = await createUser("bob");
        await deliver(alice!, "bob", "to the new bob");
        expect(
          (await inbox(newBob)).map((event) => (event.ev === "message" ? event.text : "")),
        ).to.deep.equal(["to the new bob"]);
        expect(await waitingFor("bob")).to.equal(1);
      });
    });

    describe("expireMessages", () => {
      it("expires the messages created before the limit and never delivered, with receipts", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const stored = await send(alice!, "bob");
        const held = await send(carol!, "bob");
        await store.holdMessage(held, tick());
        const released = await deliver(alice!, "bob");
        const acknowledged = await deliver(alice!, "carol");
        await store.acknowledge(carol!.id, dev(carol!), await lastSeq(carol!), tick());
        const read = await deliver(carol!, "alice");
        await store.markRead(alice!.id, dev(alice!), withUser(carol!), read, tick());
        const limit = at(clock + 1);
        const young = await deliver(alice!, "bob");
        await store.acknowledge(alice!.id, dev(alice!), await lastSeq(alice!), tick());
        await store.acknowledge(carol!.id, dev(carol!), await lastSeq(carol!), tick());

        const told = await notified(() => store.expireMessages(limit, at(950)));
        // The held message ended when it was held: it does not expire.
        expect(told).to.deep.equal([alice!.id]);
        expect((await inbox(alice!)).map(({ seq: _seq, ...rest }) => rest)).to.deep.equal([
          { ev: "receipt", id: stored, to: "bob", status: "expired", at: at(950) },
          { ev: "receipt", id: released, to: "bob", status: "expired", at: at(950) },
        ]);
        expect(await receipts(carol!)).to.deep.equal([]);
        expect((await inbox(bob!)).map((event) => ("id" in event ? event.id : undefined))).to.deep.equal([
          young,
        ]);
        expect(await statusOf(alice!, bob!, released)).to.equal("expired");
        expect(await statusOf(alice!, carol!, acknowledged)).to.equal("delivered");
        expect(await statusOf(alice!, carol!, read)).to.equal("read");
        expect(await statusOf(alice!, bob!, young)).to.equal("sent");
      });

      it("expires a message once, and queues no receipt to a deleted sender", async () => {
        const [alice, , carol] = await users("alice", "bob", "carol");
        await send(alice!, "bob");
        await send(carol!, "bob");
        await store.deleteUser(carol!.id, tick());
        const limit = at(clock + 1);
        expect(await notified(() => store.expireMessages(limit, tick()))).to.deep.equal([alice!.id]);
        expect(await notified(() => store.expireMessages(limit, tick()))).to.deep.equal([]);
        expect(await receipts(alice!)).to.have.length(1);
        expect(await waitingFor("bob")).to.equal(0);
      });
    });

    describe("deleteDeliveredBefore", () => {
      /** Every message the user's history with `other` still shows, by text. */
      async function texts(user: UserRecord, conversation: Conversation): Promise<string[]> {
        return (await store.history(user.id, conversation, undefined, 200)).map((message) => message.text);
      }

      it("deletes delivered messages older than the cutoff with their events; keeps undelivered and newer ones", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const old = await deliver(alice!, "bob", "old");
        const waiting = await deliver(alice!, "carol", "waiting");
        await ackAll(bob!);
        await ackAll(alice!);
        const cutoff = at(clock + 1);
        await deliver(alice!, "bob", "young");
        await ackAll(bob!);
        await ackAll(alice!);

        expect(await store.deleteDeliveredBefore(cutoff, 0, 100)).to.deep.equal({
          deleted: 1,
          lastId: waiting,
          more: false,
        });
        expect(await texts(bob!, withUser(alice!))).to.deep.equal(["young"]);
        expect(await texts(alice!, withUser(carol!))).to.deep.equal(["waiting"]);
        expect((await stream(bob!)).filter((event) => "id" in event && event.id === old)).to.deep.equal([]);
        expect((await stream(alice!)).filter((event) => "id" in event && event.id === old)).to.deep.equal([]);
        // The undelivered one is still delivered, however old.
        expect((await inbox(carol!)).map((event) => ("id" in event ? event.id : undefined))).to.deep.equal([
          waiting,
        ]);
        expect((await store.deleteDeliveredBefore(cutoff, 0, 100)).deleted).to.equal(0);
        expect(await statusOf(alice!, carol!, waiting)).to.equal("sent");
      });

      it("keeps a delivered message until every device of its recipient and of its sender has acknowledged its events", async () => {
        const [alice, bob] = await users("alice", "bob");
        const tablet = await attach(bob!, "tablet");
        await deliver(alice!, "bob", "old");
        await ackAll(bob!);
        const cutoff = at(clock + 1);
        await deliver(alice!, "bob", "young");
        // Delivered (bob's main device has it), but bob's tablet has not: it stays.
        expect((await store.deleteDeliveredBefore(cutoff, 0, 100)).deleted).to.equal(0);
        await ackAll(bob!, tablet);
        // Alice has not acknowledged its delivered receipt yet.
        expect((await store.deleteDeliveredBefore(cutoff, 0, 100)).deleted).to.equal(0);
        await ackAll(alice!);
        expect((await store.deleteDeliveredBefore(cutoff, 0, 100)).deleted).to.equal(1);
        expect(await texts(alice!, withUser(bob!))).to.deep.equal(["young"]);
        expect(plain(await stream(bob!, tablet)).map((event) => event.text)).to.deep.equal(["young"]);
      });

      it("deletes a room message only once every member's devices have it; membership changes stay", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const room = await store.createRoom("#talk", alice!.id, [bob!.id, carol!.id], tick());
        await say(alice!, "#talk", "old");
        const cutoff = at(clock + 1);
        await say(bob!, "#talk", "young");
        await ackAll(alice!);
        await ackAll(bob!);
        expect((await store.deleteDeliveredBefore(cutoff, 0, 100)).deleted).to.equal(0);
        expect(await texts(carol!, inRoom(room))).to.deep.equal(["old", "young"]);

        await ackAll(carol!);
        expect((await store.deleteDeliveredBefore(cutoff, 0, 100)).deleted).to.equal(1);
        expect(await texts(carol!, inRoom(room))).to.deep.equal(["young"]);
        expect(plain(await stream(carol!))).to.deep.equal([
          { ev: "room", room: "#talk", change: "created", user: "alice", by: "alice" },
          {
            ev: "message",
            id: (await store.history(carol!.id, inRoom(room), undefined, 1))[0]!.id,
            from: "bob",
            to: "#talk",
            text: "young",
          },
        ]);
      });

      it("does not wait for a deleted member", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const room = await store.createRoom("#talk", alice!.id, [bob!.id, carol!.id], tick());
        await say(alice!, "#talk", "old");
        const cutoff = at(clock + 1);
        await say(bob!, "#talk", "young");
        await ackAll(alice!);
        await ackAll(bob!);
        await store.deleteUser(carol!.id, tick());
        expect((await store.deleteDeliveredBefore(cutoff, 0, 100)).deleted).to.equal(1);
        expect(await texts(alice!, inRoom(room))).to.deep.equal(["young"]);
      });

      it("examines at most limit messages per call and goes on after lastId", async () => {
        const [alice, bob] = await users("alice", "bob");
        const ids = [
          await deliver(alice!, "bob", "one"),
          await deliver(alice!, "bob", "two"),
          await deliver(alice!, "bob", "three"),
        ];
        const cutoff = at(clock + 1);
        await deliver(alice!, "bob", "young");
        await ackAll(bob!);
        await ackAll(alice!);

        expect(await store.deleteDeliveredBefore(cutoff, 0, 2)).to.deep.equal({
          deleted: 2,
          lastId: ids[1],
          more: true,
        });
        expect(await texts(alice!, withUser(bob!))).to.deep.equal(["three", "young"]);
        expect(await store.deleteDeliveredBefore(cutoff, ids[1]!, 2)).to.deep.equal({
          deleted: 1,
          lastId: ids[2],
          more: false,
        });
        expect(await texts(alice!, withUser(bob!))).to.deep.equal(["young"]);
      });

      it("never deletes the newest message", async () => {
        const [alice, bob] = await users("alice", "bob");
        const id = await deliver(alice!, "bob", "only");
        await ackAll(bob!);
        await ackAll(alice!);
        expect(await store.deleteDeliveredBefore(at(clock + 1), 0, 100)).to.deep.equal({
          deleted: 0,
          lastId: id,
          more: false,
        });
        // Ids only grow: the next message gets a greater one.
        expect(await deliver(alice!, "bob", "next")).to.be.greaterThan(id);
      });
    });

    describe("history", () => {
      it("returns the normalized messages of both directions, oldest first", async () => {
        const [alice, bob, carol] = await users("Alice", "bob", "carol");
        const one = await store.enqueueMessage({
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "bob",
          cid: "1",
          text: " one ",
          at: at(1),
          maxPending: 9,
        });
        await store.releaseMessages([{ id: one.id, text: "one" }], at(2));
        const twoAt = at(clock + 1);
        const two = await deliver(bob!, "alice", "two");
        await deliver(alice!, "carol", "elsewhere");
        await deliver(carol!, "bob", "elsewhere");
        await send(alice!, "bob", "not yet normalized");
        const held = await send(bob!, "alice", "held");
        await store.holdMessage(held, tick());
        const expected = [
          { id: one.id, from: "Alice", to: "bob", text: "one", at: at(1), status: "sent" },
          { id: two, from: "bob", to: "Alice", text: "two", at: twoAt, status: "sent" },
        ];
        expect(await store.history(alice!.id, withUser(bob!), undefined, 50)).to.deep.equal(expected);
        expect(await store.history(bob!.id, withUser(alice!), undefined, 50)).to.deep.equal(expected);
      });

      it("returns the newest `limit` messages before an id, for paging backwards", async () => {
        const [alice, bob] = await users("alice", "bob");
        const ids: number[] = [];
        for (let i = 0; i < 7; i++)
          ids.push(await deliver(i % 2 === 0 ? alice! : bob!, i % 2 === 0 ? "bob" : "alice", `m${i}`));
        const page = async (before: number | undefined) =>
          (await store.history(alice!.id, withUser(bob!), before, 3)).map((message) => message.id);
        expect(await page(undefined)).to.deep.equal(ids.slice(4));
        expect(await page(ids[4])).to.deep.equal(ids.slice(1, 4));
        expect(await page(ids[1])).to.deep.equal(ids.slice(0, 1));
        expect(await page(ids[0])).to.deep.equal([]);
      });

      it("shows notes to self on their own", async () => {
        const [alice, bob] = await users("alice", "bob");
        const note = await deliver(alice!, "alice", "note");
        await deliver(alice!, "bob", "to bob");
        await deliver(bob!, "alice", "to alice");
        expect(
          (await store.history(alice!.id, withUser(alice!), undefined, 50)).map((m) => m.id),
        ).to.deep.equal([note]);
      });
    });

    describe("the waiting count behind mailbox_full", () => {
      it("counts stored and released messages, not held ones, receipts, duplicates or refused sends", async () => {
        const [alice] = await users("alice", "bob");
        await send(alice!, "bob");
        await store.holdMessage(await send(alice!, "bob"), tick());
        await deliver(alice!, "bob");
        await store.enqueueMessage({
          senderId: alice!.id,
          senderDeviceId: dev(alice!),
          to: "bob",
          cid: "cid-1",
          text: "dup",
          at: tick(),
          maxPending: 9,
        });
        await expectStoreError(send(alice!, "bob", "refused", 2), "mailbox_full");
        expect(await waitingFor("bob")).to.equal(2);
        // Acknowledging a note to self leaves a delivered receipt in the same inbox.
        await deliver(alice!, "alice");
        await store.acknowledge(alice!.id, dev(alice!), await lastSeq(alice!), tick());
        expect(await store.inboxCount(alice!.id, dev(alice!))).to.equal(1);
        expect(await waitingFor("alice")).to.equal(0);
      });

      it("goes down once per message on acknowledgement, whatever the order of read and ack", async () => {
        const [alice, bob] = await users("alice", "bob");
        const readFirst = await deliver(alice!, "bob");
        await store.markRead(bob!.id, dev(bob!), withUser(alice!), readFirst, tick());
        expect(await waitingFor("bob")).to.equal(1);
        const seq = await lastSeq(bob!);
        await store.acknowledge(bob!.id, dev(bob!), seq, tick());
        expect(await waitingFor("bob")).to.equal(0);
        const ackFirst = await deliver(alice!, "bob");
        await store.acknowledge(bob!.id, dev(bob!), await lastSeq(bob!), tick());
        await store.markRead(bob!.id, dev(bob!), withUser(alice!), ackFirst, tick());
        await store.acknowledge(bob!.id, dev(bob!), await lastSeq(bob!), tick());
        expect(await waitingFor("bob")).to.equal(0);
        await send(alice!, "bob", "fills the mailbox of one", 1);
        await expectStoreError(send(alice!, "bob", "refused", 1), "mailbox_full");
      });

      it("goes down when messages expire", async () => {
        const [alice, bob] = await users("alice", "bob");
        const read = await deliver(alice!, "bob");
        await store.markRead(bob!.id, dev(bob!), withUser(alice!), read, tick());
        await deliver(alice!, "bob");
        await send(alice!, "bob");
        expect(await waitingFor("bob")).to.equal(3);
        await store.expireMessages(at(clock + 1), tick());
        // The read one was delivered in effect: it waits only for its acknowledgement.
        expect(await waitingFor("bob")).to.equal(1);
        await store.acknowledge(bob!.id, dev(bob!), await lastSeq(bob!), tick());
        expect(await waitingFor("bob")).to.equal(0);
      });
    });

    describe("onNewEvents", () => {
      it("tells every listener once per commit of the users whose streams got events, and only then", async () => {
        const [alice, bob, carol] = (await users("alice", "bob", "carol")) as [
          UserRecord,
          UserRecord,
          UserRecord,
        ];
        const second: number[][] = [];
        store.onNewEvents((events) => second.push([...new Set(events.flatMap((live) => live.userIds))]));
        heard = [];
        // Called in the same tick: one commit.
        await Promise.all([say(alice, "bob"), say(carol, "alice"), send(bob, "carol")]);
        expect(heard.map(sorted)).to.deep.equal([sorted([alice.id, bob.id])]);
        expect(second).to.deep.equal(heard);
        heard = [];
        await store.recordPresence(alice.id, true, tick());
        await send(alice, "bob");
        expect(heard).to.deep.equal([]);
      });

      it("tells no one of a write that was refused", async () => {
        const [alice] = await users("alice", "bob");
        expect(await notified(() => rejection(say(alice!, "nobody")))).to.deep.equal([]);
      });
    });

    describe("normalized at intake", () => {
      it("puts a message with its normalized text in its inbox at once", async () => {
        const [alice, bob] = await users("alice", "bob");
        const told = await notified(() => say(alice!, "bob", "hi bob"));
        expect(told).to.deep.equal([bob!.id]);
        const [event] = await inbox(bob!);
        expect(event).to.deep.include({ ev: "message", from: "alice", to: "bob", text: "hi bob" });
        expect(await store.unnormalizedMessages(10)).to.deep.equal([]);
        expect(store.hasUnnormalized()).to.equal(false);
        expect(
          (await store.history(bob!.id, withUser(alice!), undefined, 10)).map((m) => m.text),
        ).to.deep.equal(["hi bob"]);
      });

      it("waits, raw, behind older messages still waiting for the normalizer, and never overtakes them", async () => {
        const [alice, bob] = await users("alice", "bob");
        expect(store.hasUnnormalized()).to.equal(false);
        const older = await send(alice!, "bob", " first ");
        expect(store.hasUnnormalized()).to.equal(true);
        const newer = await say(alice!, "bob", "second");
        expect(await inbox(bob!)).to.deep.equal([]);
        expect(await store.unnormalizedMessages(10)).to.deep.equal([
          { id: older, text: " first " },
          { id: newer, text: " second " },
        ]);
        await store.releaseMessages(
          [
            { id: older, text: "first" },
            { id: newer, text: "second" },
          ],
          tick(),
        );
        expect(store.hasUnnormalized()).to.equal(false);
        expect((await inbox(bob!)).map((event) => (event.ev === "message" ? event.id : 0))).to.deep.equal([
          older,
          newer,
        ]);
        // Nothing waits any more: the next one goes in at once.
        await say(alice!, "bob", "third");
        expect(await inbox(bob!)).to.have.length(3);
      });

      it("counts towards the recipient's mailbox like any other message", async () => {
        const [alice] = await users("alice", "bob");
        await say(alice!, "bob");
        await send(alice!, "bob");
        expect(await waitingFor("bob")).to.equal(2);
      });

      it("hasUnnormalized is false again once the first message stored after opening is released", async () => {
        // No call to hasUnnormalized before the first message is stored: the count is loaded then.
        const [alice, bob] = await users("alice", "bob");
        const first = await send(alice!, "bob", " first ");
        await store.releaseMessages([{ id: first, text: "first" }], tick());
        expect(await store.unnormalizedMessages(10)).to.deep.equal([]);
        expect(store.hasUnnormalized()).to.equal(false);
        await say(alice!, "bob", "second");
        expect((await inbox(bob!)).map((event) => (event.ev === "message" ? event.text : ""))).to.deep.equal([
          "first",
          "second",
        ]);
      });
    });

    describe("devices", () => {
      it("attachDevice creates a device online at its first log-in and finds it again by name in any case", async () => {
        const [bob] = await users("bob");
        const first = await store.attachDevice(bob!.id, "Laptop", at(5), MAX_DEVICES);
        expect(first.forgotten).to.deep.equal([]);
        expect(first.device).to.deep.include({
          userId: bob!.id,
          name: "Laptop",
          online: true,
          lastSeen: at(5),
        });
        await store.detachDevice(first.device.id, at(6));
        const again = await store.attachDevice(bob!.id, "LAPTOP", at(7), MAX_DEVICES);
        expect(again.forgotten).to.deep.equal([]);
        expect(again.device).to.deep.include({
          id: first.device.id,
          name: "Laptop",
          online: true,
          lastSeen: at(7),
        });
        expect((await store.listDevices(bob!.id)).map((d) => [d.name, d.online])).to.deep.equal([
          ["Laptop", true],
          ["main", true],
        ]);
        // Held by this store's own sessions, not another node's.
        expect((await store.listDevices(bob!.id)).map((d) => d.heldElsewhere)).to.deep.equal([false, false]);
      });

      // What resetPresence does to devices differs: a single node (SQLite) marks every device
      // offline; a node of several (PostgreSQL) only those of dead nodes. See each backend's tests.
      it("detachDevice marks a device offline", async () => {
        const [bob] = await users("bob");
        const tablet = await attach(bob!, "tablet");
        expect((await store.listDevices(bob!.id)).find((d) => d.id === tablet)).to.deep.include({
          online: true,
        });
        await store.detachDevice(tablet, at(50));
        expect((await store.listDevices(bob!.id)).find((d) => d.id === tablet)).to.deep.include({
          online: false,
          lastSeen: at(50),
        });
      });

      it("starts the user's first device at the beginning of the stream", async () => {
        const [alice] = await users("alice");
        const bob = await store.createUser({ user: "bob", name: "bob", passwordHash: "h", at: at(0) });
        const ids = [await deliver(alice!, "bob", "one"), await deliver(alice!, "bob", "two")];
        const { device } = await store.attachDevice(bob.id, "phone", tick(), MAX_DEVICES);
        expect(device.ackedSeq).to.equal(0);
        expect(await store.inboxCount(bob.id, device.id)).to.equal(2);
        expect(
          (await store.inboxAfter(bob.id, device.id, 0, 10)).map((event) => ("id" in event ? event.id : 0)),
        ).to.deep.equal(ids);
      });

      it("starts a later device at the oldest event some device has not acknowledged", async () => {
        const [alice, bob] = await users("alice", "bob");
        await say(alice!, "bob", "m1");
        await say(alice!, "bob", "m2");
        await say(alice!, "bob", "m3");
        const events = await inbox(bob!);
        await store.acknowledge(bob!.id, dev(bob!), events[1]!.seq, tick());
        const tablet = (await store.attachDevice(bob!.id, "tablet", tick(), MAX_DEVICES)).device;
        expect(tablet.ackedSeq).to.equal(events[1]!.seq);
        expect(await inbox(bob!, tablet.id)).to.deep.equal(events.slice(2));
        // The tablet acknowledges everything; main still holds m3 back: a new device starts there.
        await ackAll(bob!, tablet.id);
        const watch = (await store.attachDevice(bob!.id, "watch", tick(), MAX_DEVICES)).device;
        expect(watch.ackedSeq).to.equal(events[1]!.seq);
        expect(await inbox(bob!, watch.id)).to.deep.equal(events.slice(2));
      });

      it("keeps a position per device; the first acknowledgement delivers, the others tell no one", async () => {
        const [alice, bob] = await users("alice", "bob");
        const tablet = await attach(bob!, "tablet");
        const ids = [await say(alice!, "bob", "m1"), await say(alice!, "bob", "m2")];
        expect(await store.inboxCount(bob!.id, tablet)).to.equal(2);
        expect(await notified(() => ackAll(bob!))).to.deep.equal([alice!.id]);
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(0);
        expect(await store.inboxCount(bob!.id, tablet)).to.equal(2);
        expect((await inbox(bob!, tablet)).map((event) => ("id" in event ? event.id : 0))).to.deep.equal(ids);
        expect(await notified(() => ackAll(bob!, tablet))).to.deep.equal([]);
        expect(await store.inboxCount(bob!.id, tablet)).to.equal(0);
        expect((await receipts(alice!)).map((r) => [r.id, r.status])).to.deep.equal([
          [ids[0], "delivered"],
          [ids[1], "delivered"],
        ]);
        expect(await waitingFor("bob")).to.equal(0);
      });

      it("never moves a position backwards", async () => {
        const [alice, bob] = await users("alice", "bob");
        await say(alice!, "bob");
        const seq = await lastSeq(bob!);
        await store.acknowledge(bob!.id, dev(bob!), seq, tick());
        await store.acknowledge(bob!.id, dev(bob!), 0, tick());
        expect(await position(bob!, dev(bob!))).to.equal(seq);
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(0);
      });

      it("forgets the least recently logged-in devices past maxDevices", async () => {
        const [bob] = await users("bob");
        await store.attachDevice(bob!.id, "a", at(1), MAX_DEVICES);
        await store.attachDevice(bob!.id, "b", at(2), MAX_DEVICES);
        // main logs in again: now a is the one logged in least recently.
        await store.attachDevice(bob!.id, "main", at(3), MAX_DEVICES);
        const c = await store.attachDevice(bob!.id, "c", at(4), 3);
        expect(c.forgotten.map((d) => d.name)).to.deep.equal(["a"]);
        expect((await store.listDevices(bob!.id)).map((d) => d.name)).to.deep.equal(["b", "c", "main"]);
        const d = await store.attachDevice(bob!.id, "d", at(5), 2);
        expect(d.forgotten.map((device) => device.name)).to.deep.equal(["b", "main"]);
        expect((await store.listDevices(bob!.id)).map((device) => device.name)).to.deep.equal(["c", "d"]);
        // A device already known is never refused nor forgotten for itself.
        expect((await store.attachDevice(bob!.id, "c", at(6), 2)).forgotten).to.deep.equal([]);
      });

      it("forgetDevice forgets a device by name in any case; an unknown one is no_such_device", async () => {
        const [alice, bob] = await users("alice", "bob");
        const tablet = await attach(bob!, "Tablet");
        const forgotten = await store.forgetDevice(bob!.id, "TABLET");
        expect(forgotten).to.deep.include({ id: tablet, userId: bob!.id, name: "Tablet" });
        expect((await store.listDevices(bob!.id)).map((d) => d.name)).to.deep.equal(["main"]);
        await expectStoreError(store.forgetDevice(bob!.id, "tablet"), "no_such_device");
        await expectStoreError(store.forgetDevice(alice!.id, "nothing"), "no_such_device");
        // Another user's device is not yours to forget.
        await attach(alice!, "phone");
        await expectStoreError(store.forgetDevice(bob!.id, "phone"), "no_such_device");
        expect((await store.listDevices(alice!.id)).map((d) => d.name)).to.deep.equal(["main", "phone"]);
        // Logging in under the name again makes a new device.
        expect(await attach(bob!, "tablet")).to.not.equal(tablet);
      });

      it("sends copies of a user's messages to their other devices, never to the sending one", async () => {
        const [alice, bob] = await users("alice", "bob");
        const phone = await attach(alice!, "phone");
        const fromMain = await say(alice!, "bob", "from main");
        const fromPhone = await say(alice!, "bob", "from phone", phone);
        const copies = (events: InboxEvent[]) =>
          events.map((event) => (event.ev === "message" ? [event.id, event.from, event.to, event.text] : []));
        expect(copies(await inbox(alice!, phone))).to.deep.equal([[fromMain, "alice", "bob", "from main"]]);
        expect(copies(await inbox(alice!))).to.deep.equal([[fromPhone, "alice", "bob", "from phone"]]);
        expect(copies(await inbox(bob!))).to.deep.equal([
          [fromMain, "alice", "bob", "from main"],
          [fromPhone, "alice", "bob", "from phone"],
        ]);
        // Acknowledging one's own copies delivers nothing.
        await ackAll(alice!, phone);
        await ackAll(alice!);
        expect(await statusOf(alice!, bob!, fromMain)).to.equal("sent");
        expect(await waitingFor("bob")).to.equal(2);
        // The receipts reach every device of the sender.
        await ackAll(bob!);
        for (const device of [dev(alice!), phone]) {
          expect(
            (await inbox(alice!, device)).map((event) =>
              event.ev === "receipt" ? [event.id, event.status] : [],
            ),
          ).to.deep.equal([
            [fromMain, "delivered"],
            [fromPhone, "delivered"],
          ]);
        }
      });

      it("sends no copy to a user with a single device, nor of a note to self", async () => {
        const [alice] = await users("alice", "bob");
        await say(alice!, "bob");
        expect(await inbox(alice!)).to.deep.equal([]);
        const phone = await attach(alice!, "phone");
        const note = await say(alice!, "alice", "note");
        // A note to self is a message to the user: every device gets it, once.
        for (const device of [dev(alice!), phone]) {
          expect(
            (await inbox(alice!, device)).filter((e) => e.ev === "message").map((e) => e.seq),
          ).to.have.length(1);
          expect((await inbox(alice!, device)).some((e) => e.ev === "message" && e.id === note)).to.equal(
            true,
          );
        }
      });

      it("sends a read marker to the reader's other devices, not to the one that read", async () => {
        const [alice, bob] = await users("alice", "bob");
        const tablet = await attach(bob!, "tablet");
        const id = await say(alice!, "bob");
        await ackAll(bob!, tablet);
        const told = await notified(() => store.markRead(bob!.id, dev(bob!), withUser(alice!), id, at(700)));
        expect(told).to.deep.equal(sorted([alice!.id, bob!.id]));
        expect(plain(await inbox(bob!, tablet))).to.deep.equal([
          { ev: "read_marker", with: "alice", upTo: id },
        ]);
        expect((await inbox(bob!)).map((event) => event.ev)).to.deep.equal(["message"]);
        expect((await inbox(bob!, tablet))[0]!.at).to.equal(at(700));
      });

      it("expireMessages forgets the offline devices not seen since the limit", async () => {
        const [bob] = await users("bob");
        const old = await attach(bob!, "old", at(1));
        await store.detachDevice(old, at(2));
        const away = await attach(bob!, "away", at(3));
        await store.detachDevice(away, at(30));
        await attach(bob!, "online", at(4));
        await store.expireMessages(at(10), at(40));
        expect((await store.listDevices(bob!.id)).map((d) => d.name)).to.deep.equal([
          "away",
          "main",
          "online",
        ]);
      });

      it("deleteUser drops the user's devices", async () => {
        const [bob] = await users("bob");
        await attach(bob!, "tablet");
        await store.deleteUser(bob!.id, tick());
        expect(await store.listDevices(bob!.id)).to.deep.equal([]);
      });
    });

    describe("rooms", () => {
      function createRoom(name: string, owner: UserRecord, members: UserRecord[] = []): Promise<RoomRecord> {
        return store.createRoom(
          name,
          owner.id,
          members.map((member) => member.id),
          tick(),
        );
      }

      function addMember(room: RoomRecord, user: UserRecord, by: UserRecord, max = MAX_MEMBERS) {
        return store.addRoomMember(room.id, user.id, by.id, tick(), max);
      }

      function removeMember(room: RoomRecord, user: UserRecord, by: UserRecord) {
        return store.removeRoomMember(room.id, user.id, by.id, tick());
      }

      /** What a device's stream holds, in short: room changes and message texts. */
      async function seen(user: UserRecord, deviceId = dev(user)): Promise<string[]> {
        return (await stream(user, deviceId)).map((event) => {
          if (event.ev === "room") return `${event.room} ${event.change} ${event.user} by ${event.by}`;
          if (event.ev === "message") return `${event.from}>${event.to}: ${event.text}`;
          return event.ev;
        });
      }

      it("createRoom makes a room owned by its creator, with the members in the order given", async () => {
        const [alice, bob, carol, dave] = await users("alice", "bob", "carol", "dave");
        const room = await createRoom("#Team", alice!, [carol!, bob!, alice!]);
        expect(room).to.deep.include({ name: "#Team", ownerId: alice!.id, owner: "alice", members: 3 });
        expect(await store.findRoom("#team")).to.deep.equal(room);
        expect(await store.findRoom("#nothing")).to.equal(undefined);
        expect(await store.roomMembers(room.id)).to.deep.equal([
          { userId: alice!.id, user: "alice", readUpTo: null },
          { userId: carol!.id, user: "carol", readUpTo: null },
          { userId: bob!.id, user: "bob", readUpTo: null },
        ]);
        for (const member of [alice!, bob!, carol!]) {
          expect(await store.isRoomMember(room.id, member.id)).to.equal(true);
          expect(await store.listRooms(member.id)).to.deep.equal([room]);
        }
        expect(await store.isRoomMember(room.id, dave!.id)).to.equal(false);
        expect(await store.listRooms(dave!.id)).to.deep.equal([]);
      });

      it("createRoom rejects a name taken in any case with room_exists, and changes nothing", async () => {
        const [alice, bob] = await users("alice", "bob");
        const room = await createRoom("#Team", alice!);
        await expectStoreError(createRoom("#TEAM", bob!), "room_exists");
        expect(await store.findRoom("#team")).to.deep.equal(room);
        expect(await store.listRooms(bob!.id)).to.deep.equal([]);
        expect(await seen(bob!)).to.deep.equal([]);
      });

      it("listRooms lists the user's rooms by name without regard to case", async () => {
        const [alice, bob] = await users("alice", "bob");
        await createRoom("#b", alice!);
        await createRoom("#A", alice!, [bob!]);
        await createRoom("#c", bob!);
        expect((await store.listRooms(alice!.id)).map((r) => r.name)).to.deep.equal(["#A", "#b"]);
        expect((await store.listRooms(bob!.id)).map((r) => r.name)).to.deep.equal(["#A", "#c"]);
      });

      it("gives every member the created event, at one seq", async () => {
        const [alice, bob, carol, dave] = await users("alice", "bob", "carol", "dave");
        const told = await notified(() => createRoom("#team", alice!, [bob!, carol!]));
        expect(told).to.deep.equal(sorted([alice!.id, bob!.id, carol!.id]));
        const streams = [await stream(alice!), await stream(bob!), await stream(carol!)];
        for (const events of streams) {
          expect(plain(events)).to.deep.equal([
            { ev: "room", room: "#team", change: "created", user: "alice", by: "alice" },
          ]);
          expect(events[0]!.seq).to.equal(streams[0]![0]!.seq);
        }
        expect(await stream(dave!)).to.deep.equal([]);
      });

      it("a room message is stored once and reaches every member's stream, but not the sending device", async () => {
        const [alice, bob, carol, dave] = await users("alice", "bob", "carol", "dave");
        const phone = await attach(alice!, "phone");
        await createRoom("#Team", alice!, [bob!, carol!]);
        const told = await notified(() => say(alice!, "#team", "hi all"));
        expect(told).to.deep.equal(sorted([alice!.id, bob!.id, carol!.id]));
        const copies = [await inbox(alice!, phone), await inbox(bob!), await inbox(carol!)].map(
          (events) => events.filter((event) => event.ev === "message")[0],
        );
        for (const copy of copies) {
          expect(copy).to.deep.include({ ev: "message", from: "alice", to: "#Team", text: "hi all" });
          expect(copy).to.deep.equal(copies[0]);
        }
        expect((await inbox(alice!)).filter((event) => event.ev === "message")).to.deep.equal([]);
        expect(await stream(dave!)).to.deep.equal([]);
        const room = (await store.findRoom("#team"))!;
        expect(
          (await store.history(bob!.id, inRoom(room), undefined, 10)).map(({ at: _at, ...rest }) => rest),
        ).to.deep.equal([
          {
            id: copies[0]!.ev === "message" ? copies[0]!.id : 0,
            from: "alice",
            to: "#Team",
            text: "hi all",
            status: "sent",
          },
        ]);
      });

      it("a room message waits for the normalizer like any other, and counts in no mailbox", async () => {
        const [alice, bob] = await users("alice", "bob");
        await createRoom("#team", alice!, [bob!]);
        const id = await send(bob!, "#TEAM", " raw ", 1);
        await send(bob!, "#team", "and another", 1);
        expect(await inbox(alice!)).to.have.length(1);
        await store.releaseMessages([{ id, text: "raw" }], tick());
        expect((await inbox(alice!)).map((event) => event.ev)).to.deep.equal(["room", "message"]);
        expect(await waitingFor("alice")).to.equal(0);
        expect(await receipts(bob!)).to.deep.equal([]);
      });

      it("refuses a room message from a non-member with not_member, and to no room with no_such_room", async () => {
        const [alice, bob] = await users("alice", "bob");
        await createRoom("#team", alice!);
        await expectStoreError(say(bob!, "#team"), "not_member");
        await expectStoreError(say(bob!, "#nothing"), "no_such_room");
        expect(await stream(alice!)).to.have.length(1);
      });

      it("addRoomMember gives every member and the newcomer joined; the newcomer's stream starts there", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const room = await createRoom("#team", alice!, [bob!]);
        await say(alice!, "#team", "before");
        let added: boolean | undefined;
        const told = await notified(async () => {
          added = await addMember(room, carol!, bob!);
        });
        expect(added).to.equal(true);
        expect(told).to.deep.equal(sorted([alice!.id, bob!.id, carol!.id]));
        await say(alice!, "#team", "after");
        expect(await seen(carol!)).to.deep.equal(["#team joined carol by bob", "alice>#team: after"]);
        expect(await seen(bob!)).to.deep.equal([
          "#team created alice by alice",
          "alice>#team: before",
          "#team joined carol by bob",
          "alice>#team: after",
        ]);
        expect((await store.roomMembers(room.id)).map((m) => m.user)).to.deep.equal([
          "alice",
          "bob",
          "carol",
        ]);
        expect((await store.findRoom("#team"))!.members).to.equal(3);
        // Already a member: no change, no event.
        expect(
          await notified(async () => expect(await addMember(room, carol!, alice!)).to.equal(false)),
        ).to.deep.equal([]);
      });

      it("addRoomMember refuses no_such_room, not_member (the actor) and too_many_members, changing nothing", async () => {
        const [alice, bob, carol, dave] = await users("alice", "bob", "carol", "dave");
        const room = await createRoom("#team", alice!, [bob!]);
        await expectStoreError(addMember(room, carol!, dave!), "not_member");
        await expectStoreError(addMember(room, carol!, alice!, 2), "too_many_members");
        await expectStoreError(
          store.addRoomMember(room.id + 1000, carol!.id, alice!.id, tick(), 50),
          "no_such_room",
        );
        expect((await store.roomMembers(room.id)).map((m) => m.user)).to.deep.equal(["alice", "bob"]);
        expect(await stream(carol!)).to.deep.equal([]);
        expect(await addMember(room, carol!, alice!, 3)).to.equal(true);
        await expectStoreError(addMember(room, dave!, alice!, 3), "too_many_members");
      });

      it("a member who leaves or is removed gets that event and nothing of the room after it", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const room = await createRoom("#team", alice!, [bob!, carol!]);
        let left: boolean | undefined;
        expect(
          await notified(async () => {
            left = await removeMember(room, bob!, bob!);
          }),
        ).to.deep.equal(sorted([alice!.id, bob!.id, carol!.id]));
        expect(left).to.equal(true);
        await say(alice!, "#team", "bob is gone");
        expect(await removeMember(room, carol!, alice!)).to.equal(true);
        await say(alice!, "#team", "carol is gone");
        expect(await seen(bob!)).to.deep.equal(["#team created alice by alice", "#team left bob by bob"]);
        expect(await seen(carol!)).to.deep.equal([
          "#team created alice by alice",
          "#team left bob by bob",
          "alice>#team: bob is gone",
          "#team removed carol by alice",
        ]);
        expect(await store.listRooms(bob!.id)).to.deep.equal([]);
        expect(await store.isRoomMember(room.id, carol!.id)).to.equal(false);
        expect((await store.roomMembers(room.id)).map((m) => m.user)).to.deep.equal(["alice"]);
        // Not a member any more: false, and no event.
        expect(
          await notified(async () => expect(await removeMember(room, bob!, alice!)).to.equal(false)),
        ).to.deep.equal([]);
        await expectStoreError(say(bob!, "#team"), "not_member");
      });

      it("a member added again gets the room from the new joined event on, not what was said in between", async () => {
        const [alice, bob] = await users("alice", "bob");
        const room = await createRoom("#team", alice!, [bob!]);
        await removeMember(room, bob!, bob!);
        await say(alice!, "#team", "while away");
        await addMember(room, bob!, alice!);
        await say(alice!, "#team", "welcome back");
        expect(await seen(bob!)).to.deep.equal([
          "#team created alice by alice",
          "#team left bob by bob",
          "#team joined bob by alice",
          "alice>#team: welcome back",
        ]);
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(4);
      });

      it("removeRoomMember: only the owner removes others (not_owner); the actor must be a member (not_member)", async () => {
        const [alice, bob, carol, dave] = await users("alice", "bob", "carol", "dave");
        const room = await createRoom("#team", alice!, [bob!, carol!]);
        await expectStoreError(removeMember(room, carol!, bob!), "not_owner");
        await expectStoreError(removeMember(room, bob!, dave!), "not_member");
        await expectStoreError(removeMember(room, dave!, dave!), "not_member");
        await expectStoreError(
          store.removeRoomMember(room.id + 1000, bob!.id, bob!.id, tick()),
          "no_such_room",
        );
        expect((await store.roomMembers(room.id)).map((m) => m.user)).to.deep.equal([
          "alice",
          "bob",
          "carol",
        ]);
      });

      it("hands the room to the member who joined earliest when the owner leaves", async () => {
        const [alice, bob, carol, dave] = await users("alice", "bob", "carol", "dave");
        const room = await createRoom("#team", alice!, [carol!, bob!]);
        await addMember(room, dave!, bob!);
        await removeMember(room, alice!, alice!);
        expect(await store.findRoom("#team")).to.deep.include({
          ownerId: carol!.id,
          owner: "carol",
          members: 3,
        });
        await expectStoreError(removeMember(room, carol!, bob!), "not_owner");
        expect(await removeMember(room, dave!, carol!)).to.equal(true);
        expect(await seen(dave!)).to.deep.equal([
          "#team joined dave by bob",
          "#team left alice by alice",
          "#team removed dave by carol",
        ]);
      });

      it("deletes the room when its last member leaves, and frees its name", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const room = await createRoom("#Team", alice!, [bob!]);
        await removeMember(room, alice!, alice!);
        await removeMember(room, bob!, bob!);
        expect(await store.findRoom("#team")).to.equal(undefined);
        expect(await store.listRooms(bob!.id)).to.deep.equal([]);
        expect(await seen(bob!)).to.deep.equal([
          "#Team created alice by alice",
          "#Team left alice by alice",
          "#Team left bob by bob",
        ]);
        await expectStoreError(addMember(room, carol!, bob!), "no_such_room");
        await expectStoreError(removeMember(room, bob!, bob!), "no_such_room");
        await expectStoreError(say(bob!, "#team"), "no_such_room");
        const again = await createRoom("#TEAM", carol!);
        expect(again.id).to.not.equal(room.id);
        expect(again).to.deep.include({ name: "#TEAM", owner: "carol", members: 1 });
        expect(await seen(alice!)).to.deep.equal([
          "#Team created alice by alice",
          "#Team left alice by alice",
        ]);
      });

      it("deleteUser takes the user out of every room, handing on what they owned", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const room = await createRoom("#team", alice!, [bob!]);
        const alone = await createRoom("#alone", alice!);
        const told = await notified(() => store.deleteUser(alice!.id, tick()));
        expect(told).to.deep.equal([bob!.id]);
        expect(await store.findRoom("#team")).to.deep.include({ ownerId: bob!.id, members: 1 });
        expect(await store.findRoom("#alone")).to.equal(undefined);
        expect(await store.isRoomMember(alone.id, alice!.id)).to.equal(false);
        expect((await seen(bob!)).slice(-1)).to.deep.equal(["#team left alice by alice"]);
        expect(await addMember(room, carol!, bob!)).to.equal(true);
      });

      it("markRead moves the member's read position, never back, and tells their other devices", async () => {
        const [alice, bob] = await users("alice", "bob");
        const tablet = await attach(bob!, "tablet");
        const room = await createRoom("#Team", alice!, [bob!]);
        const first = await say(alice!, "#team", "one");
        const second = await say(alice!, "#team", "two");
        await ackAll(bob!, tablet);
        const told = await notified(() => store.markRead(bob!.id, dev(bob!), inRoom(room), second, tick()));
        expect(told).to.deep.equal([bob!.id]);
        await store.markRead(bob!.id, dev(bob!), inRoom(room), first, tick());
        expect((await store.roomMembers(room.id)).map((m) => [m.user, m.readUpTo])).to.deep.equal([
          ["alice", null],
          ["bob", second],
        ]);
        expect(plain(await inbox(bob!, tablet))).to.deep.equal([
          { ev: "read_marker", with: "#Team", upTo: second },
          { ev: "read_marker", with: "#Team", upTo: first },
        ]);
        expect(await receipts(alice!)).to.deep.equal([]);
      });

      it("history of a room gives its normalized messages, oldest first, paging backwards", async () => {
        const [alice, bob] = await users("alice", "bob");
        const room = await createRoom("#team", alice!, [bob!]);
        const ids: number[] = [];
        for (let i = 0; i < 5; i++) ids.push(await say(i % 2 === 0 ? alice! : bob!, "#team", `m${i}`));
        await send(alice!, "#team", "not yet normalized");
        await say(alice!, "bob", "direct");
        const page = async (before: number | undefined) =>
          (await store.history(bob!.id, inRoom(room), before, 2)).map((message) => message.id);
        expect(await page(undefined)).to.deep.equal(ids.slice(3));
        expect(await page(ids[3])).to.deep.equal(ids.slice(1, 3));
        expect(await page(ids[1])).to.deep.equal(ids.slice(0, 1));
      });

      it("no longer delivers room messages older than the expiry limit, and sends no receipt", async () => {
        const [alice, bob] = await users("alice", "bob");
        await createRoom("#team", alice!, [bob!]);
        await say(alice!, "#team", "old");
        const limit = at(clock + 1);
        await say(alice!, "#team", "young");
        expect(await notified(() => store.expireMessages(limit, tick()))).to.deep.equal([]);
        expect(await seen(bob!)).to.deep.equal(["#team created alice by alice", "alice>#team: young"]);
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(2);
      });

      it("a room's events get one seq each, ordered with the member's own events", async () => {
        const [alice, bob, carol] = await users("alice", "bob", "carol");
        const room = await createRoom("#team", alice!, [bob!]);
        await say(carol!, "bob", "direct");
        await say(alice!, "#team", "in the room");
        await addMember(room, carol!, alice!);
        await say(carol!, "bob", "direct again");
        const events = await stream(bob!);
        expect(await seen(bob!)).to.deep.equal([
          "#team created alice by alice",
          "carol>bob: direct",
          "alice>#team: in the room",
          "#team joined carol by alice",
          "carol>bob: direct again",
        ]);
        const seqs = events.map((event) => event.seq);
        expect(seqs).to.deep.equal([...new Set(seqs)].sort((a, b) => a - b));
        expect(await store.inboxAfter(bob!.id, dev(bob!), seqs[1]!, 2)).to.deep.equal(events.slice(2, 4));
        await store.acknowledge(bob!.id, dev(bob!), seqs[2]!, tick());
        expect(await store.inboxCount(bob!.id, dev(bob!))).to.equal(2);
      });
    });

    describe("the waiting count behind mailbox_full, with expired messages", () => {
      it("does not go down again when a device acknowledges past an expired message", async () => {
        const [alice, bob] = await users("alice", "bob");
        await say(alice!, "bob", "expires");
        await store.expireMessages(at(clock + 1), tick());
        expect(await waitingFor("bob")).to.equal(0);
        await say(alice!, "bob", "young");
        expect(await waitingFor("bob")).to.equal(1);
        // The acknowledgement covers the expired message's event too.
        await ackAll(bob!);
        expect(await waitingFor("bob")).to.equal(0);
        await send(alice!, "bob", "fills the mailbox of one", 1);
        await expectStoreError(send(alice!, "bob", "refused", 1), "mailbox_full");
      });
    });

    describe("ordering and failure", () => {
      it("applies writes in the order they are called, awaited or not", async () => {
        const [alice, bob] = await Promise.all([createUser("alice"), createUser("bob")]);
        const sent = store.enqueueMessage({
          senderId: alice.id,
          senderDeviceId: dev(alice),
          to: "bob",
          cid: "1",
          text: "hi",
          at: at(1),
          maxPending: 9,
        });
        heard = [];
        const deleted = store.deleteUser(bob.id, at(2));
        const message = await sent;
        await deleted;
        // Both writes were called in the same tick: one commit, whose events went to alice.
        expect(heard).to.deep.equal([[alice.id]]);
        expect(await receipts(alice)).to.deep.equal([
          { ev: "receipt", id: message.id, to: "bob", status: "undeliverable" },
        ]);
      });

      it("a rejected write changes nothing and does not disturb the writes around it", async () => {
        const [alice] = await users("alice", "bob");
        const results = await Promise.allSettled([
          send(alice!, "bob", "one"),
          send(alice!, "nobody", "lost"),
          createUser("BOB"),
          send(alice!, "bob", "two"),
        ]);
        expect(results.map((result) => result.status)).to.deep.equal([
          "fulfilled",
          "rejected",
          "rejected",
          "fulfilled",
        ]);
        expect(((results[1] as PromiseRejectedResult).reason as StoreError).code).to.equal("no_such_user");
        expect(((results[2] as PromiseRejectedResult).reason as StoreError).code).to.equal("user_exists");
        expect((await store.unnormalizedMessages(10)).map((m) => m.text)).to.deep.equal(["one", "two"]);
        expect((await store.listUsers(undefined, 500)).users.map((u) => u.user)).to.deep.equal([
          "alice",
          "bob",
        ]);
      });

      it("sends of one turn take their seqs in the order called, around the refused ones", async () => {
        const [alice, bob] = await users("alice", "bob");
        const phone = await attach(alice!, "phone");
        const results = await Promise.allSettled([
          say(alice!, "bob", "one"),
          say(alice!, "nobody", "lost"),
          say(alice!, "bob", "two"),
          say(alice!, "alice", "self"),
        ]);
        expect(results.map((result) => result.status)).to.deep.equal([
          "fulfilled",
          "rejected",
          "fulfilled",
          "fulfilled",
        ]);
        const texts = (events: InboxEvent[]) => events.map((e) => (e.ev === "message" ? e.text : e.ev));
        expect(texts(await inbox(bob!))).to.deep.equal(["one", "two"]);
        // The copies for alice's other device sit between bob's events, in the order sent.
        const both = [...(await inbox(bob!)), ...(await inbox(alice!, phone))].sort((a, b) => a.seq - b.seq);
        expect(texts(both)).to.deep.equal(["one", "one", "two", "two", "self"]);
        expect(new Set(both.map((e) => e.seq)).size).to.equal(5);
      });

      it("close finishes the writes in progress, and may be called again", async () => {
        const [alice] = await users("alice", "bob");
        const sent = send(alice!, "bob");
        await store.close();
        expect(await sent).to.be.a("number");
        await store.close();
      });
    });
  });
}
