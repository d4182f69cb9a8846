// An offline recipient's backlog: one sender enqueues as fast as its window allows, then
// leaves; later the recipient logs in and drains everything, acking once per chunk (or, with
// `ackEach`, once per message).

import {
  Acker,
  BENCH_PASSWORD,
  BenchConnection,
  connectAndLogin,
  epochMs,
  type Frame,
  padText,
} from "../bench-client.js";

export interface BacklogSendParams {
  readonly port: number;
  readonly sender: string;
  readonly recipient: string;
  readonly messages: number;
  readonly window: number;
  readonly textBytes: number;
  readonly timeoutMs: number;
}

export interface BacklogSendResult {
  readonly startMs: number;
  readonly endMs: number;
  readonly sent: number;
  readonly errors: string[];
}

export interface BacklogDrainParams {
  readonly port: number;
  readonly recipient: string;
  readonly messages: number;
  readonly timeoutMs: number;
  /** One ack frame per message instead of one cumulative ack per chunk of input. */
  readonly ackEach: boolean;
}

export interface BacklogDrainResult {
  /** When the login request was written. */
  readonly loginMs: number;
  readonly loginAnsweredMs: number;
  /** When the last message arrived. */
  readonly lastMessageMs: number;
  /** When a ping after the last ack was answered: the server had processed every ack. */
  readonly ackedMs: number;
  readonly pendingAtLogin: number;
  readonly received: number;
  readonly errors: string[];
}

/** Registers the recipient (who stays offline), then sends the backlog from the sender. */
export async function sendBacklog(params: BacklogSendParams): Promise<BacklogSendResult> {
  const setup = await BenchConnection.connect(params.port);
  await setup.ok("register", { user: params.recipient, password: BENCH_PASSWORD });
  setup.destroy();
  const sender = await connectAndLogin(params.port, params.sender);
  const errors: string[] = [];
  let next = 0;
  let inFlight = 0;
  let sent = 0;
  let endMs = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const fill = () => {
    while (next < params.messages && inFlight < params.window) {
      const i = next++;
      inFlight++;
      const text = padText(`backlog-${i}`, params.textBytes);
      sender.fire("send", { to: params.recipient, text, cid: `b-${i}` }, (response: Frame) => {
        inFlight--;
        sent++;
        if (response.ok !== true && errors.length < 5) errors.push(`send: ${JSON.stringify(response.error)}`);
        if (sent === params.messages) {
          endMs = epochMs();
          finish();
        } else if (sender.isClosed) {
          // Each further send would fail at once, and refilling from here would recurse.
          finish();
        } else {
          fill();
        }
      });
    }
  };
  const startMs = epochMs();
  const timeout = setTimeout(() => {
    errors.push(`timed out after ${sent} of ${params.messages} sends`);
    finish();
  }, params.timeoutMs);
  fill();
  await finished;
  clearTimeout(timeout);
  sender.destroy();
  await sender.closed;
  return { startMs, endMs, sent, errors };
}

export async function drainBacklog(params: BacklogDrainParams): Promise<BacklogDrainResult> {
  const connection = await BenchConnection.connect(params.port);
  const acker = new Acker(connection, params.ackEach);
  const errors: string[] = [];
  let received = 0;
  let lastMessageMs = 0;
  let finish!: () => void;
  const allReceived = new Promise<void>((resolve) => (finish = resolve));
  connection.onEvent = (event) => {
    if (event.ev !== "message") return;
    acker.saw(event.seq);
    received++;
    if (received === params.messages) {
      lastMessageMs = epochMs();
      finish();
    }
  };
  connection.onBatchEnd = () => acker.flush();
  const timeout = setTimeout(() => {
    errors.push(`timed out after ${received} of ${params.messages} messages`);
    finish();
  }, params.timeoutMs);

  const loginMs = epochMs();
  const login = await connection.ok("login", { user: params.recipient, password: BENCH_PASSWORD });
  const loginAnsweredMs = epochMs();
  await allReceived;
  clearTimeout(timeout);
  // The acks of the last chunk leave in this tick too; the ping is answered after them.
  acker.flush();
  await connection.ok("ping");
  const ackedMs = epochMs();
  connection.destroy();
  return {
    loginMs,
    loginAnsweredMs,
    lastMessageMs,
    ackedMs,
    pendingAtLogin: login.pending as number,
    received,
    errors,
  };
}
