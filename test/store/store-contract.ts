// The contract every Store backend passes: each method and each guarantee written in
// server/store/store.ts, tested through the interface alone. A backend's test file calls
// describeStoreContract with a factory that gives each test a fresh, empty store.

import { expect } from "chai";
import type { InboxEvent, ReceiptEvent } from "../../server/protocol/messages.js";
import {
  type Conversation,
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
      store.onNewEvents((userIds) => heard.push([...userIds]));
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

    function withUser(user: UserRecord): Conversation {
      return { kind: "user", id: user.id };
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
        expect((await store.listUsers()).map((u) => u.name)).to.deep.equal(["First"]);
      });

      it("listUsers returns every live account ordered by name without regard to case", async () => {
        await users("carol", "Bob", "alice", "Dave");
        const dave = await store.findUser("dave");
        await store.deleteUser(dave!.id, at(5));
        expect((await store.listUsers()).map((u) => u.user)).to.deep.equal(["alice", "Bob", "carol"]);
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

      it("deleteUser frees the name for a new account", async () => {
        const [alice] = await users("alice", "bob");
        await store.deleteUser(alice!.id, at(5));
        expect(await store.findUser("alice")).to.equal(undefined);
        expect((await store.listUsers()).map((u) => u.user)).to.deep.equal(["bob"]);
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
        expect((await store.listUsers()).map((u) => u.user)).to.deep.equal(["alice", "bob"]);
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
