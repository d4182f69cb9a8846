// A log-in whose password check races the account's deletion must not leave a session behind.

import { expect } from "chai";
import type { Store } from "../../server/store/store.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

/** A store whose attachDevice waits, while `held` is set, until the test lets it go on. */
class HeldAttach {
  held = false;
  #arrived: (() => void) | undefined;
  #release: (() => void) | undefined;
  readonly arrived = new Promise<void>((resolve) => {
    this.#arrived = resolve;
  });
  readonly #gate = new Promise<void>((resolve) => {
    this.#release = resolve;
  });

  wrap(store: Store): Store {
    return new Proxy(store, {
      get: (target, property) => {
        const value = Reflect.get(target, property, target);
        if (property !== "attachDevice") return typeof value === "function" ? value.bind(target) : value;
        return async (...args: Parameters<Store["attachDevice"]>) => {
          if (this.held) {
            this.#arrived!();
            await this.#gate;
          }
          return target.attachDevice(...args);
        };
      },
    });
  }

  release(): void {
    this.#release!();
  }
}

describe("unregister racing a log-in (integration)", () => {
  let server: TestServer | undefined;
  const clients: TestClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
  });

  it("refuses a log-in whose password was checked before the account was deleted", async () => {
    const attach = new HeldAttach();
    server = await startTestServer({}, { wrapStore: (store) => attach.wrap(store) });
    const alice = await loggedIn(server.port, "alice");
    clients.push(alice);
    const phone = await TestClient.connect(server.port);
    clients.push(phone);

    attach.held = true;
    const login = phone.request("login", { user: "alice", password: PASSWORD, device: "phone" });
    await attach.arrived;
    await alice.ok("unregister", { password: PASSWORD });
    attach.release();

    const answer = await login;
    expect(answer.ok).to.equal(false);
    expect(answer.error.code).to.equal("bad_credentials");
    // Someone else takes the name; the phone cannot speak as it.
    const mallory = await TestClient.connect(server.port);
    clients.push(mallory);
    await mallory.ok("register", { user: "alice", password: "another password" });
    expect((await phone.request("send", { to: "alice", text: "hi", cid: "1" })).error.code).to.equal(
      "not_logged_in",
    );
  });
});
