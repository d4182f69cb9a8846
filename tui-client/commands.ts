// Slash commands as a table (senpai's commands.go): each declares its arguments and a one-line
// summary, /help is generated from the table, and the runner checks arguments before any
// command runs. Commands act only through `CommandContext`, which main.ts implements.

import { CHAT_KEYS } from "./keymap.js";

export interface CommandContext {
  /** Sends `text` to `user` (or a `#room`) and opens that conversation. */
  sendTo(user: string, text: string): void;
  /** The open conversation: a user name or a `#room`; undefined when none is open. */
  activeConversation(): string | undefined;
  /** Creates `room` with this user as owner and `members` in it; opens it once created. */
  createRoom(room: string, members: readonly string[]): void;
  addToRoom(room: string, user: string): void;
  removeFromRoom(room: string, user: string): void;
  leaveRoom(room: string): void;
  /** Fetches the room's members and shows them with how far each has read. */
  showMembers(room: string): void;
  /** Fetches this user's devices and shows them. */
  showDevices(): void;
  /** Fetches the user list again and shows it once the answer is in. */
  showUsers(): void;
  /** Sets how a message for this user elsewhere is announced: off, bell, desktop; none says which. */
  setNotify(mode: string | undefined): void;
  /** Shows the open conversation's loaded messages that hold `text`. */
  search(text: string): void;
  logout(): void;
  /** Asks for the password (masked) before deleting the account. */
  startUnregister(): void;
  reconnect(): void;
  quit(): void;
  showHelp(lines: readonly string[]): void;
  /** A line for the status bar. */
  notify(text: string, level: "info" | "error"): void;
}

export interface CommandSpec {
  readonly name: string;
  /** Argument names for the usage line; the last one takes the rest of the line. */
  readonly args: readonly string[];
  /** How many arguments must be present. */
  readonly required: number;
  readonly summary: string;
  readonly run: (context: CommandContext, args: readonly string[]) => void;
}

/** The protocol's rule for a room name: # and 1-32 of A-Z a-z 0-9 _ . - */
export const ROOM_NAME = /^#[A-Za-z0-9_.-]{1,32}$/u;

/** The open room, or undefined after telling the user that the command needs one. */
function openRoom(context: CommandContext, command: string): string | undefined {
  const active = context.activeConversation();
  if (active?.startsWith("#")) return active;
  context.notify(`/${command} acts on the open room: open one first (Tab, or a click on a #room).`, "error");
  return undefined;
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "msg",
    args: ["USER", "TEXT"],
    required: 2,
    summary: "send TEXT to USER (or a #room) and open that conversation",
    run: (context, [user, text]) => context.sendTo(user!, text!),
  },
  {
    name: "create",
    args: ["#ROOM", "USER…"],
    required: 1,
    summary: "create a room with these users in it, and open it; you are its owner",
    run: (context, [name, rest]) => {
      const room = name!.startsWith("#") ? name! : `#${name}`;
      if (!ROOM_NAME.test(room)) {
        context.notify(`${room} is not a room name: # and 1-32 of A-Z a-z 0-9 _ . -`, "error");
        return;
      }
      context.createRoom(
        room,
        (rest ?? "").split(/[\s,]+/u).filter((user) => user !== ""),
      );
    },
  },
  {
    name: "add",
    args: ["USER"],
    required: 1,
    summary: "add USER to the open room",
    run: (context, [user]) => {
      const room = openRoom(context, "add");
      if (room !== undefined) context.addToRoom(room, user!);
    },
  },
  {
    name: "remove",
    args: ["USER"],
    required: 1,
    summary: "remove USER from the open room (its owner only)",
    run: (context, [user]) => {
      const room = openRoom(context, "remove");
      if (room !== undefined) context.removeFromRoom(room, user!);
    },
  },
  {
    name: "leave",
    args: [],
    required: 0,
    summary: "leave the open room (its conversation stays on screen)",
    run: (context) => {
      const room = openRoom(context, "leave");
      if (room !== undefined) context.leaveRoom(room);
    },
  },
  {
    name: "members",
    args: [],
    required: 0,
    summary: "list the open room's members, who is online and how far each has read",
    run: (context) => {
      const room = openRoom(context, "members");
      if (room !== undefined) context.showMembers(room);
    },
  },
  {
    name: "devices",
    args: [],
    required: 0,
    summary: "list your devices, online or when last seen",
    run: (context) => context.showDevices(),
  },
  {
    name: "users",
    args: [],
    required: 0,
    summary: "list every user, online or not",
    run: (context) => context.showUsers(),
  },
  {
    name: "search",
    args: ["TEXT"],
    required: 1,
    summary: "find TEXT in the open conversation (PgUp at the top of the results loads older messages)",
    run: (context, [text]) => context.search(text!),
  },
  {
    name: "notify",
    args: ["off|bell|desktop"],
    required: 0,
    summary: "a message for you elsewhere: nothing, the bell (default), or bell and desktop notification",
    run: (context, [mode]) => context.setNotify(mode),
  },
  {
    name: "logout",
    args: [],
    required: 0,
    summary: "log out and return to the log-in screen",
    run: (context) => context.logout(),
  },
  {
    name: "unregister",
    args: [],
    required: 0,
    summary: "delete your account (asks for your password)",
    run: (context) => context.startUnregister(),
  },
  {
    name: "reconnect",
    args: [],
    required: 0,
    summary: "connect again now (after the session was taken over elsewhere)",
    run: (context) => context.reconnect(),
  },
  {
    name: "help",
    args: [],
    required: 0,
    summary: "show commands and keys",
    run: (context) => context.showHelp(helpLines()),
  },
  {
    name: "quit",
    args: [],
    required: 0,
    summary: "quit Parley",
    run: (context) => context.quit(),
  },
];

export function usage(command: CommandSpec): string {
  return [`/${command.name}`, ...command.args].join(" ");
}

/** Splits "/msg bob hello there" into its command name and arguments, per the table. */
export function parseCommandLine(line: string): { command: CommandSpec; args: string[] } | { error: string } {
  const match = /^\/(\S+)\s*(.*)$/su.exec(line);
  if (match === null) return { error: "type a command after the slash; /help lists them" };
  const name = match[1]!.toLowerCase();
  // A unique prefix is enough, as in irssi and senpai: /q quits, /u is ambiguous.
  const exact = COMMANDS.find((command) => command.name === name);
  const candidates =
    exact !== undefined ? [exact] : COMMANDS.filter((command) => command.name.startsWith(name));
  if (candidates.length === 0) return { error: `unknown command /${name}; /help lists them` };
  if (candidates.length > 1) {
    return { error: `/${name} is ambiguous: ${candidates.map((command) => `/${command.name}`).join(", ")}` };
  }
  const command = candidates[0]!;
  const args = splitArgs(match[2]!, command.args.length);
  if (args.length < command.required) return { error: `usage: ${usage(command)}` };
  if (args.length > command.args.length) return { error: `usage: ${usage(command)}` };
  return { command, args };
}

function splitArgs(rest: string, count: number): string[] {
  const args: string[] = [];
  let remaining = rest.trim();
  while (remaining !== "") {
    if (args.length === Math.max(count, 1) - 1 && count > 0) {
      args.push(remaining);
      break;
    }
    const match = /^(\S+)\s*(.*)$/su.exec(remaining)!;
    args.push(match[1]!);
    remaining = match[2]!;
  }
  return args;
}

/** Runs one command line; mistakes are reported through `notify`, never thrown. */
export function runCommand(line: string, context: CommandContext): void {
  const parsed = parseCommandLine(line);
  if ("error" in parsed) {
    context.notify(parsed.error, "error");
    return;
  }
  parsed.command.run(context, parsed.args);
}

/** The text of /help: the command table, then the key table. */
export function helpLines(): string[] {
  const width = Math.max(...COMMANDS.map((command) => usage(command).length));
  const lines = ["Commands", ""];
  for (const command of COMMANDS) lines.push(`  ${usage(command).padEnd(width)}  ${command.summary}`);
  lines.push(`${"  //TEXT".padEnd(width + 2)}  send TEXT starting with a slash`);
  lines.push("", "Keys", "");
  const keyWidth = Math.max(...CHAT_KEYS.map((binding) => binding.label.length));
  for (const binding of CHAT_KEYS) lines.push(`  ${binding.label.padEnd(keyWidth)}  ${binding.help}`);
  lines.push(`${"  Tab".padEnd(keyWidth + 2)}  with text typed: complete a name, #room or /command`);
  lines.push(
    `${"  Mouse".padEnd(keyWidth + 2)}  click a contact to open it; wheel scrolls (off with --no-mouse)`,
  );
  lines.push("", "Marks on your messages", "");
  lines.push("  …  waiting to be sent    ✓  stored by the server    ✓✓  delivered");
  lines.push("  ✔✔ read                  ✗  not sent, undeliverable or expired");
  return lines;
}
