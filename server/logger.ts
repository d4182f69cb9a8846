// Structured logging: one JSON object per line on stdout. Callers bind context (a connection
// id) once with child(), so every line about a connection carries it.

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  isDebug(): boolean;
  child(fields: LogFields): Logger;
}

export type LogSink = (line: string) => void;

const writeStdout: LogSink = (line) => {
  process.stdout.write(line);
};

/**
 * Characters JSON leaves as they are that a log reader may take for a line break or that rewrite
 * the terminal: DEL and the C1 controls, the line and paragraph separators, bidi controls.
 * They can only occur inside strings, so escaping them keeps the line's JSON and its meaning.
 */
const UNSAFE_IN_LOG = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeUnsafe(json: string): string {
  return json.replace(UNSAFE_IN_LOG, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function createLogger(level: LogLevel, sink: LogSink = writeStdout, bound: LogFields = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const emit = (lineLevel: LogLevel, msg: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(lineLevel) > threshold) return;
    const json = JSON.stringify({
      time: new Date().toISOString(),
      level: lineLevel,
      msg,
      ...bound,
      ...fields,
    });
    sink(`${escapeUnsafe(json)}\n`);
  };
  return {
    error: (msg, fields) => emit("error", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    debug: (msg, fields) => emit("debug", msg, fields),
    isDebug: () => threshold >= LOG_LEVELS.indexOf("debug"),
    child: (fields) => createLogger(level, sink, { ...bound, ...fields }),
  };
}
