import { cleanDisplayName, isAcceptablePassword, isValidUserName } from "../protocol/account-rules.js";
import { optionalStringArg, stringArg } from "../protocol/arguments.js";
import { ProtocolError } from "../protocol/protocol-error.js";
import type { Command } from "./command.js";

export const register: Command<"register"> = {
  needsLogin: false,
  growsStore: true,
  pipelined: false,
  async run({ connection, services }, args) {
    // Before anything else: a closed server says so whatever the arguments.
    if (services.settings.registration === "closed") {
      throw new ProtocolError(
        "registration_closed",
        "registration is closed on this server; ask its administrator for an account",
      );
    }
    const user = stringArg(args, "user");
    const password = stringArg(args, "password");
    const rawName = optionalStringArg(args, "name");
    if (!isValidUserName(user)) {
      throw new ProtocolError(
        "invalid_username",
        "a user name is 1 to 32 of the characters A-Z a-z 0-9 _ . -",
      );
    }
    if (!isAcceptablePassword(password)) {
      throw new ProtocolError("weak_password", "a password is 8 to 1024 characters long");
    }
    const name = rawName === undefined ? user : cleanDisplayName(rawName);
    if (name === undefined) {
      throw new ProtocolError("bad_argument", '"name" must be 1 to 64 printable characters');
    }
    // After the checks that cost nothing, before the hash that costs the most.
    if (!services.registrationLimiter.take(connection.remoteAddress, services.now().getTime())) {
      throw new ProtocolError(
        "rate_limited",
        "too many accounts registered from your address; try again later",
      );
    }
    const passwordHash = await services.passwords.hash(password);
    const record = await services.store.createUser({
      user,
      name,
      passwordHash,
      at: services.now().toISOString(),
    });
    connection.log.info("registered", { user: record.user });
    return { user: record.user };
  },
};
