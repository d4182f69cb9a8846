// Registrations per client address, on a real server.

import { expect } from "chai";
import { PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

describe("registration limit (integration)", () => {
  let server: TestServer | undefined;
  const clients: TestClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
  });

  it("refuses registrations past --registrations-per-address with rate_limited, and serves another address", async () => {
    server = await startTestServer({ registrationsPerAddressPerHour: 3 });
    const flood = await TestClient.connect(server.port);
    clients.push(flood);
    const codes: string[] = [];
    // A bad name costs nothing and is not counted.
    expect((await flood.request("register", { user: "bad name", password: PASSWORD })).error.code).to.equal(
      "invalid_username",
    );
    for (let i = 0; i < 5; i++) {
      const response = await flood.request("register", { user: `bot${i}`, password: PASSWORD });
      codes.push(response.ok ? "ok" : response.error.code);
    }
    expect(codes).to.deep.equal(["ok", "ok", "ok", "rate_limited", "rate_limited"]);

    const elsewhere = await TestClient.connect(server.port, "127.0.0.1", "127.0.0.2");
    clients.push(elsewhere);
    await elsewhere.ok("register", { user: "alice", password: PASSWORD });
    await elsewhere.ok("login", { user: "alice", password: PASSWORD });
    const { users } = await elsewhere.ok("users");
    expect(users.map((u: { user: string }) => u.user)).to.deep.equal(["alice", "bot0", "bot1", "bot2"]);
  });
});
