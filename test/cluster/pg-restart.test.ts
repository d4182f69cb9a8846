// PostgreSQL itself restarted under load, twice: once killed (immediate shutdown, recovery at the
// next start) and kept down past the dead-node timeout, once stopped cleanly for a moment. Two
// nodes stay up throughout; each sender pipelines to a user on the other node. While the database
// is down sends are answered `unavailable` (not left hanging, not dropped, the nodes not crashing);
// senders resend those with the same cid once it is back. After each restart the same nodes accept
// sends again, the news listener listens again, no node reaps another, and at the end every
// acknowledged send was delivered exactly once, in per-sender order. A PostgreSQL of the test's
// own (the machine's shared one is never stopped).

import { expect } from "chai";
import pg from "pg";
import { DEAD_NODE_MS, HEARTBEAT_MS } from "../../server/store/postgres/node-membership.js";
import { type PrivatePostgres, type StopMode, startPrivatePostgres } from "../helpers/private-postgres.js";
import { Progress } from "../helpers/progress.js";
import { type ServerProcess, spawnNodes } from "../helpers/server-process.js";
import { type Frame, loggedIn, type TestClient } from "../helpers/test-client.js";

/** Sends each sender makes in all; the outages come after OUTAGE_MARKS of them are acknowledged. */
const SENDS = 1200;
const OUTAGE_MARKS = [300, 700];
const SEND_WINDOW = 16;
/** An answer slower than this, even while the database is down, counts as a hang. */
const RESPONSE_TIMEOUT_MS = 20_000;
const PHASE_TIMEOUT_MS = 60_000;

interface Sender {
  readonly user: string;
  readonly to: string;
  readonly client: TestClient;
  nextN: number;
  /** Answered unavailable: resent, in order and with the same cid, once the database is back. */
  readonly retry: number[];
  /** n → id of every send answered ok. */
  readonly acknowledged: Map<number, number>;
  inFlight: number;
  /** Holding its sends: it was answered unavailable, and the database is not known back. */
  paused: boolean;
  unavailable: number;
  lastOkAt: number;
}

interface Recipient {
  readonly user: string;
  readonly client: TestClient;
  lastSeq: number;
  /** Every message handled, in order: from, n, id. */
  readonly messages: Array<{ from: string; n: number; id: number }>;
}

const TEXT = /^(\w+) #(\d+)$/;

/** Resolves once `node` has written `count` lines with this msg after line `from`. */
async function linesAfter(node: ServerProcess, msg: string, from: number, count: number): Promise<void> {
  let cursor = from;
  for (let i = 0; i < count; i++) {
    const line = await node.waitForLine(
      (candidate) => candidate.msg === msg && node.lines.indexOf(candidate) >= cursor,
      PHASE_TIMEOUT_MS,
    );
    cursor = node.lines.indexOf(line) + 1;
  }
}

describe("PostgreSQL restarted under load (integration, child processes, a private PostgreSQL)", () => {
  let postgres: PrivatePostgres | undefined;
  let nodes: ServerProcess[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const node of nodes.splice(0)) await node.stop("SIGKILL");
    await postgres?.destroy();
    postgres = undefined;
  });

  it("answers unavailable while it is down, recovers without a node restart, and loses nothing acknowledged", async function () {
    // About a minute on a quiet machine; over two and a half with other tests running beside it.
    this.timeout(300_000);
    const db = await startPrivatePostgres();
    postgres = db;
    const url = await db.createDatabase("parley");
    nodes = await spawnNodes(url, 2);
    const [first, second] = nodes as [ServerProcess, ServerProcess];

    const login = async (node: ServerProcess, user: string) => {
      const client = await loggedIn(node.port, user);
      clients.push(client);
      return client;
    };
    const progress = new Progress();
    const violations: string[] = [];
    // Each sender's recipient is on the other node: every delivery crosses the news feed.
    const bob = await login(second, "bob");
    const dan = await login(first, "dan");
    const recipients: Recipient[] = [
      { user: "bob", client: bob, lastSeq: 0, messages: [] },
      { user: "dan", client: dan, lastSeq: 0, messages: [] },
    ];
    const sender = (user: string, to: string, client: TestClient): Sender => ({
      user,
      to,
      client,
      nextN: 0,
      retry: [],
      acknowledged: new Map(),
      inFlight: 0,
      paused: false,
      unavailable: 0,
      lastOkAt: 0,
    });
    const senders = [
      sender("ann", "bob", await login(first, "ann")),
      sender("cat", "dan", await login(second, "cat")),
    ];
    const everyone = [...senders.map((s) => s.client), bob, dan];
    const presenceLost = (): Frame[] =>
      everyone.flatMap((client) => client.received.filter((f) => f.ev === "presence" && f.online === false));

    const read = async (recipient: Recipient): Promise<void> => {
      for (;;) {
        let event: Frame;
        try {
          event = await recipient.client.expectEvent((e) => e.ev === "message", 600_000);
        } catch {
          return;
        }
        // A seq pushed again (none expected: the connection stays up) is dropped, as clients do.
        if (event.seq > recipient.lastSeq) {
          recipient.lastSeq = event.seq;
          const match = TEXT.exec(event.text);
          if (match === null) violations.push(`${recipient.user} got ${JSON.stringify(event)}`);
          else recipient.messages.push({ from: match[1]!, n: Number(match[2]), id: event.id });
        }
        recipient.client.ack(event.seq);
        progress.changed();
      }
    };
    const reading = recipients.map(read);

    const pump = (s: Sender): void => {
      while (!s.paused && s.inFlight < SEND_WINDOW) {
        const n = s.retry.shift() ?? (s.nextN < SENDS ? s.nextN++ : undefined);
        if (n === undefined) return;
        s.inFlight++;
        const rid = s.client.fire("send", { to: s.to, text: `${s.user} #${n}`, cid: `${s.user}-${n}` });
        void s.client.waitForResponse(rid, RESPONSE_TIMEOUT_MS).then(
          (response) => {
            s.inFlight--;
            if (response.ok === true) {
              const earlier = s.acknowledged.get(n);
              if (earlier !== undefined && earlier !== response.id)
                violations.push(`${s.user}-${n} answered id ${response.id} after ${earlier}`);
              s.acknowledged.set(n, response.id);
              s.lastOkAt = Date.now();
            } else if (response.error?.code === "unavailable") {
              s.unavailable++;
              s.paused = true;
              s.retry.push(n);
              s.retry.sort((a, b) => a - b);
            } else {
              violations.push(`${s.user}-${n} refused: ${JSON.stringify(response)}`);
            }
            progress.changed();
            pump(s);
          },
          (error: Error) => {
            s.inFlight--;
            violations.push(`${s.user}-${n} not answered: ${error.message}`);
            progress.changed();
          },
        );
      }
    };
    const resume = (): void => {
      for (const s of senders) {
        s.paused = false;
        pump(s);
      }
    };
    resume();

    const state = () =>
      JSON.stringify({
        senders: senders.map((s) => ({
          user: s.user,
          acked: s.acknowledged.size,
          inFlight: s.inFlight,
          paused: s.paused,
          retry: s.retry.length,
          unavailable: s.unavailable,
        })),
        received: recipients.map((r) => r.messages.length),
        violations: violations.slice(0, 3),
        crashed: nodes.filter((node) => node.child.exitCode !== null).map((node) => node.stderr.join("")),
      });
    const measured: string[] = [];

    const outage = async (
      mode: StopMode,
      mark: number,
      downPastDeadNodes: boolean,
      afterStart: () => Promise<void> = async () => {},
    ): Promise<void> => {
      await progress.until(() => senders.every((s) => s.acknowledged.size >= mark), PHASE_TIMEOUT_MS, state);
      const unavailableBefore = senders.map((s) => s.unavailable);
      const linesBefore = nodes.map((node) => node.lines.length);
      const stopped = Date.now();
      await db.stop(mode);
      // Both senders were pipelining: each learns of the outage from an answer, not a timeout.
      await progress.until(
        () => senders.every((s, i) => s.unavailable > unavailableBefore[i]!),
        RESPONSE_TIMEOUT_MS,
        state,
      );
      const firstUnavailableMs = Date.now() - stopped;
      if (downPastDeadNodes) {
        // Down past the dead-node timeout, counted in the nodes' own failed heartbeats (the
        // first may come at once, hence one more): each node's row is then old enough to look
        // dead to the first node back.
        const beats = Math.ceil(DEAD_NODE_MS / HEARTBEAT_MS) + 2;
        await Promise.all(
          nodes.map((node, i) => linesAfter(node, "store: heartbeat failed", linesBefore[i]!, beats)),
        );
      }
      const downMs = Date.now() - stopped;
      await db.start();
      const restarted = Date.now();
      await afterStart();
      resume();
      await progress.until(
        () => senders.every((s) => s.lastOkAt >= restarted),
        PHASE_TIMEOUT_MS,
        () => `no send accepted after the restart: ${state()}`,
      );
      const sendsBackMs = Date.now() - restarted;
      await Promise.all(
        nodes.map((node, i) =>
          linesAfter(node, "store: listening for other nodes' events again", linesBefore[i]!, 1),
        ),
      );
      const listeningMs = Date.now() - restarted;
      measured.push(
        `${mode} stop: first unavailable after ${firstUnavailableMs} ms, down ${downMs} ms; after the start ` +
          `sends accepted within ${sendsBackMs} ms, both listeners back within ${listeningMs} ms`,
      );
    };

    // Eve logs in on the first node at once, most likely before the second node listens again:
    // that notification is lost to it, and its users learn she is online from the re-read.
    let eve: TestClient | undefined;
    await outage("immediate", OUTAGE_MARKS[0]!, true, async () => {
      eve = await login(first, "eve");
    });
    await bob.expectEvent(
      (e) => e.ev === "presence" && e.user === "eve" && e.online === true,
      PHASE_TIMEOUT_MS,
    );
    expect(eve).to.not.equal(undefined);
    await outage("fast", OUTAGE_MARKS[1]!, false);

    const delivered = () =>
      senders.every((s) => {
        const recipient = recipients.find((r) => r.user === s.to)!;
        return recipient.messages.filter((m) => m.from === s.user).length >= s.acknowledged.size;
      });
    await progress.until(
      () => senders.every((s) => s.acknowledged.size === SENDS && s.inFlight === 0) && delivered(),
      PHASE_TIMEOUT_MS,
      state,
    );
    for (const line of measured) console.log(`      ${line}`);
    console.log(
      `      sends answered unavailable: ${senders.map((s) => `${s.user} ${s.unavailable}`).join(", ")}; ` +
        `delivered ${recipients.map((r) => `${r.user} ${r.messages.length}`).join(", ")}`,
    );

    expect(violations.slice(0, 10), `${violations.length} violations`).to.deep.equal([]);
    for (const s of senders) {
      const recipient = recipients.find((r) => r.user === s.to)!;
      const got = recipient.messages.filter((m) => m.from === s.user);
      // Exactly once, in send order, each with the id its send was answered with.
      expect(
        got.map((m) => m.n),
        `${s.user} → ${s.to} in order, once`,
      ).to.deep.equal(Array.from({ length: SENDS }, (_, n) => n));
      expect(
        got.every((m) => s.acknowledged.get(m.n) === m.id),
        `${s.user} → ${s.to} ids`,
      ).to.equal(true);
    }

    // Neither node took the other for dead, at the restart or since: nobody went offline, both
    // rows are there, heartbeating, and hold the five sessions.
    expect(presenceLost(), "presence: offline").to.deep.equal([]);
    for (const node of nodes) {
      expect(node.lines.filter((line) => /reaped/.test(String(line.msg)))).to.deep.equal([]);
      expect(node.child.exitCode).to.equal(null);
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // Both nodes still heartbeat: each row's heartbeat_at passes this moment, by the
      // database's clock. Waited for, not timed: a loaded machine may delay a beat.
      const { now } = (await client.query<{ now: Date }>("SELECT now()")).rows[0]!;
      const deadline = Date.now() + PHASE_TIMEOUT_MS;
      for (;;) {
        const beats = await client.query<{ beat: boolean }>("SELECT heartbeat_at > $1 AS beat FROM nodes", [
          now,
        ]);
        if (beats.rows.length === 2 && beats.rows.every((row) => row.beat)) break;
        expect(
          Date.now(),
          `heartbeats since ${now.toISOString()}: ${JSON.stringify(beats.rows)}`,
        ).to.be.below(deadline);
        await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS / 3));
      }
      const sessions = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM device_sessions");
      expect(sessions.rows[0]!.n).to.equal(5);
    } finally {
      await client.end();
    }

    for (const node of nodes)
      expect(
        await node.stop("SIGTERM"),
        `${JSON.stringify(node.lines.slice(-5))} ${node.stderr.join("")}`,
      ).to.equal(0);
    nodes = [];
    await Promise.all(reading);
  });
});
