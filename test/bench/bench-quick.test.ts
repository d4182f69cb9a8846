// The bench in --quick mode, as a child process: every scenario runs and every figure it
// reports is a finite positive number. Nothing here asserts a timing: the figures depend on
// the machine, and the targets are printed by the bench, never checked by tests.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { makeTempDir } from "../helpers/temp-dir.js";
import type { Report } from "./report.js";

const BENCH = path.join(path.dirname(fileURLToPath(import.meta.url)), "bench.js");
const SCENARIOS = ["limits", "live", "latency", "backlog", "connections", "normalizer", "restart"];

describe("npm run bench -- --quick (integration, child processes)", function () {
  this.timeout(180_000);
  let temp: ReturnType<typeof makeTempDir>;

  beforeEach(() => {
    temp = makeTempDir("parley-bench-test-");
  });
  afterEach(() => temp.remove());

  it("runs every scenario and reports every figure as a finite positive number", async () => {
    const jsonFile = path.join(temp.dir, "bench.json");
    const output: string[] = [];
    const code = await new Promise<number | string>((resolve) => {
      const child = spawn(process.execPath, [BENCH, "--quick", "--json", jsonFile, "--tmp", temp.dir], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.on("data", (chunk) => output.push(String(chunk)));
      child.stderr.on("data", (chunk) => output.push(String(chunk)));
      child.on("exit", (exitCode, signal) => resolve(exitCode ?? signal ?? "unknown"));
    });
    expect(code, output.join("")).to.equal(0);

    const report = JSON.parse(fs.readFileSync(jsonFile, "utf8")) as Report;
    expect(report.quick).to.equal(true);
    expect(report.failures).to.deep.equal([]);
    expect([...new Set(report.rows.map((row) => row.scenario))]).to.include.members(SCENARIOS);
    for (const row of report.rows) {
      const label = `${row.scenario}: ${row.figure} = ${row.value} ${row.unit}`;
      expect(Number.isFinite(row.value), label).to.equal(true);
      expect(row.value, label).to.be.greaterThan(0);
    }
  });
});
