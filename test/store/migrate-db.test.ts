// `parley-server migrate-db` (the built command, as a child process): a SQLite database filled
// through a real server is copied into a fresh PostgreSQL database, and a server started on that
// database serves the same accounts, inboxes, positions, rooms and history over the protocol.

import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import { Kysely, SqliteDialect } from "kysely";
import pg from "pg";
import { migrations } from "../../migrations/index.js";
import { migrateToLatest } from "../../server/store/sqlite/migrate.js";
import { createTestDatabase, type TestDatabase } from "../helpers/pg-database.js";
import { runServer, type ServerProcess, spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { type Frame, loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

const isMessage = (id?: number) => (e: Frame) => e.ev === "message" && (id === undefined || e.id === id);

function migrateDb(from: string, to: string) {
  return runServer(["migrate-db", "--from", from, "--to", to]);
}

async function query(url: string, text: string): Promise<Frame[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

async function countUsers(url: string): Promise<number | "no table"> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const table = await client.query("SELECT to_regclass('users')::text AS t");
    if (table.rows[0].t === null) return "no table";
    return Number((await client.query("SELECT count(*) AS n FROM users")).rows[0].n);
  } finally {
    await client.end();
  }
}

describe("migrate-db: SQLite to PostgreSQL (integration)", function () {
  this.timeout(60_000);
  let temp: ReturnType<typeof makeTempDir>;
  let database: TestDatabase;
  let server: TestServer | undefined;
  let pgServer: ServerProcess | undefined;
  const port = () => (server ?? pgServer)!.port;
  const clients: TestClient[] = [];

  const login = async (user: string, device?: string) => {
    const client = await loggedIn(port(), user, PASSWORD, device);
    clients.push(client);
    return client;
  };
  /** Logs in an existing account (never registers), answering the login response too. */
  const loginOnly = async (user: string, device?: string): Promise<[TestClient, Frame]> => {
    const client = await TestClient.connect(port());
    clients.push(client);
    const response = await client.request(
      "login",
      device === undefined ? { user, password: PASSWORD } : { user, password: PASSWORD, device },
    );
    return [client, response];
  };
  const stopServer = async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
    await pgServer?.stop();
    pgServer = undefined;
  };

  beforeEach(async () => {
    temp = makeTempDir();
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await stopServer();
    await database.drop();
    temp.remove();
  });

  it("copies users, inboxes, device positions, rooms and history; a server on PostgreSQL carries on from them", async () => {
    // --- Filled through a real server on SQLite.
    server = await startTestServer({}, { dir: temp.dir });
    const sqliteFile = server.dbPath;
    const laptop = await login("alice", "laptop");
    const phone = await login("alice", "phone");
    const bob = await login("bob");
    const carolSetup = await login("carol");
    carolSetup.destroy();
    const dave = await login("dave");

    // Delivered direct messages: bob acknowledges, alice gets the receipts.
    const toBob: number[] = [];
    for (let i = 0; i < 3; i++)
      toBob.push((await laptop.ok("send", { to: "bob", text: `b${i}`, cid: `b${i}` })).id);
    await bob.collectMessages(3);
    for (const id of toBob)
      await laptop.expectEvent((e) => e.ev === "receipt" && e.status === "delivered" && e.id === id);
    await bob.ok("read", { with: "alice", upTo: toBob[1] });

    // Pending: carol is offline.
    const toCarol: Frame[] = [];
    for (let i = 0; i < 2; i++)
      toCarol.push(await laptop.ok("send", { to: "carol", text: `c${i}`, cid: `c${i}` }));

    // A room with members and messages.
    await laptop.ok("room_create", { room: "#Lab", members: ["bob", "carol"] });
    const inRoom: Frame[] = [];
    inRoom.push(await laptop.ok("send", { to: "#Lab", text: "hello lab", cid: "r0" }));
    inRoom.push(await bob.ok("send", { to: "#Lab", text: "hi alice", cid: "r1" }));
    inRoom.push(await laptop.ok("send", { to: "#lab", text: "bye lab", cid: "r2" }));

    // Two devices at different positions: the laptop acknowledges bob's message, the phone does not.
    const fromBob = await bob.ok("send", { to: "alice", text: "to both devices", cid: "d0" });
    const onLaptop = await laptop.expectEvent(isMessage(fromBob.id));
    const onPhone = await phone.expectEvent(isMessage(fromBob.id));
    laptop.ack(onLaptop.seq);
    await laptop.roundtrip();
    await bob.expectEvent((e) => e.ev === "receipt" && e.status === "delivered" && e.id === fromBob.id);

    // A deleted user, who wrote first.
    const fromDave = await dave.ok("send", { to: "bob", text: "goodbye", cid: "x" });
    await bob.expectEvent(isMessage(fromDave.id));
    await dave.ok("unregister", { password: PASSWORD });

    const before = {
      aliceBob: (await laptop.ok("history", { with: "bob" })).messages,
      aliceCarol: (await laptop.ok("history", { with: "carol" })).messages,
      lab: (await bob.ok("history", { with: "#lab" })).messages,
      rooms: (await bob.ok("rooms")).rooms,
      members: (await laptop.ok("room_members", { room: "#Lab" })).members,
      users: (await bob.ok("users")).users.map((u: Frame) => [u.user, u.name, u.lastSeen]),
    };
    expect(before.aliceBob).to.have.length(4);
    expect(before.lab).to.have.length(3);
    const maxOldId = Math.max(...toBob, ...toCarol.map((s) => s.id), ...inRoom.map((s) => s.id), fromDave.id);
    await stopServer();

    // --- The command.
    const migrated = await migrateDb(sqliteFile, database.url);
    expect(migrated.stderr).to.equal("");
    expect(migrated.code).to.equal(0);
    const lines = migrated.stdout.trimEnd().split("\n");
    expect(lines.slice(0, -1)).to.deep.equal([
      "users: 4 rows",
      // alice laptop and phone, bob, carol: dave's device went with his account.
      "devices: 4 rows",
      "rooms: 1 row",
      "room_members: 3 rows",
      `messages: ${maxOldId} rows`,
      lines[5],
      lines[6],
    ]);
    expect(lines[5]).to.match(/^inbox_events: \d+ rows$/);
    expect(lines[6]).to.match(/^room_events: \d+ rows$/);
    expect(lines.at(-1)).to.match(
      /^copied \d+ rows from .* to postgres:\/\/.* in \d+\.\d s \(last seq \d+\)$/,
    );

    // What the SQLite store keeps in memory is in rows here: each user's undelivered direct
    // messages (bob has not acknowledged dave's; carol's two wait), and nobody is online.
    expect(
      await query(database.url, "SELECT name, undelivered::int AS n, online FROM users ORDER BY id"),
    ).to.deep.equal([
      { name: "alice", n: 0, online: 0 },
      { name: "bob", n: 1, online: 0 },
      { name: "carol", n: 2, online: 0 },
      { name: "dave", n: 0, online: 0 },
    ]);

    // --- A server (the built one, a child process) on the PostgreSQL database.
    pgServer = await spawnServer(database.url, ["--admin-socket", path.join(temp.dir, "pg-admin.sock")]);

    // Everyone logs in with their password, with the same pending counts per device.
    const [laptop2, laptopLogin] = await loginOnly("alice", "laptop");
    const [phone2, phoneLogin] = await loginOnly("alice", "phone");
    const [bob2, bobLogin] = await loginOnly("bob");
    expect([laptopLogin, phoneLogin, bobLogin].map((r) => r.error ?? r.ok)).to.deep.equal([true, true, true]);
    expect(laptopLogin.pending).to.equal(0);
    expect(phoneLogin.pending).to.be.greaterThan(0);
    // The deleted account stays deleted.
    const [, daveLogin] = await loginOnly("dave");
    expect(daveLogin.error.code).to.equal("bad_credentials");

    // History, rooms and members as they were.
    expect((await laptop2.ok("history", { with: "bob" })).messages).to.deep.equal(before.aliceBob);
    expect((await laptop2.ok("history", { with: "carol" })).messages).to.deep.equal(before.aliceCarol);
    expect((await bob2.ok("history", { with: "#lab" })).messages).to.deep.equal(before.lab);
    expect((await bob2.ok("rooms")).rooms).to.deep.equal(before.rooms);
    expect((await laptop2.ok("room_members", { room: "#lab" })).members).to.deep.equal(before.members);
    expect(
      (await bob2.ok("users")).users
        .map((u: Frame) => [u.user, u.name, u.lastSeen])
        .filter((u: string[]) => u[0] !== "alice" && u[0] !== "bob"),
    ).to.deep.equal(before.users.filter((u: string[]) => u[0] !== "alice" && u[0] !== "bob"));

    // The phone's position was kept: bob's message, never acknowledged there, comes again.
    expect((await phone2.expectEvent(isMessage(fromBob.id))).seq).to.equal(onPhone.seq);

    // Carol's pending messages are delivered in order, then the room's, in seq order.
    const [carol, carolLogin] = await loginOnly("carol");
    expect(carolLogin.ok).to.equal(true);
    const forCarol = await carol.collectMessages(5);
    expect(forCarol.map((m) => [m.id, m.from, m.to, m.text])).to.deep.equal([
      [toCarol[0]!.id, "alice", "carol", "c0"],
      [toCarol[1]!.id, "alice", "carol", "c1"],
      [inRoom[0]!.id, "alice", "#Lab", "hello lab"],
      [inRoom[1]!.id, "bob", "#Lab", "hi alice"],
      [inRoom[2]!.id, "alice", "#Lab", "bye lab"],
    ]);
    for (const sent of toCarol)
      await laptop2.expectEvent((e) => e.ev === "receipt" && e.status === "delivered" && e.id === sent.id);

    // New sends get ids (and seqs) above the old ones.
    const newDirect = await laptop2.ok("send", { to: "bob", text: "after the move", cid: "n0" });
    const newRoom = await carol.ok("send", { to: "#lab", text: "me too", cid: "n1" });
    expect(newDirect.id).to.be.greaterThan(maxOldId);
    expect(newRoom.id).to.be.greaterThan(newDirect.id);
    const seen = await bob2.expectEvent(isMessage(newDirect.id));
    expect(seen.seq).to.be.greaterThan(onPhone.seq);
    expect((await bob2.expectEvent(isMessage(newRoom.id))).text).to.equal("me too");
    // A cid already used before the move is answered, not stored again.
    const resent = await laptop2.ok("send", { to: "bob", text: "b0", cid: "b0" });
    expect(resent.id).to.equal(toBob[0]);
    // A new account gets a fresh id, and the deleted one's name can be registered again.
    const newcomer = await login("dave");
    await newcomer.ok("send", { to: "bob", text: "new dave", cid: "x" });

    // --- Again, into the same (now non-empty) database: refused, nothing changed.
    await stopServer();
    const again = await migrateDb(sqliteFile, database.url);
    expect(again.code).to.equal(1);
    expect(again.stdout).to.equal("");
    expect(again.stderr).to.match(
      /^parley-server migrate-db: the target database is not empty \(it has 5 users\)[^\n]*\n$/,
    );
  });

  it("refuses while a server holds the SQLite file, and leaves the target untouched", async () => {
    server = await startTestServer({}, { dir: temp.dir });
    await login("alice");
    const refused = await migrateDb(server.dbPath, database.url);
    expect(refused.code).to.equal(1);
    expect(refused.stdout).to.equal("");
    expect(refused.stderr).to.match(
      /^parley-server migrate-db: .* is in use: another parley-server [^\n]*\n$/,
    );
    expect(await countUsers(database.url)).to.equal("no table");
  });

  it("refuses a missing file with exit 1 and bad arguments with exit 2", async () => {
    const missing = await migrateDb(path.join(temp.dir, "none.db"), database.url);
    expect(missing).to.deep.include({ code: 1, stdout: "" });
    expect(missing.stderr).to.match(/^parley-server migrate-db: .*none\.db: no such file\n$/);
    const noTarget = await runServer(["migrate-db", "--from", path.join(temp.dir, "none.db")]);
    expect(noTarget).to.deep.include({ code: 2, stdout: "" });
    expect(noTarget.stderr).to.match(/--to postgres:\/\/… is required/);
    const notPostgres = await migrateDb(path.join(temp.dir, "none.db"), path.join(temp.dir, "other.db"));
    expect(notPostgres.code).to.equal(2);
  });

  it("refuses a SQLite database not at the latest schema, with one line saying to start the server once", async () => {
    const file = path.join(temp.dir, "old.db");
    const db = new Database(file);
    const older = Object.fromEntries(Object.entries(migrations).slice(0, -1));
    await migrateToLatest(new Kysely({ dialect: new SqliteDialect({ database: db }) }), older);
    db.close();
    const refused = await migrateDb(file, database.url);
    expect(refused).to.deep.include({ code: 1, stdout: "" });
    expect(refused.stderr).to.match(
      /^parley-server migrate-db: .*old\.db is not at the latest schema \(migration 2026_12_01_003_positions_devices_rooms not applied\); start parley-server on it once[^\n]*\n$/,
    );
    expect(await countUsers(database.url)).to.equal("no table");
  });
});
