// The bench in --quick mode, as a child process: every scenario runs and every figure it
// reports is a finite positive number (a CPU time may round down to zero clock ticks). Nothing
// here asserts a timing: the figures depend on the machine, and the targets are printed by the
// bench, never checked by tests. On PostgreSQL, `live` alone on one node, to stay short: the
// --db path, PostgreSQL's CPU accounting, and the databases dropped afterwards.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import pg from "pg";
import { BACKENDS } from "../helpers/backends.js";
import { TEST_PG_ADMIN_URL } from "../helpers/pg-database.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import type { Report } from "./report.js";

const BENCH = path.join(path.dirname(fileURLToPath(import.meta.url)), "bench.js");
const SCENARIOS = ["limits", "live", "latency", "backlog", "connections", "normalizer", "restart"];

/** Runs the bench with `args` plus --json; resolves with its report, its exit code and output. */
async function runBench(temp: string, args: readonly string[]): Promise<{ report: Report; pid: number }> {
  const jsonFile = path.join(temp, "bench.json");
  const output: string[] = [];
  const child = spawn(process.execPath, [BENCH, ...args, "--json", jsonFile, "--tmp", temp], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const code = await new Promise<number | string>((resolve) => {
    child.stdout.on("data", (chunk) => output.push(String(chunk)));
    child.stderr.on("data", (chunk) => output.push(String(chunk)));
    child.on("exit", (exitCode, signal) => resolve(exitCode ?? signal ?? "unknown"));
  });
  expect(code, output.join("")).to.equal(0);
  const report = JSON.parse(fs.readFileSync(jsonFile, "utf8")) as Report;
  return { report, pid: child.pid! };
}

function expectFiguresPositive(report: Report): void {
  for (const row of report.rows) {
    const label = `${row.scenario}: ${row.figure} = ${row.value} ${row.unit}`;
    expect(Number.isFinite(row.value), label).to.equal(true);
    if (row.unit === "CPU s") expect(row.value, label).to.be.at.least(0);
    else expect(row.value, label).to.be.greaterThan(0);
  }
}

describe("npm run bench -- --quick (integration, child processes)", function () {
  this.timeout(180_000);
  let temp: ReturnType<typeof makeTempDir>;

  beforeEach(() => {
    temp = makeTempDir("parley-bench-test-");
  });
  afterEach(() => temp.remove());

  it("runs every scenario and reports every figure as a finite positive number", async () => {
    const { report } = await runBench(temp.dir, ["--quick"]);
    expect(report.quick).to.equal(true);
    expect(report.failures).to.deep.equal([]);
    expect([...new Set(report.rows.map((row) => row.scenario))]).to.include.members(SCENARIOS);
    expectFiguresPositive(report);
  });

  if (BACKENDS.includes("postgres")) {
    it("runs live on PostgreSQL and drops its database", async () => {
      const { report, pid } = await runBench(temp.dir, [
        "--quick",
        "--scenario",
        "live",
        "--db",
        TEST_PG_ADMIN_URL,
      ]);
      expect(report.failures).to.deep.equal([]);
      expect([...new Set(report.rows.map((row) => row.scenario))]).to.deep.equal(["live"]);
      expect(report.rows.map((row) => row.figure)).to.include(
        "CPU time: PostgreSQL backends of the bench database",
      );
      expectFiguresPositive(report);

      const client = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
      await client.connect();
      try {
        const left = await client.query("SELECT datname FROM pg_database WHERE datname LIKE $1", [
          `parley_bench_${pid}_%`,
        ]);
        expect(left.rows).to.deep.equal([]);
      } finally {
        await client.end();
      }
    });
  }
});
