// Many logged-in, idle connections: registered first over a few connections, then each one
// connects and logs in, with a bounded number of log-ins in progress. Once logged in, a
// connection only counts what it receives (presence events) and pings now and then so the
// server's idle timeout does not close it.

import { BENCH_PASSWORD, BenchConnection, epochMs } from "../bench-client.js";

export interface UserRange {
  readonly port: number;
  /** Spreads the connections over source addresses 127.<this>.x.y, a few per address. */
  readonly addressBlock?: number;
  readonly prefix: string;
  readonly from: number;
  readonly count: number;
  /** Requests in progress at once. */
  readonly concurrency: number;
}

export interface RangeResult {
  readonly startMs: number;
  readonly endMs: number;
  readonly done: number;
  readonly errors: string[];
}

const KEEPALIVE_MS = 30_000;
const REGISTRATIONS_PER_CONNECTION = 50;
/**
 * Connections per source address: the server limits connections from one address (256 by
 * default), a policy that is not what this measures, so the clients look like many machines.
 */
const CONNECTIONS_PER_ADDRESS = 100;

export class IdleConnections {
  readonly #open: BenchConnection[] = [];
  #keepalive: NodeJS.Timeout | undefined;

  /** Registers users prefix+from … prefix+(from+count-1), `concurrency` connections in parallel. */
  async register(range: UserRange): Promise<RangeResult> {
    const startMs = epochMs();
    const errors: string[] = [];
    let next = range.from;
    const end = range.from + range.count;
    let done = 0;
    await Promise.all(
      Array.from({ length: Math.min(range.concurrency, range.count) }, async () => {
        while (next < end) {
          // A fresh connection now and then: the server closes one that stays logged out too long.
          const connection = await BenchConnection.connect(range.port);
          for (let i = 0; i < REGISTRATIONS_PER_CONNECTION && next < end; i++) {
            const user = `${range.prefix}${next++}`;
            const response = await connection.request("register", { user, password: BENCH_PASSWORD });
            if (response.ok === true || response.error?.code === "user_exists") done++;
            else if (errors.length < 5) errors.push(`register ${user}: ${JSON.stringify(response.error)}`);
          }
          connection.destroy();
        }
      }),
    );
    return { startMs, endMs: epochMs(), done, errors };
  }

  /** Opens one connection per user and logs it in; the connections stay open. */
  async login(range: UserRange): Promise<RangeResult> {
    // From the first log-in on: a storm can outlast the server's idle timeout.
    this.#keepalive ??= setInterval(() => {
      for (const connection of this.#open) connection.write('{"op":"ping","rid":"keepalive"}');
    }, KEEPALIVE_MS);
    const startMs = epochMs();
    const errors: string[] = [];
    let next = range.from;
    const end = range.from + range.count;
    let done = 0;
    await Promise.all(
      Array.from({ length: Math.min(range.concurrency, range.count) }, async () => {
        while (next < end) {
          const index = next++ - range.from;
          const user = `${range.prefix}${range.from + index}`;
          const group = Math.floor(index / CONNECTIONS_PER_ADDRESS);
          const localAddress =
            range.addressBlock === undefined
              ? undefined
              : `127.${range.addressBlock}.${Math.floor(group / 250)}.${(group % 250) + 1}`;
          try {
            const connection = await BenchConnection.connect(range.port, "127.0.0.1", localAddress);
            const response = await connection.request("login", { user, password: BENCH_PASSWORD });
            if (response.ok !== true) throw new Error(JSON.stringify(response.error));
            connection.mute();
            this.#open.push(connection);
            done++;
          } catch (error) {
            if (errors.length < 5) errors.push(`login ${user}: ${String(error)}`);
          }
        }
      }),
    );
    return { startMs, endMs: epochMs(), done, errors };
  }

  /** Connections still open, and the bytes they have received since logging in. */
  status(): { open: number; receivedBytes: number } {
    let open = 0;
    let receivedBytes = 0;
    for (const connection of this.#open) {
      if (!connection.isClosed) open++;
      receivedBytes += connection.mutedBytes;
    }
    return { open, receivedBytes };
  }

  close(): number {
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    const count = this.#open.length;
    for (const connection of this.#open.splice(0)) connection.destroy();
    return count;
  }
}
