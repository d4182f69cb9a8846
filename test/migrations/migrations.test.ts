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
import type { Store } from "../../server/store/store.js";
import { rejection } from "../helpers/rejection.js";

const NAMES = Object.keys(migrations).sort();
const APP_TABLES = ["inbox_events", "messages", "users"];

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
  const sent = await store.enqueueMessage({
    senderId: alice.id,
    to: "bob",
    cid: "c1",
    text: " hi ",
    at: "2026-11-24T10:00:01.000Z",
    maxPending: 10,
  });
  await store.releaseMessages([{ id: sent.id, text: "hi" }], "2026-11-24T10:00:02.000Z");
  const [event] = await store.inboxAfter(bob.id, 0, 10);
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

  it("undoes every migration with down, and can apply them again", async () => {
    const { db, kysely } = openRaw();
    await migrateToLatest(kysely);
    expect((await createMigrator(kysely).migrateTo(NO_MIGRATIONS)).error).to.equal(undefined);
    for (const table of APP_TABLES) expect(tables(db)).to.not.include(table);
    await migrateToLatest(kysely);
    expect(tables(db)).to.include.members(APP_TABLES);
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
