// The server and a standalone normalizer as separate processes: while the normalizer is down,
// sends are stored and answered but nothing is delivered; when it is back, everything is,
// normalized and in order — also across a restart of the server.

import path from "node:path";
import { expect } from "chai";
import { openStore } from "../../server/store/open-store.js";
import {
  type NormalizerProcess,
  type ServerProcess,
  spawnNormalizer,
  spawnServer,
} from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer } from "../helpers/test-server.js";

const OUTAGE_LINE = (line: Record<string, unknown>) =>
  line.level === "warn" && String(line.msg).startsWith("normalizer unavailable");
// The stage retries with backoff capped at 5 s; leave room for one full wait.
const RECOVERY_TIMEOUT_MS = 15_000;

describe("normalizer outage (integration, child processes)", () => {
  let temp: ReturnType<typeof makeTempDir>;
  let normalizer: NormalizerProcess | undefined;
  let server: ServerProcess | undefined;
  const clients: TestClient[] = [];

  beforeEach(() => {
    temp = makeTempDir();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop("SIGKILL");
    await normalizer?.stop("SIGKILL");
    temp.remove();
  });

  const texts = ["  first\t\tone ", "second\n\nline", "\u3000third\u00a0 one", "fourth  ", "fifth"];
  const normalized = ["first one", "second line", "third one", "fourth", "fifth"];

  async function sendWhileDown(port: number): Promise<number[]> {
    const alice = await loggedIn(port, "alice");
    clients.push(alice);
    const ids: number[] = [];
    for (const [i, text] of texts.entries())
      ids.push((await alice.ok("send", { to: "bob", text, cid: `c${i}` })).id);
    return ids;
  }

  it("holds messages while the normalizer is down and delivers them, normalized and in order, when it is back", async () => {
    normalizer = await spawnNormalizer();
    const dbPath = path.join(temp.dir, "parley.db");
    server = await spawnServer(dbPath, ["--normalizer-url", normalizer.url]);
    const bob = await loggedIn(server.port, "bob");
    clients.push(bob);
    const port = normalizer.port;
    expect(await normalizer.stop("SIGTERM")).to.equal(0);

    const ids = await sendWhileDown(server.port);
    await server.waitForLine(OUTAGE_LINE);
    await bob.roundtrip();
    expect(bob.events.filter((e) => e.ev === "message")).to.deep.equal([]);

    normalizer = await spawnNormalizer(port);
    const messages = await bob.collectMessages(texts.length, { timeoutMs: RECOVERY_TIMEOUT_MS });
    expect(messages.map((m) => m.id)).to.deep.equal(ids);
    expect(messages.map((m) => m.text)).to.deep.equal(normalized);
    const { messages: history } = await bob.ok("history", { with: "alice" });
    expect(history.map((m: { text: string }) => m.text)).to.deep.equal(normalized);
    // One line for the outage, however many messages and retries it spanned.
    expect(server.lines.filter(OUTAGE_LINE)).to.have.length(1);
    await server.waitForLine((line) => line.msg === "normalization resumed");
  });

  it("takes waiting messages up again after the server restarts", async () => {
    normalizer = await spawnNormalizer();
    const dbPath = path.join(temp.dir, "parley.db");
    server = await spawnServer(dbPath, ["--normalizer-url", normalizer.url]);
    const registrar = await TestClient.connect(server.port);
    await registrar.ok("register", { user: "bob", password: PASSWORD });
    registrar.destroy();
    const port = normalizer.port;
    await normalizer.stop("SIGTERM");

    const ids = await sendWhileDown(server.port);
    await server.waitForLine(OUTAGE_LINE);
    expect(await server.stop("SIGTERM")).to.equal(0);

    normalizer = await spawnNormalizer(port);
    server = await spawnServer(dbPath, ["--normalizer-url", normalizer.url]);
    const bob = await loggedIn(server.port, "bob");
    clients.push(bob);
    const messages = await bob.collectMessages(texts.length, { timeoutMs: RECOVERY_TIMEOUT_MS });
    expect(messages.map((m) => m.id)).to.deep.equal(ids);
    expect(messages.map((m) => m.text)).to.deep.equal(normalized);
  });
});

describe("a text the normalizer can never take (integration)", () => {
  it("is held, logged, and does not hold up the messages behind it", async () => {
    const temp = makeTempDir();
    let server = await startTestServer({}, { dir: temp.dir });
    const alice = await loggedIn(server.port, "alice");
    const bob = await loggedIn(server.port, "bob");
    alice.destroy();
    bob.destroy();
    await server.stop();

    // Stored by an older server that let U+FFFE through: XML cannot carry it to the normalizer.
    const store = await openStore({ path: path.join(temp.dir, "parley.db") });
    const aliceRecord = (await store.findUser("alice"))!;
    const [aliceDevice] = await store.listDevices(aliceRecord.id);
    const at = new Date().toISOString();
    const send = (cid: string, text: string) =>
      store.enqueueMessage({
        senderId: aliceRecord.id,
        senderDeviceId: aliceDevice!.id,
        to: "bob",
        cid,
        text,
        at,
        maxPending: 100,
      });
    const stuck = await send("stuck", "not \ufffe carried");
    const fine = await send("fine", "  carried   fine ");
    await store.close();

    server = await startTestServer({}, { dir: temp.dir });
    try {
      const again = await loggedIn(server.port, "bob");
      const message = await again.expectEvent((e) => e.ev === "message");
      expect(message).to.deep.include({ id: fine.id, text: "carried fine" });
      const held = await server.waitForLog("message held: it cannot be normalized");
      expect(held.id).to.equal(stuck.id);
      const { messages } = await again.ok("history", { with: "alice" });
      expect(messages.map((m: { id: number }) => m.id)).to.deep.equal([fine.id]);
      again.destroy();
    } finally {
      await server.stop();
      temp.remove();
    }
  });
});
