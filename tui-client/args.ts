// Command-line options of the `parley` client. Flags win over the environment
// (PARLEY_HOST, PARLEY_PORT, PARLEY_USER, PARLEY_DEVICE, PARLEY_THEME), which wins over the
// defaults. Parsed with node:util parseArgs, like the server's.

import { parseArgs as parseFlags } from "node:util";
import { type ColorDepth, colorDepth, THEMES, type ThemeName } from "./theme.js";

export interface ClientConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string | undefined;
  /** Speak TLS; `ca` (a PEM file) is trusted besides the system's certificates. */
  readonly tls: boolean;
  readonly ca: string | undefined;
  /** Sent in `login`: one session per (user, device); another device logs in beside it. */
  readonly device: string;
  /** Colours for a dark or a light terminal background. */
  readonly theme: ThemeName;
  /** How many colours to use: from NO_COLOR, COLORTERM and TERM. */
  readonly colors: ColorDepth;
  /** False with --no-mouse: the terminal keeps its own selection and scrolling. */
  readonly mouse: boolean;
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
              [--theme dark|light] [--no-mouse]

The Parley terminal chat client.

  --host HOST   server address (default ${DEFAULT_HOST}, or $PARLEY_HOST)
  --port PORT   server port (default ${DEFAULT_PORT}, or $PARLEY_PORT)
  --user USER   user name to fill in on the log-in screen (or $PARLEY_USER)
  --device NAME this device's name, 1-32 of A-Z a-z 0-9 _ . - (default: the host name
                reduced to those characters, or "default"; or $PARLEY_DEVICE)
  --tls         connect with TLS (or $PARLEY_TLS=1)
  --ca FILE     trust this PEM certificate, e.g. a self-signed server's; implies --tls
                (or $PARLEY_CA)
  --theme NAME  colours for a dark (default) or a light background (or $PARLEY_THEME);
                NO_COLOR=1 turns colours off
  --no-mouse    leave the mouse to the terminal (selecting text, its own scrolling)
  --help        show this text

Inside: Tab switches conversation (or completes a name), Enter sends, /help lists commands and keys.`;

const OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  user: { type: "string" },
  device: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  theme: { type: "string" },
  "no-mouse": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export function parseArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  hostname: string,
): ParsedArgs {
  let values: ReturnType<typeof parseFlags<{ args: string[]; options: typeof OPTIONS }>>["values"];
  try {
    ({ values } = parseFlags({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!;
    return { kind: "error", message: `parley: ${message} (try --help)` };
  }
  if (values.help === true) return { kind: "help" };
  for (const name of ["host", "port", "user", "device", "ca", "theme"] as const) {
    if (values[name] === "") return { kind: "error", message: `parley: --${name} needs a value` };
  }
  const host = values.host ?? (env.PARLEY_HOST || DEFAULT_HOST);
  const portText = values.port ?? (env.PARLEY_PORT || String(DEFAULT_PORT));
  const portSource = values.port === undefined && env.PARLEY_PORT ? "PARLEY_PORT" : "--port";
  const user = values.user ?? (env.PARLEY_USER || undefined);
  const useTls = values.tls === true || env.PARLEY_TLS === "1" || env.PARLEY_TLS === "true";
  const ca = values.ca ?? (env.PARLEY_CA || undefined);
  const device = values.device ?? (env.PARLEY_DEVICE || undefined);
  const deviceSource = values.device === undefined ? "PARLEY_DEVICE" : "--device";
  const theme = values.theme ?? (env.PARLEY_THEME || "dark");

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
  if (!(THEMES as readonly string[]).includes(theme)) {
    return {
      kind: "error",
      message: `parley: --theme is ${THEMES.join(" or ")}, not ${JSON.stringify(theme)}`,
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
      theme: theme as ThemeName,
      colors: colorDepth(env),
      mouse: values["no-mouse"] !== true,
    },
  };
}
