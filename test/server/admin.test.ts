// Administration: `parley-server admin` (the built command, as a child process) against a running
// server through its admin socket, and on the database of a stopped one; closed registration.

import path from "node:path";
import { expect } from "chai";
import { admin } from "../helpers/admin-command.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { loggedIn, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

const NEW_PASSWORD = "a brand new password";

describe("administration (integration)", function () {
  this.timeout(30_000);
  let server: TestServer | undefined;
  let temp: ReturnType<typeof makeTempDir> | undefined;
  const clients: TestClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
    temp?.remove();
    temp = undefined;
  });

  const connect = async () => {
    const client = await TestClient.connect(server!.port);
    clients.push(client);
    return client;
  };

  describe("on a running server", () => {
    it("with registration closed, refuses register with registration_closed; an administrator creates the account", async () => {
      server = await startTestServer({ registration: "closed" });
      const client = await connect();
      const refused = await client.request("register", { user: "ann", password: PASSWORD });
      expect(refused.error.code).to.equal("registration_closed");

      const created = await admin(server.dbPath, ["create-user", "ann", "--name", "Ann A."], `${PASSWORD}\n`);
      expect(created).to.deep.include({ code: 0, stdout: "created user ann\n", stderr: "" });
      await client.ok("login", { user: "ann", password: PASSWORD });
      const listed = await client.ok("users");
      expect(listed.users).to.deep.equal([
        { user: "ann", name: "Ann A.", online: true, lastSeen: listed.users[0].lastSeen },
      ]);
    });

    it("removes a user: every session of theirs ends at once, and they cannot log in", async () => {
      server = await startTestServer();
      const laptop = await loggedIn(server.port, "bob", PASSWORD, "laptop");
      const phone = await loggedIn(server.port, "bob", PASSWORD, "phone");
      const ann = await loggedIn(server.port, "ann");
      clients.push(laptop, phone, ann);

      const removed = await admin(server.dbPath, ["remove-user", "bob"]);
      expect(removed).to.deep.include({
        code: 0,
        stdout: "removed user bob; 2 sessions ended\n",
        stderr: "",
      });
      for (const device of [laptop, phone]) {
        await device.expectEvent((event) => event.ev === "session_replaced");
        await device.closed;
      }
      const again = await connect();
      const refused = await again.request("login", { user: "bob", password: PASSWORD });
      expect(refused.error.code).to.equal("bad_credentials");
      await ann.roundtrip();
      expect(ann.isClosed).to.equal(false);

      const listed = await admin(server.dbPath, ["list-users"]);
      expect(listed.code).to.equal(0);
      expect(listed.stdout).to.match(
        /^USER +NAME +ONLINE +CREATED +LAST SEEN\nann +ann +yes +\S+ +\S+\n1 user\n$/,
      );
    });

    it("resets a password: the old one stops working and the account's sessions end", async () => {
      server = await startTestServer();
      const cal = await loggedIn(server.port, "cal");
      clients.push(cal);
      const reset = await admin(server.dbPath, ["reset-password", "cal"], `${NEW_PASSWORD}\n`);
      expect(reset).to.deep.include({ code: 0, stdout: "reset the password of cal; 1 session ended\n" });
      await cal.closed;
      const client = await connect();
      expect((await client.request("login", { user: "cal", password: PASSWORD })).error.code).to.equal(
        "bad_credentials",
      );
      await client.ok("login", { user: "cal", password: NEW_PASSWORD });
    });

    it("refuses clearly: an unknown user, a weak password, a taken name, a bad command", async () => {
      server = await startTestServer();
      await admin(server.dbPath, ["create-user", "dan"], `${PASSWORD}\n`);
      const cases: Array<[string[], string, number, string]> = [
        [["remove-user", "nobody"], "", 1, 'there is no user "nobody" (no_such_user)'],
        [["create-user", "eve"], "short\n", 1, "(weak_password)"],
        [["create-user", "DAN"], `${PASSWORD}\n`, 1, "(user_exists)"],
        [["frobnicate"], "", 2, 'unknown command "frobnicate"'],
        [["remove-user"], "", 2, "remove-user needs a user name"],
      ];
      for (const [args, input, code, fragment] of cases) {
        const run = await admin(server.dbPath, args, input);
        expect(run.code, args.join(" ")).to.equal(code);
        expect(run.stderr, args.join(" ")).to.include(fragment);
        expect(run.stdout, args.join(" ")).to.equal("");
      }
    });
  });

  describe("on a stopped server", () => {
    it("works on the database itself, and the server started afterwards sees the accounts", async () => {
      temp = makeTempDir();
      // A folder that does not exist yet, as on a first install.
      const dbPath = path.join(temp.dir, "data", "parley.db");
      const created = await admin(dbPath, ["create-user", "fay"], `${PASSWORD}\n`);
      expect(created.code).to.equal(0);
      expect(created.stderr).to.include("no server is running");
      expect((await admin(dbPath, ["create-user", "gil"], `${PASSWORD}\n`)).code).to.equal(0);
      expect((await admin(dbPath, ["remove-user", "gil"])).stdout).to.equal(
        "removed user gil; 0 sessions ended\n",
      );
      expect((await admin(dbPath, ["reset-password", "fay"], `${NEW_PASSWORD}\n`)).code).to.equal(0);

      server = await startTestServer({ registration: "closed", dbPath });
      const client = await connect();
      await client.ok("login", { user: "fay", password: NEW_PASSWORD });
      expect((await client.ok("users")).users.map((user: { user: string }) => user.user)).to.deep.equal([
        "fay",
      ]);
    });
  });
});
