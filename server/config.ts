// Every tunable in one place, with its unit in its name. The command line and PARLEY_*
// environment variables map onto these; tests pass overrides directly.

import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { LOG_LEVELS, type LogLevel } from "./logger.js";

export interface ServerSettings {
  readonly host: string;
  readonly port: number;
  readonly dbPath: string;
  /** An external normalizer service; undefined starts the embedded one. */
  readonly normalizerUrl: string | undefined;
  readonly maxPending: number;
  /** Devices a user may have known at once; a new one past it forgets the least recently used. */
  readonly maxDevices: number;
  /** Members a room may have, its owner included. */
  readonly maxRoomMembers: number;
  readonly maxTextChars: number;
  readonly maxFrameBytes: number;
  readonly maxInFlight: number;
  readonly idleTimeoutMs: number;
  readonly messageTtlMs: number;
  readonly logLevel: LogLevel;
  /** scrypt's N for new password hashes; stored with each hash, so raising it is safe. */
  readonly scryptCost: number;
  /** Sustained sends a user may make per second (0 turns the limit off), and the burst above it. */
  readonly sendRatePerSec: number;
  readonly sendBurst: number;
  /** Failed log-ins allowed per minute for one user name, and for one client address. */
  readonly loginFailuresPerUserPerMin: number;
  readonly loginFailuresPerAddressPerMin: number;
  /** Accounts one client address may register per hour (0 turns the limit off). */
  readonly registrationsPerAddressPerHour: number;
  /** Output buffered for one connection past which it is disconnected as a slow reader. */
  readonly maxBufferedBytes: number;
  /** How long a connection's output may stay blocked before it is disconnected. */
  readonly drainTimeoutMs: number;
  /** Requests a connection may have in progress before the server stops reading from it. */
  readonly maxQueuedRequests: number;
  /** Sent messages between arrival and storage past which connections that send are not read. */
  readonly intakeWindow: number;
  readonly shutdownTimeoutMs: number;
  /** PEM files; with both, the listener speaks TLS. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** Connections accepted at once, in all and from one address. */
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  /** A connection not logged in this long after connecting is closed. */
  readonly loginTimeoutMs: number;
  /** "closed": the register op is refused; only an administrator creates accounts. */
  readonly registration: RegistrationPolicy;
  /** Serve Prometheus metrics over HTTP on this port; undefined serves none. */
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  /** The Unix socket `parley-server admin` talks to; undefined puts it beside the database. */
  readonly adminSocket: string | undefined;
}

export const REGISTRATION_POLICIES = ["open", "closed"] as const;
export type RegistrationPolicy = (typeof REGISTRATION_POLICIES)[number];

/** Where the admin socket is: --admin-socket, or `parley-admin.sock` beside the database. */
/** Whether `db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//.test(db);
}

/**
 * The admin socket: beside a SQLite database by default. A PostgreSQL database has no folder on
 * this machine, and several nodes may run here, so there it is only the one `--admin-socket` names.
 */
export function adminSocketPath(
  settings: Pick<ServerSettings, "adminSocket" | "dbPath">,
): string | undefined {
  if (settings.adminSocket !== undefined) return settings.adminSocket;
  if (isPostgresUrl(settings.dbPath)) return undefined;
  return path.join(path.dirname(path.resolve(settings.dbPath)), "parley-admin.sock");
}

export function defaultDbPath(): string {
  const dataHome = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(dataHome, "parley", "parley.db");
}

export const DEFAULTS: ServerSettings = {
  host: "127.0.0.1",
  port: 7878,
  dbPath: defaultDbPath(),
  normalizerUrl: undefined,
  maxPending: 10_000,
  maxDevices: 10,
  maxRoomMembers: 1000,
  maxTextChars: 4096,
  maxFrameBytes: 65_536,
  maxInFlight: 1024,
  idleTimeoutMs: 120_000,
  messageTtlMs: 30 * 24 * 3600 * 1000,
  logLevel: "info",
  scryptCost: 2 ** 15,
  sendRatePerSec: 50,
  sendBurst: 500,
  loginFailuresPerUserPerMin: 10,
  loginFailuresPerAddressPerMin: 30,
  registrationsPerAddressPerHour: 20,
  maxBufferedBytes: 8 * 1024 * 1024,
  drainTimeoutMs: 30_000,
  maxQueuedRequests: 1024,
  intakeWindow: 4096,
  shutdownTimeoutMs: 5000,
  tlsCert: undefined,
  tlsKey: undefined,
  maxConnections: 20_000,
  maxConnectionsPerAddress: 256,
  loginTimeoutMs: 30_000,
  registration: "open",
  metricsPort: undefined,
  metricsHost: "127.0.0.1",
  adminSocket: undefined,
};

type Kind = "string" | "integer" | "number" | "level" | "choice";

interface Flag {
  readonly key: keyof ServerSettings;
  readonly kind: Kind;
  readonly min?: number;
  readonly max?: number;
  /** The values a "choice" accepts. */
  readonly choices?: readonly string[];
  readonly help: string;
  /** Turns the flag's value into the config's unit. */
  readonly scale?: number;
}

const MS_PER_DAY = 24 * 3600 * 1000;

// Declared as data so --help, the environment variables and parsing cannot drift apart.
export const FLAGS: Readonly<Record<string, Flag>> = {
  host: { key: "host", kind: "string", help: "address to listen on" },
  port: { key: "port", kind: "integer", min: 0, max: 65_535, help: "TCP port; 0 picks a free one" },
  db: {
    key: "dbPath",
    kind: "string",
    help: "SQLite database file (its folders are created), or postgres://user@host:port/db",
  },
  "normalizer-url": {
    key: "normalizerUrl",
    kind: "string",
    help: "use this normalizer service (http://host:port/normalizer) instead of the embedded one",
  },
  "max-pending": { key: "maxPending", kind: "integer", min: 1, help: "messages that may wait for one user" },
  "max-devices": {
    key: "maxDevices",
    kind: "integer",
    min: 1,
    max: 1000,
    help: "devices a user may have at once; a new one forgets the least recently used",
  },
  "max-room-members": {
    key: "maxRoomMembers",
    kind: "integer",
    min: 2,
    max: 100_000,
    help: "members a room may have, its owner included",
  },
  "max-text-chars": {
    key: "maxTextChars",
    kind: "integer",
    min: 1,
    max: 65_536,
    help: "longest message text, in code points",
  },
  "max-frame-bytes": {
    key: "maxFrameBytes",
    kind: "integer",
    min: 256,
    help: "longest request line, in bytes",
  },
  "max-in-flight": {
    key: "maxInFlight",
    kind: "integer",
    min: 1,
    help: "unacknowledged events pushed to one connection",
  },
  "idle-timeout-ms": {
    key: "idleTimeoutMs",
    kind: "integer",
    min: 100,
    help: "close a connection silent this long",
  },
  "message-ttl-days": {
    key: "messageTtlMs",
    kind: "number",
    min: 0,
    // A lifetime past a century would put expiry dates beyond what a Date can hold.
    max: 36_500,
    scale: MS_PER_DAY,
    help: "undelivered messages expire after this many days (fractions allowed)",
  },
  "log-level": { key: "logLevel", kind: "level", help: `one of ${LOG_LEVELS.join(", ")}` },
  "scrypt-cost": {
    key: "scryptCost",
    kind: "integer",
    min: 2,
    help: "scrypt N for new password hashes (a power of two)",
  },
  "send-rate": {
    key: "sendRatePerSec",
    kind: "number",
    min: 0,
    max: 1_000_000,
    help: "sends per second per user; 0 = unlimited",
  },
  "send-burst": {
    key: "sendBurst",
    kind: "integer",
    min: 1,
    help: "sends a user may make at once above the rate",
  },
  "login-failures-per-user": {
    key: "loginFailuresPerUserPerMin",
    kind: "integer",
    min: 1,
    help: "failed log-ins per minute for one user name",
  },
  "login-failures-per-address": {
    key: "loginFailuresPerAddressPerMin",
    kind: "integer",
    min: 1,
    help: "failed log-ins per minute from one address",
  },
  "registrations-per-address": {
    key: "registrationsPerAddressPerHour",
    kind: "integer",
    min: 0,
    help: "accounts one address may register per hour; 0 = unlimited",
  },
  "max-buffered-bytes": {
    key: "maxBufferedBytes",
    kind: "integer",
    min: 1024,
    help: "output buffered for one connection before it is dropped",
  },
  "drain-timeout-ms": {
    key: "drainTimeoutMs",
    kind: "integer",
    min: 100,
    help: "drop a connection whose output stays blocked this long",
  },
  "max-queued-requests": {
    key: "maxQueuedRequests",
    kind: "integer",
    min: 1,
    help: "requests in progress per connection before reading pauses",
  },
  "intake-window": {
    key: "intakeWindow",
    kind: "integer",
    min: 1,
    help: "sent messages between arrival and storage before the server stops reading from senders",
  },

  "shutdown-timeout-ms": {
    key: "shutdownTimeoutMs",
    kind: "integer",
    min: 0,
    help: "longest orderly shutdown",
  },
  "tls-cert": {
    key: "tlsCert",
    kind: "string",
    help: "PEM certificate (chain) file; with --tls-key, speak TLS",
  },
  "tls-key": { key: "tlsKey", kind: "string", help: "PEM private key file for --tls-cert" },
  "max-connections": { key: "maxConnections", kind: "integer", min: 1, help: "connections open at once" },
  "max-connections-per-address": {
    key: "maxConnectionsPerAddress",
    kind: "integer",
    min: 1,
    help: "connections open at once from one client address",
  },
  "login-timeout-ms": {
    key: "loginTimeoutMs",
    kind: "integer",
    min: 100,
    help: "close a connection not logged in this long after connecting",
  },
  registration: {
    key: "registration",
    kind: "choice",
    choices: REGISTRATION_POLICIES,
    help: "open: anyone may register; closed: only `parley-server admin create-user`",
  },
  "metrics-port": {
    key: "metricsPort",
    kind: "integer",
    min: 0,
    max: 65_535,
    help: "serve Prometheus metrics at http://<metrics-host>:<port>/metrics; 0 picks a free port",
  },
  "metrics-host": { key: "metricsHost", kind: "string", help: "address the metrics listener binds" },
  "admin-socket": {
    key: "adminSocket",
    kind: "string",
    help: "Unix socket for `parley-server admin` (default: parley-admin.sock beside the database)",
  },
};

export class UsageError extends Error {}

export function envName(flag: string): string {
  return `PARLEY_${flag.toUpperCase().replaceAll("-", "_")}`;
}

function parseValue(flag: string, spec: Flag, raw: string): unknown {
  const where = `--${flag} (or ${envName(flag)})`;
  switch (spec.kind) {
    case "string":
      if (raw === "") throw new UsageError(`${where} needs a value`);
      return raw;
    case "level":
      if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
        throw new UsageError(`${where} must be one of ${LOG_LEVELS.join(", ")}, not "${raw}"`);
      }
      return raw;
    case "choice":
      if (!(spec.choices ?? []).includes(raw)) {
        throw new UsageError(`${where} must be one of ${(spec.choices ?? []).join(", ")}, not "${raw}"`);
      }
      return raw;
    case "integer":
    case "number": {
      const value = Number(raw);
      const ok =
        raw.trim() !== "" && (spec.kind === "integer" ? Number.isSafeInteger(value) : Number.isFinite(value));
      if (!ok)
        throw new UsageError(
          `${where} must be ${spec.kind === "integer" ? "a whole number" : "a number"}, not "${raw}"`,
        );
      if (spec.min !== undefined && value < spec.min)
        throw new UsageError(`${where} must be at least ${spec.min}`);
      if (spec.max !== undefined && value > spec.max)
        throw new UsageError(`${where} must be at most ${spec.max}`);
      return spec.scale === undefined ? value : value * spec.scale;
    }
  }
}

/**
 * "--flag -5" as "--flag=-5": parseArgs would refuse the value as a possible option in three
 * lines, where the range check says in one what is wrong with it.
 */
function attachDashValues(argv: readonly string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg.startsWith("--") && arg.slice(2) in FLAGS && next !== undefined && /^-(?!-)/.test(next)) {
      args.push(`${arg}=${next}`);
      i++;
    } else {
      args.push(arg);
    }
  }
  return args;
}

export type CommandLine = { help: true } | { help: false; config: ServerSettings };

/** Flags win over environment variables, which win over the defaults. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const flag of Object.keys(FLAGS)) options[flag] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: attachDashValues(argv),
      options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // parseArgs explains some mistakes over several lines; the first one says what is wrong.
    throw new UsageError((error as Error).message.split("\n")[0]!);
  }
  if (values.help) return { help: true };

  const config: Record<string, unknown> = { ...DEFAULTS };
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const raw = values[flag] ?? env[envName(flag)];
    if (typeof raw === "string") config[spec.key] = parseValue(flag, spec, raw);
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const scryptCost = config.scryptCost as number;
  if ((scryptCost & (scryptCost - 1)) !== 0) throw new UsageError("--scrypt-cost must be a power of two");
  return { help: false, config: config as unknown as ServerSettings };
}

export function usage(): string {
  const lines = [
    "Usage: parley-server [options]",
    "       parley-server admin <command>   (accounts; see parley-server admin --help)",
    "       parley-server migrate-db --from FILE --to postgres://…   (SQLite to PostgreSQL; see --help)",
    "",
    "Options (each also as an environment variable):",
  ];
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const key = spec.key;
    const raw = DEFAULTS[key];
    const shown =
      raw === undefined ? "none" : spec.scale ? String((raw as number) / spec.scale) : String(raw);
    lines.push(`  --${flag.padEnd(28)} ${spec.help} (default ${shown}; ${envName(flag)})`);
  }
  lines.push(`  --${"help".padEnd(28)} print this help`);
  return lines.join("\n");
}
