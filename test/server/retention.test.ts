// Retention of delivered messages and the free disk space floor, against a real server.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { BACKENDS } from "../helpers/backends.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

const MIB = 1024 * 1024;
const LOW = "disk space below the floor; refusing writes that grow the database";
const BACK = "disk space back above the floor; accepting writes again";

for (const backend of BACKENDS) {
  describe(`retention (integration, ${backend})`, () => {
    let server: TestServer;
    const clients: TestClient[] = [];

    afterEach(async () => {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
    });

    it("deletes a delivered message once everyone acknowledged it; history shows what remains", async () => {
      // A retention of 50 ms: the sweeper runs every 10 ms.
      server = await startTestServer({ retentionMs: 50 }, { backend });
      const alice = await loggedIn(server.port, "alice");
      const bob = await loggedIn(server.port, "bob");
      clients.push(alice, bob);
      const old = await alice.ok("send", { to: "bob", text: "old", cid: "1" });
      const young = await alice.ok("send", { to: "bob", text: "young", cid: "2" });
      const [first, second] = await bob.collectMessages(2);
      bob.ack(second!.seq as number);
      await alice.expectEvent((e) => e.ev === "receipt" && e.id === old.id);
      const last = await alice.expectEvent((e) => e.ev === "receipt" && e.id === young.id);
      alice.ack(last.seq as number);
      expect(first!.id).to.equal(old.id);

      const line = await server.waitForLog("retention deleted delivered messages");
      expect(line.deleted).to.equal(1);
      const { messages } = await alice.ok("history", { with: "bob" });
      // The newest message always stays.
      expect(messages.map((m: { text: string }) => m.text)).to.deep.equal(["young"]);
    });
  });
}

describe("free disk space floor (integration, sqlite on a small tmpfs)", () => {
  let mountPoint: string | undefined;
  let server: TestServer | undefined;
  const clients: TestClient[] = [];

  before(() => {
    // A real small file system, so that no reading is faked; mounting one needs root.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-tmpfs-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=32m", "tmpfs", dir], { stdio: "ignore" });
      mountPoint = dir;
    } catch (error) {
      fs.rmdirSync(dir);
      // Not skipped: a test that does not run proves nothing. CI runs as root.
      throw new Error(`this test mounts a 32 MiB tmpfs and needs root: ${(error as Error).message}`);
    }
  });

  after(() => {
    if (mountPoint === undefined) return;
    execFileSync("umount", [mountPoint]);
    fs.rmdirSync(mountPoint);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
  });

  it("refuses send, register and room creation with unavailable while free space is below the floor, and says so once each way", async () => {
    server = await startTestServer(
      { minFreeDiskBytes: 16 * MIB },
      { dir: mountPoint!, diskCheckIntervalMs: 20 },
    );
    const alice = await loggedIn(server.port, "alice");
    clients.push(alice);
    await alice.ok("send", { to: "alice", text: "before", cid: "1" });

    const filler = path.join(mountPoint!, "filler");
    const stats = fs.statfsSync(mountPoint!);
    fs.writeFileSync(filler, Buffer.alloc(stats.bavail * stats.bsize - 8 * MIB));
    await server.waitForLog(LOW);

    const refused = await alice.request("send", { to: "alice", text: "during", cid: "2" });
    expect(refused).to.deep.include({ ok: false });
    expect(refused.error).to.deep.include({ code: "unavailable" });
    expect(refused.error.message).to.match(/low on disk space/);
    const room = await alice.request("room_create", { room: "#talk" });
    expect(room.error).to.deep.include({ code: "unavailable" });
    const newcomer = await TestClient.connect(server.port);
    clients.push(newcomer);
    const registered = await newcomer.request("register", { user: "carol", password: PASSWORD });
    expect(registered.error).to.deep.include({ code: "unavailable" });
    // Reading still works.
    const { messages } = await alice.ok("history", { with: "alice" });
    expect(messages.map((m: { text: string }) => m.text)).to.deep.equal(["before"]);

    fs.rmSync(filler);
    await server.waitForLog(BACK);
    await alice.ok("send", { to: "alice", text: "after", cid: "2" });
    expect(server.logLines.filter((l) => l.msg === LOW)).to.have.length(1);
    expect(server.logLines.filter((l) => l.msg === BACK)).to.have.length(1);
  });
});
