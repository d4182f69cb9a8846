// Between storing a message and delivering it: takes stored, not yet normalized messages in
// batches (oldest first), has the normalizer clean them, stores the result and only then
// releases them into their recipients' inboxes. While the normalizer is unreachable,
// messages wait, stored, and the stage retries with capped exponential backoff; nothing is
// ever delivered raw. One batch at a time keeps per-sender order.

import type { Logger } from "../logger.js";
import type { NormalizedMessage, Store } from "../store/store.js";
import { type TextNormalizer, TextRefusedError } from "./text-normalizer.js";

export interface NormalizationSettings {
  readonly batchSize: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export const NORMALIZATION_DEFAULTS: NormalizationSettings = {
  batchSize: 1000,
  retryMinMs: 100,
  retryMaxMs: 5000,
};

export class NormalizationStage {
  readonly #store: Store;
  readonly #normalizer: TextNormalizer;
  readonly #log: Logger;
  readonly #settings: NormalizationSettings;
  readonly #now: () => Date;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = 0;
  #outageSince: number | undefined;

  constructor(
    store: Store,
    normalizer: TextNormalizer,
    log: Logger,
    now: () => Date,
    settings: NormalizationSettings = NORMALIZATION_DEFAULTS,
  ) {
    this.#store = store;
    this.#normalizer = normalizer;
    this.#log = log;
    this.#now = now;
    this.#settings = settings;
  }

  /** Messages were stored; also called at start-up for those left from before a restart. */
  wake(): void {
    if (this.#stopped || this.#retryTimer !== undefined) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  /** Stops taking batches and waits for the one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#running;
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      let batch: Awaited<ReturnType<Store["unnormalizedMessages"]>>;
      try {
        batch = await this.#store.unnormalizedMessages(this.#settings.batchSize);
      } catch (error) {
        this.#scheduleRetry("store", error);
        return;
      }
      if (batch.length === 0) return;
      let texts: string[];
      try {
        texts = await this.#normalizer.normalizeBatch(batch.map((message) => message.text));
        if (texts.length !== batch.length)
          throw new Error(`asked for ${batch.length} texts, got ${texts.length}`);
      } catch (error) {
        if (error instanceof TextRefusedError && batch[error.index] !== undefined) {
          // Retrying would refuse it forever and hold up every message behind it.
          try {
            await this.#hold(batch[error.index]!.id, error.message);
          } catch (storeError) {
            this.#scheduleRetry("store", storeError);
            return;
          }
          continue;
        }
        this.#scheduleRetry("normalizer", error);
        return;
      }
      this.#recovered();
      const released: NormalizedMessage[] = [];
      const at = this.#now().toISOString();
      try {
        for (const [index, message] of batch.entries()) {
          const text = texts[index];
          if (typeof text === "string" && text !== "") {
            released.push({ id: message.id, text });
          } else {
            await this.#hold(message.id, "the normalizer returned no text");
          }
        }
        await this.#store.releaseMessages(released, at);
      } catch (error) {
        this.#scheduleRetry("store", error);
        return;
      }
    }
  }

  /** Keeps a message out of every inbox for good, and says so: never deliver raw text. */
  async #hold(id: number, why: string): Promise<void> {
    this.#log.error("message held: it cannot be normalized", { id, why });
    // Its sender gets an undeliverable receipt.
    await this.#store.holdMessage(id, this.#now().toISOString());
  }

  #scheduleRetry(what: "store" | "normalizer", error: unknown): void {
    if (this.#stopped) return;
    if (this.#outageSince === undefined) {
      this.#outageSince = Date.now();
      // One line per outage, not one per message or per retry.
      this.#log.warn(`${what} unavailable; messages wait, stored, and will be delivered when it answers`, {
        error: error instanceof Error ? error.message : String(error),
      });
    }
    this.#retryDelayMs = Math.min(
      this.#settings.retryMaxMs,
      Math.max(this.#settings.retryMinMs, this.#retryDelayMs * 2),
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.wake();
    }, this.#retryDelayMs);
    this.#retryTimer.unref();
  }

  #recovered(): void {
    if (this.#outageSince === undefined) return;
    this.#log.info("normalization resumed", { outageMs: Date.now() - this.#outageSince });
    this.#outageSince = undefined;
    this.#retryDelayMs = 0;
  }
}
