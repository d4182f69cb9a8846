// The log-in throttle against concurrency, lock-out from elsewhere and made-up names, on a real server.

import v8 from "node:v8";
import vm from "node:vm";
import { expect } from "chai";
import { PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const WRONG = "not the password";

describe("log-in throttle (integration)", () => {
  let server: TestServer | undefined;
  const clients: TestClient[] = [];
  const connect = async (localAddress = "127.0.0.1") => {
    const client = await TestClient.connect(server!.port, "127.0.0.1", localAddress);
    clients.push(client);
    return client;
  };
  const codesOf = (responses: Array<Record<string, any>>) =>
    responses.map((response) => (response.ok ? "ok" : response.error.code)).sort();

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
  });

  it("makes one password check per token when log-ins run at once, per address and per name", async () => {
    // A real scrypt cost, so the checks overlap.
    server = await startTestServer({
      scryptCost: 2 ** 14,
      loginFailuresPerUserPerMin: 3,
      loginFailuresPerAddressPerMin: 5,
    });
    await (await connect("127.0.0.3")).ok("register", { user: "victim", password: PASSWORD });
    const attackers = await Promise.all(Array.from({ length: 12 }, () => connect()));
    const onOneName = await Promise.all(
      attackers.map((client) => client.request("login", { user: "victim", password: WRONG })),
    );
    expect(codesOf(onOneName).filter((code) => code === "bad_credentials")).to.have.length(3);

    const fromElsewhere = await Promise.all(Array.from({ length: 12 }, () => connect("127.0.0.2")));
    const manyNames = await Promise.all(
      fromElsewhere.map((client, i) => client.request("login", { user: `nobody${i}`, password: WRONG })),
    );
    expect(codesOf(manyNames).filter((code) => code === "bad_credentials")).to.have.length(5);
  });

  it("lets a crowd behind one address log in at once: checks past the tokens wait, and are not refused", async () => {
    server = await startTestServer({
      scryptCost: 2 ** 14,
      loginFailuresPerUserPerMin: 3,
      loginFailuresPerAddressPerMin: 5,
    });
    const registrar = await connect("127.0.0.3");
    for (let i = 0; i < 12; i++) await registrar.ok("register", { user: `pupil${i}`, password: PASSWORD });
    const crowd = await Promise.all(Array.from({ length: 12 }, () => connect()));
    const answers = await Promise.all(
      crowd.map((client, i) =>
        client.request("login", { user: `pupil${i % 6}`, password: PASSWORD, device: `d${i}` }),
      ),
    );
    expect(codesOf(answers)).to.deep.equal(Array(12).fill("ok"));
  });

  it("lets the owner log in from an address that has not failed while their name is throttled", async () => {
    server = await startTestServer({ loginFailuresPerUserPerMin: 10 });
    await (await connect("127.0.0.2")).ok("register", { user: "alice", password: PASSWORD });
    const attacker = await connect();
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) {
      codes.push((await attacker.request("login", { user: "alice", password: WRONG })).error.code);
    }
    expect(codes.slice(10)).to.deep.equal(["rate_limited", "rate_limited"]);
    // The attacker's address stays throttled, even with the right password.
    expect((await attacker.request("login", { user: "alice", password: PASSWORD })).error.code).to.equal(
      "rate_limited",
    );

    const owner = await connect("127.0.0.2");
    await owner.ok("login", { user: "alice", password: PASSWORD });
    // Another address gets one guess on the throttled name, then is held back like the first.
    const other = await connect("127.0.0.3");
    expect((await other.request("login", { user: "alice", password: WRONG })).error.code).to.equal(
      "bad_credentials",
    );
    expect((await other.request("login", { user: "alice", password: WRONG })).error.code).to.equal(
      "rate_limited",
    );
  });

  it("keeps nothing for made-up names: a flood of 60 KB names does not grow memory, nor reach the log", async () => {
    server = await startTestServer();
    const client = await connect();
    const attempts = 400;
    const name = (i: number) => `${i}-Secret-typed-as-name-\u2028${"İ".repeat(30_000)}`;
    await client.roundtrip();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let sent = 0; sent < attempts; sent += 50) {
      const batch = Array.from({ length: 50 }, (_, i) =>
        client.request("login", { user: name(sent + i), password: WRONG }),
      );
      for (const response of await Promise.all(batch))
        expect(response.error.code).to.be.oneOf(["bad_credentials", "rate_limited"]);
    }
    gc();
    const grewMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    // Each name lower-cased is 120 KB: remembering them would hold about 47 MiB.
    expect(grewMiB).to.be.below(16);
    const log = server.logLines.map((line) => JSON.stringify(line)).join("\n");
    expect(log).to.not.include("Secret-typed-as-name");
  });
});
