// Sender/receiver pairs, all online. Each sender sends to its partner, either as fast as a
// window of unanswered sends allows (live) or at a fixed pace (latency). Receivers ack every
// message, senders ack every receipt, both once per chunk of input (cumulative `upTo`), or
// with `ackEach` one ack frame per event. A pair lives in one process, so send and receive
// times come from one clock.

import {
  Acker,
  type BenchConnection,
  connectAndLogin,
  epochMs,
  type Frame,
  padText,
} from "../bench-client.js";

export interface PairSpec {
  readonly sender: string;
  readonly receiver: string;
  /** Where, within one pacing interval, this pair's sends fall (0 ≤ phase < 1): spreads load. */
  readonly phase: number;
  /** The node each one logs in to, when not the setup's port (several nodes). */
  readonly senderPort?: number;
  readonly receiverPort?: number;
}

export interface PairsSetupParams {
  readonly port: number;
  readonly pairs: readonly PairSpec[];
}

export interface PairsRunParams {
  readonly messages: number;
  readonly textBytes: number;
  /** Unanswered sends per sender; the pace, if any, still respects it. */
  readonly window: number;
  /** Sends per second per sender; 0 sends as fast as the window allows. */
  readonly ratePerPair: number;
  /** When to start (epoch ms): every worker starts together. */
  readonly startAtMs: number;
  readonly timeoutMs: number;
  /** One ack frame per event instead of one cumulative ack per chunk of input. */
  readonly ackEach: boolean;
}

export interface PairsResult {
  readonly startMs: number;
  readonly sentEndMs: number;
  readonly deliveredEndMs: number;
  readonly ackedEndMs: number;
  readonly sent: number;
  readonly delivered: number;
  readonly acked: number;
  /** Send-to-receive latency of every message, in ms. */
  readonly latenciesMs: number[];
  readonly errors: string[];
  readonly cpuMs: number;
}

interface Pair {
  readonly spec: PairSpec;
  readonly sender: BenchConnection;
  readonly receiver: BenchConnection;
}

const PACE_TICK_MS = 1;
const MAX_ERRORS_KEPT = 5;

export class PairsGenerator {
  readonly #pairs: Pair[] = [];
  #runs = 0;

  async setup(params: PairsSetupParams): Promise<number> {
    const made = await Promise.all(
      params.pairs.map(async (spec) => {
        const [sender, receiver] = await Promise.all([
          connectAndLogin(spec.senderPort ?? params.port, spec.sender),
          connectAndLogin(spec.receiverPort ?? params.port, spec.receiver),
        ]);
        return { spec, sender, receiver };
      }),
    );
    this.#pairs.push(...made);
    return made.length;
  }

  async run(params: PairsRunParams): Promise<PairsResult> {
    const run = ++this.#runs;
    const n = params.messages;
    const total = n * this.#pairs.length;
    const latencies: number[] = [];
    const errors: string[] = [];
    let sent = 0;
    let delivered = 0;
    let acked = 0;
    let sentEndMs = 0;
    let deliveredEndMs = 0;
    let ackedEndMs = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const checkDone = () => {
      if (sent === total && delivered === total && acked === total) finish();
    };
    const noteError = (what: string) => {
      if (errors.length < MAX_ERRORS_KEPT) errors.push(what);
    };

    const wait = params.startAtMs - epochMs();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const cpuBefore = process.cpuUsage();
    const startMs = epochMs();
    const startPerf = performance.now();
    const pacers: Array<() => void> = [];

    for (const pair of this.#pairs) {
      const sentAt = new Float64Array(n);
      const seen = new Uint8Array(n);
      let next = 0;
      let inFlight = 0;
      const head = `b${run}-`;
      const receiverAcks = new Acker(pair.receiver, params.ackEach);
      const senderAcks = new Acker(pair.sender, params.ackEach);

      const sendOne = () => {
        const i = next++;
        inFlight++;
        sentAt[i] = performance.now();
        const text = padText(`${head}${i}`, params.textBytes);
        pair.sender.fire("send", { to: pair.spec.receiver, text, cid: `r${run}-${i}` }, (response: Frame) => {
          inFlight--;
          if (response.ok !== true) noteError(`send: ${JSON.stringify(response.error)}`);
          sent++;
          if (sent === total) sentEndMs = epochMs();
          if (params.ratePerPair === 0) fill();
          checkDone();
        });
      };
      const fill = () => {
        while (next < n && inFlight < params.window) sendOne();
      };

      pair.receiver.onEvent = (event) => {
        if (event.ev !== "message") return;
        receiverAcks.saw(event.seq);
        const text = event.text as string;
        if (!text.startsWith(head)) return;
        const i = Number(text.slice(head.length, text.indexOf(" ")));
        if (seen[i] === 1) return;
        seen[i] = 1;
        latencies.push(performance.now() - sentAt[i]!);
        delivered++;
        if (delivered === total) deliveredEndMs = epochMs();
        checkDone();
      };
      pair.receiver.onBatchEnd = () => receiverAcks.flush();
      pair.sender.onEvent = (event) => {
        if (event.ev !== "receipt") return;
        senderAcks.saw(event.seq);
        if (event.status !== "delivered") return;
        acked++;
        if (acked === total) ackedEndMs = epochMs();
        checkDone();
      };
      pair.sender.onBatchEnd = () => senderAcks.flush();

      if (params.ratePerPair === 0) {
        fill();
      } else {
        const intervalMs = 1000 / params.ratePerPair;
        const offsetMs = pair.spec.phase * intervalMs;
        pacers.push(() => {
          const due = Math.min(n, Math.floor((performance.now() - startPerf - offsetMs) / intervalMs) + 1);
          while (next < due && inFlight < params.window) sendOne();
        });
      }
    }

    let pacer: NodeJS.Timeout | undefined;
    if (pacers.length > 0) {
      pacer = setInterval(() => {
        for (const pace of pacers) pace();
      }, PACE_TICK_MS);
    }
    const timeout = setTimeout(() => {
      noteError(`timed out: sent ${sent}, delivered ${delivered}, acked ${acked} of ${total}`);
      finish();
    }, params.timeoutMs);
    if (total === 0) finish();
    await finished;
    clearTimeout(timeout);
    clearInterval(pacer);
    const cpu = process.cpuUsage(cpuBefore);
    return {
      startMs,
      sentEndMs,
      deliveredEndMs,
      ackedEndMs,
      sent,
      delivered,
      acked,
      latenciesMs: latencies,
      errors,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  }

  close(): void {
    for (const pair of this.#pairs.splice(0)) {
      pair.sender.destroy();
      pair.receiver.destroy();
    }
  }
}
