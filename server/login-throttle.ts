// Limits password checks per client address and per user name, so guessing one password and
// trying one password across many names are both slowed down. Successes cost nothing.
//
// A check takes its tokens before it starts and a success gives them back: checks in flight at
// once cannot all pass on the one token left. A check that finds the tokens out but some of them
// only reserved waits for those checks to end rather than being refused, so a crowd logging in
// at once behind one address (a classroom, a restart) is slowed, not turned away. The per-name limit only holds back addresses that
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
  /** Checks in progress per "a:address" and "u:name": at most a bucket's worth each. */
  readonly #inFlight = new Map<string, number>();
  /** Checks waiting for one in progress on the same key to end. */
  readonly #waiters = new Map<string, Array<() => void>>();

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
  async begin(
    user: string | undefined,
    address: string,
    now: () => number,
  ): Promise<LoginTicket | undefined> {
    if (!(await this.#reserve(this.#byAddress, `a:${address}`, address, now))) return undefined;
    if (user === undefined) return { userKey: undefined, address, tookUserToken: false };
    const userKey = user.toLowerCase();
    if (await this.#reserve(this.#byUser, `u:${userKey}`, userKey, now)) {
      return { userKey, address, tookUserToken: true };
    }
    if (this.#failedRecently(address, now())) {
      this.#byAddress.give(address, now());
      this.#settle(`a:${address}`);
      return undefined;
    }
    this.#noteFailure(address, now());
    return { userKey, address, tookUserToken: false };
  }

  /** The password was right: the check costs nothing and the address's record is clean again. */
  succeeded(ticket: LoginTicket, nowMs: number): void {
    this.#lastFailureMs.delete(ticket.address);
    this.#refund(ticket, nowMs);
    this.#settleTicket(ticket);
  }

  failed(ticket: LoginTicket, nowMs: number): void {
    this.#noteFailure(ticket.address, nowMs);
    this.#settleTicket(ticket);
  }

  /** The check could not be made (the store failed): it costs nothing. */
  abandoned(ticket: LoginTicket, nowMs: number): void {
    this.#refund(ticket, nowMs);
    this.#settleTicket(ticket);
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

  // A token, or, while checks holding some are in flight, the end of one of them and another try.
  async #reserve(limiter: RateLimiter, slot: string, key: string, now: () => number): Promise<boolean> {
    for (;;) {
      if (limiter.take(key, now())) {
        this.#inFlight.set(slot, (this.#inFlight.get(slot) ?? 0) + 1);
        return true;
      }
      if (!this.#inFlight.has(slot)) return false;
      await new Promise<void>((resolve) => {
        const waiting = this.#waiters.get(slot);
        if (waiting === undefined) this.#waiters.set(slot, [resolve]);
        else waiting.push(resolve);
      });
    }
  }

  #settleTicket(ticket: LoginTicket): void {
    this.#settle(`a:${ticket.address}`);
    if (ticket.tookUserToken) this.#settle(`u:${ticket.userKey}`);
  }

  #settle(slot: string): void {
    const left = (this.#inFlight.get(slot) ?? 1) - 1;
    if (left === 0) this.#inFlight.delete(slot);
    else this.#inFlight.set(slot, left);
    const waiting = this.#waiters.get(slot);
    if (waiting === undefined) return;
    this.#waiters.delete(slot);
    for (const wake of waiting) wake();
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
