// The normalizer's logging seam: the few methods it calls, so that the chat server's logger
// (server/logger.ts) fits as is when it embeds the service, tests stay quiet, and the
// standalone binary writes one JSON object per line.

export type LogFields = Readonly<Record<string, unknown>>;

export interface NormalizerLogger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Per-request detail; left out by loggers that do not want it. */
  debug?(msg: string, fields?: LogFields): void;
}

export const silentLogger: NormalizerLogger = { info() {}, warn() {}, error() {} };

/** Writes `{"time":…,"level":…,"msg":…,…fields}` lines through `write`. */
export function jsonLineLogger(write: (line: string) => void): NormalizerLogger {
  const emit = (level: string, msg: string, fields?: LogFields) =>
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
  return {
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}
