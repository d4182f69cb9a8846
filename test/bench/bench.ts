#!/usr/bin/env node
// `npm run bench`: Parley's throughput, latency and memory beside this machine's limits.
// Starts the built server as its own process on fresh databases (SQLite files in a temporary
// folder, or PostgreSQL databases with --db), drives it over loopback with the real protocol
// from load-generator processes, and prints a table.
//
//   node dist/test/bench/bench.js [--quick] [--scenario NAME[,NAME…]] [--json FILE]
//                                 [--db postgres://…] [--nodes N[,N…]]
//                                 [--cpu-prof] [--profile-dir DIR] [--generators N] [--tmp DIR] [--keep]
//                                 [--peers] [--ack-each]

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { BenchContext, FULL, QUICK } from "./bench-context.js";
import { BenchDatabases } from "./bench-database.js";
import { killAll, onInterrupt } from "./processes.js";
import { formatSummary, summarizeProfile } from "./profile-summary.js";
import {
  formatComparison,
  formatMachine,
  formatSideBySide,
  formatTable,
  type MachineInfo,
  type Report,
} from "./report.js";
import { backlogScenario } from "./scenarios/backlog.js";
import { connectionsScenario } from "./scenarios/connections.js";
import { limitsScenario } from "./scenarios/limits.js";
import { type LiveSetup, latencyScenario, liveScenario } from "./scenarios/live.js";
import { normalizerScenario } from "./scenarios/normalizer.js";
import { backlogPeersScenario, livePeersScenario, peerNotes } from "./scenarios/peers.js";
import { restartScenario } from "./scenarios/restart.js";
import { roomScenario } from "./scenarios/room.js";
import { SERVER_MAIN } from "./server-runner.js";

/** In run order: limits first, so that every other figure can be read against them. */
const SCENARIOS: ReadonlyArray<readonly [string, (ctx: BenchContext) => Promise<void>]> = [
  ["limits", limitsScenario],
  ["live", liveScenario],
  ["latency", latencyScenario],
  ["backlog", backlogScenario],
  ["connections", connectionsScenario],
  ["normalizer", normalizerScenario],
  ["restart", restartScenario],
  ["room", roomScenario],
];
/** With --peers, what runs right after Parley's own run of a scenario, against the brokers. */
const PEER_SCENARIOS: ReadonlyMap<string, (ctx: BenchContext) => Promise<void>> = new Map([
  ["live", livePeersScenario],
  ["backlog", backlogPeersScenario],
]);
const PEERS_DEFAULT_SCENARIOS = ["limits", "live", "backlog"];
const PROFILED_TOP = 25;

const USAGE = `Usage: node dist/test/bench/bench.js [options]

  --quick               every scenario small (the whole run in under a minute)
  --scenario NAMES      run only these (comma-separated): ${SCENARIOS.map(([name]) => name).join(", ")}
                        (without "limits", the "bounded by" column stays empty)
  --json FILE           also write the results as JSON
  --db postgres://USER@HOST:PORT/DB
                        run every scenario with the server on PostgreSQL: each gets a fresh database
                        created beside DB (parley_bench_<pid>_<n>) and dropped afterwards, also on
                        failure or Ctrl-C; without --db, SQLite files in the temp folder
  --nodes N[,N…]        with --db: run live on one SQLite node, then on PostgreSQL with N server
                        processes on one database for each N (clients log in to the nodes round-robin,
                        so messages cross nodes), and print them side by side with where the CPU went
                        (nodes, PostgreSQL backends, load generators, the rest of the machine);
                        e.g. --db postgres://postgres@127.0.0.1:5432/postgres --nodes 1,2,3 --scenario live
  --cpu-prof            profile the server, every node of it (node --cpu-prof), and summarise each profile
  --profile-dir DIR     where the profiles go (default: a new folder under the temp folder)
  --generators N        load-generator processes for live and latency (default: 1 on 2 cores or fewer, else 2)
  --tmp DIR             where the temporary databases go (default: the system's temp folder)
  --keep                keep the temporary folder
  --peers               also run live and backlog, same sizes, against RabbitMQ (127.0.0.1:5672) and
                        Mosquitto (127.0.0.1:1883), and print a table comparing them with Parley
                        (default scenarios: ${PEERS_DEFAULT_SCENARIOS.join(",")}; implies --ack-each)
  --ack-each            Parley's clients ack every event with its own frame, not once per chunk
  --help                this text
`;

function machineInfo(tempDir: string): MachineInfo {
  const stat = fs.statfsSync(tempDir);
  let openFileLimit = "unknown";
  try {
    openFileLimit = execFileSync("bash", ["-c", "ulimit -Sn; ulimit -Hn"], { encoding: "utf8" })
      .trim()
      .split("\n")
      .join(" soft / ")
      .concat(" hard");
  } catch {}
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    node: process.version,
    kernel: os.release(),
    tempDir,
    diskFreeBytes: stat.bavail * stat.bsize,
    openFileLimit,
  };
}

async function withDeadline(ms: number, body: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`deadline of ${ms / 1000} s passed`)), ms);
  });
  try {
    await Promise.race([body, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean" },
      scenario: { type: "string" },
      json: { type: "string" },
      "cpu-prof": { type: "boolean" },
      "profile-dir": { type: "string" },
      generators: { type: "string" },
      tmp: { type: "string" },
      keep: { type: "boolean" },
      peers: { type: "boolean" },
      "ack-each": { type: "boolean" },
      db: { type: "string" },
      nodes: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!fs.existsSync(SERVER_MAIN)) {
    process.stderr.write(`bench: ${SERVER_MAIN} is missing; build first (npm run build)\n`);
    return 2;
  }
  const known = new Set(SCENARIOS.map(([name]) => name));
  const peers = values.peers === true;
  const wanted =
    values.scenario !== undefined
      ? values.scenario.split(",").map((name) => name.trim())
      : peers
        ? PEERS_DEFAULT_SCENARIOS
        : [...known];
  const unknown = wanted.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown scenario ${unknown.join(", ")}; one of ${[...known].join(", ")}\n`);
    return 2;
  }
  const cores = os.availableParallelism();
  const generators = values.generators === undefined ? (cores <= 2 ? 1 : 2) : Number(values.generators);
  if (!Number.isInteger(generators) || generators < 1) {
    process.stderr.write("bench: --generators must be a positive whole number\n");
    return 2;
  }

  if (values.db !== undefined && !/^postgres(?:ql)?:\/\//.test(values.db)) {
    process.stderr.write("bench: --db takes a postgres://USER@HOST:PORT/DB URL (SQLite is the default)\n");
    return 2;
  }
  const nodeCounts = values.nodes === undefined ? [] : values.nodes.split(",").map((n) => Number(n.trim()));
  if (nodeCounts.some((n) => !Number.isInteger(n) || n < 1)) {
    process.stderr.write("bench: --nodes takes positive whole numbers, e.g. 1,2,3\n");
    return 2;
  }
  if (nodeCounts.length > 0 && values.db === undefined) {
    process.stderr.write("bench: --nodes needs --db: several nodes share one PostgreSQL database\n");
    return 2;
  }

  const quick = values.quick === true;
  const tempRoot = values.tmp ?? os.tmpdir();
  fs.mkdirSync(tempRoot, { recursive: true });
  const tempDir = fs.mkdtempSync(path.join(tempRoot, "parley-bench-"));
  const profileDir = values["cpu-prof"]
    ? path.resolve(values["profile-dir"] ?? fs.mkdtempSync(path.join(os.tmpdir(), "parley-bench-profiles-")))
    : undefined;
  const sizes = quick ? QUICK : FULL;
  const ackEach = peers || values["ack-each"] === true;
  const databases = new BenchDatabases(values.db);
  const ctx = new BenchContext(sizes, quick, tempDir, generators, profileDir, databases, ackEach);
  // With --nodes, live runs once per setup: SQLite on one node (the default store), then
  // PostgreSQL on each number of nodes.
  const liveSetups: LiveSetup[] =
    nodeCounts.length === 0
      ? []
      : [
          { databases: new BenchDatabases(undefined), nodes: 1, scenario: "live sqlite/1" },
          ...nodeCounts.map((nodes) => ({ databases, nodes, scenario: `live postgres/${nodes}` })),
        ];
  // A long run stopped with Ctrl-C still shows what it measured so far.
  onInterrupt(async () => {
    const sideBySide = liveSetups.filter((setup) => ctx.rows.some((row) => row.scenario === setup.scenario));
    process.stdout.write(`\ninterrupted; the figures so far:\n\n${formatTable(ctx.rows)}\n`);
    if (sideBySide.length > 0) {
      const columns = sideBySide.map((setup) => setup.scenario);
      process.stdout.write(`\n${formatSideBySide(ctx.rows, columns)}\n`);
    }
    process.stdout.write(`\nnotes:\n${ctx.notes.map((note) => `- ${note}`).join("\n")}\n`);
  });
  const machine = machineInfo(tempDir);
  const startedAt = new Date();
  process.stdout.write(`${formatMachine(machine)}\n`);
  process.stdout.write(
    `${quick ? "quick" : "full"} run: ${wanted.join(", ")}; store ${databases.describe()}` +
      `${liveSetups.length > 0 ? `, live on ${liveSetups.map((setup) => setup.scenario.slice(5)).join(", ")}` : ""}; temp folder ${tempDir}\n`,
  );

  ctx.note(
    `the server and the load generators (${generators} process(es) for live/latency, ${sizes.connections.processes} for connections) share this machine's ${cores} cores`,
  );
  ctx.note(
    `the server runs with its defaults (embedded normalizer, ${databases.backend === "sqlite" ? "WAL + synchronous=FULL" : `PostgreSQL ${databases.describe()}, a fresh database per scenario`}, log level info: its 'listening' line is at info) plus --send-rate 0 ` +
      "(the per-user rate limit is not what is measured), --max-pending for the backlog, --scrypt-cost 1024 for the connections storm and the pairs of live and latency, " +
      "and for those pairs --login-failures-per-address 100000 (on PostgreSQL log-ins in flight count against it)",
  );
  ctx.note(
    "the connections scenario spreads its clients over source addresses 127.1x.y.z, 100 per address, " +
      "because the server limits connections per address (a policy, not what is measured)",
  );
  ctx.note(
    ackEach
      ? "clients ack every event on its own, one ack frame (upTo = that seq) per message or receipt, as the peers' consumers ack each message"
      : "clients ack once per chunk of input with the highest seq seen (cumulative upTo): every event is acknowledged",
  );
  if (peers) peerNotes(ctx);
  ctx.note(
    "ratio = value / bound: for a rate, the share of the machine's ceiling; for a time or a size, how many times the floor",
  );

  const failures: Array<{ scenario: string; error: string }> = [];
  for (const [name, run] of SCENARIOS) {
    if (!wanted.includes(name)) continue;
    const runs: Array<readonly [string, () => Promise<void>]> =
      name === "live" && liveSetups.length > 0
        ? liveSetups.map((setup) => [setup.scenario, () => liveScenario(ctx, setup)] as const)
        : [[name, () => run(ctx)]];
    for (const [label, body] of runs) {
      const started = performance.now();
      process.stderr.write(`bench: ${label}…\n`);
      try {
        await withDeadline(sizes.deadlineMs, body());
        process.stderr.write(
          `bench: ${label} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push({ scenario: label, error: message });
        process.stderr.write(`bench: ${label} FAILED: ${message}\n`);
        // Whatever the scenario left running goes now, so the next one starts clean.
        killAll();
      }
    }
    const peersRun = PEER_SCENARIOS.get(name);
    if (peers && peersRun !== undefined) {
      // Each broker's failure is in its cells; this only catches the unexpected.
      try {
        await withDeadline(sizes.deadlineMs, peersRun(ctx));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push({ scenario: `${name} (peers)`, error: message });
        process.stderr.write(`bench: ${name} on the peers FAILED: ${message}\n`);
        killAll();
      }
    }
  }

  const report: Report = {
    startedAt: startedAt.toISOString(),
    quick,
    machine,
    notes: ctx.notes,
    rows: ctx.rows,
    failures,
    profiles: ctx.profiles,
    ...(peers ? { comparison: ctx.comparison } : {}),
  };
  process.stdout.write(
    `\n${formatTable(ctx.rows)}\n\nnotes:\n${ctx.notes.map((note) => `- ${note}`).join("\n")}\n`,
  );
  if (liveSetups.length > 0) {
    const columns = liveSetups.map((setup) => setup.scenario);
    process.stdout.write(`\nlive, side by side (store/nodes):\n\n${formatSideBySide(ctx.rows, columns)}\n`);
  }
  if (peers) process.stdout.write(`\nParley beside the brokers:\n\n${formatComparison(ctx.comparison)}\n`);
  process.stdout.write(`\ntotal ${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)} s\n`);
  for (const failure of failures) process.stdout.write(`FAILED ${failure.scenario}: ${failure.error}\n`);
  if (values.json !== undefined) fs.writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);

  for (const profile of ctx.profiles) {
    process.stdout.write(`\nserver CPU profile, ${profile.scenario}:\n`);
    process.stdout.write(`${formatSummary(summarizeProfile(profile.file, PROFILED_TOP))}\n`);
  }
  // Each database is dropped when its scenario ends; this catches any a failure left behind.
  await databases.dropAll();
  if (values.keep) process.stdout.write(`kept ${tempDir}\n`);
  else fs.rmSync(tempDir, { recursive: true, force: true });
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
