// Turns a decoded JSON object into a request, or into the framing error it deserves.
// Checks only the envelope (op and rid); each command checks its own arguments.

import { isOp, isRid, type Op, type Rid } from "./messages.js";

export interface Request {
  readonly op: Op;
  /** Absent only on `ack`, which is never answered. */
  readonly rid: Rid | undefined;
  readonly args: Readonly<Record<string, unknown>>;
}

export type Classified =
  | { kind: "request"; request: Request }
  | { kind: "error"; code: "bad_frame" | "unknown_op"; message: string; rid: Rid | undefined };

const SHOWN_OP_CHARS = 40;

export function classifyFrame(value: Readonly<Record<string, unknown>>): Classified {
  const rid = isRid(value.rid) ? value.rid : undefined;
  const op = value.op;
  if (typeof op !== "string") {
    return { kind: "error", code: "bad_frame", message: 'a request needs an "op" string', rid };
  }
  if (!isOp(op)) {
    return { kind: "error", code: "unknown_op", message: `unknown op "${op.slice(0, SHOWN_OP_CHARS)}"`, rid };
  }
  if (rid === undefined && op !== "ack") {
    return {
      kind: "error",
      code: "bad_frame",
      message: 'a request needs a "rid": a string of at most 64 characters or an integer',
      rid,
    };
  }
  return { kind: "request", request: { op, rid, args: value } };
}
