// `parley-server admin …`: account administration on the database of a running or a stopped
// server. With a server running (it answers on its admin socket) the server does the work, so
// that a removed account's sessions end at once; otherwise this process takes the admin socket
// (so that no server starts meanwhile), opens the database itself, and releases both.

import readline from "node:readline";
import { parseArgs } from "node:util";
import { adminSocketPath, parseCommandLine, type ServerSettings, UsageError } from "../config.js";
import { PasswordChecker } from "../passwords.js";
import { describeDb, openStore } from "../store/open-store.js";
import { type AdminRequest, type AdminResult, NO_SESSIONS, runAdminRequest } from "./admin-ops.js";
import { AdminSocketBusy, claimAdminSocket, sendAdminRequest } from "./admin-socket.js";

export const ADMIN_USAGE = `Usage: parley-server admin [options] <command>

Commands:
  create-user USER [--name NAME]   create an account (also when registration is closed)
  reset-password USER              set a new password; the account's sessions end
  remove-user USER                 delete the account; its sessions end at once
  list-users                       every account, whether online, when last seen

A new password is read from standard input (one line), or asked for twice on a terminal.

Options (each also as an environment variable, as for the server):
  --db PATH             the database (PARLEY_DB; default as for the server)
  --admin-socket PATH   the running server's admin socket (PARLEY_ADMIN_SOCKET;
                        default parley-admin.sock beside the database)
  --scrypt-cost N       scrypt N for a password set on a stopped server (PARLEY_SCRYPT_COST)
  --name NAME           display name for create-user (default: the user name)
  --help                print this help`;

const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;

interface Invocation {
  readonly settings: ServerSettings;
  readonly command: string;
  readonly user: string | undefined;
  readonly name: string | undefined;
}

function parseInvocation(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation | "help" {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        db: { type: "string" },
        "admin-socket": { type: "string" },
        "scrypt-cost": { type: "string" },
        name: { type: "string" },
        help: { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help === true) return "help";
  // The server's own parsing, so that the flags and PARLEY_* variables mean the same here.
  const serverArgs: string[] = [];
  for (const flag of ["db", "admin-socket", "scrypt-cost"]) {
    const value = values[flag];
    if (typeof value === "string") serverArgs.push(`--${flag}`, value);
  }
  const parsed = parseCommandLine(serverArgs, env);
  if (parsed.help) return "help";
  const [command, user, ...extra] = positionals;
  if (command === undefined)
    throw new UsageError("name a command: create-user, reset-password, remove-user, list-users");
  const needsUser = command !== "list-users";
  if (!["create-user", "reset-password", "remove-user", "list-users"].includes(command)) {
    throw new UsageError(`unknown command "${command}"`);
  }
  if (needsUser && user === undefined) throw new UsageError(`${command} needs a user name`);
  if (extra.length > 0 || (!needsUser && user !== undefined)) throw new UsageError("too many arguments");
  if (values.name !== undefined && command !== "create-user")
    throw new UsageError("--name goes with create-user");
  return { settings: parsed.config, command, user, name: values.name as string | undefined };
}

/** Reads a password: one line of standard input, or a prompt (twice, not echoed) on a terminal. */
async function readPassword(user: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const lines = readline.createInterface({ input: process.stdin, terminal: false });
    for await (const line of lines) {
      lines.close();
      return line;
    }
    throw new UsageError("no password on standard input");
  }
  const first = await promptHidden(`New password for ${user}: `);
  const second = await promptHidden("Again: ");
  if (first !== second) throw new UsageError("the passwords differ");
  return first;
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve) => {
    const output = process.stderr;
    const prompt = readline.createInterface({ input: process.stdin, output, terminal: true });
    // Echo nothing but the question itself.
    const write = output.write.bind(output);
    (prompt as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = (text) => {
      if (text.startsWith(question)) write(question);
    };
    prompt.question(question, (answer) => {
      write("\n");
      prompt.close();
      resolve(answer);
    });
  });
}

async function buildRequest(invocation: Invocation): Promise<AdminRequest> {
  const user = invocation.user ?? "";
  switch (invocation.command) {
    case "create-user": {
      const password = await readPassword(user);
      return {
        op: "create-user",
        user,
        password,
        ...(invocation.name === undefined ? {} : { name: invocation.name }),
      };
    }
    case "reset-password":
      return { op: "reset-password", user, password: await readPassword(user) };
    case "remove-user":
      return { op: "remove-user", user };
    default:
      return { op: "list-users" };
  }
}

/** Asks the running server, or works on the database itself when none holds the admin socket. */
async function execute(settings: ServerSettings, request: AdminRequest): Promise<AdminResult> {
  const socketPath = adminSocketPath(settings);
  // PostgreSQL without --admin-socket: the database itself, which every node shares.
  if (socketPath === undefined) return runDirectly(settings, request, describeDb(settings.dbPath));
  try {
    return await sendAdminRequest(socketPath, request);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ECONNREFUSED") throw error;
  }
  const held = await claimAdminSocket(
    socketPath,
    async () => ({ ok: false, code: "busy", message: "another admin command is working on the database" }),
    undefined,
  );
  try {
    process.stderr.write(`parley-server admin: no server is running; using ${settings.dbPath} directly\n`);
    return await runDirectly(settings, request, settings.dbPath);
  } finally {
    await new Promise<void>((resolve) => held.close(() => resolve()));
  }
}

async function runDirectly(
  settings: ServerSettings,
  request: AdminRequest,
  shown: string,
): Promise<AdminResult> {
  const store = await openStore({ path: settings.dbPath }).catch((error: Error) => {
    throw new Error(`cannot open database ${shown}: ${error.message}`);
  });
  try {
    return await runAdminRequest(
      {
        store,
        passwords: new PasswordChecker(settings.scryptCost),
        sessions: NO_SESSIONS,
        log: undefined,
        now: () => new Date(),
      },
      request,
    );
  } finally {
    await store.close();
  }
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function describe(request: AdminRequest, result: AdminResult & { ok: true }): string {
  switch (request.op) {
    case "create-user":
      return `created user ${result.user}`;
    case "reset-password":
      return `reset the password of ${result.user}; ${plural(result.sessionsEnded ?? 0, "session")} ended`;
    case "remove-user":
      return `removed user ${result.user}; ${plural(result.sessionsEnded ?? 0, "session")} ended`;
    case "list-users": {
      const rows = [["USER", "NAME", "ONLINE", "CREATED", "LAST SEEN"]];
      for (const user of result.users ?? []) {
        rows.push([
          user.user,
          user.name,
          user.online ? "yes" : "no",
          user.createdAt,
          user.lastSeen ?? "never",
        ]);
      }
      const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
      const table = rows.map((row) =>
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd(),
      );
      return `${table.join("\n")}\n${plural(rows.length - 1, "user")}`;
    }
  }
}

/** Runs `parley-server admin …` with the arguments after "admin"; resolves with the exit code. */
export async function runAdminCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let invocation: Invocation | "help";
  let request: AdminRequest;
  try {
    invocation = parseInvocation(argv, env);
    if (invocation === "help") {
      process.stdout.write(`${ADMIN_USAGE}\n`);
      return 0;
    }
    request = await buildRequest(invocation);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`parley-server admin: ${error.message} (see parley-server admin --help)\n`);
    return EXIT_USAGE;
  }
  let result: AdminResult;
  try {
    result = await execute(invocation.settings, request);
  } catch (error) {
    const message = error instanceof AdminSocketBusy ? error.message : (error as Error).message;
    process.stderr.write(`parley-server admin: ${message}\n`);
    return EXIT_REFUSED;
  }
  if (!result.ok) {
    process.stderr.write(`parley-server admin: ${result.message} (${result.code})\n`);
    return EXIT_REFUSED;
  }
  process.stdout.write(`${describe(request, result)}\n`);
  return 0;
}
