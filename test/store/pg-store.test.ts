// The PostgreSQL Store: the contract, then what only PostgreSQL has (its migrations' refusals,
// group commit). Every test gets a database of its own, dropped afterwards.

import { expect } from "chai";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { migrations } from "../../migrations/postgres/index.js";
import { openPostgresStore, openStore, SchemaError } from "../../server/store/open-store.js";
import { PgStore } from "../../server/store/postgres/pg-store.js";
import { type ClusterEvent, type LiveEvent, StoreError } from "../../server/store/store.js";
import { createTestDatabase, type TestDatabase } from "../helpers/pg-database.js";
import { rejection } from "../helpers/rejection.js";
import { describeStoreContract } from "./store-contract.js";

describeStoreContract("PostgreSQL", async () => {
  const database = await createTestDatabase();
  const store = await openStore({ path: database.url });
  return {
    store,
    async cleanup() {
      await store.close();
      await database.drop();
    },
  };
});

describe("PgStore", () => {
  let database: TestDatabase;

  beforeEach(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await database.drop();
  });

  async function onDatabase<T>(run: (db: Kysely<any>) => Promise<T>): Promise<T> {
    const db = new Kysely<any>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url }) }),
    });
    try {
      return await run(db);
    } finally {
      await db.destroy();
    }
  }

  it("is what openStore gives for a postgres:// URL", async () => {
    const store = await openStore({ path: database.url });
    try {
      expect(store).to.be.instanceOf(PgStore);
    } finally {
      await store.close();
    }
  });

  it("migrates a database once, however many nodes open it at the same time", async () => {
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore({ path: database.url })));
    for (const store of stores) await store.close();
    const applied = await onDatabase((db) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM kysely_migration`.execute(db),
    );
    // Each migration once.
    expect(applied.rows[0]!.n).to.equal(Object.keys(migrations).length);
  });

  it("refuses a database a newer Parley has migrated, and leaves it as it was", async () => {
    await (await openPostgresStore({ path: database.url })).close();
    await onDatabase((db) =>
      sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('2099_01_01_001_future', '2099-01-01')`.execute(
        db,
      ),
    );
    const error = await rejection(openStore({ path: database.url }));
    expect(error).to.be.instanceOf(SchemaError);
    expect((error as Error).message).to.match(/newer than this server.*2099_01_01_001_future/);
  });

  it("refuses with a one-line SchemaError when the database does not exist", async () => {
    const url = database.url.replace(/\/[^/]+$/, "/parley_no_such_database");
    const error = await rejection(openStore({ path: url }));
    expect(error).to.be.instanceOf(SchemaError);
    expect((error as Error).message).to.not.include("\n");
  });

  it("commits the writes of one turn in one transaction, each settling on its own", async () => {
    const store = await openPostgresStore({ path: database.url });
    try {
      const before = store.commitCount;
      const at = "2026-12-01T10:00:00.000Z";
      const writes = await Promise.allSettled([
        store.createUser({ user: "ann", name: "Ann", passwordHash: "h", at }),
        store.createUser({ user: "ANN", name: "Ann again", passwordHash: "h", at }),
        store.createUser({ user: "bob", name: "Bob", passwordHash: "h", at }),
      ]);
      expect(store.commitCount - before).to.equal(1);
      expect(writes.map((write) => write.status)).to.deep.equal(["fulfilled", "rejected", "fulfilled"]);
      const refused = (writes[1] as PromiseRejectedResult).reason;
      expect(refused).to.be.instanceOf(StoreError);
      expect((refused as StoreError).code).to.equal("user_exists");
      expect((await store.listUsers(undefined, 10)).users.map((user) => user.user)).to.deep.equal([
        "ann",
        "bob",
      ]);
    } finally {
      await store.close();
    }
  });

  it("answers unavailable, not a driver error, when the database goes away", async () => {
    const store = await openPostgresStore({ path: database.url });
    try {
      await database.drop();
      const error = await rejection(store.findUser("ann"));
      expect(error).to.be.instanceOf(StoreError);
      expect((error as StoreError).code).to.equal("unavailable");
      const write = await rejection(
        store.createUser({ user: "ann", name: "Ann", passwordHash: "h", at: "2026-12-01T10:00:00.000Z" }),
      );
      expect((write as StoreError).code).to.equal("unavailable");
    } finally {
      await store.close();
    }
  });
});

describe("PgStore: several nodes on one database", () => {
  let database: TestDatabase;
  let nodes: PgStore[];

  beforeEach(async () => {
    database = await createTestDatabase();
    nodes = [];
  });

  afterEach(async () => {
    for (const node of nodes) await node.close();
    await database.drop();
  });

  async function node(): Promise<{ store: PgStore; heard: LiveEvent[]; hear(count: number): Promise<void> }> {
    const store = await openPostgresStore({ path: database.url });
    nodes.push(store);
    const heard: LiveEvent[] = [];
    const waiters: Array<{ count: number; resolve: () => void }> = [];
    store.onNewEvents((events) => {
      heard.push(...events);
      for (const waiter of waiters.filter((w) => heard.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
    const hear = (count: number) =>
      heard.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve }));
    return { store, heard, hear };
  }

  const at = "2026-12-01T10:00:00.000Z";

  it("tells each node of every node's events, with their users, in seq order", async () => {
    const a = await node();
    const b = await node();
    const ann = await a.store.createUser({ user: "ann", name: "Ann", passwordHash: "h", at });
    const bob = await b.store.createUser({ user: "bob", name: "Bob", passwordHash: "h", at });
    const annPhone = (await a.store.attachDevice(ann.id, "phone", at, 10)).device;
    const bobPhone = (await b.store.attachDevice(bob.id, "phone", at, 10)).device;
    const room = await b.store.createRoom("#lab", bob.id, [ann.id], at);
    // Bob writes on node B, then Ann on node A: A hears B's events before its own.
    await b.store.enqueueMessage({
      senderId: bob.id,
      senderDeviceId: bobPhone.id,
      to: "ann",
      cid: "b1",
      text: "hi",
      normalizedText: "hi",
      at,
      maxPending: 100,
    });
    await b.store.enqueueMessage({
      senderId: bob.id,
      senderDeviceId: bobPhone.id,
      to: "#lab",
      cid: "b2",
      text: "all",
      normalizedText: "all",
      at,
      maxPending: 100,
    });
    await a.store.enqueueMessage({
      senderId: ann.id,
      senderDeviceId: annPhone.id,
      to: "bob",
      cid: "a1",
      text: "hello",
      normalizedText: "hello",
      at,
      maxPending: 100,
    });
    await a.hear(4);
    await b.hear(4);
    for (const { heard } of [a, b]) {
      expect(heard.map((live) => live.event.seq)).to.deep.equal([1, 2, 3, 4]);
      expect(heard.map((live) => [live.event.ev, [...live.userIds].sort()])).to.deep.equal([
        ["room", [ann.id, bob.id].sort()],
        ["message", [ann.id]],
        ["message", [ann.id, bob.id].sort()],
        ["message", [bob.id]],
      ]);
      expect(heard[2]!.skipDeviceId).to.equal(bobPhone.id);
      expect(heard[2]!.event).to.deep.include({ from: "bob", to: room.name, text: "all" });
    }
  });

  it("catches up by reading, without a notification", async () => {
    const a = await node();
    const b = await node();
    const ann = await b.store.createUser({ user: "ann", name: "Ann", passwordHash: "h", at });
    const bob = await b.store.createUser({ user: "bob", name: "Bob", passwordHash: "h", at });
    const bobPhone = (await b.store.attachDevice(bob.id, "phone", at, 10)).device;
    // Written behind the stores' backs, with no NOTIFY: only the catch-up read finds it.
    const pool = new pg.Pool({ connectionString: database.url });
    try {
      await pool.query(
        `INSERT INTO messages (sender_id, sender_device_id, recipient_id, cid, text, status, created_at)
         VALUES ($1, $2, $3, 'x', 'quiet', 'sent', $4)`,
        [bob.id, bobPhone.id, ann.id, at],
      );
      await pool.query(
        `INSERT INTO inbox_events (user_id, seq, kind, message_id, created_at)
         SELECT $1, 1, 'message', max(id), $2 FROM messages`,
        [ann.id, at],
      );
      await pool.query("UPDATE store_meta SET last_seq = 1");
    } finally {
      await pool.end();
    }
    await a.hear(1);
    expect(a.heard[0]!.event).to.deep.include({
      ev: "message",
      seq: 1,
      from: "bob",
      to: "ann",
      text: "quiet",
    });
  });

  it("a starting node leaves other nodes' devices online, and reaps a node that stopped heartbeating", async () => {
    const a = await node();
    const b = await node();
    const heard: ClusterEvent[] = [];
    let told: (() => void) | undefined;
    b.store.onCluster((event) => {
      heard.push(event);
      told?.();
    });
    const until = (done: () => boolean) =>
      done() ? Promise.resolve() : new Promise<void>((resolve) => (told = () => done() && resolve()));
    const ann = await a.store.createUser({ user: "ann", name: "Ann", passwordHash: "h", at });
    const phone = (await a.store.attachDevice(ann.id, "phone", at, 10)).device;
    await until(() => heard.some((e) => e.kind === "presence" && e.online));
    expect(await b.store.onlineUserIds()).to.deep.equal([ann.id]);

    // A third node starts: ann, on a live node, stays online.
    const c = await node();
    await c.store.resetPresence();
    expect((await c.store.listDevices(ann.id)).map((d) => d.online)).to.deep.equal([true]);

    // Node a stops heartbeating (as if killed): the next node to look reaps it.
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(
        "UPDATE nodes SET heartbeat_at = now() - interval '1 hour' WHERE id IN (SELECT node_id FROM device_sessions)",
      );
    } finally {
      await client.end();
    }
    await b.store.resetPresence();
    await until(() => heard.some((e) => e.kind === "presence" && !e.online));
    expect(heard.flatMap((e) => (e.kind === "presence" ? [[e.userId, e.user, e.online]] : []))).to.deep.equal(
      [
        [ann.id, "ann", true],
        [ann.id, "ann", false],
      ],
    );
    expect((await b.store.listDevices(ann.id)).find((d) => d.id === phone.id)?.online).to.equal(false);
    expect(await b.store.onlineUserIds()).to.deep.equal([]);
  });

  it("takes a device's session over from another node, telling that node", async () => {
    const a = await node();
    const b = await node();
    const replaced: number[] = [];
    let told: (() => void) | undefined;
    a.store.onCluster((event) => {
      if (event.kind === "replaced") replaced.push(event.deviceId);
      told?.();
    });
    const ann = await a.store.createUser({ user: "ann", name: "Ann", passwordHash: "h", at });
    const phone = (await a.store.attachDevice(ann.id, "phone", at, 10)).device;
    await b.store.attachDevice(ann.id, "phone", at, 10);
    if (replaced.length === 0)
      await new Promise<void>((resolve) => (told = () => replaced.length > 0 && resolve()));
    expect(replaced).to.deep.equal([phone.id]);
    // Node a's log-out of the device it lost leaves it online: node b holds it.
    await a.store.detachDevice(phone.id, at);
    expect((await a.store.listDevices(ann.id)).map((d) => d.online)).to.deep.equal([true]);
  });

  it("counts log-in attempts per key in a window every node shares", async () => {
    const a = await node();
    const b = await node();
    expect(await a.store.countLoginAttempt("a:10.0.0.1")).to.equal(1);
    expect(await b.store.countLoginAttempt("a:10.0.0.1")).to.equal(2);
    await a.store.forgiveLoginAttempt("a:10.0.0.1");
    expect(await b.store.countLoginAttempt("a:10.0.0.1")).to.equal(2);
    expect(await b.store.countLoginAttempt("u:ann")).to.equal(1);
  });
});
