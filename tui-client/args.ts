// Command-line options of the `parley` client. Flags win over the environment
// (PARLEY_HOST, PARLEY_PORT, PARLEY_USER, PARLEY_DEVICE), which wins over the defaults.

export interface ClientConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string | undefined;
  /** Speak TLS; `ca` (a PEM file) is trusted besides the system's certificates. */
  readonly tls: boolean;
  readonly ca: string | undefined;
  /** Sent in `login`: one session per (user, device); another device logs in beside it. */
  readonly device: string;
}

export type ParsedArgs =
  | { readonly kind: "run"; readonly config: ClientConfig }
  | { readonly kind: "help" }
  | { readonly kind: "error"; readonly message: string };

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 7878;
/** The protocol's rule for a device name: 1-32 of A-Z a-z 0-9 _ . - */
export const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,32}$/u;

/** The host name reduced to the characters a device name may hold; "default" when none is left. */
export function defaultDevice(hostname: string): string {
  const device = hostname.replace(/[^A-Za-z0-9_.-]/gu, "").slice(0, 32);
  return device === "" ? "default" : device;
}

export const USAGE = `Usage: parley [--host HOST] [--port PORT] [--user USER] [--device NAME] [--tls] [--ca FILE]

The Parley terminal chat client.

  --host HOST   server address (default ${DEFAULT_HOST}, or $PARLEY_HOST)
  --port PORT   server port (default ${DEFAULT_PORT}, or $PARLEY_PORT)
  --user USER   user name to fill in on the log-in screen (or $PARLEY_USER)
  --device NAME this device's name, 1-32 of A-Z a-z 0-9 _ . - (default: the host name
                reduced to those characters, or "default"; or $PARLEY_DEVICE)
  --tls         connect with TLS (or $PARLEY_TLS=1)
  --ca FILE     trust this PEM certificate, e.g. a self-signed server's; implies --tls
                (or $PARLEY_CA)
  --help        show this text

Inside: Tab switches conversation, Enter sends, /help lists commands and keys.`;

export function parseArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  hostname: string,
): ParsedArgs {
  let host = env.PARLEY_HOST || DEFAULT_HOST;
  let portText = env.PARLEY_PORT || String(DEFAULT_PORT);
  let portSource = env.PARLEY_PORT ? "PARLEY_PORT" : "--port";
  let user = env.PARLEY_USER || undefined;
  let useTls = env.PARLEY_TLS === "1" || env.PARLEY_TLS === "true";
  let ca = env.PARLEY_CA || undefined;
  let device = env.PARLEY_DEVICE || undefined;
  let deviceSource = "PARLEY_DEVICE";

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") return { kind: "help" };
    if (arg === "--tls") {
      useTls = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq !== -1 ? arg.slice(0, eq) : arg;
    if (
      name !== "--host" &&
      name !== "--port" &&
      name !== "--user" &&
      name !== "--ca" &&
      name !== "--device"
    ) {
      return { kind: "error", message: `parley: unknown option ${JSON.stringify(arg)} (try --help)` };
    }
    let value: string | undefined;
    if (eq !== -1 && arg.startsWith("--")) value = arg.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined || value === "")
      return { kind: "error", message: `parley: ${name} needs a value` };
    if (name === "--host") host = value;
    else if (name === "--user") user = value;
    else if (name === "--ca") ca = value;
    else if (name === "--device") {
      device = value;
      deviceSource = "--device";
    } else {
      portText = value;
      portSource = "--port";
    }
  }

  if (!/^\d+$/u.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return {
      kind: "error",
      message: `parley: ${portSource} must be a port number from 1 to 65535, not ${JSON.stringify(portText)}`,
    };
  }
  if (device !== undefined && !DEVICE_NAME.test(device)) {
    return {
      kind: "error",
      message: `parley: ${deviceSource} must be 1-32 of A-Z a-z 0-9 _ . -, not ${JSON.stringify(device)}`,
    };
  }
  return {
    kind: "run",
    config: {
      host,
      port: Number(portText),
      user,
      tls: useTls || ca !== undefined,
      ca,
      device: device ?? defaultDevice(hostname),
    },
  };
}
