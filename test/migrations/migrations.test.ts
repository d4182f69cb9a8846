// Migrations: a new database, every older schema this code may meet, and the refusals (a failed
// migration, a database newer than the code). The upgrade test walks every earlier state of the
// migration list, so it keeps testing each upgrade path as migrations are added.

import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import { Kysely, type Migration, NO_MIGRATIONS, SqliteDialect } from "kysely";
import { migrations } from "../../migrations/index.js";
import { openStore, SchemaError } from "../../server/store/open-store.js";
import { createMigrator, migrateToLatest } from "../../server/store/sqlite/migrate.js";
import type { Store, StoreError } from "../../server/store/store.js";
import { rejection } from "../helpers/rejection.js";

const NAMES = Object.keys(migrations).sort();
const APP_TABLES = [
  "devices",
  "inbox_events",
  "messages",
  "normalization_progress",
  "room_events",
  "room_members",
  "rooms",
  "store_meta",
  "users",
];

function tables(db: Database.Database): string[] {
  return db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
}

function applied(db: Database.Database): string[] {
  return db.prepare("SELECT name FROM kysely_migration ORDER BY name").pluck().all() as string[];
}

function digest(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Proves a store works end to end: an account, a message released, read from the inbox. */
async function exercise(store: Store): Promise<void> {
  const alice = await store.createUser({
    user: "alice",
    name: "Alice",
    passwordHash: "h",
    at: "2026-11-24T10:00:00.000Z",
  });
  const bob = await store.createUser({
    user: "bob",
    name: "Bob",
    passwordHash: "h",
    at: "2026-11-24T10:00:00.000Z",
  });
  const aliceDevice = await store.attachDevice(alice.id, "laptop", "2026-11-24T10:00:00.000Z", 5);
  const bobDevice = await store.attachDevice(bob.id, "phone", "2026-11-24T10:00:00.000Z", 5);
  const sent = await store.enqueueMessage({
    senderId: alice.id,
    senderDeviceId: aliceDevice.device.id,
    to: "bob",
    cid: "c1",
    text: " hi ",
    at: "2026-11-24T10:00:01.000Z",
    maxPending: 10,
  });
  await store.releaseMessages([{ id: sent.id, text: "hi" }], "2026-11-24T10:00:02.000Z");
  const [event] = await store.inboxAfter(bob.id, bobDevice.device.id, 0, 10);
  expect(event).to.deep.include({ ev: "message", id: sent.id, from: "alice", to: "bob", text: "hi" });
}

describe("migrations", () => {
  let dir: string;
  let file: string;
  let raw: Database.Database[];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-migrations-"));
    file = path.join(dir, "parley.db");
    raw = [];
  });

  afterEach(() => {
    for (const db of raw) db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function openRaw(): { db: Database.Database; kysely: Kysely<unknown> } {
    const db = new Database(file);
    raw.push(db);
    return { db, kysely: new Kysely({ dialect: new SqliteDialect({ database: db }) }) };
  }

  it("lists the migrations in the order they run, each with up and down", () => {
    expect(NAMES.length).to.be.greaterThan(0);
    for (const name of NAMES) {
      expect(name).to.match(/^\d{4}_\d{2}_\d{2}_\d{3}_[a-z0-9_]+$/);
      expect(migrations[name]!.up).to.be.a("function");
      expect(migrations[name]!.down).to.be.a("function");
    }
  });

  it("creates the whole schema in an empty file", async () => {
    const store = await openStore({ path: file });
    await exercise(store);
    await store.close();
    const { db } = openRaw();
    expect(tables(db)).to.include.members(APP_TABLES);
    expect(applied(db)).to.deep.equal(NAMES);
  });

  it("opens a database it migrated before without changing it", async () => {
    await (await openStore({ path: file })).close();
    const before = digest(file);
    await (await openStore({ path: file })).close();
    expect(digest(file)).to.equal(before);
  });

  // One case per earlier state: none applied, then each migration but the last.
  const earlier: Array<{ label: string; target: string | typeof NO_MIGRATIONS }> = [
    { label: "no migration applied", target: NO_MIGRATIONS },
    ...NAMES.slice(0, -1).map((name) => ({ label: `up to ${name}`, target: name })),
  ];
  for (const { label, target } of earlier) {
    it(`upgrades a database with ${label}`, async () => {
      const { db, kysely } = openRaw();
      const { error } = await createMigrator(kysely).migrateTo(target);
      expect(error).to.equal(undefined);
      db.close();

      const store = await openStore({ path: file });
      await exercise(store);
      await store.close();
      const { db: after } = openRaw();
      expect(applied(after)).to.deep.equal(NAMES);
    });
  }

  it("keeps the rows written at the first schema through every later migration", async () => {
    const { db, kysely } = openRaw();
    expect((await createMigrator(kysely).migrateTo(NAMES[0]!)).error).to.equal(undefined);
    // Written against the first schema, which never changes.
    db.prepare(
      "INSERT INTO users (name, display_name, password_hash, created_at) VALUES ('Old', 'Old Timer', 'h', '2026-01-01T00:00:00.000Z')",
    ).run();
    db.close();

    const store = await openStore({ path: file });
    expect(await store.findUser("old")).to.deep.include({
      user: "Old",
      name: "Old Timer",
      passwordHash: "h",
    });
    await store.close();
  });

  /** A database at the first schema, with the rows `seed` writes against that schema. */
  async function firstSchema(seed: string): Promise<void> {
    const { db, kysely } = openRaw();
    expect((await createMigrator(kysely).migrateTo("2026_11_25_001_initial")).error).to.equal(undefined);
    db.exec(seed);
    db.close();
  }

  const FIRST_SCHEMA_USERS = `
    INSERT INTO users (id, name, display_name, password_hash, created_at, pending_messages) VALUES
      (1, 'alice', 'Alice', 'h', '2026-01-01T00:00:00.000Z', 1),
      (2, 'bob', 'Bob', 'h', '2026-01-01T00:00:00.000Z', 3),
      (3, 'carol', 'Carol', 'h', '2026-01-01T00:00:00.000Z', 1);`;

  it("takes over the messages of the first schema: queue, held messages, history", async () => {
    // Written against the first schema, which never changes: delivered, sent (in alice's inbox),
    // pending, held (still waiting, as that schema had it), pending again, held again.
    await firstSchema(`${FIRST_SCHEMA_USERS}
      INSERT INTO messages (id, sender_id, recipient_id, cid, raw_text, text, status, created_at) VALUES
        (1, 1, 2, 'a', ' one ', 'one', 'delivered', '2026-01-01T00:00:01.000Z'),
        (2, 2, 1, 'b', ' two ', 'two', 'sent', '2026-01-01T00:00:02.000Z'),
        (3, 1, 2, 'c', ' three ', NULL, 'pending', '2026-01-01T00:00:03.000Z'),
        (4, 1, 2, 'd', 'four', NULL, 'held', '2026-01-01T00:00:04.000Z'),
        (5, 3, 2, 'e', ' five ', NULL, 'pending', '2026-01-01T00:00:05.000Z'),
        (6, 2, 3, 'f', 'six', NULL, 'held', '2026-01-01T00:00:06.000Z');
      INSERT INTO inbox_events (user_id, kind, message_id, created_at) VALUES
        (1, 'message', 2, '2026-01-01T00:00:02.500Z');`);

    const store = await openStore({ path: file });
    try {
      const { db } = openRaw();
      expect(db.prepare("SELECT * FROM normalization_progress").all()).to.deep.equal([
        { id: 1, last_message_id: 2 },
      ]);
      expect(await store.unnormalizedMessages(10)).to.deep.equal([
        { id: 3, text: " three " },
        { id: 5, text: " five " },
      ]);
      // The held messages ended: out of their recipients' counts (seen through mailbox_full,
      // refused at exactly the count), with undeliverable receipts.
      const probe = (to: string, maxPending: number, cid: string) =>
        store.enqueueMessage({
          senderId: 3,
          senderDeviceId: 0,
          to,
          cid,
          text: "probe",
          at: "2026-01-01T00:02:00.000Z",
          maxPending,
        });
      const waiting = { alice: 1, bob: 2, carol: 0 };
      for (const [user, count] of Object.entries(waiting)) {
        expect(((await rejection(probe(user, count, `full-${user}`))) as StoreError).code, user).to.equal(
          "mailbox_full",
        );
      }
      // Reading an inbox takes a device: the first one starts at the beginning of the stream.
      const aliceDevice = (await store.attachDevice(1, "laptop", "2026-01-01T00:00:30.000Z", 5)).device;
      const bobDevice = (await store.attachDevice(2, "phone", "2026-01-01T00:00:30.000Z", 5)).device;
      expect([aliceDevice.ackedSeq, bobDevice.ackedSeq]).to.deep.equal([0, 0]);
      const aliceInbox = await store.inboxAfter(1, aliceDevice.id, 0, 10);
      expect(aliceInbox.map((event) => [event.ev, "id" in event ? event.id : undefined])).to.deep.equal([
        ["message", 2],
        ["receipt", 4],
      ]);
      expect(aliceInbox[1]).to.deep.include({ to: "bob", status: "undeliverable" });
      const history = await store.history(1, { kind: "user", id: 2 }, undefined, 50);
      expect(history.map((m) => [m.id, m.from, m.text, m.status])).to.deep.equal([
        [1, "alice", "one", "delivered"],
        [2, "bob", "two", "sent"],
      ]);
      expect(await store.history(2, { kind: "user", id: 1 }, undefined, 50)).to.deep.equal(history);

      await store.releaseMessages(
        [
          { id: 3, text: "three" },
          { id: 5, text: "five" },
        ],
        "2026-01-01T00:01:00.000Z",
      );
      expect(await store.unnormalizedMessages(10)).to.deep.equal([]);
      expect(db.prepare("SELECT last_message_id FROM normalization_progress").pluck().get()).to.equal(6);
      expect(
        (await store.inboxAfter(2, bobDevice.id, 0, 10)).map((event) => [
          event.ev,
          "id" in event ? event.id : undefined,
        ]),
      ).to.deep.equal([
        ["receipt", 6],
        ["message", 3],
        ["message", 5],
      ]);
      // Released, not yet delivered: the counts are as they were, and a send under them is taken.
      for (const [user, count] of Object.entries(waiting)) {
        expect(
          ((await rejection(probe(user, count, `full-again-${user}`))) as StoreError).code,
          user,
        ).to.equal("mailbox_full");
        expect((await probe(user, count + 1, `fits-${user}`)).duplicate, user).to.equal(false);
      }
    } finally {
      await store.close();
    }
  });

  it("starts the normalization cursor after the newest message when none is pending, at 0 in an empty database", async () => {
    await firstSchema(`${FIRST_SCHEMA_USERS}
      INSERT INTO messages (id, sender_id, recipient_id, cid, raw_text, text, status, created_at) VALUES
        (7, 1, 2, 'a', 'x', 'x', 'delivered', '2026-01-01T00:00:01.000Z'),
        (9, 1, 2, 'b', 'y', 'y', 'expired', '2026-01-01T00:00:02.000Z');`);
    await (await openStore({ path: file })).close();
    const { db } = openRaw();
    expect(db.prepare("SELECT last_message_id FROM normalization_progress").pluck().get()).to.equal(9);
    db.close();

    fs.rmSync(file);
    await firstSchema("");
    await (await openStore({ path: file })).close();
    const { db: empty } = openRaw();
    expect(empty.prepare("SELECT last_message_id FROM normalization_progress").pluck().get()).to.equal(0);
  });

  it("undoes every migration with down, and can apply them again", async () => {
    const { db, kysely } = openRaw();
    await migrateToLatest(kysely);
    expect((await createMigrator(kysely).migrateTo(NO_MIGRATIONS)).error).to.equal(undefined);
    for (const table of APP_TABLES) expect(tables(db)).to.not.include(table);
    await migrateToLatest(kysely);
    expect(tables(db)).to.include.members(APP_TABLES);
  });

  it("brings back, with each down, exactly the schema before that migration", async () => {
    const schema = (db: Database.Database) =>
      db
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'kysely_%' ORDER BY name")
        .all();
    for (const [index, name] of NAMES.entries()) {
      if (index === 0) continue;
      const { db, kysely } = openRaw();
      const migrator = createMigrator(kysely);
      expect((await migrator.migrateTo(NAMES[index - 1]!)).error).to.equal(undefined);
      const before = schema(db);
      expect((await migrator.migrateTo(name)).error).to.equal(undefined);
      expect((await migrator.migrateTo(NAMES[index - 1]!)).error).to.equal(undefined);
      expect(schema(db), name).to.deep.equal(before);
      db.close();
      fs.rmSync(file);
    }
  });

  it("refuses a database newer than the code, with a one-line SchemaError, and leaves the file untouched", async () => {
    await (await openStore({ path: file })).close();
    const { db } = openRaw();
    db.prepare("INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)").run(
      "2099_01_01_001_from_the_future",
      new Date().toISOString(),
    );
    db.close();
    const before = digest(file);

    const error = await rejection(openStore({ path: file }));
    expect(error).to.be.instanceOf(SchemaError);
    expect((error as Error).message).to.equal(
      "database schema is newer than this server (unknown migration 2099_01_01_001_from_the_future); upgrade Parley",
    );
    expect(digest(file)).to.equal(before);
  });

  it("names a failing migration in a one-line SchemaError and leaves the database as it was", async () => {
    const { db, kysely } = openRaw();
    const broken: Record<string, Migration> = {
      ...migrations,
      "2099_01_01_001_broken": {
        async up() {
          throw new Error("no such column:\n  oops");
        },
      },
    };
    const error = await rejection(migrateToLatest(kysely, broken));
    expect(error).to.be.instanceOf(SchemaError);
    expect((error as Error).message).to.equal("migration 2099_01_01_001_broken failed: no such column: oops");
    // The earlier migrations of the same run were rolled back with it.
    expect(tables(db)).to.deep.equal([]);
    expect(db.inTransaction).to.equal(false);
  });
});
