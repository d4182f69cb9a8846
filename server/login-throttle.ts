// Limits password checks per client address and per user name, so guessing one password and
// trying one password across many names are both slowed down. Successes cost nothing.
//
// A check takes its tokens before it starts and a success gives them back: checks in flight at
// once cannot all pass on the one token left. The per-name limit only holds back addresses that
// have failed lately, so guessing from elsewhere cannot lock the owner out (as Prosody's
// mod_limit_auth and ejabberd's mod_fail2ban limit by address); an address that has not failed
// gets one check on a throttled name, counted as a failure until it succeeds.

import { RateLimiter } from "./rate-limiter.js";

const MS_PER_MIN = 60_000;
/** Names and addresses remembered at most; past it the oldest are forgotten. */
const MAX_KEYS = 100_000;

/** A check allowed to run: hand it back to succeeded() or failed(). */
export interface LoginTicket {
  readonly userKey: string | undefined;
  readonly address: string;
  /** True when the check ran on the name's own tokens rather than the address's clean record. */
  readonly tookUserToken: boolean;
}

export class LoginThrottle {
  readonly #byUser: RateLimiter;
  readonly #byAddress: RateLimiter;
  /** When each address last failed (or began a check on a throttled name). */
  readonly #lastFailureMs = new Map<string, number>();

  constructor(failuresPerUserPerMin: number, failuresPerAddressPerMin: number) {
    this.#byUser = new RateLimiter(
      failuresPerUserPerMin / (MS_PER_MIN / 1000),
      failuresPerUserPerMin,
      MAX_KEYS,
    );
    this.#byAddress = new RateLimiter(
      failuresPerAddressPerMin / (MS_PER_MIN / 1000),
      failuresPerAddressPerMin,
      MAX_KEYS,
    );
  }

  /** Names and addresses held: what a flood of made-up names could grow. */
  get size(): number {
    return this.#byUser.size + this.#byAddress.size + this.#lastFailureMs.size;
  }

  /**
   * Reserves a check of `user` (a valid user name, or undefined for a name that cannot be an
   * account) from `address`; undefined when it is refused. The address is asked first, so a
   * refused address adds no name to the table.
   */
  begin(user: string | undefined, address: string, nowMs: number): LoginTicket | undefined {
    if (!this.#byAddress.take(address, nowMs)) return undefined;
    if (user === undefined) return { userKey: undefined, address, tookUserToken: false };
    const userKey = user.toLowerCase();
    if (this.#byUser.take(userKey, nowMs)) return { userKey, address, tookUserToken: true };
    if (this.#failedRecently(address, nowMs)) {
      this.#byAddress.give(address, nowMs);
      return undefined;
    }
    this.#noteFailure(address, nowMs);
    return { userKey, address, tookUserToken: false };
  }

  /** The password was right: the check costs nothing and the address's record is clean again. */
  succeeded(ticket: LoginTicket, nowMs: number): void {
    this.#refund(ticket, nowMs);
    this.#lastFailureMs.delete(ticket.address);
  }

  failed(ticket: LoginTicket, nowMs: number): void {
    this.#noteFailure(ticket.address, nowMs);
  }

  /** The check could not be made (the store failed): it costs nothing. */
  abandoned(ticket: LoginTicket, nowMs: number): void {
    this.#refund(ticket, nowMs);
  }

  prune(nowMs: number): void {
    this.#byUser.prune(nowMs);
    this.#byAddress.prune(nowMs);
    for (const [address, atMs] of this.#lastFailureMs) {
      if (nowMs - atMs >= MS_PER_MIN) this.#lastFailureMs.delete(address);
    }
  }

  #refund(ticket: LoginTicket, nowMs: number): void {
    this.#byAddress.give(ticket.address, nowMs);
    if (ticket.tookUserToken) this.#byUser.give(ticket.userKey!, nowMs);
  }

  #failedRecently(address: string, nowMs: number): boolean {
    const atMs = this.#lastFailureMs.get(address);
    return atMs !== undefined && nowMs - atMs < MS_PER_MIN;
  }

  #noteFailure(address: string, nowMs: number): void {
    this.#lastFailureMs.delete(address);
    if (this.#lastFailureMs.size >= MAX_KEYS) {
      this.#lastFailureMs.delete(this.#lastFailureMs.keys().next().value!);
    }
    this.#lastFailureMs.set(address, nowMs);
  }
}
