// The admin socket: a Unix socket, private to the server's user (mode 0600), on which
// `parley-server admin` asks the running server to act on accounts. Whoever holds it owns the
// database's accounts: the running server, or the admin command itself while it works on the
// database of a stopped server. Claiming it is how each side learns of the other: a server
// does not start while an admin command holds it, and an admin command talks to a server that
// holds it instead of writing the database under it (the server keeps some state in memory).

import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Logger } from "../logger.js";
import { AdminError, type AdminRequest, type AdminResult, parseAdminRequest } from "./admin-ops.js";

/** Longest request line: a password is at most 1,024 characters. */
const MAX_REQUEST_BYTES = 16 * 1024;
/** A client that connects and says nothing is dropped after this long. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Linux's limit on a Unix socket path (sun_path less its terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

export type AdminHandler = (request: AdminRequest) => Promise<AdminResult>;

export class AdminSocketBusy extends Error {}

/** How often a server that finds the socket held looks again, and for how long. */
const CLAIM_RETRY_MS = 200;

/**
 * The server's hold on the admin socket. Taken before the store is opened (an admin command
 * working on the database directly must be done first); until the server hands it a handler,
 * requests are answered `busy`.
 */
export class AdminSocket {
  readonly #server: net.Server;
  #handle: AdminHandler = async () => ({
    ok: false,
    code: "busy",
    message: "the server is starting; try again",
  });

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /** Claims the socket, waiting up to `waitMs` while an admin command holds it. */
  static async claim(socketPath: string, log: Logger | undefined, waitMs: number): Promise<AdminSocket> {
    const deadline = Date.now() + waitMs;
    let told = false;
    for (;;) {
      let socket: AdminSocket | undefined;
      try {
        const server = await claimAdminSocket(socketPath, (request) => socket!.#handle(request), log);
        socket = new AdminSocket(server);
        return socket;
      } catch (error) {
        if (!(error instanceof AdminSocketBusy) || Date.now() >= deadline) throw error;
        if (!told) log?.warn("waiting for the admin socket", { socket: socketPath, error: error.message });
        told = true;
        await new Promise((resolve) => setTimeout(resolve, CLAIM_RETRY_MS));
      }
    }
  }

  /** Requests from now on go to `handle`. */
  serve(handle: AdminHandler): void {
    this.#handle = handle;
  }

  /** Stops listening and removes the socket file. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) resolve();
      else this.#server.close(() => resolve());
    });
  }
}

/**
 * Listens on `socketPath` and answers each connection's one request with `handle`. A socket
 * file left by a process that died is replaced; one that answers means its owner still runs,
 * and this rejects with AdminSocketBusy.
 */
export async function claimAdminSocket(
  socketPath: string,
  handle: AdminHandler,
  log: Logger | undefined,
): Promise<net.Server> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `the admin socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; choose a shorter one with --admin-socket`,
    );
  }
  // On a first start the database's folder does not exist yet: the socket comes before the store.
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const server = net.createServer((socket) => serve(socket, handle, log));
  try {
    await listen(server, socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    if (await answers(socketPath)) {
      throw new AdminSocketBusy(`another process (a server or an admin command) holds ${socketPath}`);
    }
    // Left behind by a process that was killed: nobody listens on it.
    fs.rmSync(socketPath, { force: true });
    await listen(server, socketPath);
  }
  fs.chmodSync(socketPath, 0o600);
  return server;
}

function listen(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Whether something accepts connections on the socket. */
export function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

function serve(socket: net.Socket, handle: AdminHandler, log: Logger | undefined): void {
  let buffered = "";
  let answered = false;
  socket.setEncoding("utf8");
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  socket.on("error", () => {});
  const reply = (result: AdminResult) => {
    answered = true;
    socket.end(`${JSON.stringify(result)}\n`);
  };
  socket.on("data", (chunk: string) => {
    if (answered) return;
    buffered += chunk;
    const end = buffered.indexOf("\n");
    if (end < 0) {
      if (buffered.length > MAX_REQUEST_BYTES)
        reply(refusal(new AdminError("bad_request", "request too long")));
      return;
    }
    answered = true;
    let request: AdminRequest;
    try {
      request = parseAdminRequest(JSON.parse(buffered.slice(0, end)));
    } catch (error) {
      reply(refusal(error instanceof AdminError ? error : new AdminError("bad_request", "not JSON")));
      return;
    }
    handle(request).then(reply, (error: unknown) => {
      log?.error("admin request failed", { error: String(error) });
      reply({ ok: false, code: "unavailable", message: String(error) });
    });
  });
}

function refusal(error: AdminError): AdminResult {
  return { ok: false, code: error.code, message: error.message };
}

/** Sends one request to whoever holds the socket; rejects when nobody does (ENOENT, ECONNREFUSED). */
export function sendAdminRequest(socketPath: string, request: AdminRequest): Promise<AdminResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let received = "";
    socket.setEncoding("utf8");
    socket.once("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    socket.once("error", reject);
    socket.once("close", () => {
      const line = received.split("\n")[0] ?? "";
      try {
        resolve(JSON.parse(line) as AdminResult);
      } catch {
        reject(new Error("the server closed the admin connection without an answer"));
      }
    });
  });
}
