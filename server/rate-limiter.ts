// Token buckets keyed by a string, refilled lazily from the clock: no timers per key.

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class RateLimiter {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();

  /** A rate of 0 means unlimited. */
  constructor(ratePerSec: number, burst: number) {
    this.#ratePerMs = ratePerSec / 1000;
    this.#burst = burst;
  }

  get unlimited(): boolean {
    return this.#ratePerMs === 0;
  }

  /** True when `key` has a token left; takes it. */
  take(key: string, nowMs: number): boolean {
    if (this.unlimited) return true;
    const bucket = this.#refill(key, nowMs);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** True when `key` has a token left, without taking it. */
  allows(key: string, nowMs: number): boolean {
    return this.unlimited || this.#refill(key, nowMs).tokens >= 1;
  }

  /** Forgets buckets that have refilled completely, so idle keys cost no memory. */
  prune(nowMs: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (nowMs - bucket.updatedMs) * this.#ratePerMs >= this.#burst)
        this.#buckets.delete(key);
    }
  }

  #refill(key: string, nowMs: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, updatedMs: nowMs };
      this.#buckets.set(key, bucket);
      return bucket;
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (nowMs - bucket.updatedMs) * this.#ratePerMs);
    bucket.updatedMs = nowMs;
    return bucket;
  }
}
