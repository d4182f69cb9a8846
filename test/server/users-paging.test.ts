// The users listing in pages, on a real server.

import { expect } from "chai";
import { loggedIn, type TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

describe("users in pages (integration)", () => {
  let server: TestServer | undefined;
  let alice: TestClient | undefined;

  afterEach(async () => {
    alice?.destroy();
    await server?.stop();
    server = undefined;
  });

  it("lists at most 500 users a page, in name order, each page after the last name of the one before", async () => {
    server = await startTestServer();
    const store = server.store;
    const at = new Date().toISOString();
    const names = Array.from({ length: 1200 }, (_, i) => `user${String(i).padStart(4, "0")}`);
    await Promise.all(names.map((user) => store.createUser({ user, name: user, passwordHash: "x", at })));
    alice = await loggedIn(server.port, "alice");

    const first = await alice.ok("users");
    expect(first.users).to.have.length(500);
    expect(first.more).to.equal(true);
    const seen: string[] = first.users.map((u: { user: string }) => u.user);
    let page = first;
    while (page.more) {
      page = await alice.ok("users", { after: seen.at(-1), limit: 500 });
      seen.push(...page.users.map((u: { user: string }) => u.user));
    }
    expect(seen).to.deep.equal(["alice", ...names]);
    const small = await alice.ok("users", { after: "USER0005", limit: 2 });
    expect(small.users.map((u: { user: string }) => u.user)).to.deep.equal(["user0006", "user0007"]);
    expect(small.more).to.equal(true);
    expect(small.users[0]).to.have.keys(["user", "name", "online", "lastSeen"]);
  });

  it("refuses a bad after or limit with bad_argument", async () => {
    server = await startTestServer();
    alice = await loggedIn(server.port, "alice");
    for (const args of [
      { limit: 0 },
      { limit: 501 },
      { limit: "10" },
      { limit: 1.5 },
      { after: 5 },
      { after: "no such name!" },
    ]) {
      const response = await alice.request("users", args);
      expect(response.ok, JSON.stringify(args)).to.equal(false);
      expect(response.error.code).to.equal("bad_argument");
    }
  });
});
