// 10,000 random byte strings, JSON values and requests thrown at a live in-process server over
// 20 concurrent connections, half of them logged in; then the server must still serve a fresh
// pair of users end to end, and its database must pass SQLite's integrity check.

import { expect } from "chai";
import fc from "fast-check";
import { type ErrorCode, OPS, type Op } from "../../server/protocol/messages.js";
import type { WorkerStore } from "../../server/store/sqlite/worker-store.js";
import { type Frame, PASSWORD, TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";
import {
  anyJsonText,
  anyRequestBody,
  FRAMING_EVENT_CODES,
  OP_ERROR_CODES,
  type RequestBody,
  requestLine,
} from "./fuzz-requests.js";

const TOTAL_ITEMS = 10_000;
const CONNECTIONS = 20;
/** Connections 0 … LOGGED_IN-1 log in as w0, w1, …; the others start anonymous. */
const LOGGED_IN = 10;
/** Items written at once, followed by a ping that says they have all been handled. */
const BATCH = 25;
const PING_TIMEOUT_MS = 20_000;
/** Bigger than the default frame limit (65,536 bytes), so the server refuses it and closes. */
const OVERSIZED_BYTES = 70_000;

const WORKER_USERS = Array.from({ length: LOGGED_IN }, (_, index) => `w${index}`);
/** Names random requests use for user, to and with: the workers, and two nobody logs in as. */
const USER_NAMES = [...WORKER_USERS, "ghost", "fresh"];

type Item =
  | { readonly kind: "bytes" | "json" | "oversized"; readonly data: Buffer }
  | { readonly kind: "request"; readonly body: RequestBody };

const garbageBytes = fc
  .uint8Array({ maxLength: 200 })
  .map((bytes): Item => ({ kind: "bytes", data: Buffer.concat([bytes, Buffer.from("\n")]) }));
const garbageJson = anyJsonText.map((text): Item => ({ kind: "json", data: Buffer.from(`${text}\n`) }));
const oversized = fc
  .integer({ min: 0, max: 255 })
  .map((byte): Item => ({ kind: "oversized", data: Buffer.alloc(OVERSIZED_BYTES, byte === 10 ? 0 : byte) }));

/** Before log-in: mostly garbage, and requests to any op. */
const anonymousItem: fc.Arbitrary<Item> = fc.oneof(
  { weight: 150, arbitrary: garbageBytes },
  { weight: 100, arbitrary: garbageJson },
  { weight: 250, arbitrary: anyRequestBody(USER_NAMES).map((body): Item => ({ kind: "request", body })) },
  { weight: 1, arbitrary: oversized },
);

/**
 * Logged in: mostly requests, weighted towards what a session does (send, ack, read, history),
 * so that stored messages, deliveries and receipts happen; logout and unregister are rare, as
 * each one ends the connection and with it the rest of its batch.
 */
const sessionItem: fc.Arbitrary<Item> = fc.oneof(
  { weight: 100, arbitrary: garbageBytes },
  { weight: 50, arbitrary: garbageJson },
  {
    weight: 350,
    arbitrary: anyRequestBody(USER_NAMES, {
      send: 30,
      ack: 10,
      read: 6,
      history: 6,
      users: 3,
      ping: 3,
      hello: 3,
      login: 3,
      register: 3,
      logout: 1,
      unregister: 1,
    }).map((body): Item => ({ kind: "request", body })),
  },
  { weight: 1, arbitrary: oversized },
);

const ALL_CODES = new Set<ErrorCode>([...Object.values(OP_ERROR_CODES).flat(), "bad_frame", "unknown_op"]);

describe("random bytes, JSON and requests against a live server (integration)", () => {
  let server: TestServer;
  const clients = new Set<TestClient>();

  beforeEach(async () => {
    // Random log-ins fail all the time, from one address: without this the throttle would soon
    // refuse the workers' own log-ins, and the throttle is not what this test is about.
    server = await startTestServer({ loginFailuresPerUserPerMin: 1e9, loginFailuresPerAddressPerMin: 1e9 });
  });
  afterEach(async () => {
    for (const client of clients) client.destroy();
    clients.clear();
    await server.stop();
  });

  it("keeps answering through 10,000 random items on 20 connections, and its database stays intact", async function () {
    this.timeout(120_000);
    const seed = Number(process.env.PARLEY_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`live fuzz: seed ${seed} (PARLEY_FUZZ_SEED=${seed} replays it)`);
    const perConnection = TOTAL_ITEMS / CONNECTIONS;
    const itemsOf = Array.from({ length: CONNECTIONS }, (_, index) =>
      fc.sample(index < LOGGED_IN ? sessionItem : anonymousItem, {
        numRuns: perConnection,
        seed: seed + index,
      }),
    );

    const opOfRid = new Map<string, Op>();
    const violations: string[] = [];
    const stats = {
      bytes: 0,
      json: 0,
      request: 0,
      oversized: 0,
      okResponses: 0,
      errorResponses: 0,
      errorEvents: 0,
      reconnects: 0,
      okByOp: {} as Record<string, number>,
      closedBy: {} as Record<string, number>,
    };

    const open = async (index: number): Promise<TestClient> => {
      for (let attempt = 1; ; attempt++) {
        const client = await TestClient.connect(server.port);
        clients.add(client);
        if (index >= LOGGED_IN) return client;
        // A random unregister may have deleted the account: create it again when it is gone.
        // Other connections can get in the way (a random login as this user replaces the
        // session, a random unregister deletes it between register and login): try again.
        // A random register may even have taken the name back with another password: after
        // a few tries, use a name of this worker's own.
        const user = attempt <= 3 ? WORKER_USERS[index]! : `${WORKER_USERS[index]}-${attempt}`;
        const registered = await client
          .request("register", { user, password: PASSWORD })
          .catch(() => undefined);
        if (registered !== undefined && !registered.ok && registered.error.code !== "user_exists")
          throw new Error(`register ${user}: ${JSON.stringify(registered)}`);
        const login = await client.request("login", { user, password: PASSWORD }).catch(() => undefined);
        if (login?.ok === true) return client;
        if (attempt === 10) throw new Error(`cannot log in as ${user}: ${JSON.stringify(login)}`);
        client.destroy();
        clients.delete(client);
        stats.reconnects++;
      }
    };

    /** Checks every frame the server wrote; returns the last one that announces a close. */
    const audit = (frames: readonly Frame[], ending: string | undefined): string | undefined => {
      for (const frame of frames) {
        if ("ok" in frame) {
          const op = opOfRid.get(String(frame.rid));
          if (frame.ok === true) {
            stats.okResponses++;
            if (op !== undefined) stats.okByOp[op] = (stats.okByOp[op] ?? 0) + 1;
            if (op === "logout" || op === "unregister") ending = op;
            continue;
          }
          stats.errorResponses++;
          const code = frame.error?.code as ErrorCode;
          const allowed = op === undefined ? ALL_CODES : new Set(OP_ERROR_CODES[op]);
          if (!allowed.has(code)) violations.push(`${op ?? "unknown rid"} answered ${JSON.stringify(frame)}`);
        } else if (frame.ev === "error") {
          stats.errorEvents++;
          if (!FRAMING_EVENT_CODES.includes(frame.code))
            violations.push(`error event ${JSON.stringify(frame)}`);
          ending = frame.code;
        } else if (frame.ev === "session_replaced" || frame.ev === "shutdown") {
          ending = frame.ev;
        }
      }
      return ending;
    };

    let failed = false;
    const worker = async (index: number): Promise<void> => {
      let client = await open(index);
      let audited = 0;
      let ending: string | undefined;
      let requests = 0;
      const items = itemsOf[index]!;
      for (let taken = 0; taken < items.length && !failed; taken += BATCH) {
        const batch = items.slice(taken, taken + BATCH);
        const lines = batch.map((item) => {
          stats[item.kind]++;
          if (item.kind !== "request") return item.data;
          const rid = `r${index}-${++requests}`;
          opOfRid.set(rid, item.body.op);
          return Buffer.from(requestLine(item.body, rid));
        });
        const ping = `p${index}-${++requests}`;
        opOfRid.set(ping, "ping");
        client.write(
          Buffer.concat([...lines, Buffer.from(`${JSON.stringify({ op: "ping", rid: ping })}\n`)]),
        );
        await client.waitForResponse(ping, PING_TIMEOUT_MS).catch((error: Error) => {
          // Closed by the server (too_many_errors, frame_too_large, logout, …) is fine; silence is not.
          if (!client.isClosed) throw new Error(`connection ${index}: ${error.message}`);
        });
        // The frame that announces a close may come with the ping's response, before the close.
        ending = audit(client.received.slice(audited), ending);
        audited = client.received.length;
        if (client.isClosed) {
          const reason = ending ?? "no last frame";
          stats.closedBy[reason] = (stats.closedBy[reason] ?? 0) + 1;
          clients.delete(client);
          client = await open(index);
          audited = 0;
          ending = undefined;
          stats.reconnects++;
        }
      }
      client.destroy();
      clients.delete(client);
    };

    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, index) =>
        worker(index).catch((error: unknown) => {
          failed = true;
          throw error;
        }),
      ),
    );
    const elapsedMs = Date.now() - started;
    console.log(`live fuzz: ${JSON.stringify({ ...stats, elapsedMs })}`);
    expect(violations.slice(0, 10), `${violations.length} bad answers`).to.deep.equal([]);
    expect(stats.bytes + stats.json + stats.request + stats.oversized).to.equal(TOTAL_ITEMS);

    // Still serving: two fresh users register, log in, exchange a message and its receipt.
    const fresh = async (user: string) => {
      const client = await TestClient.connect(server.port);
      clients.add(client);
      await client.ok("register", { user, password: PASSWORD });
      await client.ok("login", { user, password: PASSWORD });
      return client;
    };
    const sender = await fresh("after-a");
    const recipient = await fresh("after-b");
    const sent = await sender.ok("send", { to: "after-b", text: "  still   here ", cid: "after-1" });
    const message = await recipient
      .expectEvent((event) => event.ev === "message", 10_000)
      .catch(() => {
        const warnings = server.logLines.filter((line) => line.level === "warn" || line.level === "error");
        throw new Error(
          `a fresh send (id ${sent.id}) was not delivered within 10 s; the server's last warnings: ${JSON.stringify(warnings.slice(-3))}`,
        );
      });
    expect(message).to.deep.include({ id: sent.id, from: "after-a", to: "after-b", text: "still here" });
    recipient.ack(message.seq);
    const receipt = await sender.expectEvent((event) => event.ev === "receipt", 10_000);
    expect(receipt).to.deep.include({ id: sent.id, to: "after-b", status: "delivered" });
    const { users } = await sender.ok("users");
    expect(users.map((entry: Frame) => entry.user)).to.include.members(["after-a", "after-b"]);

    const store = server.store as WorkerStore;
    expect(await store.pragmaForTests("integrity_check")).to.deep.equal([{ integrity_check: "ok" }]);
    expect(await store.pragmaForTests("foreign_key_check")).to.deep.equal([]);
    const unexpected = server.logLines.filter((line) => line.level === "error");
    expect(unexpected.slice(0, 5), "error lines in the server's log").to.deep.equal([]);
    expect(
      OPS.every((op) => [...opOfRid.values()].includes(op)),
      "every op was tried",
    ).to.equal(true);
  });
});
