// The server as a child process: clean restarts, kill -9, shutdown and the command line.

import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import { sendUntilKilled } from "../helpers/send-until-killed.js";
import { runServer, type ServerProcess, spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";

describe("restarts and crashes (integration, child process)", () => {
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

  beforeEach(() => {
    temp = makeTempDir();
    dbPath = path.join(temp.dir, "data", "parley.db");
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    if (running !== undefined && running.child.exitCode === null) await running.stop("SIGKILL");
    running = undefined;
    temp.remove();
  });

  async function registerBob(): Promise<void> {
    const bob = await TestClient.connect(running!.port);
    await bob.ok("register", { user: "bob", password: PASSWORD });
    bob.destroy();
  }

  it("creates the database folder and file (mode 0600), and on SIGTERM tells clients and exits 0", async () => {
    await start();
    expect(fs.statSync(dbPath).mode & 0o777).to.equal(0o600);
    const alice = await connect("alice");
    const code = running!.stop("SIGTERM");
    await alice.expectEvent((e) => e.ev === "shutdown");
    await alice.closed;
    expect(await code).to.equal(0);
    expect(running!.lines.some((line) => line.msg === "stopped")).to.equal(true);
  });

  it("delivers messages stored before a clean restart, in order, once each", async () => {
    await start();
    const alice = await connect("alice");
    await registerBob();
    const ids: number[] = [];
    for (let i = 0; i < 30; i++)
      ids.push((await alice.ok("send", { to: "bob", text: `before ${i}`, cid: `c${i}` })).id);
    expect(await running!.stop("SIGTERM")).to.equal(0);

    await start();
    const bob = await connect("bob");
    const messages = await bob.collectMessages(30);
    expect(messages.map((m) => m.id)).to.deep.equal(ids);
    await bob.roundtrip();
    expect(bob.events.filter((e) => e.ev === "message")).to.deep.equal([]);
  });

  it("loses no acknowledged send when killed with SIGKILL mid-stream", async () => {
    await start();
    const alice = await connect("alice");
    await registerBob();
    const acknowledged = await sendUntilKilled(alice, () => running!.stop("SIGKILL"), {
      to: "bob",
      total: 5000,
      killAfter: 300,
    });

    await start();
    const bob = await connect("bob");
    const seen = new Set<number>();
    const received: number[] = [];
    // Everything acknowledged must arrive; a send stored but not yet answered may arrive too.
    while (!acknowledged.every((id) => seen.has(id))) {
      const message = await bob.expectEvent((e) => e.ev === "message", 10_000);
      bob.ack(message.seq);
      expect(seen.has(message.id), `id ${message.id} delivered twice`).to.equal(false);
      seen.add(message.id);
      received.push(message.id);
    }
    expect(received).to.deep.equal([...received].sort((a, b) => a - b));
  });

  it("recognises a resent cid after a restart", async () => {
    await start();
    const alice = await connect("alice");
    await registerBob();
    const first = await alice.ok("send", { to: "bob", text: "once", cid: "same" });
    await running!.stop("SIGKILL");
    await start();
    const again = await connect("alice");
    expect(await again.ok("send", { to: "bob", text: "once", cid: "same" })).to.deep.include({
      id: first.id,
      at: first.at,
      duplicate: true,
    });
  });

  it("exits 2 with one line for a bad flag, and prints --help", async () => {
    const bad = await runServer(["--port", "seven"]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr.trim().split("\n")).to.have.length(1);
    expect(bad.stderr).to.include("--port (or PARLEY_PORT) must be a whole number");
    const unknown = await runServer(["--colour"]);
    expect(unknown.code).to.equal(2);
    const help = await runServer(["--help"]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include("--max-in-flight");
  });

  it("refuses, with one line and exit 1, a database newer than the code, and leaves it alone", async () => {
    await start();
    await running!.stop("SIGTERM");
    const db = new Database(dbPath);
    db.prepare("INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)").run(
      "2999_01_01_001_future",
      new Date().toISOString(),
    );
    db.close();
    const before = fs.readFileSync(dbPath);
    const result = await runServer(["--port", "0", "--db", dbPath]);
    expect(result.code).to.equal(1);
    expect(result.stderr.trim().split("\n")).to.have.length(1);
    expect(result.stderr).to.include("newer");
    expect(fs.readFileSync(dbPath).equals(before)).to.equal(true);
  });

  it("refuses a file that is not a database without overwriting it", async () => {
    fs.mkdirSync(path.dirname(dbPath), { recursive: true });
    fs.writeFileSync(dbPath, "this is not a database, it is a shopping list\n".repeat(100));
    const before = fs.readFileSync(dbPath);
    const result = await runServer(["--port", "0", "--db", dbPath]);
    expect(result.code).to.equal(1);
    expect(result.stderr.trim().split("\n")).to.have.length(1);
    expect(fs.readFileSync(dbPath).equals(before)).to.equal(true);
  });
});
