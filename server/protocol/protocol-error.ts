import type { ErrorCode } from "./messages.js";

/** A failure the client is told about; the dispatcher turns it into an error response. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}
