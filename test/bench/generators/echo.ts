// The machine's floor for Parley's kind of traffic: a plain Node server that decodes
// newline-delimited JSON with the server's own frame decoder and writes each object back,
// a plain HTTP keep-alive echo, and idle sockets held by a plain Node server.

import http from "node:http";
import net from "node:net";
import { FrameDecoder } from "../../../server/protocol/frame-decoder.js";
import { BenchConnection, epochMs, type Frame, padText } from "../bench-client.js";

export interface EchoLoadParams {
  readonly port: number;
  readonly connections: number;
  /** Lines in all, spread over the connections. */
  readonly lines: number;
  /** Unanswered lines per connection. */
  readonly window: number;
  readonly lineBytes: number;
  readonly timeoutMs: number;
}

export interface LoadResult {
  readonly startMs: number;
  readonly endMs: number;
  readonly done: number;
  readonly errors: string[];
  readonly cpuMs: number;
}

const MAX_FRAME_BYTES = 65_536;

export class EchoServers {
  readonly #servers: Array<net.Server | http.Server> = [];
  readonly #sockets = new Set<net.Socket>();

  /** A newline-JSON echo on 127.0.0.1; resolves with its port. */
  serveLines(): Promise<number> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      this.#track(socket);
      const decoder = new FrameDecoder(MAX_FRAME_BYTES);
      socket.on("data", (chunk: Buffer) => {
        const out: string[] = [];
        for (const item of decoder.push(chunk)) {
          if (item.kind === "frame") out.push(JSON.stringify(item.value));
        }
        if (out.length > 0) socket.write(`${out.join("\n")}\n`);
      });
    });
    return this.#listen(server);
  }

  /** An HTTP keep-alive echo: each POST body comes back as the response body. */
  serveHttp(): Promise<number> {
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const body = Buffer.concat(chunks);
        response.writeHead(200, { "content-type": "text/xml; charset=utf-8", "content-length": body.length });
        response.end(body);
      });
    });
    server.keepAliveTimeout = 60_000;
    server.on("connection", (socket) => this.#track(socket));
    return this.#listen(server);
  }

  close(): void {
    for (const socket of this.#sockets) socket.destroy();
    for (const server of this.#servers.splice(0)) server.close();
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => this.#sockets.delete(socket));
  }

  #listen(server: net.Server | http.Server): Promise<number> {
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () =>
        resolve((server.address() as net.AddressInfo).port),
      );
    });
  }
}

/** Drives the newline-JSON echo: each connection keeps `window` lines unanswered. */
export async function echoLoad(params: EchoLoadParams): Promise<LoadResult> {
  const connections = await Promise.all(
    Array.from({ length: params.connections }, () => BenchConnection.connect(params.port)),
  );
  const errors: string[] = [];
  const text = padText("echo", params.lineBytes);
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const cpuBefore = process.cpuUsage();
  const startMs = epochMs();
  const perConnection = Math.ceil(params.lines / params.connections);
  for (const connection of connections) {
    let next = 0;
    let inFlight = 0;
    const fill = () => {
      while (next < perConnection && inFlight < params.window) {
        next++;
        inFlight++;
        connection.fire("echo", { to: "peer", text, cid: "c" }, (response: Frame) => {
          inFlight--;
          if (response.op !== "echo" && errors.length < 5) errors.push(JSON.stringify(response));
          if (++done === perConnection * connections.length) finish();
          else fill();
        });
      }
    };
    fill();
  }
  const timeout = setTimeout(() => {
    errors.push(`timed out after ${done} lines`);
    finish();
  }, params.timeoutMs);
  await finished;
  clearTimeout(timeout);
  const endMs = epochMs();
  const cpu = process.cpuUsage(cpuBefore);
  for (const connection of connections) connection.destroy();
  return { startMs, endMs, done, errors, cpuMs: (cpu.user + cpu.system) / 1000 };
}

export interface HttpLoadParams {
  readonly url: string;
  readonly requests: number;
  readonly concurrency: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Every response must contain this. */
  readonly expect: string;
  readonly timeoutMs: number;
}

/** POSTs `body` `requests` times over keep-alive connections, `concurrency` at a time. */
export async function httpLoad(params: HttpLoadParams): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: params.concurrency });
  const body = Buffer.from(params.body);
  const headers = { ...params.headers, "content-length": String(body.length) };
  const errors: string[] = [];
  let next = 0;
  let done = 0;
  const post = () =>
    new Promise<void>((resolve) => {
      const request = http.request(params.url, { method: "POST", agent, headers }, (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => {
          if (response.statusCode === 200 && text.includes(params.expect)) done++;
          else if (errors.length < 5) errors.push(`HTTP ${response.statusCode}: ${text.slice(0, 300)}`);
          resolve();
        });
      });
      request.on("error", (error) => {
        if (errors.length < 5) errors.push(error.message);
        resolve();
      });
      request.end(body);
    });
  const deadline = epochMs() + params.timeoutMs;
  const cpuBefore = process.cpuUsage();
  const startMs = epochMs();
  await Promise.all(
    Array.from({ length: params.concurrency }, async () => {
      while (next < params.requests && epochMs() < deadline) {
        next++;
        await post();
      }
    }),
  );
  const endMs = epochMs();
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  if (done < params.requests) errors.push(`only ${done} of ${params.requests} requests succeeded`);
  return { startMs, endMs, done, errors, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Holds `count` idle TCP connections to `port`. */
export class IdleSockets {
  readonly #sockets: net.Socket[] = [];

  async open(port: number, count: number, concurrency: number): Promise<number> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (next < count) {
          next++;
          const connection = await BenchConnection.connect(port);
          this.#sockets.push(connection.socket);
        }
      }),
    );
    return this.#sockets.length;
  }

  close(): void {
    for (const socket of this.#sockets.splice(0)) socket.destroy();
  }
}
