// The SQLite store's own thread: it owns the connection, so group commit and its fsync run off
// the server's event loop, on the second core. It takes batches of calls and answers in batches,
// with the users each commit gave new events to.

import { parentPort, workerData } from "node:worker_threads";
import { openSqliteStore } from "../open-store.js";
import { type CommitRecord, type LiveEvent, StoreError } from "../store.js";
import type { SqliteStore } from "./sqlite-store.js";
import type { CallOutcome, FromWorker, SerializedError, StoreCall, ToWorker } from "./worker-messages.js";

const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);

let outcomes: CallOutcome[] = [];
let events: LiveEvent[] = [];
let commits: CommitRecord[] = [];
let flushScheduled = false;

function flushLater(store: SqliteStore): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(() => flushNow(store));
}

function flushNow(store: SqliteStore): void {
  flushScheduled = false;
  if (outcomes.length === 0 && events.length === 0 && commits.length === 0) return;
  const message: FromWorker = { outcomes, events, commits, unnormalized: store.hasUnnormalized() };
  outcomes = [];
  events = [];
  commits = [];
  post(message);
}

function serialize(error: unknown): SerializedError {
  if (error instanceof StoreError) return { kind: "store", code: error.code, message: error.message };
  const known = error instanceof Error ? error : new Error(String(error));
  return { kind: "other", name: known.name, message: known.message };
}

function run(store: SqliteStore, call: StoreCall): Promise<unknown> {
  if (call.method === "pragmaForTests") {
    return Promise.resolve(store.databaseForTests().pragma(call.args[0] as string));
  }
  const method = (store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[call.method];
  if (typeof method !== "function") return Promise.reject(new Error(`no store method ${call.method}`));
  return method.apply(store, call.args as unknown[]);
}

async function main(): Promise<void> {
  let store: SqliteStore;
  try {
    store = await openSqliteStore({
      path: (workerData as { path: string }).path,
      logger: { error: (msg, fields) => post({ log: { msg, fields } }) },
    });
  } catch (error) {
    post({ openFailed: error instanceof Error ? error.message : String(error) });
    return;
  }
  store.onCommits((committed) => {
    for (const commit of committed) commits.push(commit);
    flushLater(store);
  });
  store.onNewEvents((news) => {
    for (const live of news) events.push(live);
    flushLater(store);
  });
  port.on("message", (message: ToWorker) => {
    if ("close" in message) {
      void store.close().then(() => {
        // The answers to the last writes go before the thread does.
        flushNow(store);
        post({ closed: true });
        port.close();
      });
      return;
    }
    for (const call of message.calls) {
      run(store, call).then(
        (value) => {
          outcomes.push({ id: call.id, ok: true, value });
          flushLater(store);
        },
        (error: unknown) => {
          outcomes.push({ id: call.id, ok: false, error: serialize(error) });
          flushLater(store);
        },
      );
    }
  });
  post({ ready: true, unnormalized: store.hasUnnormalized() });
}

void main();
