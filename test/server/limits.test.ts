// TLS, connection limits, deadlines, a full disk and the security promises, against a real server.

import net from "node:net";
import tls from "node:tls";
import Database from "better-sqlite3";
import { expect } from "chai";
import type { WorkerStore } from "../../server/store/sqlite/worker-store.js";
import { type Certificate, makeSelfSignedCertificate } from "../helpers/self-signed.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

describe("limits, TLS, full disk and security (integration)", () => {
  let server: TestServer | undefined;
  const clients: TestClient[] = [];
  const track = (client: TestClient) => {
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
  });

  describe("TLS", () => {
    const temp = makeTempDir();
    let certificate: Certificate;
    before(() => {
      certificate = makeSelfSignedCertificate(temp.dir);
    });
    after(() => temp.remove());

    it("speaks the same protocol over TLS with a certificate the client trusts", async () => {
      server = await startTestServer({ tlsCert: certificate.certFile, tlsKey: certificate.keyFile });
      const alice = track(await TestClient.connectTls(server.port, certificate.cert));
      await alice.ok("register", { user: "alice", password: PASSWORD });
      await alice.ok("login", { user: "alice", password: PASSWORD });
      await alice.ok("send", { to: "alice", text: "  over   tls ", cid: "1" });
      const message = await alice.expectEvent((e) => e.ev === "message");
      expect(message.text).to.equal("over tls");
    });

    it("refuses clients that do not trust the certificate, and plain-text clients get no answer", async () => {
      server = await startTestServer({ tlsCert: certificate.certFile, tlsKey: certificate.keyFile });
      const port = server.port;
      const untrusted = await new Promise<Error>((resolve) => {
        const socket = tls.connect({ port, host: "127.0.0.1", servername: "localhost" });
        socket.on("error", resolve);
      });
      expect(untrusted.message).to.match(/self.signed|certificate/i);
      const plain = track(await TestClient.connect(port));
      plain.write('{"op":"ping","rid":1}\n');
      await plain.closed;
      expect(plain.received).to.deep.equal([]);
    });
  });

  describe("connection limits and deadlines", () => {
    it("refuses connections past --max-connections with server_full", async () => {
      server = await startTestServer({ maxConnections: 2 });
      track(await TestClient.connect(server.port));
      track(await TestClient.connect(server.port));
      const third = track(await TestClient.connect(server.port));
      const event = await third.expectEvent((e) => e.ev === "error");
      expect(event.code).to.equal("server_full");
      await third.closed;
    });

    it("refuses connections past --max-connections-per-address with too_many_connections", async () => {
      server = await startTestServer({ maxConnectionsPerAddress: 2 });
      const first = track(await TestClient.connect(server.port));
      track(await TestClient.connect(server.port));
      const third = track(await TestClient.connect(server.port));
      expect((await third.expectEvent((e) => e.ev === "error")).code).to.equal("too_many_connections");
      await third.closed;
      // A slot frees when a connection closes.
      await first.end();
      await server.waitForLog("connection closed");
      const again = track(await TestClient.connect(server.port));
      await again.roundtrip();
    });

    it("closes a connection that does not log in in time with login_timeout, but not a logged-in one", async () => {
      server = await startTestServer({ loginTimeoutMs: 200 });
      const alice = track(await loggedIn(server.port, "alice"));
      const lurker = track(await TestClient.connect(server.port));
      const event = await lurker.expectEvent((e) => e.ev === "error");
      expect(event.code).to.equal("login_timeout");
      await lurker.closed;
      await alice.roundtrip();
    });

    it("bounds a slowloris: half a line trickled byte by byte does not count as activity", async () => {
      server = await startTestServer({ idleTimeoutMs: 300 });
      const socket = net.connect({ port: server.port, host: "127.0.0.1" });
      const received: string[] = [];
      socket.on("data", (chunk) => received.push(String(chunk)));
      socket.on("error", () => {});
      const partial = '{"op":"ping","rid":1,"pad":"';
      let sent = 0;
      const trickle = setInterval(() => socket.write(partial[sent++ % partial.length]!), 20);
      await new Promise((resolve) => socket.on("close", resolve));
      clearInterval(trickle);
      expect(JSON.parse(received.join(""))).to.deep.include({ ev: "error", code: "idle_timeout" });
    });
  });

  describe("a full disk", () => {
    it("answers unavailable, keeps reads and pings working, writes nothing half, and recovers", async () => {
      server = await startTestServer({ maxPending: 100_000 });
      // The server's connection lives in the store's thread: the page limit is set there.
      const store = server.store as WorkerStore;
      const alice = track(await loggedIn(server.port, "alice"));
      await track(await loggedIn(server.port, "bob")).end();
      const before = await alice.ok("send", { to: "bob", text: "before the disk filled", cid: "first" });
      const [{ page_count: pages }] = (await store.pragmaForTests("page_count")) as [{ page_count: number }];
      await store.pragmaForTests(`max_page_count = ${pages}`);

      const text = "x".repeat(4000);
      const acknowledged: string[] = [];
      let refused: { cid: string; response: Record<string, any> } | undefined;
      for (let i = 0; i < 2000 && refused === undefined; i++) {
        const cid = `fill-${i}`;
        const response = await alice.request("send", { to: "bob", text, cid });
        if (response.ok) acknowledged.push(cid);
        else refused = { cid, response };
      }
      expect(refused, "the disk never filled").to.not.equal(undefined);
      expect(refused!.response.error.code).to.equal("unavailable");
      expect(refused!.response.error.message).to.match(/nothing was stored/);

      await alice.roundtrip();
      const { users } = await alice.ok("users");
      expect(users.map((u: { user: string }) => u.user)).to.deep.equal(["alice", "bob"]);
      const history = await alice.ok("history", { with: "bob" });
      expect(history.messages[0].id).to.equal(before.id);
      // A second session logs in while the disk is full.
      track(await loggedIn(server.port, "alice"));

      const reader = new Database(server.dbPath, { readonly: true });
      try {
        const stored = reader
          .prepare("SELECT cid FROM messages WHERE cid LIKE 'fill-%' ORDER BY id")
          .pluck()
          .all();
        expect(stored).to.deep.equal(acknowledged);
        expect(reader.pragma("integrity_check", { simple: true })).to.equal("ok");
      } finally {
        reader.close();
      }

      await store.pragmaForTests("max_page_count = 1073741823");
      const retried = track(await loggedIn(server.port, "alice"));
      expect(await retried.ok("send", { to: "bob", text, cid: refused!.cid })).to.include({
        duplicate: false,
      });
    });
  });

  describe("security", () => {
    it("never writes a password to the log, even at debug level", async () => {
      server = await startTestServer({ logLevel: "debug" });
      const secret = "Secret-Pa55word-Never-Logged";
      const wrong = "Wrong-Pa55word-Never-Logged";
      const client = track(await TestClient.connect(server.port));
      await client.ok("register", { user: "alice", password: secret });
      await client.request("login", { user: "alice", password: wrong });
      await client.ok("login", { user: "alice", password: secret });
      await client.request("unregister", { password: wrong });
      await client.ok("send", { to: "alice", text: "debug shows texts", cid: "1" });
      const log = server.logLines.map((line) => JSON.stringify(line)).join("\n");
      expect(log).to.include("debug shows texts");
      expect(log).to.not.include(secret);
      expect(log).to.not.include(wrong);
    });

    it("throttles failed log-ins across many user names from one address", async () => {
      server = await startTestServer();
      const client = track(await TestClient.connect(server.port));
      const codes: string[] = [];
      for (let i = 0; i < 32; i++) {
        codes.push((await client.request("login", { user: `guess${i}`, password: "password1" })).error.code);
      }
      expect(codes.slice(0, 30).every((code) => code === "bad_credentials")).to.equal(true);
      expect(codes.slice(30)).to.deep.equal(["rate_limited", "rate_limited"]);
    });
  });
});
