// A room (protocol v2): members registered, the room created by its owner with every member,
// some members online and acking, the rest offline. Senders (online members too) send to the
// room as fast as a window of unanswered sends allows; online members ack every event on its
// own. Later one offline member logs in and drains its inbox. Untested against a server with
// rooms: a server without them answers room_create with unknown_op, reported as unsupported.

import { Acker, BENCH_PASSWORD, BenchConnection, epochMs, type Frame, padText } from "../bench-client.js";

const REGISTER_CONCURRENCY = 32;
const MAX_ERRORS_KEPT = 5;

export interface RoomSetupParams {
  readonly port: number;
  readonly room: string;
  /** Every member, the owner first. */
  readonly members: readonly string[];
  /** Members who log in and send (the owner among them). */
  readonly senders: readonly string[];
  /** Members who log in and only receive. */
  readonly online: readonly string[];
}

export type RoomSetupResult =
  | { readonly supported: true }
  | { readonly supported: false; readonly answer: string };

export interface RoomRunParams {
  /** Messages per sender. */
  readonly messages: number;
  readonly window: number;
  readonly textBytes: number;
  readonly timeoutMs: number;
}

export interface RoomRunResult {
  readonly startMs: number;
  readonly sentEndMs: number;
  /** When the last online receiver got the last message. */
  readonly deliveredEndMs: number;
  readonly sent: number;
  /** Room messages received by the online receivers (senders excluded). */
  readonly delivered: number;
  /** Send-to-receive latency at the online receivers, in ms. */
  readonly latenciesMs: number[];
  readonly errors: string[];
}

export interface RoomDrainParams {
  readonly port: number;
  readonly user: string;
  readonly room: string;
  readonly messages: number;
  readonly timeoutMs: number;
}

export interface RoomDrainResult {
  readonly loginAnsweredMs: number;
  readonly ackedMs: number;
  readonly received: number;
  readonly errors: string[];
}

interface Member {
  readonly user: string;
  readonly connection: BenchConnection;
  readonly acker: Acker;
}

async function login(port: number, user: string): Promise<Member> {
  const connection = await BenchConnection.connect(port);
  await connection.ok("login", { user, password: BENCH_PASSWORD });
  return { user, connection, acker: new Acker(connection, true) };
}

export class RoomGenerator {
  #room = "";
  #senders: Member[] = [];
  #online: Member[] = [];

  async setup(params: RoomSetupParams): Promise<RoomSetupResult> {
    this.#room = params.room;
    const registrar = await Promise.all(
      Array.from({ length: REGISTER_CONCURRENCY }, () => BenchConnection.connect(params.port)),
    );
    try {
      let next = 0;
      await Promise.all(
        registrar.map(async (connection) => {
          while (next < params.members.length) {
            const user = params.members[next++]!;
            const answer = await connection.request("register", { user, password: BENCH_PASSWORD });
            if (answer.ok !== true && answer.error?.code !== "user_exists") {
              throw new Error(`register ${user}: ${JSON.stringify(answer.error)}`);
            }
          }
        }),
      );
    } finally {
      for (const connection of registrar) connection.destroy();
    }
    const [owner, ...others] = params.members;
    const ownerConnection = await BenchConnection.connect(params.port);
    try {
      await ownerConnection.ok("login", { user: owner!, password: BENCH_PASSWORD });
      const created = await ownerConnection.request("room_create", { room: params.room, members: others });
      if (created.ok !== true) {
        if (created.error?.code === "unknown_op") {
          return { supported: false, answer: JSON.stringify(created.error) };
        }
        throw new Error(`room_create: ${JSON.stringify(created.error)}`);
      }
    } finally {
      ownerConnection.destroy();
      await ownerConnection.closed;
    }
    this.#senders = await Promise.all(params.senders.map((user) => login(params.port, user)));
    this.#online = await Promise.all(params.online.map((user) => login(params.port, user)));
    for (const member of [...this.#senders, ...this.#online]) {
      member.connection.onEvent = (event) => {
        if (typeof event.seq === "number") member.acker.saw(event.seq);
      };
    }
    return { supported: true };
  }

  async run(params: RoomRunParams): Promise<RoomRunResult> {
    const senders = this.#senders;
    const online = this.#online;
    const n = params.messages;
    const expected = n * senders.length * online.length;
    const errors: string[] = [];
    const latencies: number[] = [];
    const noteError = (what: string) => {
      if (errors.length < MAX_ERRORS_KEPT) errors.push(what);
    };
    let sent = 0;
    let delivered = 0;
    let sentEndMs = 0;
    let deliveredEndMs = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const checkDone = () => {
      if (sent === n * senders.length && delivered === expected) finish();
    };
    const sentAt = senders.map(() => new Float64Array(n));
    const head = "room-";

    for (const member of online) {
      const seen = senders.map(() => new Uint8Array(n));
      member.connection.onEvent = (event) => {
        if (typeof event.seq === "number") member.acker.saw(event.seq);
        if (event.ev !== "message" || event.to !== this.#room) return;
        const text = event.text as string;
        if (!text.startsWith(head)) return;
        const [s, i] = text.slice(head.length, text.indexOf(" ")).split(".").map(Number);
        if (seen[s!]?.[i!] !== 0) return;
        seen[s!]![i!] = 1;
        latencies.push(performance.now() - sentAt[s!]![i!]!);
        delivered++;
        if (delivered === expected) deliveredEndMs = epochMs();
        checkDone();
      };
    }

    const startMs = epochMs();
    senders.forEach((member, s) => {
      let next = 0;
      let inFlight = 0;
      const fill = () => {
        while (next < n && inFlight < params.window) {
          const i = next++;
          inFlight++;
          sentAt[s]![i] = performance.now();
          const text = padText(`${head}${s}.${i}`, params.textBytes);
          member.connection.fire(
            "send",
            { to: this.#room, text, cid: `room-${s}-${i}` },
            (response: Frame) => {
              inFlight--;
              if (response.ok !== true) noteError(`send: ${JSON.stringify(response.error)}`);
              sent++;
              if (sent === n * senders.length) sentEndMs = epochMs();
              fill();
              checkDone();
            },
          );
        }
      };
      fill();
    });
    const timeout = setTimeout(() => {
      noteError(`timed out: sent ${sent}, delivered ${delivered} of ${expected}`);
      finish();
    }, params.timeoutMs);
    await finished;
    clearTimeout(timeout);
    return { startMs, sentEndMs, deliveredEndMs, sent, delivered, latenciesMs: latencies, errors };
  }

  close(): void {
    for (const member of [...this.#senders.splice(0), ...this.#online.splice(0)]) member.connection.destroy();
  }
}

/** One offline member logs in and drains its inbox, acking each event on its own. */
export async function drainRoomMember(params: RoomDrainParams): Promise<RoomDrainResult> {
  const connection = await BenchConnection.connect(params.port);
  const acker = new Acker(connection, true);
  const errors: string[] = [];
  let received = 0;
  let finish!: () => void;
  const allReceived = new Promise<void>((resolve) => (finish = resolve));
  connection.onEvent = (event) => {
    if (typeof event.seq === "number") acker.saw(event.seq);
    if (event.ev !== "message" || event.to !== params.room) return;
    received++;
    if (received === params.messages) finish();
  };
  const timeout = setTimeout(() => {
    errors.push(`timed out after ${received} of ${params.messages} messages`);
    finish();
  }, params.timeoutMs);
  await connection.ok("login", { user: params.user, password: BENCH_PASSWORD });
  const loginAnsweredMs = epochMs();
  await allReceived;
  clearTimeout(timeout);
  await connection.ok("ping");
  const ackedMs = epochMs();
  connection.destroy();
  return { loginAnsweredMs, ackedMs, received, errors };
}
