// The SQLite Store: the contract, then what only SQLite has (pragmas, the file, group commit,
// failing commits, the waiting counter against the rows themselves). Every test gets a fresh
// temporary folder, removed afterwards.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import fc from "fast-check";
import { openSqliteStore, openStore, SchemaError } from "../../server/store/open-store.js";
import type { SqliteStore } from "../../server/store/sqlite/sqlite-store.js";
import { WriteQueue } from "../../server/store/sqlite/write-queue.js";
import { StoreError, type UserRecord } from "../../server/store/store.js";
import { rejection } from "../helpers/rejection.js";
import { describeStoreContract } from "./store-contract.js";

function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "parley-store-"));
}

function at(seconds: number): string {
  return new Date(Date.UTC(2026, 10, 24, 10, 0, 0) + seconds * 1000).toISOString();
}

async function expectStoreError(promise: Promise<unknown>, code: StoreError["code"]): Promise<void> {
  const error = await rejection(promise);
  expect(error).to.be.instanceOf(StoreError);
  expect((error as StoreError).code).to.equal(code);
}

// The server's store: SQLite in a worker thread of its own.
describeStoreContract("SQLite in its worker thread", async () => {
  const dir = makeTempDir();
  const store = await openStore({ path: path.join(dir, "parley.db") });
  return {
    store,
    async cleanup() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

// The same store in the caller's thread, as the SQLite tests below use it.
describeStoreContract("SQLite in the caller's thread", async () => {
  const dir = makeTempDir();
  const store = await openSqliteStore({ path: path.join(dir, "parley.db") });
  return {
    store,
    async cleanup() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("SqliteStore", () => {
  let dir: string;
  let opened: SqliteStore[];

  beforeEach(() => {
    dir = makeTempDir();
    opened = [];
  });

  afterEach(async () => {
    for (const store of opened) await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(file = path.join(dir, "parley.db")): Promise<SqliteStore> {
    const store = await openSqliteStore({ path: file });
    opened.push(store);
    return store;
  }

  function createUser(store: SqliteStore, user: string): Promise<UserRecord> {
    return store.createUser({ user, name: user, passwordHash: "hash", at: at(0) });
  }

  /** The id of the user's device "main", logged in (once) at its first use. */
  async function mainDevice(store: SqliteStore, user: UserRecord): Promise<number> {
    return (await store.attachDevice(user.id, "main", at(0), 10)).device.id;
  }

  function send(
    store: SqliteStore,
    from: UserRecord,
    to: string,
    cid: string,
    text = "hello",
    maxPending = 10_000,
  ) {
    // The device id is only recorded: a message from a device never logged in is stored all the same.
    return store.enqueueMessage({
      senderId: from.id,
      senderDeviceId: 0,
      to,
      cid,
      text,
      at: at(1),
      maxPending,
    });
  }

  /** Every row of the application's tables, to show that nothing changed. */
  function snapshot(db: Database.Database): unknown {
    return [
      "users",
      "messages",
      "inbox_events",
      "devices",
      "rooms",
      "room_members",
      "room_events",
      "store_meta",
    ].map((table) => db.prepare(`SELECT * FROM ${table}`).all());
  }

  describe("the database file", () => {
    it("creates missing folders and a database only its owner can read or write", async () => {
      const file = path.join(dir, "a", "b", "parley.db");
      const store = await open(file);
      await createUser(store, "alice");
      expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
      expect(fs.statSync(`${file}-wal`).mode & 0o777).to.equal(0o600);
    });

    it("runs with WAL, synchronous FULL, foreign keys on and a busy timeout", async () => {
      const db = (await open()).databaseForTests();
      expect(db.pragma("journal_mode", { simple: true })).to.equal("wal");
      expect(db.pragma("synchronous", { simple: true })).to.equal(2);
      expect(db.pragma("foreign_keys", { simple: true })).to.equal(1);
      expect(db.pragma("busy_timeout", { simple: true })).to.equal(5000);
    });

    it("keeps every write across a restart, including writes still queued at close", async () => {
      const file = path.join(dir, "parley.db");
      const first = await open(file);
      const alice = await createUser(first, "alice");
      await createUser(first, "bob");
      const sent = send(first, alice, "bob", "c1", "queued at close");
      await first.close();
      const { id } = await sent;
      const second = await open(file);
      expect((await second.findUser("alice"))?.id).to.equal(alice.id);
      expect(await second.unnormalizedMessages(10)).to.deep.equal([{ id, text: "queued at close" }]);
    });

    it("refuses a file that is not a database, with a one-line SchemaError, and leaves it untouched", async () => {
      const file = path.join(dir, "notes.txt");
      const content = "These are my notes, not a database.\n".repeat(200);
      fs.writeFileSync(file, content);
      const error = await rejection(openStore({ path: file }));
      expect(error).to.be.instanceOf(SchemaError);
      expect((error as Error).message).to.match(/not a SQLite database/);
      expect((error as Error).message).to.not.include("\n");
      expect(fs.readFileSync(file, "utf8")).to.equal(content);
      // Only the one-server lock beside it, which nothing is written to.
      expect(fs.readdirSync(dir)).to.deep.equal(["notes.txt", "notes.txt.lock"]);
    });

    it("refuses a corrupt database, with a one-line SchemaError, and leaves it untouched", async () => {
      const file = path.join(dir, "parley.db");
      await (await open(file)).close();
      const bytes = fs.readFileSync(file);
      // Garbles the schema table on page 1, after the 100-byte header.
      bytes.fill(0x5a, 100, bytes.readUInt16BE(16));
      fs.writeFileSync(file, bytes);
      const error = await rejection(openStore({ path: file }));
      expect(error).to.be.instanceOf(SchemaError);
      expect((error as Error).message).to.match(/corrupt/);
      expect((error as Error).message).to.not.include("\n");
      expect(fs.readFileSync(file).equals(bytes)).to.equal(true);
    });

    it("keeps the online flag operators query", async () => {
      const store = await open();
      const db = store.databaseForTests();
      const online = () => db.prepare("SELECT name FROM users WHERE online = 1 ORDER BY name").pluck().all();
      const [alice, bob] = [await createUser(store, "alice"), await createUser(store, "bob")];
      await store.recordPresence(alice.id, true, at(1));
      await store.recordPresence(bob.id, true, at(1));
      expect(online()).to.deep.equal(["alice", "bob"]);
      await store.recordPresence(alice.id, false, at(2));
      expect(online()).to.deep.equal(["bob"]);
      await store.recordPresence(alice.id, true, at(3));
      await store.deleteUser(bob.id, at(4));
      expect(online()).to.deep.equal(["alice"]);
      const phone = (await store.attachDevice(alice.id, "phone", at(5), 10)).device;
      expect((await store.listDevices(alice.id)).find((d) => d.id === phone.id)?.online).to.equal(true);
      await store.resetPresence();
      expect(online()).to.deep.equal([]);
      // The only node: no session survives its restart, so every device is offline.
      expect((await store.listDevices(alice.id)).map((d) => d.online)).to.deep.equal([false]);
    });

    it("rejects reads and writes after close with unavailable", async () => {
      const store = await open();
      const alice = await createUser(store, "alice");
      await store.close();
      await expectStoreError(store.findUser("alice"), "unavailable");
      await expectStoreError(store.inboxAfter(alice.id, 0, 0, 10), "unavailable");
      await expectStoreError(createUser(store, "bob"), "unavailable");
    });
  });

  describe("group commit", () => {
    it("commits every write called in the same tick in one transaction", async () => {
      const store = await open();
      const alice = await createUser(store, "alice");
      await createUser(store, "bob");
      const before = store.commitCount;
      const sends = Array.from({ length: 200 }, (_, i) => send(store, alice, "bob", `c${i}`));
      const results = await Promise.all(sends);
      expect(store.commitCount - before).to.equal(1);
      expect(new Set(results.map((result) => result.id)).size).to.equal(200);
      expect(await store.unnormalizedMessages(1000)).to.have.length(200);
    });

    it("puts writes called after a batch settled into the next transaction", async () => {
      const store = await open();
      const alice = await createUser(store, "alice");
      await createUser(store, "bob");
      const before = store.commitCount;
      await send(store, alice, "bob", "c1").then(() => send(store, alice, "bob", "c2"));
      expect(store.commitCount - before).to.equal(2);
    });

    it("rolls back a write that fails on its own and commits the others of its batch", async () => {
      const store = await open();
      const alice = await createUser(store, "alice");
      await createUser(store, "bob");
      const before = store.commitCount;
      const results = await Promise.allSettled([
        send(store, alice, "bob", "c1"),
        send(store, alice, "nobody", "c2"),
        createUser(store, "ALICE"),
        send(store, alice, "bob", "c3"),
      ]);
      expect(results.map((result) => result.status)).to.deep.equal([
        "fulfilled",
        "rejected",
        "rejected",
        "fulfilled",
      ]);
      expect(store.commitCount - before).to.equal(1);
      const db = store.databaseForTests();
      expect(db.prepare("SELECT cid FROM messages ORDER BY id").pluck().all()).to.deep.equal(["c1", "c3"]);
      // bob's waiting count took the two messages and nothing of the failed writes.
      await expectStoreError(send(store, alice, "bob", "c4", "full", 2), "mailbox_full");
      await send(store, alice, "bob", "c5", "fits", 3);
    });

    it("fails a whole batch with unavailable when the disk is full, changes nothing, and recovers", async () => {
      const store = await open();
      const db = store.databaseForTests();
      const alice = await createUser(store, "alice");
      await createUser(store, "bob");
      await send(store, alice, "bob", "before");
      const before = snapshot(db);
      const commits = store.commitCount;
      // The database may not grow by a single page: the next write needing one fails with SQLITE_FULL.
      db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true })}`);

      const results = await Promise.allSettled([
        send(store, alice, "nobody", "refused on its own"),
        send(store, alice, "bob", "small"),
        ...Array.from({ length: 20 }, (_, i) => send(store, alice, "bob", `big${i}`, "x".repeat(4000))),
        createUser(store, "carol"),
      ]);
      const errors = results.map((result) =>
        result.status === "rejected" ? (result.reason as StoreError).code : "ok",
      );
      expect(errors[0]).to.equal("no_such_user");
      expect(new Set(errors.slice(1))).to.deep.equal(new Set(["unavailable"]));
      expect(snapshot(db)).to.deep.equal(before);
      expect(store.commitCount).to.equal(commits);
      expect(db.inTransaction).to.equal(false);

      db.pragma("max_page_count = 1073741823");
      await send(store, alice, "bob", "after");
      expect(store.commitCount).to.equal(commits + 1);
    });
  });

  describe("the normalization cursor", () => {
    const progress = (store: SqliteStore) =>
      store.databaseForTests().prepare("SELECT last_message_id FROM normalization_progress").pluck().get();

    it("survives a reopen: messages released or held before close are not handed out again", async () => {
      const file = path.join(dir, "parley.db");
      const first = await open(file);
      const alice = await createUser(first, "alice");
      await createUser(first, "bob");
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await send(first, alice, "bob", `c${i}`, `m${i}`)).id);
      await first.releaseMessages(
        [
          { id: ids[0]!, text: "m0" },
          { id: ids[1]!, text: "m1" },
        ],
        at(2),
      );
      await first.holdMessage(ids[2]!, at(2));
      expect(progress(first)).to.equal(ids[2]);
      await first.close();

      const second = await open(file);
      expect(progress(second)).to.equal(ids[2]);
      expect(await second.unnormalizedMessages(10)).to.deep.equal([
        { id: ids[3], text: "m3" },
        { id: ids[4], text: "m4" },
      ]);
    });

    it("stays put when the batch that moved it fails, and hands the messages out again", async () => {
      const store = await open();
      const db = store.databaseForTests();
      const alice = await createUser(store, "alice");
      await createUser(store, "bob");
      const { id } = await send(store, alice, "bob", "c1", "m1");
      db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true })}`);
      const results = await Promise.allSettled([
        store.releaseMessages([{ id, text: "m1" }], at(2)),
        ...Array.from({ length: 20 }, (_, i) => send(store, alice, "bob", `big${i}`, "x".repeat(4000))),
      ]);
      expect(results[0]!.status).to.equal("rejected");
      db.pragma("max_page_count = 1073741823");
      expect(progress(store)).to.equal(0);
      expect(await store.unnormalizedMessages(10)).to.deep.equal([{ id, text: "m1" }]);
    });
  });

  describe("expiry", () => {
    async function released(store: SqliteStore, from: UserRecord, sentAt: number, releasedAt: number) {
      const { id } = await store.enqueueMessage({
        senderId: from.id,
        senderDeviceId: 0,
        to: "bob",
        cid: `c${sentAt}-${releasedAt}`,
        text: "t",
        at: at(sentAt),
        maxPending: 100,
      });
      await store.releaseMessages([{ id, text: "t" }], at(releasedAt));
      return id;
    }

    const status = (store: SqliteStore, id: number) =>
      store.databaseForTests().prepare("SELECT status FROM messages WHERE id = ?").pluck().get(id);

    it("expires a message by the time it was sent, however late it was released", async () => {
      const store = await open();
      const alice = await createUser(store, "alice");
      await createUser(store, "bob");
      // Sent at 1 and 6; the first waited for the normalizer until 10: no grace for that.
      const late = await released(store, alice, 1, 10);
      const young = await released(store, alice, 6, 11);
      await store.expireMessages(at(1), at(20));
      expect([status(store, late), status(store, young)]).to.deep.equal(["sent", "sent"]);
      await store.expireMessages(at(5), at(21));
      expect([status(store, late), status(store, young)]).to.deep.equal(["expired", "sent"]);
      await store.expireMessages(at(7), at(22));
      expect(status(store, young)).to.equal("expired");
    });

    it("still expires what a sweep found when that sweep's batch failed", async () => {
      const store = await open();
      const db = store.databaseForTests();
      const alice = await createUser(store, "alice");
      await createUser(store, "bob");
      const id = await released(store, alice, 1, 2);
      const heard: number[][] = [];
      store.onNewEvents((events) => heard.push([...new Set(events.flatMap((live) => live.userIds))]));
      db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true })}`);
      const results = await Promise.allSettled([
        store.expireMessages(at(5), at(5)),
        ...Array.from({ length: 20 }, (_, i) => send(store, alice, "bob", `big${i}`, "x".repeat(4000))),
      ]);
      expect(results[0]!.status).to.equal("rejected");
      db.pragma("max_page_count = 1073741823");
      expect(status(store, id)).to.equal("sent");
      // A batch that rolled back told no one.
      expect(heard).to.deep.equal([]);
      await store.expireMessages(at(5), at(6));
      expect(heard).to.deep.equal([[alice.id]]);
      expect(status(store, id)).to.equal("expired");
    });

    it("walks past receipts and read messages left in inboxes, and skips them from then on", async () => {
      const store = await open();
      const db = store.databaseForTests();
      const alice = await createUser(store, "alice");
      const bob = await createUser(store, "bob");
      const read = await released(store, alice, 1, 2);
      await store.markRead(bob.id, await mainDevice(store, bob), { kind: "user", id: alice.id }, read, at(3));
      const old = await released(store, alice, 4, 5);
      await store.expireMessages(at(10), at(10));
      expect([status(store, read), status(store, old)]).to.deep.equal(["read", "expired"]);
      // Left in the inboxes: the read message, its read receipt, the expired receipt, and the
      // expired message's own event (no longer delivered, pruned once every device is past it).
      expect(db.prepare("SELECT count(*) FROM inbox_events").pluck().get()).to.equal(4);
      // Behind the store's back, a state no write produces: the next sweep does not look again.
      db.prepare("UPDATE messages SET status = 'sent' WHERE id = ?").run(read);
      const young = await released(store, alice, 11, 12);
      await store.expireMessages(at(20), at(20));
      expect([status(store, read), status(store, young)]).to.deep.equal(["sent", "expired"]);
    });
  });

  describe("the waiting count, the normalization queue and expiry", () => {
    // The truth the in-memory count behind mailbox_full stands for: messages to the user stored
    // and not yet delivered (acknowledged by a device), held, expired or undeliverable; a
    // message read before any device acknowledged it waits for that acknowledgement too.
    const TRUTH = `
      SELECT u.name,
        (SELECT count(*) FROM messages m
         WHERE m.recipient_id = u.id
           AND (m.status IN ('pending', 'sent') OR (m.status = 'read' AND m.delivered_at IS NULL))
        ) AS truth
      FROM users u WHERE u.deleted_at IS NULL AND u.name <> 'zz-probe' ORDER BY u.name`;
    // Messages the cursor has passed that still wait for normalization: there must be none.
    const PASSED_PENDING = `
      SELECT id FROM messages
      WHERE status = 'pending' AND id <= (SELECT last_message_id FROM normalization_progress)`;
    // Direct messages an expiry with this limit must have ended: sent before it and still
    // pending, or in the inbox unread and unacknowledged.
    const OVERDUE = `
      SELECT id, status FROM messages
      WHERE status IN ('pending', 'sent') AND recipient_id IS NOT NULL AND created_at < ?`;
    const PROBE_AT = "2001-01-01T00:00:00.000Z";
    const PROBE_EXPIRY = "2001-01-02T00:00:00.000Z";

    const NAMES = ["ann", "ben", "cy"] as const;
    const DEVICES = ["one", "two"] as const;
    const who = fc.integer({ min: 0, max: NAMES.length - 1 });
    const device = fc.integer({ min: 0, max: DEVICES.length - 1 });
    // Weighted so that most runs send, release, read and acknowledge the same messages in
    // every order, with now and then a hold, an expiry or a deleted account.
    const operation = fc.oneof(
      {
        arbitrary: fc.record({
          op: fc.constant("send" as const),
          from: who,
          device,
          to: who,
          cid: fc.integer({ min: 0, max: 40 }),
          // Now and then normalized at intake.
          normalized: fc.constantFrom(false, false, true),
        }),
        weight: 6,
      },
      {
        // Now and then leaves the oldest behind, as a caller other than the normalization stage may.
        arbitrary: fc.record({
          op: fc.constant("release" as const),
          count: fc.integer({ min: 1, max: 4 }),
          skip: fc.constantFrom(0, 0, 0, 1),
        }),
        weight: 4,
      },
      {
        arbitrary: fc.record({ op: fc.constant("hold" as const), index: fc.constantFrom(0, 0, 1, 2) }),
        weight: 1,
      },
      {
        arbitrary: fc.record({
          op: fc.constant("ack" as const),
          user: who,
          device,
          keep: fc.constantFrom(0, 0, 1, 2),
        }),
        weight: 4,
      },
      { arbitrary: fc.record({ op: fc.constant("read" as const), reader: who, device }), weight: 3 },
      {
        arbitrary: fc.record({ op: fc.constant("expire" as const), age: fc.integer({ min: 3, max: 60 }) }),
        weight: 1,
      },
      { arbitrary: fc.record({ op: fc.constant("delete" as const), user: who }), weight: 1 },
    );

    it("stay true to the rows, whatever the sequence of operations", async function () {
      // Some 10 s for the runs; more when a failure is shrunk to its smallest case.
      this.timeout(180_000);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(operation, { minLength: 20, maxLength: 80, size: "max" }),
          async (operations) => {
            run += 1;
            const store = await open(path.join(dir, `run-${run}.db`));
            const db = store.databaseForTests();
            const accounts: UserRecord[] = [];
            const devices: number[][] = [];
            const account = async (index: number) => {
              accounts[index] = await createUser(store, NAMES[index]!);
              devices[index] = [];
              for (const name of DEVICES) {
                devices[index]!.push(
                  (await store.attachDevice(accounts[index]!.id, name, at(0), 5)).device.id,
                );
              }
            };
            for (const index of NAMES.keys()) await account(index);
            const prober = await createUser(store, "zz-probe");
            let probes = 0;
            const probe = (to: string, maxPending: number) => {
              probes += 1;
              return store.enqueueMessage({
                senderId: prober.id,
                senderDeviceId: 0,
                to,
                cid: `probe-${probes}`,
                text: "probe",
                at: PROBE_AT,
                maxPending,
              });
            };
            let clock = 10;
            for (const step of operations) {
              clock += 1;
              const context = `after ${JSON.stringify(step)}`;
              switch (step.op) {
                case "send":
                  await store
                    .enqueueMessage({
                      senderId: accounts[step.from]!.id,
                      senderDeviceId: devices[step.from]![step.device]!,
                      to: NAMES[step.to]!,
                      cid: `c${step.cid}`,
                      text: " t ",
                      ...(step.normalized ? { normalizedText: "t" } : {}),
                      at: at(clock),
                      maxPending: 5,
                    })
                    .catch((error: unknown) => {
                      if (!(error instanceof StoreError && error.code === "mailbox_full")) throw error;
                    });
                  break;
                case "release": {
                  const waiting = await store.unnormalizedMessages(step.count);
                  expect(waiting.map((m) => m.id)).to.deep.equal(
                    db
                      .prepare("SELECT id FROM messages WHERE status = 'pending' ORDER BY id LIMIT ?")
                      .pluck()
                      .all(step.count),
                  );
                  await store.releaseMessages(
                    waiting.slice(step.skip).map((m) => ({ id: m.id, text: m.text.trim() })),
                    at(clock),
                  );
                  break;
                }
                case "hold": {
                  const chosen = (await store.unnormalizedMessages(3))[step.index];
                  if (chosen !== undefined) await store.holdMessage(chosen.id, at(clock));
                  break;
                }
                case "ack": {
                  const user = accounts[step.user]!;
                  const deviceId = devices[step.user]![step.device]!;
                  const events = await store.inboxAfter(user.id, deviceId, 0, 100);
                  const upTo = events[events.length - 1 - step.keep]?.seq;
                  if (upTo !== undefined) await store.acknowledge(user.id, deviceId, upTo, at(clock));
                  break;
                }
                case "read":
                  for (const from of accounts) {
                    await store.markRead(
                      accounts[step.reader]!.id,
                      devices[step.reader]![step.device]!,
                      { kind: "user", id: from.id },
                      Number.MAX_SAFE_INTEGER,
                      at(clock),
                    );
                  }
                  break;
                case "expire": {
                  const limit = at(clock - step.age);
                  await store.expireMessages(limit, at(clock));
                  expect(db.prepare(OVERDUE).all(limit), context).to.deep.equal([]);
                  break;
                }
                case "delete":
                  await store.deleteUser(accounts[step.user]!.id, at(clock));
                  await account(step.user);
                  break;
              }
              // The count as mailbox_full sees it: a send is refused at maxPending = truth and
              // taken at truth + 1. All probes in one batch (refusals first), then expired.
              const rows = db.prepare<[], { name: string; truth: number }>(TRUTH).all();
              const refusals = rows.map((row) => probe(row.name, row.truth).then(() => "taken", errorCode));
              const takers = rows.map((row) => probe(row.name, row.truth + 1).then(() => "taken", errorCode));
              const answers = await Promise.all([...refusals, ...takers]);
              expect(
                answers,
                `${rows.map((row) => `${row.name}: ${row.truth}`).join(", ")} ${context}`,
              ).to.deep.equal([...rows.map(() => "mailbox_full"), ...rows.map(() => "taken")]);
              await store.expireMessages(PROBE_EXPIRY, PROBE_AT);
              expect(db.prepare(PASSED_PENDING).all(), context).to.deep.equal([]);
            }
            await store.close();
            fs.rmSync(path.join(dir, `run-${run}.db`));
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});

function errorCode(error: unknown): string {
  if (error instanceof StoreError) return error.code;
  throw error;
}

describe("WriteQueue", () => {
  let dir: string;
  let db: Database.Database;
  let queue: WriteQueue;

  beforeEach(() => {
    dir = makeTempDir();
    db = new Database(path.join(dir, "queue.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("foreign_keys = ON");
    db.exec(`
      CREATE TABLE t (x INTEGER);
      CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (parent_id INTEGER REFERENCES parent (id));
    `);
    queue = new WriteQueue(db);
  });

  afterEach(async () => {
    await queue.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const insert = (x: number) => () => db.prepare("INSERT INTO t VALUES (?)").run(x).changes;
  const rows = () => db.prepare("SELECT x FROM t ORDER BY rowid").pluck().all();

  it("runs the writes in the order they were queued, each alone in a savepoint", async () => {
    const results = await Promise.allSettled([
      queue.enqueue(insert(1)),
      queue.enqueue(() => {
        insert(2)();
        throw new StoreError("no_such_user", "rolled back alone");
      }),
      queue.enqueue(() => {
        insert(3)();
        throw new TypeError("a bug, also rolled back alone");
      }),
      queue.enqueue(insert(4)),
    ]);
    expect(results.map((result) => result.status)).to.deep.equal([
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    expect((results[2] as PromiseRejectedResult).reason).to.be.instanceOf(TypeError);
    expect(rows()).to.deep.equal([1, 4]);
    expect(queue.commits).to.equal(1);
  });

  it("rejects every write of a batch whose COMMIT fails with unavailable, except those that failed alone", async () => {
    const results = await Promise.allSettled([
      queue.enqueue(insert(1)),
      queue.enqueue(() => {
        throw new StoreError("mailbox_full", "its own failure");
      }),
      // Checked only at COMMIT, so COMMIT itself fails.
      queue.enqueue(() => {
        db.pragma("defer_foreign_keys = ON");
        db.prepare("INSERT INTO child VALUES (42)").run();
      }),
      queue.enqueue(insert(2)),
    ]);
    const codes = results.map((result) =>
      result.status === "rejected" ? (result.reason as StoreError).code : "ok",
    );
    expect(codes).to.deep.equal(["unavailable", "mailbox_full", "unavailable", "unavailable"]);
    expect(rows()).to.deep.equal([]);
    expect(db.prepare("SELECT count(*) FROM child").pluck().get()).to.equal(0);
    expect(db.inTransaction).to.equal(false);
    expect(queue.commits).to.equal(0);
    await queue.enqueue(insert(3));
    expect(rows()).to.deep.equal([3]);
  });

  it("close flushes what is queued, then refuses new writes with unavailable", async () => {
    const queued = queue.enqueue(insert(1));
    await queue.close();
    expect(await queued).to.equal(1);
    await expectStoreError(queue.enqueue(insert(2)), "unavailable");
    expect(rows()).to.deep.equal([1]);
  });
});
