// Routes a request to its command, enforces "log in first", and is the one place where
// failures become error responses: a ProtocolError or StoreError becomes its code; anything
// else is a bug, logged with its stack, and closes that connection without the client
// ever seeing the stack.

import type { Command, CommandContext, Services } from "./commands/command.js";
import type { Connection, Outcome, RequestHandler } from "./connection.js";
import type { ErrorCode, OkResponse, Rid, ServerFrame } from "./protocol/messages.js";
import { ProtocolError } from "./protocol/protocol-error.js";
import type { Request } from "./protocol/request.js";
import { StoreError } from "./store/store.js";

const UNAVAILABLE_MESSAGE = "the server cannot store this now; nothing was stored, try again";
const LOW_DISK_MESSAGE =
  "the server is low on disk space and stores nothing new; nothing was stored, try again later";

export class Dispatcher implements RequestHandler {
  readonly #commands: Readonly<Record<string, Command>>;
  readonly #services: Services;

  constructor(commands: Readonly<Record<string, Command>>, services: Services) {
    this.#commands = commands;
    this.#services = services;
  }

  /** A connection that sends stops being read while the intake is congested. */
  mayHoldReading(request: Request): boolean {
    return request.op === "send";
  }

  get congested(): boolean {
    return this.#services.intake.congested;
  }

  isBarrier(request: Request): boolean {
    return !this.#commands[request.op]!.pipelined;
  }

  async handle(connection: Connection, request: Request): Promise<Outcome> {
    const command = this.#commands[request.op]!;
    // ack is never answered, not even with an error, whatever rid it carries.
    const rid = request.op === "ack" ? undefined : request.rid;
    if (command === undefined) {
      return {
        frame: errorResponse(rid, "unknown_op", `this server does not implement "${request.op}" yet`),
      };
    }
    if (command.needsLogin && connection.session === undefined) {
      return { frame: errorResponse(rid, "not_logged_in", "log in first") };
    }
    if (command.growsStore && this.#services.diskSpace.low) {
      return { frame: errorResponse(rid, "unavailable", LOW_DISK_MESSAGE) };
    }
    let after: (() => void) | undefined;
    let closeReason: string | undefined;
    const context: CommandContext = {
      connection,
      services: this.#services,
      afterResponse: (action) => {
        after = action;
      },
      closeAfterResponse: (reason) => {
        closeReason = reason;
      },
    };
    try {
      const result = await command.run(context, request.args);
      const frame = rid === undefined ? undefined : ({ rid, ok: true, ...result } as OkResponse);
      return { frame, after, closeReason };
    } catch (error) {
      if (error instanceof ProtocolError) return { frame: errorResponse(rid, error.code, error.message) };
      if (error instanceof StoreError) {
        if (error.code === "unavailable")
          connection.log.warn("store unavailable", { op: request.op, error: error.message });
        const message = error.code === "unavailable" ? UNAVAILABLE_MESSAGE : error.message;
        return { frame: errorResponse(rid, error.code, message) };
      }
      connection.log.error("request failed unexpectedly", {
        op: request.op,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      return {
        frame: { ev: "error", code: "internal", message: "internal server error; the connection is closed" },
        closeReason: "internal error",
      };
    }
  }
}

function errorResponse(rid: Rid | undefined, code: ErrorCode, message: string): ServerFrame | undefined {
  return rid === undefined ? undefined : { rid, ok: false, error: { code, message } };
}
