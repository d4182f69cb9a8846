// Protocol version 2, devices: several sessions of one user, each device with its own position in
// the user's inbox. Black-box, over real sockets, against the text of shared/PROTOCOL.md.

import path from "node:path";
import { expect } from "chai";
import { BACKENDS } from "../helpers/backends.js";
import { type ServerProcess, spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { type Frame, loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const isMessage = (id?: number) => (e: Frame) => e.ev === "message" && (id === undefined || e.id === id);
const byDevice = (a: { device: string }, b: { device: string }) =>
  a.device.toLowerCase().localeCompare(b.device.toLowerCase());

for (const backend of BACKENDS) {
  describe(`devices (integration, protocol v2, ${backend})`, () => {
    let server: TestServer;
    const clients: TestClient[] = [];
    const connect = async () => {
      const client = await TestClient.connect(server.port);
      clients.push(client);
      return client;
    };
    const login = async (user: string, device?: string) => {
      const client = await loggedIn(server.port, user, PASSWORD, device);
      clients.push(client);
      return client;
    };
    /** Logs in on a new connection and also returns the login response (for `pending`). */
    const loginWithResponse = async (user: string, device?: string): Promise<[TestClient, Frame]> => {
      const client = await connect();
      const response = await client.ok(
        "login",
        device === undefined ? { user, password: PASSWORD } : { user, password: PASSWORD, device },
      );
      return [client, response];
    };
    const registerOnly = async (user: string) => {
      const client = await connect();
      await client.ok("register", { user, password: PASSWORD });
      client.destroy();
    };
    const restartWith = async (overrides: Parameters<typeof startTestServer>[0]) => {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
      server = await startTestServer(overrides, { backend });
    };

    beforeEach(async () => {
      server = await startTestServer({}, { backend });
    });
    afterEach(async () => {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
    });

    it("hello accepts version 2 and reports maxDevices and maxRoomMembers", async () => {
      await restartWith({ maxDevices: 3, maxRoomMembers: 7 });
      const client = await connect();
      const response = await client.ok("hello", { version: 2, client: "test" });
      expect(response.version).to.equal(2);
      expect(response.limits).to.deep.include({ maxDevices: 3, maxRoomMembers: 7 });
      expect((await client.request("hello", { version: 3 })).error.code).to.equal("unsupported_version");
    });

    it("needs a log-in for devices and forget_device", async () => {
      const client = await connect();
      for (const [op, args] of [
        ["devices", {}],
        ["forget_device", { device: "laptop" }],
      ] as const) {
        expect((await client.request(op, args)).error.code, op).to.equal("not_logged_in");
      }
    });

    it("refuses a malformed device with bad_argument and accepts every allowed character", async () => {
      const client = await connect();
      await client.ok("register", { user: "alice", password: PASSWORD });
      for (const device of ["", "a b", "x".repeat(33), "é", "lap/top", "#phone", 7, true, ["laptop"]]) {
        const response = await client.request("login", { user: "alice", password: PASSWORD, device });
        expect(response.error?.code, JSON.stringify(device)).to.equal("bad_argument");
      }
      await client.ok("login", { user: "alice", password: PASSWORD, device: "x".repeat(32) });
      const other = await connect();
      await other.ok("login", { user: "alice", password: PASSWORD, device: "Az09_.-" });
      const { devices } = await other.ok("devices");
      expect(devices.map((d: { device: string }) => d.device.toLowerCase()).sort()).to.deep.equal(
        ["az09_.-", "x".repeat(32)].sort(),
      );
    });

    it('a login without device is the device "default", and devices compare without regard to case', async () => {
      const first = await login("alice");
      const second = await login("alice", "DeFault");
      await first.expectEvent((e) => e.ev === "session_replaced");
      await first.closed;
      const { devices } = await second.ok("devices");
      expect(devices).to.have.length(1);
      expect(devices[0].device.toLowerCase()).to.equal("default");
      expect(devices[0].online).to.equal(true);
    });

    it("a second login on the same device replaces only that session, and gets its unacknowledged events", async () => {
      const alice = await login("alice");
      const laptop = await login("bob", "laptop");
      const phone = await login("bob", "phone");
      const sent = await alice.ok("send", { to: "bob", text: "one", cid: "1" });
      const first = await laptop.expectEvent(isMessage(sent.id));
      await phone.expectEvent(isMessage(sent.id));
      const laptopAgain = await login("bob", "LAPTOP");
      await laptop.expectEvent((e) => e.ev === "session_replaced");
      await laptop.closed;
      expect(await laptopAgain.expectEvent(isMessage(sent.id))).to.deep.equal(first);
      await phone.roundtrip();
      expect(phone.isClosed).to.equal(false);
      expect(phone.received.filter((f) => f.ev === "session_replaced")).to.deep.equal([]);
      const { devices } = await phone.ok("devices");
      expect(devices.map((d: { device: string }) => d.device.toLowerCase()).sort()).to.deep.equal([
        "laptop",
        "phone",
      ]);
    });

    it("every inbox event reaches both devices; each acknowledges for itself and pending counts its own", async () => {
      const alice = await login("alice");
      const laptop = await login("bob", "laptop");
      const phone = await login("bob", "phone");
      const ids: number[] = [];
      for (let i = 0; i < 3; i++)
        ids.push((await alice.ok("send", { to: "bob", text: `m${i}`, cid: `c${i}` })).id);
      const onLaptop = await laptop.collectMessages(3, { ack: false });
      const onPhone = await phone.collectMessages(3, { ack: false });
      expect(onLaptop.map((m) => m.id)).to.deep.equal(ids);
      expect(onPhone).to.deep.equal(onLaptop);
      laptop.ack(onLaptop[2]!.seq);
      phone.ack(onPhone[0]!.seq);
      await laptop.roundtrip();
      await phone.roundtrip();
      laptop.destroy();
      phone.destroy();
      await Promise.all([laptop.closed, phone.closed]);

      const [laptopAgain, laptopLogin] = await loginWithResponse("bob", "laptop");
      const [phoneAgain, phoneLogin] = await loginWithResponse("bob", "phone");
      expect(laptopLogin.pending).to.equal(0);
      expect(phoneLogin.pending).to.equal(2);
      const redelivered = await phoneAgain.collectMessages(2, { ack: false });
      expect(redelivered).to.deep.equal(onPhone.slice(1));
      // A later message is the next event each device gets: the laptop gets nothing again.
      const later = await alice.ok("send", { to: "bob", text: "later", cid: "later" });
      expect((await laptopAgain.expectEvent(isMessage())).id).to.equal(later.id);
      expect((await phoneAgain.expectEvent(isMessage())).id).to.equal(later.id);
    });

    it("a device's first log-in starts at the oldest event still in the inbox", async () => {
      const alice = await login("alice");
      const laptop = await login("bob", "laptop");
      const gone = await alice.ok("send", {
        to: "bob",
        text: "acknowledged by every known device",
        cid: "1",
      });
      laptop.ack((await laptop.expectEvent(isMessage(gone.id))).seq);
      await laptop.roundtrip();
      const waiting = await alice.ok("send", { to: "bob", text: "not acknowledged yet", cid: "2" });
      await laptop.expectEvent(isMessage(waiting.id));
      const [phone, phoneLogin] = await loginWithResponse("bob", "phone");
      expect(phoneLogin.pending).to.equal(1);
      // The phone opened a session beside the laptop's, not instead of it.
      await laptop.roundtrip();
      expect((await phone.expectEvent(isMessage())).id).to.equal(waiting.id);
      const later = await alice.ok("send", { to: "bob", text: "later", cid: "3" });
      expect((await phone.expectEvent(isMessage())).id).to.equal(later.id);
      expect(phone.received.filter(isMessage(gone.id))).to.deep.equal([]);
    });

    it("sends a delivered receipt once per message, when the first device acknowledges", async () => {
      const alice = await login("alice");
      const laptop = await login("bob", "laptop");
      const phone = await login("bob", "phone");
      const sent = await alice.ok("send", { to: "bob", text: "hello", cid: "1" });
      const onLaptop = await laptop.expectEvent(isMessage(sent.id));
      const onPhone = await phone.expectEvent(isMessage(sent.id));
      laptop.ack(onLaptop.seq);
      const delivered = await alice.expectEvent((e) => e.ev === "receipt");
      expect(delivered).to.deep.include({ id: sent.id, to: "bob", status: "delivered" });
      alice.ack(delivered.seq);
      phone.ack(onPhone.seq);
      await phone.roundtrip();
      await phone.ok("read", { with: "alice", upTo: sent.id });
      const read = await alice.expectEvent((e) => e.ev === "receipt" && e.status === "read");
      expect(read).to.deep.include({ id: sent.id, to: "bob" });
      expect(alice.received.filter((f) => f.ev === "receipt" && f.status === "delivered")).to.have.length(1);
    });

    it("what you send reaches your other devices with from = you, not the sending one, and is no delivery", async () => {
      const laptop = await login("alice", "laptop");
      const phone = await login("alice", "phone");
      await registerOnly("bob");
      const sent = await laptop.ok("send", { to: "bob", text: "  hi   bob ", cid: "1" });
      const copy = await phone.expectEvent(isMessage(sent.id));
      expect(copy).to.deep.include({ id: sent.id, from: "alice", to: "bob", text: "hi bob", at: sent.at });
      expect(copy.seq).to.be.a("number");
      // The sender's own device acknowledging its copy does not make the message delivered.
      phone.ack(copy.seq);
      await phone.roundtrip();
      const before = await laptop.ok("history", { with: "bob" });
      expect(before.messages.map((m: { status: string }) => m.status)).to.deep.equal(["sent"]);

      const bob = await login("bob");
      const received = await bob.expectEvent(isMessage(sent.id));
      expect(received).to.deep.include({ from: "alice", to: "bob", text: "hi bob" });
      bob.ack(received.seq);
      const receipt = await laptop.expectEvent((e) => e.ev === "receipt");
      expect(receipt).to.deep.include({ id: sent.id, to: "bob", status: "delivered" });
      expect(await phone.expectEvent((e) => e.ev === "receipt")).to.deep.equal(receipt);
      // The receipt came after the message in the inbox, so a copy to the laptop would have come first.
      expect(laptop.received.filter(isMessage())).to.deep.equal([]);
    });

    it("a message to yourself reaches each of your devices once, the sending one included", async () => {
      const laptop = await login("alice", "laptop");
      const phone = await login("alice", "phone");
      const note = await laptop.ok("send", { to: "alice", text: "note to self", cid: "1" });
      for (const device of [laptop, phone]) {
        const message = await device.expectEvent(isMessage(note.id));
        expect(message).to.deep.include({ from: "alice", to: "alice", text: "note to self" });
        device.ack(message.seq);
      }
      const next = await laptop.ok("send", { to: "alice", text: "second", cid: "2" });
      for (const device of [laptop, phone]) {
        await device.expectEvent(isMessage(next.id));
        expect(device.received.filter(isMessage(note.id))).to.have.length(1);
      }
    });

    it("read on one device reaches the others as a read_marker, and the sender as receipts", async () => {
      const alice = await login("alice");
      const laptop = await login("bob", "laptop");
      const phone = await login("bob", "phone");
      const sent = await alice.ok("send", { to: "bob", text: "read me", cid: "1" });
      for (const device of [laptop, phone]) device.ack((await device.expectEvent(isMessage(sent.id))).seq);
      await phone.ok("read", { with: "alice", upTo: sent.id });
      const marker = await laptop.expectEvent((e) => e.ev === "read_marker");
      expect(marker).to.deep.include({ with: "alice", upTo: sent.id });
      expect(marker.seq).to.be.a("number");
      expect(marker.at).to.match(ISO_TIME);
      laptop.ack(marker.seq);
      await alice.expectEvent((e) => e.ev === "receipt" && e.status === "read" && e.id === sent.id);
      // The reading device itself gets no marker: the next inbox event it sees is the next message.
      const next = await alice.ok("send", { to: "bob", text: "next", cid: "2" });
      await phone.expectEvent(isMessage(next.id));
      expect(phone.received.filter((f) => f.ev === "read_marker")).to.deep.equal([]);
    });

    it("presence comes when the first device logs in and when the last one leaves", async () => {
      const observer = await login("observer");
      const isBob = (e: Frame) => e.ev === "presence" && e.user === "bob";
      const laptop = await login("bob", "laptop");
      expect(await observer.expectEvent(isBob)).to.include({ online: true });
      const phone = await login("bob", "phone");
      await login("carol");
      await observer.expectEvent((e) => e.ev === "presence" && e.user === "carol");
      await laptop.ok("logout");
      await laptop.closed;
      await login("dave");
      await observer.expectEvent((e) => e.ev === "presence" && e.user === "dave");
      expect(observer.received.filter(isBob).map((e) => e.online)).to.deep.equal([true]);
      const { users } = await observer.ok("users");
      expect(users.find((u: { user: string }) => u.user === "bob").online).to.equal(true);
      await phone.ok("logout");
      await phone.closed;
      expect(await observer.expectEvent(isBob)).to.include({ online: false });
      expect(observer.received.filter(isBob).map((e) => e.online)).to.deep.equal([true, false]);
    });

    it("devices lists each known device with online and lastSeen", async () => {
      const laptop = await login("alice", "laptop");
      const phone = await login("alice", "phone");
      await phone.ok("logout");
      await phone.closed;
      const { devices } = await laptop.ok("devices");
      devices.sort(byDevice);
      expect(devices.map((d: { device: string }) => d.device.toLowerCase())).to.deep.equal([
        "laptop",
        "phone",
      ]);
      expect(devices[0].online).to.equal(true);
      expect(devices[1].online).to.equal(false);
      expect(devices[1].lastSeen).to.match(ISO_TIME);
      expect(Date.parse(devices[1].lastSeen)).to.be.at.most(Date.now());
      // Only your own devices.
      const bob = await login("bob");
      const bobs = await bob.ok("devices");
      expect(bobs.devices.map((d: { device: string }) => d.device.toLowerCase())).to.deep.equal(["default"]);
    });

    it("forget_device: no_such_device, closes another online device, and your own after answering", async () => {
      const laptop = await login("alice", "laptop");
      const phone = await login("alice", "phone");
      const tablet = await login("alice", "tablet");
      expect((await laptop.request("forget_device", { device: "watch" })).error.code).to.equal(
        "no_such_device",
      );
      expect((await laptop.request("forget_device", {})).error.code).to.equal("bad_argument");
      expect((await laptop.request("forget_device", { device: 5 })).error.code).to.equal("bad_argument");
      // Another user's device is not yours to forget.
      await login("bob", "watch");
      expect((await laptop.request("forget_device", { device: "watch" })).error.code).to.equal(
        "no_such_device",
      );

      await laptop.ok("forget_device", { device: "PHONE" });
      await phone.expectEvent((e) => e.ev === "session_replaced");
      await phone.closed;
      let { devices } = await laptop.ok("devices");
      expect(devices.map((d: { device: string }) => d.device.toLowerCase()).sort()).to.deep.equal([
        "laptop",
        "tablet",
      ]);

      const answer = await tablet.request("forget_device", { device: "tablet" });
      expect(answer.ok).to.equal(true);
      await tablet.closed;
      ({ devices } = await laptop.ok("devices"));
      expect(devices.map((d: { device: string }) => d.device.toLowerCase())).to.deep.equal(["laptop"]);
      expect((await laptop.request("forget_device", { device: "tablet" })).error.code).to.equal(
        "no_such_device",
      );
    });

    it("past maxDevices a new device forgets the one that logged in least recently", async () => {
      await restartWith({ maxDevices: 2 });
      const one = await login("alice", "one");
      const two = await login("alice", "two");
      await two.ok("logout");
      await two.closed;
      const three = await login("alice", "three");
      await one.expectEvent((e) => e.ev === "session_replaced");
      await one.closed;
      let { devices } = await three.ok("devices");
      expect(devices.map((d: { device: string }) => d.device.toLowerCase()).sort()).to.deep.equal([
        "three",
        "two",
      ]);
      // Now "two" (offline) logged in least recently: it goes, and nobody is disconnected.
      const oneAgain = await login("alice", "one");
      await three.roundtrip();
      await oneAgain.roundtrip();
      expect(three.isClosed).to.equal(false);
      ({ devices } = await three.ok("devices"));
      expect(devices.map((d: { device: string }) => d.device.toLowerCase()).sort()).to.deep.equal([
        "one",
        "three",
      ]);
    });

    it("unregister ends every session of the account", async () => {
      const observer = await login("observer");
      const laptop = await login("bob", "laptop");
      const phone = await login("bob", "phone");
      await observer.expectEvent((e) => e.ev === "presence" && e.user === "bob" && e.online === true);
      // Both sessions are open until then.
      await laptop.roundtrip();
      await phone.ok("unregister", { password: PASSWORD });
      await Promise.all([phone.closed, laptop.closed]);
      await observer.expectEvent((e) => e.ev === "presence" && e.user === "bob" && e.online === false);
      const again = await connect();
      expect(
        (await again.request("login", { user: "bob", password: PASSWORD, device: "laptop" })).error.code,
      ).to.equal("bad_credentials");
    });
  });
}

describe("devices across restarts and crashes (integration, child process, protocol v2)", () => {
  let temp: ReturnType<typeof makeTempDir>;
  let dbPath: string;
  let running: ServerProcess | undefined;
  const clients: TestClient[] = [];

  const start = async () => {
    running = await spawnServer(dbPath);
    return running;
  };
  const connectAs = async (user: string, device?: string): Promise<[TestClient, Frame]> => {
    const client = await TestClient.connect(running!.port);
    clients.push(client);
    const registered = await client.request("register", { user, password: PASSWORD });
    if (!registered.ok && registered.error.code !== "user_exists") throw new Error(registered.error.code);
    const response = await client.ok(
      "login",
      device === undefined ? { user, password: PASSWORD } : { user, password: PASSWORD, device },
    );
    return [client, response];
  };

  beforeEach(() => {
    temp = makeTempDir();
    dbPath = path.join(temp.dir, "parley.db");
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    if (running !== undefined && running.child.exitCode === null) await running.stop("SIGKILL");
    running = undefined;
    temp.remove();
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`a device offline through a restart (${signal}) catches up alone, in seq order`, async () => {
      await start();
      const [alice] = await connectAs("alice");
      const [laptop] = await connectAs("bob", "laptop");
      const [phone] = await connectAs("bob", "phone");
      await phone.ok("logout");
      await phone.closed;
      const ids: number[] = [];
      for (let i = 0; i < 20; i++)
        ids.push((await alice.ok("send", { to: "bob", text: `m${i}`, cid: `c${i}` })).id);
      const live = await laptop.collectMessages(20);
      expect(live.map((m) => m.id)).to.deep.equal(ids);
      await laptop.roundtrip();
      const code = await running!.stop(signal);
      expect(code).to.equal(signal === "SIGTERM" ? 0 : "SIGKILL");

      await start();
      const [phoneAgain, phoneLogin] = await connectAs("bob", "phone");
      expect(phoneLogin.pending).to.equal(20);
      const caughtUp = await phoneAgain.collectMessages(20);
      expect(caughtUp.map((m) => m.id)).to.deep.equal(ids);
      const seqs = caughtUp.map((m) => m.seq);
      expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).to.equal(seqs.length);

      const [laptopAgain, laptopLogin] = await connectAs("bob", "laptop");
      const [aliceAgain] = await connectAs("alice");
      const later = await aliceAgain.ok("send", { to: "bob", text: "later", cid: "later" });
      expect((await phoneAgain.expectEvent((e) => e.ev === "message")).id).to.equal(later.id);
      if (signal === "SIGTERM") {
        // A clean stop keeps every acknowledgement: the laptop gets nothing again.
        expect(laptopLogin.pending).to.equal(0);
        expect((await laptopAgain.expectEvent((e) => e.ev === "message")).id).to.equal(later.id);
      } else {
        // After a crash the laptop may see some of its last events again (at-least-once),
        // but in order, once each, and before the new one.
        const again: number[] = [];
        for (;;) {
          const message = await laptopAgain.expectEvent((e) => e.ev === "message");
          laptopAgain.ack(message.seq);
          if (message.id === later.id) break;
          again.push(message.id);
        }
        expect(ids.slice(ids.length - again.length)).to.deep.equal(again);
      }
    });
  }
});
