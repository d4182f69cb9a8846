// The database file as the operator finds it: a second server on it, a killed holder, an empty
// file, loose modes, an impossible folder. The server must refuse in one line or fix, never
// adopt silently.

import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { openStore, SchemaError } from "../../server/store/open-store.js";
import { rejection } from "../helpers/rejection.js";
import { FAST_TEST_FLAGS, runServer, spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

describe("the database file (integration)", () => {
  let temp: ReturnType<typeof makeTempDir>;
  let dbPath: string;

  beforeEach(() => {
    temp = makeTempDir();
    dbPath = path.join(temp.dir, "parley.db");
  });

  afterEach(() => temp.remove());

  it("refuses a second store on the same database in one line, and opens once the first is closed", async () => {
    const first = await openStore({ path: dbPath });
    try {
      const error = await rejection(openStore({ path: dbPath }));
      expect(error).to.be.instanceOf(SchemaError);
      expect((error as Error).message).to.match(
        /^another parley-server is using this database \(it holds .*parley\.db\.lock\)/,
      );
      expect((error as Error).message).not.to.contain("\n");
    } finally {
      await first.close();
    }
    await (await openStore({ path: dbPath })).close();
  });

  it("a second server exits 1 with one line; a holder killed with SIGKILL does not block the next", async () => {
    const first = await spawnServer(dbPath);
    try {
      const second = await runServer(["--port", "0", "--db", dbPath, ...FAST_TEST_FLAGS]);
      expect(second.code).to.equal(1);
      expect(second.stderr).to.match(
        /^parley-server: cannot open database .*: another parley-server is using this database/,
      );
      expect(second.stderr.trimEnd().split("\n")).to.have.length(1);
    } finally {
      await first.stop("SIGKILL");
    }
    const next = await spawnServer(dbPath);
    expect(await next.stop()).to.equal(0);
  });

  it("refuses an empty database file it did not create, and leaves it as it was", async () => {
    fs.writeFileSync(dbPath, "", { mode: 0o600 });
    const error = await rejection(openStore({ path: dbPath }));
    expect((error as Error).message).to.match(
      /parley\.db is empty \(0 bytes\) and was not created by this start/,
    );
    expect(fs.statSync(dbPath).size).to.equal(0);
  });

  it("makes a database, WAL and SHM file that others could read private (0600)", async () => {
    await (await openStore({ path: dbPath })).close();
    for (const suffix of ["", "-wal", "-shm"]) {
      fs.writeFileSync(`${dbPath}${suffix}`, "", { flag: "a" });
      fs.chmodSync(`${dbPath}${suffix}`, 0o644);
    }
    const store = await openStore({ path: dbPath });
    try {
      for (const suffix of ["", "-wal", "-shm"]) {
        expect(fs.statSync(`${dbPath}${suffix}`).mode & 0o777, suffix).to.equal(0o600);
      }
    } finally {
      await store.close();
    }
  });

  it("fails in one line, at once, for a database under /proc", async () => {
    const run = await runServer(["--port", "0", "--db", "/proc/parley/parley.db", ...FAST_TEST_FLAGS]);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(
      /^parley-server: cannot open database \/proc\/parley\/parley\.db: cannot create the folder \/proc\/parley: /,
    );
    expect(run.stderr.trimEnd().split("\n")).to.have.length(1);
  });
});
