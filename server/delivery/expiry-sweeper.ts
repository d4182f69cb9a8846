// Expires messages that waited longer than their lifetime (their senders get `expired` receipts),
// forgets devices unseen for as long, prunes acknowledged events and, with a retention, deletes
// delivered messages older than it: the store's housekeeping.

import type { Logger } from "../logger.js";
import type { Store } from "../store/store.js";

const MAX_SWEEP_INTERVAL_MS = 60_000;
const MIN_SWEEP_INTERVAL_MS = 10;
/**
 * Messages one retention transaction examines: small enough that it never holds the write lock
 * for long (other writes queue between two batches), large enough that a sweep is not mostly
 * commits.
 */
export const RETENTION_BATCH = 500;

export class ExpirySweeper {
  readonly #timer: NodeJS.Timeout;
  #sweeping = false;
  #stopped = false;

  /** `retentionMs` 0 keeps delivered messages forever. */
  constructor(store: Store, messageTtlMs: number, retentionMs: number, log: Logger, now: () => Date) {
    // Sweep often enough that a message outlives its lifetime (or its retention) by at most a
    // tenth of it.
    const shortest = retentionMs > 0 ? Math.min(messageTtlMs, retentionMs) : messageTtlMs;
    const intervalMs = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, shortest / 10));
    this.#timer = setInterval(async () => {
      if (this.#sweeping) return;
      this.#sweeping = true;
      try {
        const at = now();
        await store.expireMessages(new Date(at.getTime() - messageTtlMs).toISOString(), at.toISOString());
        // After expiry, which prunes the events every device has acknowledged.
        if (retentionMs > 0)
          await this.#retain(store, new Date(at.getTime() - retentionMs).toISOString(), log);
      } catch (error) {
        log.warn("expiry sweep failed; will try again", { error: String(error) });
      } finally {
        this.#sweeping = false;
      }
    }, intervalMs);
    this.#timer.unref();
  }

  /** Walks every message older than the cutoff, one bounded transaction at a time. */
  async #retain(store: Store, cutoff: string, log: Logger): Promise<void> {
    let afterId = 0;
    let deleted = 0;
    for (;;) {
      const batch = await store.deleteDeliveredBefore(cutoff, afterId, RETENTION_BATCH);
      deleted += batch.deleted;
      afterId = batch.lastId;
      if (!batch.more || this.#stopped) break;
    }
    if (deleted > 0) log.info("retention deleted delivered messages", { deleted, before: cutoff });
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}
