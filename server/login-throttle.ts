// Limits failed log-ins per user name and per client address, so guessing one password and
// trying one password across many names are both slowed down. Successes cost nothing.

import { RateLimiter } from "./rate-limiter.js";

const MS_PER_MIN = 60_000;

export class LoginThrottle {
  readonly #byUser: RateLimiter;
  readonly #byAddress: RateLimiter;

  constructor(failuresPerUserPerMin: number, failuresPerAddressPerMin: number) {
    this.#byUser = new RateLimiter(failuresPerUserPerMin / (MS_PER_MIN / 1000), failuresPerUserPerMin);
    this.#byAddress = new RateLimiter(
      failuresPerAddressPerMin / (MS_PER_MIN / 1000),
      failuresPerAddressPerMin,
    );
  }

  allows(user: string, address: string, nowMs: number): boolean {
    return this.#byUser.allows(user.toLowerCase(), nowMs) && this.#byAddress.allows(address, nowMs);
  }

  recordFailure(user: string, address: string, nowMs: number): void {
    this.#byUser.take(user.toLowerCase(), nowMs);
    this.#byAddress.take(address, nowMs);
  }

  prune(nowMs: number): void {
    this.#byUser.prune(nowMs);
    this.#byAddress.prune(nowMs);
  }
}
