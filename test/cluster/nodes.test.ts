// Several Parley processes on one PostgreSQL database serve one community: users on different
// nodes talk to each other, directly and in rooms, and a node killed under load loses nothing
// that was acknowledged. Real server processes, each on port 0; a database of its own per test.

import { expect } from "chai";
import { createTestDatabase, type TestDatabase } from "../helpers/pg-database.js";
import { type ServerProcess, spawnNodes } from "../helpers/server-process.js";
import { loggedIn, type TestClient } from "../helpers/test-client.js";

describe("several nodes on one PostgreSQL database (integration, child processes)", () => {
  let database: TestDatabase;
  let nodes: ServerProcess[];
  let clients: TestClient[];

  const login = async (node: ServerProcess, user: string, device?: string) => {
    const client = await loggedIn(node.port, user, undefined, device);
    clients.push(client);
    return client;
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

  it("delivers direct and room messages between users on three nodes", async () => {
    const ann = await login(nodes[0]!, "ann");
    const bob = await login(nodes[1]!, "bob");
    const cat = await login(nodes[2]!, "cat");

    await ann.ok("send", { to: "bob", text: "hi bob", cid: "a1" });
    const toBob = await bob.expectEvent((e) => e.ev === "message");
    expect(toBob).to.deep.include({ from: "ann", to: "bob", text: "hi bob" });
    bob.ack(toBob.seq);

    await cat.ok("room_create", { room: "#lab", members: ["ann", "bob"] });
    await bob.ok("send", { to: "#lab", text: "hello lab", cid: "b1" });
    for (const member of [ann, cat]) {
      const event = await member.expectEvent((e) => e.ev === "message" && e.to === "#lab");
      expect(event).to.deep.include({ from: "bob", text: "hello lab" });
    }
    // A receipt crosses nodes too: bob's ack on node 2 tells ann on node 1.
    const receipt = await ann.expectEvent((e) => e.ev === "receipt");
    expect(receipt).to.deep.include({ to: "bob", status: "delivered" });
  });

  it("gives a message to both devices of a user logged in on two nodes", async () => {
    const phone = await login(nodes[0]!, "bob", "phone");
    const laptop = await login(nodes[1]!, "bob", "laptop");
    const ann = await login(nodes[2]!, "ann");
    await ann.ok("send", { to: "bob", text: "to both", cid: "a1" });
    for (const device of [phone, laptop]) {
      expect(await device.expectEvent((e) => e.ev === "message")).to.deep.include({ text: "to both" });
    }
  });

  it("kill -9 of a node under load: every acknowledged message reaches its recipient once, in order", async function () {
    // About 10 ms a send on PostgreSQL on this shared two-core machine.
    this.timeout(120_000);
    const bob = await login(nodes[1]!, "bob");
    const ann = await login(nodes[0]!, "ann");
    const killed = nodes.shift()!;
    const wave = 200;
    const total = 2 * wave;
    const acknowledged: number[] = [];
    const answers: Array<Promise<void>> = [];
    let dead: Promise<number | string> | undefined;
    const send = (i: number) => {
      const rid = ann.fire("send", { to: "bob", text: `crash ${i}`, cid: `k${i}` });
      answers.push(
        ann.waitForResponse(rid, 60_000).then(
          (response) => {
            if (response.ok) acknowledged.push(response.id);
            // Half-way through the first wave: a second wave goes out, and the node dies under it.
            if (acknowledged.length === wave / 2 && dead === undefined) {
              for (let j = wave; j < total; j++) send(j);
              dead = new Promise((resolve) => setImmediate(() => resolve(killed.stop("SIGKILL"))));
            }
          },
          () => undefined,
        ),
      );
    };
    for (let i = 0; i < wave; i++) send(i);
    await ann.closed;
    expect(await dead).to.equal("SIGKILL");
    await Promise.all(answers);
    console.log(`      node 1 killed: ${acknowledged.length} of ${total} sends acknowledged before it died`);

    // Ann comes back on another node and sends everything again: the same cids are stored once.
    const again = await login(nodes[1]!, "ann");
    let lastRid = 0;
    for (let i = 0; i < total; i++)
      lastRid = again.fire("send", { to: "bob", text: `crash ${i}`, cid: `k${i}` });
    expect((await again.waitForResponse(lastRid, 60_000)).ok).to.equal(true);
    const received = await bob.collectMessages(total, { timeoutMs: 30_000 });
    const ids = received.map((m) => m.id as number);
    console.log(`      bob, on node 2, received ${ids.length} messages, ${new Set(ids).size} distinct`);
    expect(new Set(ids).size).to.equal(ids.length);
    expect(received.map((m) => m.text)).to.deep.equal(Array.from({ length: total }, (_, i) => `crash ${i}`));
    const acked = new Set(acknowledged);
    expect(ids.filter((id) => acked.has(id))).to.deep.equal([...acknowledged].sort((x, y) => x - y));
  });
});
