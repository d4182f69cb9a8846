// A small cross-node throughput measurement, outside `npm run bench` (whose scenarios read the
// SQLite file directly): senders and receivers spread over N server processes, each sender
// pipelining its messages to a receiver on another node; messages/s from the first send to the
// last message received (and acknowledged).
//
//   node dist/test/bench/nodes-live.js --db postgres://postgres@127.0.0.1:5432/postgres --nodes 3
//   node dist/test/bench/nodes-live.js            (SQLite, one node, in a temp folder)
//
// With --db postgres://…/NAME, a database NAME_bench_<pid> is created beside it and dropped.

import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { loggedIn, type TestClient } from "../helpers/test-client.js";

const { values } = parseArgs({
  options: {
    db: { type: "string" },
    nodes: { type: "string", default: "1" },
    pairs: { type: "string", default: "6" },
    messages: { type: "string", default: "300" },
  },
});
const nodeCount = Number(values.nodes);
const pairs = Number(values.pairs);
const perSender = Number(values.messages);

let dbPath: string;
let cleanup: () => Promise<void>;
if (values.db?.startsWith("postgres")) {
  const admin = new URL(values.db);
  const name = `${admin.pathname.slice(1) || "postgres"}_bench_${process.pid}`.replace(/[^a-z0-9_]/g, "_");
  const client = new pg.Client({ connectionString: values.db });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  const url = new URL(values.db);
  url.pathname = `/${name}`;
  dbPath = url.toString();
  cleanup = async () => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  };
} else {
  const temp = makeTempDir("parley-nodes-bench-");
  dbPath = path.join(temp.dir, "parley.db");
  cleanup = async () => temp.remove();
}

const nodes = [await spawnServer(dbPath)];
for (let i = 1; i < nodeCount; i++) nodes.push(await spawnServer(dbPath));
const clients: TestClient[] = [];
try {
  const senders: TestClient[] = [];
  const receivers: TestClient[] = [];
  for (let i = 0; i < pairs; i++) {
    senders.push(await loggedIn(nodes[i % nodeCount]!.port, `s${i}`));
    receivers.push(await loggedIn(nodes[(i + 1) % nodeCount]!.port, `r${i}`));
  }
  clients.push(...senders, ...receivers);
  const started = performance.now();
  senders.forEach((sender, i) => {
    for (let j = 0; j < perSender; j++) sender.fire("send", { to: `r${i}`, text: `m${j}`, cid: `c${j}` });
  });
  await Promise.all(receivers.map((receiver) => receiver.collectMessages(perSender, { timeoutMs: 120_000 })));
  const seconds = (performance.now() - started) / 1000;
  const total = pairs * perSender;
  const backend = dbPath.startsWith("postgres") ? "postgres" : "sqlite";
  console.log(
    `${backend} nodes=${nodeCount} pairs=${pairs}: ${total} messages in ${seconds.toFixed(2)} s = ${(total / seconds).toFixed(0)} msg/s`,
  );
} finally {
  for (const client of clients) client.destroy();
  for (const node of nodes) await node.stop();
  await cleanup();
}
