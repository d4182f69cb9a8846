// Token buckets keyed by a string, refilled lazily from the clock: no timers per key.

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class RateLimiter {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  /**
   * A rate of 0 means unlimited. Past `maxKeys` buckets the oldest is forgotten (its key starts
   * afresh), so keys a client makes up cannot grow memory without bound.
   */
  constructor(ratePerSec: number, burst: number, maxKeys = Number.POSITIVE_INFINITY) {
    this.#ratePerMs = ratePerSec / 1000;
    this.#burst = burst;
    this.#maxKeys = maxKeys;
  }

  get unlimited(): boolean {
    return this.#ratePerMs === 0;
  }

  /** Buckets held: keys not yet refilled completely (or not yet pruned). */
  get size(): number {
    return this.#buckets.size;
  }

  /** True when `key` has a token left; takes it. */
  take(key: string, nowMs: number): boolean {
    if (this.unlimited) return true;
    const bucket = this.#refill(key, nowMs);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Gives back a token taken for work that turned out not to count. */
  give(key: string, nowMs: number): void {
    if (this.unlimited) return;
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) return;
    this.#refill(key, nowMs);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + 1);
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
      if (this.#buckets.size >= this.#maxKeys) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.#burst, updatedMs: nowMs };
      this.#buckets.set(key, bucket);
      return bucket;
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (nowMs - bucket.updatedMs) * this.#ratePerMs);
    bucket.updatedMs = nowMs;
    return bucket;
  }
}
