// What a command handler sees: the connection's narrow face, the server's services, and
// ways to act after its response is on the wire.

import type { ServerSettings } from "../config.js";
import type { SessionConnection } from "../delivery/session-connection.js";
import type { SessionRegistry, SessionUser } from "../delivery/session-registry.js";
import type { LoginThrottle } from "../login-throttle.js";
import type { PasswordChecker } from "../passwords.js";
import type { Args } from "../protocol/arguments.js";
import type { Limits } from "../protocol/messages.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import type { RateLimiter } from "../rate-limiter.js";
import type { Store, UserRecord } from "../store/store.js";

export interface ClientConnection extends SessionConnection {
  readonly remoteAddress: string;
  readonly state: "open" | "closing" | "closed";
  user: SessionUser | undefined;
}

export interface Services {
  readonly settings: ServerSettings;
  readonly limits: Limits;
  readonly serverName: string;
  readonly store: Store;
  readonly passwords: PasswordChecker;
  readonly sendLimiter: RateLimiter;
  readonly loginThrottle: LoginThrottle;
  readonly sessions: SessionRegistry;
  /** Tells the normalization stage that stored messages wait for it. */
  readonly messagesStored: () => void;
  readonly now: () => Date;
}

export interface CommandContext {
  readonly connection: ClientConnection;
  readonly services: Services;
  /** Runs right after the response is written (e.g. start pushing the inbox after login). */
  afterResponse(action: () => void): void;
  /** Closes the connection once the response is written. */
  closeAfterResponse(reason: string): void;
}

export type CommandResult = Readonly<Record<string, unknown>> | undefined;

export interface Command {
  /** Refused with not_logged_in, by the dispatcher, when the connection has no user. */
  readonly needsLogin: boolean;
  /**
   * Runs without waiting for the connection's earlier requests. Only for commands whose
   * store calls keep their order by themselves (the store applies writes in call order).
   */
  readonly pipelined: boolean;
  run(context: CommandContext, args: Args): Promise<CommandResult>;
}

/** The live account named `name`, or no_such_user. */
export async function existingUser(services: Services, name: string): Promise<UserRecord> {
  const record = await services.store.findUser(name);
  if (record === undefined)
    throw new ProtocolError("no_such_user", `there is no user "${name.slice(0, 32)}"`);
  return record;
}

/** The logged-in user; the dispatcher has checked there is one. */
export function currentUser(context: CommandContext): SessionUser {
  return context.connection.user!;
}
