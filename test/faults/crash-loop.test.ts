// The server as a child process, killed with SIGKILL at random moments twenty times while four
// senders pipeline messages to recipients who are online or mostly offline, two of the senders
// also to a room, and one recipient reads on two devices: one mostly online, one mostly
// offline, each dropping its connection at random moments and acknowledging for itself.
// Senders resend every unanswered send with the same cid after each restart; every device
// drops redelivered seqs. At the end every acknowledged send must have reached each device of
// its recipient (of every other room member, for a room send) once, in per-sender order, every
// delivered receipt must match a message its recipient acknowledged, one per direct message,
// and the database must pass SQLite's integrity check, or on PostgreSQL amcheck of every index
// and the store's own invariants in SQL.

import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import pg from "pg";
import { BACKENDS, type Backend } from "../helpers/backends.js";
import { createTestDatabase, type TestDatabase } from "../helpers/pg-database.js";
import { Progress } from "../helpers/progress.js";
import { type ServerProcess, spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { type Frame, PASSWORD, TestClient } from "../helpers/test-client.js";

/**
 * Kills, sends per sender, and the bounds on the drain after the last restart and on the whole
 * test. On PostgreSQL a send costs about ten round trips inside its group commit (~10 ms on a
 * loaded two-core machine, against well under 1 ms on SQLite) and a start about twice as long,
 * and CI's whole suite has 25 minutes: 2,500 sends a sender did not drain within a minute of the
 * last restart there, nor 800 with other tests running beside it. Fewer still kill it mid-send.
 */
const PLAN: Record<
  Backend,
  {
    readonly kills: number;
    readonly sendsPerSender: number;
    readonly drainMs: number;
    readonly testMs: number;
  }
> = {
  sqlite: { kills: 20, sendsPerSender: 5000, drainMs: 60_000, testMs: 150_000 },
  postgres: { kills: 10, sendsPerSender: 400, drainMs: 120_000, testMs: 300_000 },
};
const SENDERS = ["s0", "s1", "s2", "s3"];
const ONLINE_RECIPIENTS = ["r0", "r1"];
/** Log in only now and then during the kills (with this chance per server life), and at the end. */
const OFFLINE_RECIPIENTS = ["r2", "r3"];
const OFFLINE_LOGIN_CHANCE = 0.3;
/** The recipient with two devices, both known (logged in once) before anything is sent. */
const TWO_DEVICE_USER = "d";
/** Per server life: the chance to log in at all, to drop the connection at a random moment
 * (at most MAX_DROP_DELAY_MS after logging in), and to log in again after such a drop. */
const DEVICES: ReadonlyArray<{ device: string; login: number; drop: number; reconnect: number }> = [
  { device: "a", login: 0.9, drop: 0.5, reconnect: 0.8 },
  { device: "b", login: 0.3, drop: 0.5, reconnect: 0.3 },
];
const MAX_DROP_DELAY_MS = 300;
/** Created by the first room sender before the kills; its members are the room senders and these. */
const ROOM = "#crash";
const ROOM_SENDERS = ["s0", "s1"];
const ROOM_RECIPIENTS = ["r0", "r2", TWO_DEVICE_USER];
/** The share of a room sender's sends that go to the room. */
const ROOM_SHARE = 0.25;
/** Sends a sender keeps unanswered on the wire. */
const SEND_WINDOW = 16;
/** The chaos: how long after every sender is logged in the server is killed, at most. */
const MAX_CHAOS_DELAY_MS = 600;
const LIFE_START_DEADLINE_MS = 20_000;
const RESPONSE_TIMEOUT_MS = 30_000;
/** Longer than any wait here; a connection's reader stops when it closes, not on this. */
const EVENT_TIMEOUT_MS = 300_000;

/** mulberry32: a small seeded PRNG, so a failing run's choices can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Life {
  readonly number: number;
  readonly port: number;
  /** The last life: nobody is killed any more, everyone logs in and drains. */
  readonly final: boolean;
}

/** The server's successive lives, for the actors to follow. */
class Lives {
  #current: Life | undefined;
  #over = false;
  readonly #progress: Progress;

  constructor(progress: Progress) {
    this.#progress = progress;
  }

  begin(life: Life): void {
    this.#current = life;
    this.#progress.changed();
  }

  finish(): void {
    this.#over = true;
    this.#progress.changed();
  }

  /** The life now, or undefined once the test is over. */
  get current(): Life | undefined {
    return this.#over ? undefined : this.#current;
  }

  /** The first life after `after`, or undefined once the test is over. */
  async next(after: number): Promise<Life | undefined> {
    await this.#progress.until(
      () => this.#over || (this.#current !== undefined && this.#current.number > after),
      EVENT_TIMEOUT_MS,
      () => `no server life after ${after}`,
    );
    return this.#over ? undefined : this.#current;
  }
}

interface PendingSend {
  readonly n: number;
  readonly cid: string;
  readonly to: string;
  readonly text: string;
  attempts: number;
}

/** One device of a user (the default one, unless named), with its own inbox position. */
interface Actor {
  readonly user: string;
  readonly device?: string;
  /** user, or user/device. */
  readonly label: string;
  /** The highest inbox seq handled: anything at or below it is a redelivery. */
  lastSeq: number;
  redelivered: number;
  /** The last server life in which this actor logged in. */
  loggedInLife: number;
  logins: number;
  /** Every message handled, in the order handled. */
  readonly messages: Array<{ id: number; from: string; to: string; n: number; seq: number }>;
  readonly ids: Set<number>;
  /** Every room event handled. */
  readonly roomEvents: Frame[];
}

interface Sender extends Actor {
  readonly random: () => number;
  nextN: number;
  readonly unanswered: Map<number, PendingSend>;
  /** Sends to the room, from some of the senders. */
  readonly roomShare: number;
  /** n → { id, to } of every send answered ok. */
  readonly acknowledged: Map<number, { id: number; to: string }>;
  fired: number;
  /** Sends on the wire, not yet answered. */
  inFlight: number;
  resent: number;
  answeredDuplicate: number;
  /** id → recipient of each `delivered` receipt. */
  readonly delivered: Map<number, string>;
}

interface Recipient extends Actor {
  readonly random: () => number;
  readonly online: boolean;
}

interface Device extends Actor {
  readonly device: string;
  readonly random: () => number;
  readonly policy: (typeof DEVICES)[number];
  /** Connections this test dropped on purpose, and log-ins after such a drop in the same life. */
  drops: number;
  reconnects: number;
}

const TEXT = /^(s\d+) #(\d+)$/;

for (const backend of BACKENDS) {
  describe(`SIGKILL at random moments (integration, child process, ${backend})`, () => {
    const KILLS = PLAN[backend].kills;
    const SENDS_PER_SENDER = PLAN[backend].sendsPerSender;
    const DRAIN_DEADLINE_MS = PLAN[backend].drainMs;
    let temp: ReturnType<typeof makeTempDir>;
    let database: TestDatabase | undefined;
    let server: ServerProcess | undefined;
    let lives: Lives | undefined;
    const clients = new Set<TestClient>();

    beforeEach(() => {
      temp = makeTempDir("parley-crash-");
    });
    afterEach(async () => {
      // Ends the actors' loops, should the test have failed half way.
      lives?.finish();
      lives = undefined;
      for (const client of clients) client.destroy();
      clients.clear();
      if (server !== undefined && server.child.exitCode === null && server.child.signalCode === null)
        await server.stop("SIGKILL");
      server = undefined;
      temp.remove();
      await database?.drop();
      database = undefined;
    });

    it(`loses, duplicates and reorders nothing acknowledged across ${KILLS} kills, and the database stays intact`, async function () {
      this.timeout(PLAN[backend].testMs);
      const seed = Number(process.env.PARLEY_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
      console.log(`crash loop: seed ${seed} (PARLEY_CRASH_SEED=${seed} replays its choices)`);
      const chaos = prng(seed);
      if (backend === "postgres") database = await createTestDatabase();
      const dbPath = database?.url ?? path.join(temp.dir, "parley.db");
      const progress = new Progress();
      const world = new Lives(progress);
      lives = world;
      const violations: string[] = [];
      const started = Date.now();

      const inbox = (user: string, device?: string) => ({
        user,
        device,
        label: device === undefined ? user : `${user}/${device}`,
        lastSeq: 0,
        redelivered: 0,
        loggedInLife: -1,
        logins: 0,
        messages: [],
        ids: new Set<number>(),
        roomEvents: [],
      });
      const senders: Sender[] = SENDERS.map((user, index) => ({
        ...inbox(user),
        random: prng(seed + 1000 + index),
        roomShare: ROOM_SENDERS.includes(user) ? ROOM_SHARE : 0,
        nextN: 0,
        unanswered: new Map(),
        acknowledged: new Map(),
        fired: 0,
        inFlight: 0,
        resent: 0,
        answeredDuplicate: 0,
        delivered: new Map(),
      }));
      const recipients: Recipient[] = [...ONLINE_RECIPIENTS, ...OFFLINE_RECIPIENTS].map((user, index) => ({
        ...inbox(user),
        random: prng(seed + 2000 + index),
        online: ONLINE_RECIPIENTS.includes(user),
      }));
      const devices: Device[] = DEVICES.map((policy, index) => ({
        ...inbox(TWO_DEVICE_USER, policy.device),
        device: policy.device,
        random: prng(seed + 3000 + index),
        policy,
        drops: 0,
        reconnects: 0,
      }));
      const actors: Actor[] = [...senders, ...recipients, ...devices];
      const senderNamed = new Map(senders.map((sender) => [sender.user, sender]));
      /** user → its devices here (one, the default, for all but the two-device user). */
      const devicesOf = new Map<string, Actor[]>();
      for (const actor of actors) devicesOf.set(actor.user, [...(devicesOf.get(actor.user) ?? []), actor]);
      const roomMembers = [...ROOM_SENDERS, ...ROOM_RECIPIENTS];
      const roomDevices = roomMembers.flatMap((user) => devicesOf.get(user)!);
      /** The devices that must each get a send from `from` to `to` once. */
      const targetsOf = (from: string, to: string): Actor[] =>
        to === ROOM ? roomDevices.filter((device) => device.user !== from) : devicesOf.get(to)!;
      const directTargets = [...ONLINE_RECIPIENTS, ...OFFLINE_RECIPIENTS, TWO_DEVICE_USER];

      /** Connects and logs in for this life; undefined when the server died first. */
      const logIn = async (actor: Actor, life: Life): Promise<TestClient | undefined> => {
        let client: TestClient;
        try {
          client = await TestClient.connect(life.port);
        } catch {
          return undefined;
        }
        clients.add(client);
        void client.closed.then(() => clients.delete(client));
        try {
          await client.ok(
            "login",
            actor.device === undefined
              ? { user: actor.user, password: PASSWORD }
              : { user: actor.user, password: PASSWORD, device: actor.device },
          );
        } catch (error) {
          if (!client.isClosed) throw error;
          return undefined;
        }
        actor.loggedInLife = life.number;
        actor.logins++;
        progress.changed();
        return client;
      };

      /** Handles inbox events until the connection closes: drops redelivered seqs, acks the rest. */
      const readInbox = async (client: TestClient, actor: Actor): Promise<void> => {
        let connectionSeq = 0;
        for (;;) {
          let event: Frame;
          try {
            event = await client.expectEvent(
              (e) => e.ev === "message" || e.ev === "receipt" || e.ev === "room",
              EVENT_TIMEOUT_MS,
            );
          } catch {
            return;
          }
          if (event.seq <= connectionSeq)
            violations.push(`${actor.label}: seq ${event.seq} after ${connectionSeq} on one connection`);
          connectionSeq = event.seq;
          if (event.seq <= actor.lastSeq) {
            actor.redelivered++;
          } else {
            actor.lastSeq = event.seq;
            handleEvent(actor, event);
          }
          client.ack(event.seq);
          progress.changed();
        }
      };

      const handleMessage = (actor: Actor, event: Frame): void => {
        const match = TEXT.exec(event.text);
        const forMe = event.to === actor.user || (event.to === ROOM && roomMembers.includes(actor.user));
        // Nobody here sends from a second device, so nobody gets a copy of their own send.
        if (!forMe || event.from === actor.user || match === null || match[1] !== event.from) {
          violations.push(`${actor.label} got a message it cannot read: ${JSON.stringify(event)}`);
          return;
        }
        if (actor.ids.has(event.id))
          violations.push(`${actor.label} got id ${event.id} again with a new seq ${event.seq}`);
        actor.ids.add(event.id);
        actor.messages.push({
          id: event.id,
          from: event.from,
          to: event.to,
          n: Number(match[2]),
          seq: event.seq,
        });
      };

      const handleEvent = (actor: Actor, event: Frame): void => {
        if (event.ev === "message") handleMessage(actor, event);
        else if (event.ev === "room") actor.roomEvents.push(event);
        else if (senderNamed.get(actor.user) === actor) handleReceipt(actor as Sender, event);
        else violations.push(`${actor.label} got an unexpected ${JSON.stringify(event)}`);
      };

      const handleReceipt = (sender: Sender, event: Frame): void => {
        if (event.status !== "delivered" || event.to === ROOM) {
          violations.push(`${sender.user} got an unexpected receipt ${JSON.stringify(event)}`);
          return;
        }
        if (sender.delivered.has(event.id))
          violations.push(`${sender.user} got a second delivered receipt for id ${event.id}`);
        sender.delivered.set(event.id, event.to);
      };

      /** New sends this sender may make by the end of `life`: spread over the lives, all by the last. */
      const budget = (life: Life): number =>
        life.final ? SENDS_PER_SENDER : Math.ceil(((life.number + 1) * SENDS_PER_SENDER) / (KILLS + 1));

      const sendAll = async (client: TestClient, sender: Sender, life: Life): Promise<void> => {
        // Unanswered sends first, in their original order and with their original cid.
        const queue = [...sender.unanswered.values()].sort((a, b) => a.n - b.n);
        const responses: Array<Promise<void>> = [];
        let freed: (() => void) | undefined;
        for (;;) {
          while (sender.inFlight >= SEND_WINDOW && !client.isClosed)
            await new Promise<void>((resolve) => {
              freed = resolve;
            });
          if (client.isClosed) break;
          let send = queue.shift();
          if (send === undefined) {
            if (sender.nextN >= budget(life)) break;
            const n = sender.nextN++;
            const to =
              sender.random() < sender.roomShare
                ? ROOM
                : directTargets[Math.floor(sender.random() * directTargets.length)]!;
            // The spaces are there for the normalizer to remove.
            send = { n, cid: `${sender.user}-${n}`, to, text: `  ${sender.user}   #${n} `, attempts: 0 };
            sender.unanswered.set(n, send);
          }
          const pending = send;
          if (pending.attempts > 0) sender.resent++;
          pending.attempts++;
          sender.fired++;
          sender.inFlight++;
          const rid = client.fire("send", { to: pending.to, text: pending.text, cid: pending.cid });
          responses.push(
            client
              .waitForResponse(rid, RESPONSE_TIMEOUT_MS)
              .then(
                (response) => {
                  if (response.ok !== true) {
                    violations.push(`${sender.user} #${pending.n} refused: ${JSON.stringify(response)}`);
                    return;
                  }
                  const earlier = sender.acknowledged.get(pending.n);
                  if (earlier !== undefined && earlier.id !== response.id)
                    violations.push(`${pending.cid} answered id ${response.id} after ${earlier.id}`);
                  if (response.duplicate === true) {
                    sender.answeredDuplicate++;
                    if (pending.attempts === 1)
                      violations.push(`${pending.cid} was new, yet answered duplicate`);
                  }
                  sender.acknowledged.set(pending.n, { id: response.id, to: pending.to });
                  sender.unanswered.delete(pending.n);
                },
                () => {
                  // Closed before the answer: it stays unanswered and is resent in the next life.
                },
              )
              .finally(() => {
                sender.inFlight--;
                freed?.();
                progress.changed();
              }),
          );
        }
        await Promise.all(responses);
      };

      const runSender = async (sender: Sender): Promise<void> => {
        for (let after = -1; ; ) {
          const life = await world.next(after);
          if (life === undefined) return;
          after = life.number;
          const client = await logIn(sender, life);
          if (client === undefined) continue;
          const reading = readInbox(client, sender);
          await sendAll(client, sender, life);
          await client.closed;
          await reading;
        }
      };

      const runRecipient = async (recipient: Recipient): Promise<void> => {
        for (let after = -1; ; ) {
          const life = await world.next(after);
          if (life === undefined) return;
          after = life.number;
          if (!recipient.online && !life.final && recipient.random() >= OFFLINE_LOGIN_CHANCE) continue;
          const client = await logIn(recipient, life);
          if (client === undefined) continue;
          await readInbox(client, recipient);
        }
      };

      /** A device comes and goes on its own: it may skip a life, drop its connection, log in again. */
      const runDevice = async (device: Device): Promise<void> => {
        const { policy, random } = device;
        for (let after = -1; ; ) {
          const life = await world.next(after);
          if (life === undefined) return;
          after = life.number;
          if (!life.final && random() >= policy.login) continue;
          for (let again = false; ; again = true) {
            const client = await logIn(device, life);
            if (client === undefined) break;
            if (again) device.reconnects++;
            let dropped = false;
            if (!life.final && random() < policy.drop) {
              const timer = setTimeout(
                () => {
                  dropped = true;
                  device.drops++;
                  client.destroy();
                },
                Math.floor(random() * MAX_DROP_DELAY_MS),
              );
              void client.closed.then(() => clearTimeout(timer));
            }
            await readInbox(client, device);
            if (!dropped || world.current !== life || random() >= policy.reconnect) break;
          }
        }
      };

      // Accounts first, on a server that is then killed like every other.
      server = await spawnServer(dbPath);
      const setup = await TestClient.connect(server.port);
      clients.add(setup);
      for (const user of devicesOf.keys()) await setup.ok("register", { user, password: PASSWORD });
      // Both devices become known before anything is sent: a device's first log-in starts at the
      // oldest event still in its user's inbox, which need not be the first.
      for (const device of devices) {
        const client = await TestClient.connect(server.port);
        clients.add(client);
        await client.ok("login", { user: device.user, password: PASSWORD, device: device.device });
        client.destroy();
      }
      await setup.ok("login", { user: ROOM_SENDERS[0]!, password: PASSWORD });
      await setup.ok("room_create", { room: ROOM, members: roomMembers.slice(1) });
      setup.destroy();

      const running = [...senders.map(runSender), ...recipients.map(runRecipient), ...devices.map(runDevice)];
      let kills = 0;
      let killsMidSend = 0;
      const chaosDelays: number[] = [];
      for (let lifeNumber = 0; lifeNumber < KILLS; lifeNumber++) {
        if (lifeNumber > 0) server = await spawnServer(dbPath);
        world.begin({ number: lifeNumber, port: server.port, final: false });
        await progress.until(
          () => senders.every((sender) => sender.loggedInLife === lifeNumber),
          LIFE_START_DEADLINE_MS,
          () => `senders not logged in for life ${lifeNumber}`,
        );
        // The one deliberate sleep: it waits for nothing, it picks the random moment of the kill.
        const chaosDelayMs = Math.floor(chaos() * MAX_CHAOS_DELAY_MS);
        chaosDelays.push(chaosDelayMs);
        await new Promise((resolve) => setTimeout(resolve, chaosDelayMs));
        if (senders.some((sender) => sender.inFlight > 0)) killsMidSend++;
        expect(await server.stop("SIGKILL")).to.equal("SIGKILL");
        kills++;
      }

      // The last life: everyone logs in; wait until every acknowledged send and its receipt arrived.
      server = await spawnServer(dbPath);
      world.begin({ number: KILLS, port: server.port, final: true });
      const missing = () => {
        const unsent = senders.reduce((sum, s) => sum + (SENDS_PER_SENDER - s.acknowledged.size), 0);
        /** label → acknowledged sends that device has not handled yet. */
        const undelivered: Record<string, number> = {};
        let noReceipt = 0;
        for (const sender of senders) {
          for (const { id, to } of sender.acknowledged.values()) {
            for (const device of targetsOf(sender.user, to))
              if (!device.ids.has(id)) undelivered[device.label] = (undelivered[device.label] ?? 0) + 1;
            if (to !== ROOM && !sender.delivered.has(id)) noReceipt++;
          }
        }
        return { unsent, undelivered, noReceipt };
      };
      await progress.until(
        () => {
          const left = missing();
          return left.unsent === 0 && Object.keys(left.undelivered).length === 0 && left.noReceipt === 0;
        },
        DRAIN_DEADLINE_MS,
        () => `still missing after the last restart: ${JSON.stringify(missing())}; ${violations.slice(0, 3)}`,
      );
      world.finish();
      expect(await server.stop("SIGTERM")).to.equal(0);
      await Promise.all(running);

      const sum = (items: Actor[], count: (actor: Actor) => number): number =>
        items.reduce((total, item) => total + count(item), 0);
      const deliveries = sum(actors, (a) => a.messages.length);
      const roomDeliveries = sum(actors, (a) => a.messages.filter((m) => m.to === ROOM).length);
      const receipts = senders.reduce((total, s) => total + s.delivered.size, 0);
      const dropped = sum(actors, (a) => a.redelivered);
      const acknowledged = senders.reduce((total, s) => total + s.acknowledged.size, 0);
      const roomAcknowledged = senders.reduce(
        (total, s) => total + [...s.acknowledged.values()].filter((sent) => sent.to === ROOM).length,
        0,
      );
      const perDevice = devices
        .map(
          (d) =>
            `${d.label} ${d.messages.length} (${d.messages.filter((m) => m.to === ROOM).length} room; ` +
            `${d.logins} log-ins, ${d.drops} drops, ${d.reconnects} reconnects, ${d.redelivered} redelivered)`,
        )
        .join(", ");
      console.log(
        `crash loop: seed ${seed}, kills ${kills} (${killsMidSend} with sends on the wire), sends acknowledged ${acknowledged} ` +
          `(${roomAcknowledged} to ${ROOM}; fired ${senders.reduce((total, s) => total + s.fired, 0)}, ` +
          `resent ${senders.reduce((total, s) => total + s.resent, 0)}, ` +
          `answered duplicate ${senders.reduce((total, s) => total + s.answeredDuplicate, 0)}), ` +
          `deliveries ${deliveries} (${roomDeliveries} of room sends), devices: ${perDevice}, ` +
          `redelivered seqs dropped ${dropped}, delivered receipts ${receipts}, ` +
          `chaos delays ${Math.min(...chaosDelays)}-${Math.max(...chaosDelays)} ms, ${Date.now() - started} ms`,
      );

      expect(violations.slice(0, 10), `${violations.length} violations`).to.deep.equal([]);
      for (const sender of senders) {
        // A sender's sends are stored in the order sent, so their ids grow with n.
        const ids = [...sender.acknowledged.entries()].sort(([a], [b]) => a - b).map(([, { id }]) => id);
        expect(ids, `${sender.user}'s ids in send order`).to.deep.equal([...ids].sort((a, b) => a - b));
        expect(new Set(ids).size, `${sender.user}'s ids are distinct`).to.equal(ids.length);
      }
      for (const actor of actors) {
        for (const message of actor.messages) {
          // Nothing arrives that was not sent: every delivered id is the id some send was answered with.
          const sent = senderNamed.get(message.from)!.acknowledged.get(message.n);
          expect(sent, `${actor.label} got ${JSON.stringify(message)}`).to.deep.equal({
            id: message.id,
            to: message.to,
          });
        }
        for (const sender of senders) {
          // Direct and room sends alike, in the order the sender sent them.
          const fromSender = actor.messages.filter((message) => message.from === sender.user);
          const ns = fromSender.map((message) => message.n);
          expect(ns, `${sender.user} → ${actor.label} in send order`).to.deep.equal(
            [...ns].sort((a, b) => a - b),
          );
          const ids = fromSender.map((message) => message.id);
          expect(ids, `${sender.user} → ${actor.label} ids grow`).to.deep.equal(
            [...ids].sort((a, b) => a - b),
          );
          // Exactly the acknowledged sends meant for this device: each handled once (ids are
          // distinct, each an acknowledged send's), and none missing.
          const meant = [...sender.acknowledged.values()].filter((sent) =>
            targetsOf(sender.user, sent.to).includes(actor),
          ).length;
          expect(fromSender.length, `${sender.user} → ${actor.label} count`).to.equal(meant);
        }
        // One `created` for each device of each member, sent before any other event; nothing else.
        const created = {
          ev: "room",
          room: ROOM,
          change: "created",
          user: ROOM_SENDERS[0],
          by: ROOM_SENDERS[0],
        };
        expect(
          actor.roomEvents.map(({ ev, room, change, user, by }) => ({ ev, room, change, user, by })),
          `${actor.label}'s room events`,
        ).to.deep.equal(roomMembers.includes(actor.user) ? [created] : []);
        const createdSeq = actor.roomEvents[0]?.seq ?? 0;
        expect(
          actor.messages.filter((message) => message.seq < createdSeq),
          `${actor.label}'s messages before ${ROOM} was created`,
        ).to.deep.equal([]);
      }
      for (const sender of senders) {
        for (const [id, to] of sender.delivered) {
          // A delivered receipt answers a direct message its recipient handled (and so acknowledged)
          // on one of its devices.
          expect(
            devicesOf.get(to)?.some((device) => device.ids.has(id)),
            `${sender.user}'s receipt for ${id} to ${to}`,
          ).to.equal(true);
          expect([...sender.acknowledged.values()].some((sent) => sent.id === id && sent.to === to)).to.equal(
            true,
          );
        }
      }

      if (backend === "postgres") {
        await checkPostgres(dbPath);
        return;
      }
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        expect(db.pragma("integrity_check")).to.deep.equal([{ integrity_check: "ok" }]);
      } finally {
        db.close();
      }
    });
  });
}

/**
 * PostgreSQL's counterpart of SQLite's integrity check: amcheck finds every index consistent with
 * its table, and the store's invariants hold, each query listing what breaks one.
 */
async function checkPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("CREATE EXTENSION IF NOT EXISTS amcheck");
    const indexes = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_am a ON a.oid = c.relam
       WHERE n.nspname = 'public' AND a.amname = 'btree'`,
    );
    expect(indexes.rows.length).to.be.above(5);
    for (const { name } of indexes.rows)
      await client.query("SELECT bt_index_check($1::regclass, true)", [`public.${name}`]);
    const broken: Record<string, string> = {
      // No seq beyond the last one handed out, and no device acknowledging past it.
      "inbox seq past last_seq": `SELECT user_id, seq FROM inbox_events
        WHERE seq > (SELECT last_seq FROM store_meta WHERE id = 1)`,
      "room seq past last_seq": `SELECT room_id, seq FROM room_events
        WHERE seq > (SELECT last_seq FROM store_meta WHERE id = 1)`,
      "acked_seq past last_seq": `SELECT id, acked_seq FROM devices
        WHERE acked_seq > (SELECT last_seq FROM store_meta WHERE id = 1)`,
      // One seq is one event: an inbox's and a room's never share one.
      "a seq in two streams": `SELECT e.seq FROM inbox_events e JOIN room_events r ON r.seq = e.seq`,
      // A message event names a message that exists (and, the foreign keys aside, the right one).
      "inbox message missing": `SELECT e.user_id, e.seq FROM inbox_events e
        WHERE e.kind = 'message' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)`,
      "room message missing": `SELECT r.room_id, r.seq FROM room_events r
        WHERE r.kind = 'message' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = r.message_id)`,
      // The count behind mailbox_full is the count of messages still waiting for their recipient.
      "undelivered count": `SELECT u.name, u.undelivered, w.n FROM users u
        CROSS JOIN LATERAL (SELECT count(*) AS n FROM messages m
          WHERE m.recipient_id = u.id AND m.status IN ('pending', 'held', 'sent')) w
        WHERE u.undelivered <> w.n`,
    };
    for (const [what, query] of Object.entries(broken))
      expect((await client.query(query)).rows, what).to.deep.equal([]);
  } finally {
    await client.end();
  }
}
