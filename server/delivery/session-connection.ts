import type { Logger } from "../logger.js";
import type { ServerEvent, ServerFrame } from "../protocol/messages.js";

/** The part of a connection that delivery uses; keeps delivery independent of sockets. */
export interface SessionConnection {
  readonly id: number;
  readonly log: Logger;
  /** False while the connection's output is backed up. */
  readonly canPush: boolean;
  send(frame: ServerFrame): void;
  /** Writes lines already encoded as frames: a broadcast encodes once for everyone. */
  sendEncoded(lines: string): void;
  /** Calls `listener` each time backed-up output drains; returns what stops it. */
  onWritable(listener: () => void): () => void;
  close(reason: string, lastEvent?: ServerEvent): void;
}
