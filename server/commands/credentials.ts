// Checking a password, as log-in and account deletion both do: throttled per user name and
// per address, and with one answer for an unknown user and a wrong password, so neither
// reveals which accounts exist.

import { ProtocolError } from "../protocol/protocol-error.js";
import type { UserRecord } from "../store/store.js";
import type { CommandContext } from "./command.js";

const BAD_CREDENTIALS = "wrong user name or password";

/** The account `userName` when `password` is its password; rate_limited or bad_credentials otherwise. */
export async function authenticate(
  context: CommandContext,
  userName: string,
  password: string,
): Promise<UserRecord> {
  const { connection, services } = context;
  const nowMs = services.now().getTime();
  if (!services.loginThrottle.allows(userName, connection.remoteAddress, nowMs)) {
    throw new ProtocolError("rate_limited", "too many failed attempts; wait a minute and try again");
  }
  const record = await services.store.findUser(userName);
  // Checked even without an account: a decoy hash makes both cost the same.
  const ok = await services.passwords.check(password, record?.passwordHash);
  if (!ok || record === undefined) {
    services.loginThrottle.recordFailure(userName, connection.remoteAddress, nowMs);
    connection.log.info("password refused", { user: userName.slice(0, 32) });
    throw new ProtocolError("bad_credentials", BAD_CREDENTIALS);
  }
  return record;
}
