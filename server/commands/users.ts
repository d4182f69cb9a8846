import { isValidUserName } from "../protocol/account-rules.js";
import { optionalIntegerArg, optionalStringArg } from "../protocol/arguments.js";
import type { UserEntry } from "../protocol/messages.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import type { Command } from "./command.js";

/** Users per page at most, and when the request names no limit: a page stays far below a frame's worth. */
export const MAX_USERS_PER_PAGE = 500;

export const users: Command<"users"> = {
  needsLogin: true,
  pipelined: false,
  async run({ services }, args) {
    const after = optionalStringArg(args, "after");
    const limit = optionalIntegerArg(args, "limit") ?? MAX_USERS_PER_PAGE;
    if (after !== undefined && !isValidUserName(after)) {
      throw new ProtocolError("bad_argument", '"after" must be a user name');
    }
    if (limit < 1 || limit > MAX_USERS_PER_PAGE) {
      throw new ProtocolError("bad_argument", `"limit" must be 1 to ${MAX_USERS_PER_PAGE}`);
    }
    const page = await services.store.listUsers(after, limit);
    const list: UserEntry[] = page.users.map((record) => ({
      user: record.user,
      name: record.name,
      online: services.sessions.isOnline(record.id),
      lastSeen: record.lastSeen,
    }));
    return { users: list, more: page.more };
  },
};
