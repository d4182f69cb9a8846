// The load of the live and backlog scenarios on a broker, through the PeerDriver interface:
// what generators/pairs.ts and generators/backlog.ts do against Parley. Runs inside a
// load-generator process (load-worker.ts). Every message is acked on its own as it is handled;
// a publish counts as sent once the broker confirmed it.

import { epochMs, padText } from "../bench-client.js";
import type { PairsResult } from "../generators/pairs.js";
import { type PeerName, type Publisher, peerDriver, type Subscription } from "./peer.js";

const MAX_ERRORS_KEPT = 5;
/** A drain that receives nothing for this long has got everything the broker kept. */
const DRAIN_IDLE_MS = 3000;

export interface PeerPairsSetupParams {
  readonly peer: PeerName;
  readonly pairs: ReadonlyArray<{ sender: string; receiver: string }>;
}

export interface PeerPairsRunParams {
  readonly messages: number;
  readonly textBytes: number;
  readonly window: number;
  readonly startAtMs: number;
  readonly timeoutMs: number;
}

interface PeerPair {
  readonly receiver: string;
  readonly publisher: Publisher;
  /** Where the receiver's messages go during a run. */
  onMessage: (body: Buffer, ack: () => void) => void;
  subscription?: Subscription;
}

export class PeerPairsGenerator {
  #pairs: PeerPair[] = [];

  async setup(params: PeerPairsSetupParams): Promise<number> {
    const driver = await peerDriver(params.peer);
    const made = await Promise.all(
      params.pairs.map(async (spec) => {
        await driver.createInbox(spec.receiver);
        const pair: PeerPair = {
          receiver: spec.receiver,
          publisher: await driver.publisher(spec.sender),
          onMessage: (_body, ack) => ack(),
        };
        pair.subscription = await driver.subscribe(spec.receiver, (body, ack) => pair.onMessage(body, ack));
        return pair;
      }),
    );
    this.#pairs = made;
    return made.length;
  }

  async run(params: PeerPairsRunParams): Promise<PairsResult & { window: number }> {
    const n = params.messages;
    const total = n * this.#pairs.length;
    const latencies: number[] = [];
    const errors: string[] = [];
    let sent = 0;
    let delivered = 0;
    let sentEndMs = 0;
    let deliveredEndMs = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const checkDone = () => {
      if (sent === total && delivered === total) finish();
    };
    const noteError = (what: string) => {
      if (errors.length < MAX_ERRORS_KEPT) errors.push(what);
    };
    const bodies = Array.from({ length: n }, (_, i) => Buffer.from(padText(String(i), params.textBytes)));

    const wait = params.startAtMs - epochMs();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const cpuBefore = process.cpuUsage();
    const startMs = epochMs();

    for (const pair of this.#pairs) {
      const sentAt = new Float64Array(n);
      const seen = new Uint8Array(n);
      let next = 0;
      let inFlight = 0;
      const window = Math.min(params.window, pair.publisher.maxInFlight);
      const fill = () => {
        while (next < n && inFlight < window) {
          const i = next++;
          inFlight++;
          sentAt[i] = performance.now();
          pair.publisher.publish(pair.receiver, bodies[i]!, (error) => {
            inFlight--;
            if (error !== undefined) noteError(`publish: ${error.message}`);
            sent++;
            if (sent === total) sentEndMs = epochMs();
            fill();
            checkDone();
          });
        }
      };
      pair.onMessage = (body, ack) => {
        ack();
        const text = body.toString("latin1");
        const space = text.indexOf(" ");
        const i = Number(space < 0 ? text : text.slice(0, space));
        if (!(i >= 0 && i < n) || seen[i] === 1) return;
        seen[i] = 1;
        latencies.push(performance.now() - sentAt[i]!);
        delivered++;
        if (delivered === total) deliveredEndMs = epochMs();
        checkDone();
      };
      fill();
    }

    const timeout = setTimeout(() => {
      noteError(`timed out: sent ${sent}, delivered ${delivered} of ${total}`);
      finish();
    }, params.timeoutMs);
    if (total === 0) finish();
    await finished;
    clearTimeout(timeout);
    const cpu = process.cpuUsage(cpuBefore);
    return {
      startMs,
      sentEndMs,
      deliveredEndMs,
      // Brokers have no receipts: "acked end to end" is the delivery.
      ackedEndMs: deliveredEndMs,
      sent,
      delivered,
      acked: delivered,
      latenciesMs: latencies,
      errors,
      cpuMs: (cpu.user + cpu.system) / 1000,
      window: Math.min(params.window, ...this.#pairs.map((pair) => pair.publisher.maxInFlight)),
    };
  }

  async close(): Promise<void> {
    const pairs = this.#pairs;
    this.#pairs = [];
    await Promise.all(pairs.flatMap((pair) => [pair.publisher.close(), pair.subscription?.close()]));
  }
}

export interface PeerBacklogSendParams {
  readonly peer: PeerName;
  readonly sender: string;
  readonly recipient: string;
  readonly messages: number;
  readonly window: number;
  readonly textBytes: number;
  readonly timeoutMs: number;
}

export interface PeerBacklogSendResult {
  readonly startMs: number;
  readonly endMs: number;
  /** Confirmed by the broker. */
  readonly sent: number;
  /** The window used: the asked one, or less where the broker allows fewer in flight. */
  readonly window: number;
  readonly errors: string[];
}

/** Creates the recipient's inbox (the recipient stays offline), then publishes the backlog. */
export async function peerSendBacklog(params: PeerBacklogSendParams): Promise<PeerBacklogSendResult> {
  const driver = await peerDriver(params.peer);
  await driver.createInbox(params.recipient);
  const publisher = await driver.publisher(params.sender);
  const errors: string[] = [];
  let next = 0;
  let inFlight = 0;
  let sent = 0;
  let endMs = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const window = Math.min(params.window, publisher.maxInFlight);
  const fill = () => {
    while (next < params.messages && inFlight < window) {
      const i = next++;
      inFlight++;
      publisher.publish(params.recipient, Buffer.from(padText(`backlog-${i}`, params.textBytes)), (error) => {
        inFlight--;
        sent++;
        if (error !== undefined && errors.length < MAX_ERRORS_KEPT) errors.push(`publish: ${error.message}`);
        if (sent === params.messages) {
          endMs = epochMs();
          finish();
        } else {
          fill();
        }
      });
    }
  };
  const startMs = epochMs();
  const timeout = setTimeout(() => {
    errors.push(`timed out after ${sent} of ${params.messages} publishes`);
    finish();
  }, params.timeoutMs);
  fill();
  await finished;
  clearTimeout(timeout);
  await publisher.close();
  return { startMs, endMs, sent, window, errors };
}

export interface PeerBacklogDrainParams {
  readonly peer: PeerName;
  readonly recipient: string;
  readonly messages: number;
  readonly timeoutMs: number;
}

export interface PeerBacklogDrainResult {
  /** When the consumer's connection was started. */
  readonly connectMs: number;
  readonly lastMessageMs: number;
  /** When the broker answered a request sent after the last ack: every ack was processed. */
  readonly ackedMs: number;
  readonly received: number;
  readonly errors: string[];
}

/**
 * The recipient connects and drains its inbox, acking each message; it stops when all arrived,
 * or when nothing has arrived for DRAIN_IDLE_MS (the broker kept fewer: `received` says how many).
 */
export async function peerDrainBacklog(params: PeerBacklogDrainParams): Promise<PeerBacklogDrainResult> {
  const driver = await peerDriver(params.peer);
  const errors: string[] = [];
  let received = 0;
  let lastMessageMs = 0;
  let finish!: () => void;
  const allReceived = new Promise<void>((resolve) => (finish = resolve));
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(finish, DRAIN_IDLE_MS);
  };
  const connectMs = epochMs();
  armIdle();
  const subscription = await driver.subscribe(params.recipient, (_body, ack) => {
    ack();
    received++;
    lastMessageMs = epochMs();
    if (received >= params.messages) finish();
    else armIdle();
  });
  const timeout = setTimeout(() => {
    errors.push(`timed out after ${received} of ${params.messages} messages`);
    finish();
  }, params.timeoutMs);
  await allReceived;
  clearTimeout(timeout);
  clearTimeout(idle);
  await subscription.sync();
  const ackedMs = received >= params.messages ? epochMs() : lastMessageMs;
  await subscription.close();
  return { connectMs, lastMessageMs, ackedMs, received, errors };
}

/** Deletes the inboxes of `users` on `peer`. */
export async function peerCleanup(params: { peer: PeerName; users: readonly string[] }): Promise<void> {
  const driver = await peerDriver(params.peer);
  await driver.deleteInboxes(params.users);
}

/** Connects to `peer` and leaves: throws, with the reason, when the broker cannot be reached. */
export async function peerProbe(params: { peer: PeerName }): Promise<true> {
  const driver = await peerDriver(params.peer);
  const publisher = await driver.publisher("probe");
  await publisher.close();
  await driver.deleteInboxes(["probe"]);
  return true;
}
