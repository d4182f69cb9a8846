// Checking a password, as log-in and account deletion both do: throttled per user name and
// per address, and with one answer for an unknown user and a wrong password, so neither
// reveals which accounts exist.

import { isValidUserName } from "../protocol/account-rules.js";
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
  const throttle = services.loginThrottle;
  // A name that breaks the rules is no account: it costs the address a failure and no scrypt
  // work, and is neither remembered by the throttle nor written to the log (it may be a password).
  const valid = isValidUserName(userName);
  const ticket = await throttle.begin(valid ? userName : undefined, connection.remoteAddress, () =>
    nowMs(services),
  );
  if (ticket === undefined) {
    throw new ProtocolError("rate_limited", "too many failed attempts; wait a minute and try again");
  }
  let record: UserRecord | undefined;
  let ok = false;
  try {
    if (valid) {
      record = await services.store.findUser(userName);
      // Checked even without an account: a decoy hash makes both cost the same.
      ok = await services.passwords.check(password, record?.passwordHash);
    }
  } catch (error) {
    throttle.abandoned(ticket, nowMs(services));
    throw error;
  }
  if (!ok || record === undefined) {
    throttle.failed(ticket, nowMs(services));
    connection.log.info(
      "password refused",
      valid ? { user: userName } : { invalidNameLength: userName.length },
    );
    throw new ProtocolError("bad_credentials", BAD_CREDENTIALS);
  }
  throttle.succeeded(ticket, nowMs(services));
  return record;
}

function nowMs(services: CommandContext["services"]): number {
  return services.now().getTime();
}
