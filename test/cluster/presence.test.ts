// Several nodes on one PostgreSQL database, as one community: who is online is the same on every
// node, a node killed with kill -9 has its users go offline everywhere within the dead-node
// timeout, a log-in on one node ends the same device's session on another, and failed log-ins
// count across the nodes. Real server processes, each on port 0; a database of its own per test.

import { expect } from "chai";
import { DEAD_NODE_MS, HEARTBEAT_MS } from "../../server/store/postgres/node-membership.js";
import { admin } from "../helpers/admin-command.js";
import { createTestDatabase, type TestDatabase } from "../helpers/pg-database.js";
import { type ServerProcess, spawnNodes } from "../helpers/server-process.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";

const WRONG = "not the password";

describe("presence, sessions and log-in throttling across nodes (integration, child processes)", () => {
  let database: TestDatabase;
  let nodes: ServerProcess[];
  let clients: TestClient[];

  const login = async (node: ServerProcess, user: string, device?: string) => {
    const client = await loggedIn(node.port, user, undefined, device);
    clients.push(client);
    return client;
  };
  const connect = async (node: ServerProcess) => {
    const client = await TestClient.connect(node.port);
    clients.push(client);
    return client;
  };
  const presence = (user: string, online: boolean) => (e: Record<string, unknown>) =>
    e.ev === "presence" && e.user === user && e.online === online;
  const onlineIn = async (client: TestClient, user: string) => {
    const listed = (await client.ok("users")).users as Array<{ user: string; online: boolean }>;
    return listed.find((entry) => entry.user === user)?.online;
  };

  beforeEach(async () => {
    database = await createTestDatabase();
    nodes = await spawnNodes(database.url, 3);
    clients = [];
  });

  afterEach(async () => {
    for (const client of clients) client.destroy();
    for (const node of nodes) await node.stop();
    await database.drop();
  });

  it("shows a user on node 1 online in `users` on node 3, and tells node 3 when they log out", async () => {
    const cat = await login(nodes[2]!, "cat");
    const ann = await login(nodes[0]!, "ann");
    await cat.expectEvent(presence("ann", true));
    expect(await onlineIn(cat, "ann")).to.equal(true);

    // A second device on node 2, then both gone: offline only with the last one.
    const laptop = await login(nodes[1]!, "ann", "laptop");
    // Each node lists both devices online, not only the one it holds.
    const devicesOnline = async (client: TestClient) =>
      Object.fromEntries(
        ((await client.ok("devices")).devices as Array<{ device: string; online: boolean }>).map((entry) => [
          entry.device,
          entry.online,
        ]),
      );
    expect(await devicesOnline(laptop)).to.deep.equal({ laptop: true, default: true });
    expect(await devicesOnline(ann)).to.deep.equal({ laptop: true, default: true });
    await ann.end();
    await laptop.roundtrip();
    expect(await onlineIn(cat, "ann")).to.equal(true);
    await laptop.end();
    await cat.expectEvent(presence("ann", false));
    expect(await onlineIn(cat, "ann")).to.equal(false);
    // Node 3 saw ann come online once, whichever devices she used.
    expect(cat.events.filter(presence("ann", true))).to.deep.equal([]);
  });

  it("`admin remove-user` on the database ends the account's sessions on every node", async () => {
    const ann = await login(nodes[0]!, "ann");
    const laptop = await login(nodes[1]!, "ann", "laptop");
    const bob = await login(nodes[2]!, "bob");
    const removed = await admin(database.url, ["remove-user", "ann"]);
    expect(removed.code, removed.stderr).to.equal(0);
    await ann.expectEvent((e) => e.ev === "session_replaced");
    await laptop.expectEvent((e) => e.ev === "session_replaced");
    await Promise.all([ann.closed, laptop.closed]);
    // Only her sessions: bob's goes on, and she cannot come back.
    await bob.roundtrip();
    const again = await connect(nodes[1]!);
    expect((await again.request("login", { user: "ann", password: PASSWORD })).error.code).to.equal(
      "bad_credentials",
    );
  });

  it(`kill -9 of a node: its users go offline on the others within ${DEAD_NODE_MS + HEARTBEAT_MS} ms`, async function () {
    this.timeout(60_000);
    const cat = await login(nodes[2]!, "cat");
    await login(nodes[0]!, "ann");
    await cat.expectEvent(presence("ann", true));
    const killed = nodes.shift()!;
    const killedAt = Date.now();
    expect(await killed.stop("SIGKILL")).to.equal("SIGKILL");
    // The deadline is the documented bound: the timeout, plus the heartbeat that notices it.
    await cat.expectEvent(presence("ann", false), DEAD_NODE_MS + HEARTBEAT_MS + 2000);
    console.log(`      ann went offline on node 3 ${Date.now() - killedAt} ms after node 1 was killed`);
    expect(await onlineIn(cat, "ann")).to.equal(false);
    // And comes back online anywhere.
    await login(nodes[0]!, "ann");
    await cat.expectEvent(presence("ann", true));
  });

  it("ends the session of a device on node 1 with session_replaced when it logs in on node 2", async () => {
    const cat = await login(nodes[2]!, "cat");
    const first = await login(nodes[0]!, "ann", "phone");
    await cat.expectEvent(presence("ann", true));
    const second = await login(nodes[1]!, "ann", "phone");
    await first.expectEvent((e) => e.ev === "session_replaced");
    await first.closed;
    await second.roundtrip();
    // Still online: the device moved, the user never left.
    expect(await onlineIn(cat, "ann")).to.equal(true);
    await cat.ok("send", { to: "ann", text: "where are you", cid: "c1" });
    expect(await second.expectEvent((e) => e.ev === "message")).to.deep.include({ text: "where are you" });
    await second.end();
    await cat.expectEvent(presence("ann", false));
  });

  it("counts failed log-ins spread over three nodes against the single-node limits", async () => {
    const registrar = await connect(nodes[0]!);
    await registrar.ok("register", { user: "alice", password: PASSWORD });
    // Per name: 10 a minute by default, whichever node is asked.
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const client = await connect(nodes[i % 3]!);
      codes.push((await client.request("login", { user: "alice", password: WRONG })).error.code);
    }
    expect(codes).to.deep.equal([...Array(10).fill("bad_credentials"), "rate_limited", "rate_limited"]);
    // Per address: 30 a minute by default; 10 are spent already, on alice.
    const more: string[] = [];
    for (let i = 0; i < 22; i++) {
      const client = await connect(nodes[i % 3]!);
      more.push((await client.request("login", { user: `nobody${i}`, password: WRONG })).error.code);
    }
    expect(more).to.deep.equal([...Array(20).fill("bad_credentials"), "rate_limited", "rate_limited"]);
  });
});
