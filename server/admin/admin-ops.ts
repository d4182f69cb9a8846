// What an administrator may do to accounts, on a Store: create one (also when registration is
// closed), reset a password, remove one, list them. The running server runs these for
// `parley-server admin` over its admin socket, with its sessions, so that a removed account's
// sessions end at once; on a stopped server the admin command runs them on the database itself.

import type { Logger } from "../logger.js";
import type { PasswordChecker } from "../passwords.js";
import { cleanDisplayName, isAcceptablePassword, isValidUserName } from "../protocol/account-rules.js";
import type { Store, UserRecord } from "../store/store.js";

/** A request on the admin socket: one JSON line, answered by one JSON line, then closed. */
export type AdminRequest =
  | { readonly op: "create-user"; readonly user: string; readonly password: string; readonly name?: string }
  | { readonly op: "reset-password"; readonly user: string; readonly password: string }
  | { readonly op: "remove-user"; readonly user: string }
  | { readonly op: "list-users" };

export interface AdminUser {
  readonly user: string;
  readonly name: string;
  /** Always false when the database was used directly: no server, so nobody is online. */
  readonly online: boolean;
  readonly createdAt: string;
  readonly lastSeen: string | null;
}

export type AdminResult =
  | {
      readonly ok: true;
      readonly user?: string;
      readonly sessionsEnded?: number;
      readonly users?: AdminUser[];
    }
  | { readonly ok: false; readonly code: AdminErrorCode; readonly message: string };

export type AdminErrorCode =
  | "bad_request"
  | "invalid_username"
  | "weak_password"
  | "bad_argument"
  | "user_exists"
  | "no_such_user"
  | "unavailable"
  | "busy";

/** Accounts read per store call when listing them all. */
const LIST_PAGE = 500;

export class AdminError extends Error {
  readonly code: AdminErrorCode;
  constructor(code: AdminErrorCode, message: string) {
    super(message);
    this.name = "AdminError";
    this.code = code;
  }
}

/** Ends the sessions of an account; the server's, or none when the server is not running. */
export interface SessionEnder {
  endSessionsOf(userId: number, reason: string): number;
  isOnline(userId: number): boolean;
}

export const NO_SESSIONS: SessionEnder = { endSessionsOf: () => 0, isOnline: () => false };

export interface AdminContext {
  readonly store: Store;
  readonly passwords: PasswordChecker;
  readonly sessions: SessionEnder;
  readonly log: Logger | undefined;
  readonly now: () => Date;
}

/** Checks that a parsed line is a request, and throws bad_request otherwise. */
export function parseAdminRequest(value: unknown): AdminRequest {
  if (typeof value !== "object" || value === null) throw new AdminError("bad_request", "not an object");
  const request = value as Record<string, unknown>;
  const text = (key: string): string => {
    const field = request[key];
    if (typeof field !== "string") throw new AdminError("bad_request", `"${key}" must be a string`);
    return field;
  };
  switch (request.op) {
    case "create-user":
      return {
        op: "create-user",
        user: text("user"),
        password: text("password"),
        ...(request.name === undefined ? {} : { name: text("name") }),
      };
    case "reset-password":
      return { op: "reset-password", user: text("user"), password: text("password") };
    case "remove-user":
      return { op: "remove-user", user: text("user") };
    case "list-users":
      return { op: "list-users" };
    default:
      throw new AdminError("bad_request", `unknown op ${JSON.stringify(request.op)}`);
  }
}

/** Runs one request; every refusal becomes { ok: false } with a stable code. */
export async function runAdminRequest(context: AdminContext, request: AdminRequest): Promise<AdminResult> {
  try {
    return await run(context, request);
  } catch (error) {
    if (error instanceof AdminError) return { ok: false, code: error.code, message: error.message };
    const code = (error as { code?: unknown }).code;
    if (code === "user_exists" || code === "no_such_user" || code === "unavailable") {
      return { ok: false, code, message: (error as Error).message };
    }
    context.log?.error("admin request failed", { op: request.op, error: String(error) });
    return { ok: false, code: "unavailable", message: (error as Error).message };
  }
}

async function run(context: AdminContext, request: AdminRequest): Promise<AdminResult> {
  const { store, passwords, sessions, log } = context;
  switch (request.op) {
    case "create-user": {
      if (!isValidUserName(request.user)) {
        throw new AdminError(
          "invalid_username",
          "a user name is 1 to 32 of the characters A-Z a-z 0-9 _ . -",
        );
      }
      checkPassword(request.password);
      const name = request.name === undefined ? request.user : cleanDisplayName(request.name);
      if (name === undefined)
        throw new AdminError("bad_argument", "a display name is 1 to 64 printable characters");
      const record = await store.createUser({
        user: request.user,
        name,
        passwordHash: await passwords.hash(request.password),
        at: context.now().toISOString(),
      });
      log?.info("admin: user created", { user: record.user });
      return { ok: true, user: record.user };
    }
    case "reset-password": {
      checkPassword(request.password);
      const record = await existing(store, request.user);
      await store.setPasswordHash(record.id, await passwords.hash(request.password));
      // Whoever knew the old password is logged out with it.
      const ended = sessions.endSessionsOf(record.id, "password reset by an administrator");
      log?.info("admin: password reset", { user: record.user, sessionsEnded: ended });
      return { ok: true, user: record.user, sessionsEnded: ended };
    }
    case "remove-user": {
      const record = await existing(store, request.user);
      await store.deleteUser(record.id, context.now().toISOString());
      const ended = sessions.endSessionsOf(record.id, "account removed by an administrator");
      log?.info("admin: user removed", { user: record.user, sessionsEnded: ended });
      return { ok: true, user: record.user, sessionsEnded: ended };
    }
    case "list-users": {
      const records: UserRecord[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listUsers(after, LIST_PAGE);
        records.push(...page.users);
        if (!page.more || page.users.length === 0) break;
        after = page.users.at(-1)!.user;
      }
      return {
        ok: true,
        users: records.map((record) => ({
          user: record.user,
          name: record.name,
          online: sessions.isOnline(record.id),
          createdAt: record.createdAt,
          lastSeen: record.lastSeen,
        })),
      };
    }
  }
}

function checkPassword(password: string): void {
  if (!isAcceptablePassword(password))
    throw new AdminError("weak_password", "a password is 8 to 1024 characters long");
}

async function existing(store: Store, user: string): Promise<UserRecord> {
  const record = await store.findUser(user);
  if (record === undefined) throw new AdminError("no_such_user", `there is no user "${user.slice(0, 32)}"`);
  return record;
}
