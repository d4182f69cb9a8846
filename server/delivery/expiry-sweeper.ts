// Expires messages that waited longer than their lifetime (their senders get `expired` receipts),
// forgets devices unseen for as long, and prunes acknowledged events: the store's housekeeping.

import type { Logger } from "../logger.js";
import type { Store } from "../store/store.js";

const MAX_SWEEP_INTERVAL_MS = 60_000;
const MIN_SWEEP_INTERVAL_MS = 10;

export class ExpirySweeper {
  readonly #timer: NodeJS.Timeout;
  #sweeping = false;

  constructor(store: Store, messageTtlMs: number, log: Logger, now: () => Date) {
    // Sweep often enough that a message outlives its lifetime by at most a tenth of it.
    const intervalMs = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, messageTtlMs / 10));
    this.#timer = setInterval(async () => {
      if (this.#sweeping) return;
      this.#sweeping = true;
      try {
        const at = now();
        await store.expireMessages(new Date(at.getTime() - messageTtlMs).toISOString(), at.toISOString());
      } catch (error) {
        log.warn("expiry sweep failed; will try again", { error: String(error) });
      } finally {
        this.#sweeping = false;
      }
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
