// Overload: when sent messages arrive faster than they can be normalized and stored, the server
// stops reading from the connections that send (no error: TCP backpressure slows them) once its
// intake window is full, and reads again when it drains; nothing is lost or reordered.

import { expect } from "chai";
import { type NormalizerProcess, spawnNormalizer } from "../helpers/server-process.js";
import { loggedIn, type TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

describe("backpressure at intake (integration)", () => {
  let normalizer: NormalizerProcess | undefined;
  let server: TestServer | undefined;
  const clients: TestClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    await normalizer?.stop("SIGKILL");
  });

  it("stops reading from senders while the intake is full, then takes every send, in order", async () => {
    normalizer = await spawnNormalizer();
    server = await startTestServer({ normalizerUrl: normalizer.url, intakeWindow: 8 });
    const alice = await loggedIn(server.port, "alice");
    const bob = await loggedIn(server.port, "bob");
    clients.push(alice, bob);
    // Warm: the WSDL is loaded and a call has gone through.
    await alice.ok("send", { to: "bob", text: " warm ", cid: "warm" });

    // The normalizer stops answering: what alice sends now waits at intake.
    normalizer.child.kill("SIGSTOP");
    const answered: number[] = [];
    const pending = Array.from({ length: 40 }, (_, i) =>
      alice
        .waitForResponse(alice.fire("send", { to: "bob", text: `  load   ${i} `, cid: `l${i}` }), 20_000)
        .then((response) => {
          expect(response.ok, JSON.stringify(response)).to.equal(true);
          answered.push(response.id);
          return response.id as number;
        }),
    );
    await server.waitForLog("intake full: not reading from senders until it drains");
    const paused = await server.waitForLogLine(
      (line) => line.msg === "reading paused" && line.sendsHeld === true,
    );
    expect(answered, "answered while the intake was full").to.deep.equal([]);

    normalizer.child.kill("SIGCONT");
    const ids = await Promise.all(pending);
    await server.waitForLog("intake drained: reading from senders again");
    await server.waitForLogLine((line) => line.msg === "reading resumed" && line.conn === paused.conn);
    expect(answered).to.deep.equal(ids);
    expect([...ids].sort((a, b) => a - b)).to.deep.equal(ids);

    const { messages } = await bob.ok("history", { with: "alice", limit: 41 });
    expect(messages.map((m: { text: string }) => m.text)).to.deep.equal([
      "warm",
      ...ids.map((_, i) => `load ${i}`),
    ]);
  });
});
