import type { ServerFrame } from "./messages.js";

/** One frame as it goes on the wire: compact JSON and a newline. */
export function encodeFrame(frame: ServerFrame | Record<string, unknown>): string {
  return `${JSON.stringify(frame)}\n`;
}
