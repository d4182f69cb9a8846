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
  let counted: string[] | undefined;
  let record: UserRecord | undefined;
  let ok = false;
  try {
    counted = await countShared(services, ticket.address, ticket.userKey);
    if (counted === undefined) {
      throttle.abandoned(ticket, nowMs(services));
      throw new ProtocolError("rate_limited", "too many failed attempts; wait a minute and try again");
    }
    if (valid) {
      record = await services.store.findUser(userName);
      // Checked even without an account: a decoy hash makes both cost the same.
      ok = await services.passwords.check(password, record?.passwordHash);
    }
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throttle.abandoned(ticket, nowMs(services));
    if (counted !== undefined) await forgive(services, counted);
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
  await forgive(services, counted);
  return record;
}

/**
 * Several nodes on one database: the check also counts in the one-minute windows every node
 * shares (the store's), so that spreading guesses over the nodes gains nothing. Resolves with
 * the keys counted, or undefined when the check is refused (counting nothing). Like the
 * in-memory throttle, a name over its limit holds back only an address that has failed lately
 * (here: one with other checks counted in its window). A single node counts nothing (0).
 */
async function countShared(
  services: CommandContext["services"],
  address: string,
  userKey: string | undefined,
): Promise<string[] | undefined> {
  const { store, settings } = services;
  const addressKey = `a:${address}`;
  const byAddress = await store.countLoginAttempt(addressKey);
  if (byAddress > settings.loginFailuresPerAddressPerMin) {
    await forgive(services, [addressKey]);
    return undefined;
  }
  if (userKey === undefined) return [addressKey];
  const nameKey = `u:${userKey}`;
  const byName = await store.countLoginAttempt(nameKey);
  if (byName > settings.loginFailuresPerUserPerMin && byAddress > 1) {
    await forgive(services, [addressKey, nameKey]);
    return undefined;
  }
  return [addressKey, nameKey];
}

/** The checks counted did not fail (they succeeded, or could not be made): they cost nothing. */
async function forgive(services: CommandContext["services"], keys: readonly string[]): Promise<void> {
  // Not forgiven (the database failing) it counts as a failure: the safe side.
  for (const key of keys) await services.store.forgiveLoginAttempt(key).catch(() => undefined);
}

function nowMs(services: CommandContext["services"]): number {
  return services.now().getTime();
}
