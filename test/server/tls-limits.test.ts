// TLS handshakes against the connection limits and their deadline, and the cipher suites on offer.

import net from "node:net";
import tls from "node:tls";
import { expect } from "chai";
import { type Certificate, makeSelfSignedCertificate } from "../helpers/self-signed.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { PASSWORD } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

/** Resolves once `count` of `sockets` have closed. */
function closedCount(sockets: net.Socket[], count: number): Promise<void> {
  let closed = 0;
  return new Promise((resolve) => {
    for (const socket of sockets)
      socket.on("close", () => {
        if (++closed === count) resolve();
      });
  });
}

function tlsHandshake(port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ...options }, () =>
      resolve(socket),
    );
    socket.once("error", reject);
  });
}

describe("TLS handshakes, limits and suites (integration)", () => {
  const temp = makeTempDir();
  let certificate: Certificate;
  let server: TestServer | undefined;
  const sockets: net.Socket[] = [];
  before(() => {
    certificate = makeSelfSignedCertificate(temp.dir);
  });
  after(() => temp.remove());
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await server?.stop();
    server = undefined;
  });

  it("counts stalled handshakes against the per-address limit, closes them at the deadline, and serves another address meanwhile", async () => {
    server = await startTestServer({
      tlsCert: certificate.certFile,
      tlsKey: certificate.keyFile,
      maxConnections: 3,
      maxConnectionsPerAddress: 2,
      loginTimeoutMs: 2000,
    });
    // More than the listener's own cap (max-connections plus its refusal headroom).
    const stalled = Array.from({ length: 70 }, () => {
      const socket = net.connect({ port: server!.port, host: "127.0.0.1" });
      socket.on("error", () => {});
      sockets.push(socket);
      return socket;
    });
    await closedCount(stalled, 68);

    const other = await tlsHandshake(server.port, {
      ca: certificate.cert,
      localAddress: "127.0.0.2",
    } as tls.ConnectionOptions);
    sockets.push(other);
    const lines: string[] = [];
    other.on("data", (chunk) => lines.push(...String(chunk).split("\n").filter(Boolean)));
    other.write(`${JSON.stringify({ op: "register", rid: 1, user: "alice", password: PASSWORD })}\n`);
    other.write(`${JSON.stringify({ op: "login", rid: 2, user: "alice", password: PASSWORD })}\n`);
    await new Promise<void>((resolve) =>
      other.on("data", () => lines.some((line) => JSON.parse(line).rid === 2) && resolve()),
    );
    expect(lines.map((line) => JSON.parse(line).ok)).to.deep.equal([true, true]);
    expect(stalled.filter((socket) => !socket.destroyed)).to.have.length(2);

    // The two that hold their slots are closed when the handshake deadline passes.
    await closedCount(
      stalled.filter((socket) => !socket.destroyed),
      2,
    );
  });

  it("offers Mozilla's intermediate profile: no CBC or SHA-1 suites, nothing below TLS 1.2", async () => {
    server = await startTestServer({ tlsCert: certificate.certFile, tlsKey: certificate.keyFile });
    const port = server.port;
    const ca = certificate.cert;
    const gcm = await tlsHandshake(port, {
      ca,
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256",
    });
    sockets.push(gcm);
    expect(gcm.getCipher().name).to.equal("ECDHE-ECDSA-AES128-GCM-SHA256");
    const modern = await tlsHandshake(port, { ca });
    sockets.push(modern);
    expect(modern.getProtocol()).to.equal("TLSv1.3");

    for (const options of [
      { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA" },
      { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES256-SHA384" },
      { minVersion: "TLSv1.1", maxVersion: "TLSv1.1", ciphers: "DEFAULT:@SECLEVEL=0" },
    ] as const) {
      const refused = await tlsHandshake(port, { ca, ...options }).then(
        (socket) => {
          const accepted = `accepted ${socket.getCipher().name}`;
          socket.destroy();
          return accepted;
        },
        (error: Error) => error.message,
      );
      expect(refused, JSON.stringify(options)).to.not.match(/^accepted/);
    }
  });
});
