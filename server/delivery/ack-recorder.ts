// Records one session's acknowledgements in the store. Clients may ack every event; writing
// each ack on its own would cost a store write per message, so while one write is in
// progress later acks only raise the mark, and the next write covers them all.

import type { Notified, Store } from "../store/store.js";

export class AckRecorder {
  readonly #store: Store;
  readonly #userId: number;
  readonly #onNotified: (notified: Notified) => void;
  readonly #now: () => Date;
  #wanted = 0;
  #recorded = 0;
  #writing: Promise<void> | undefined;

  constructor(store: Store, userId: number, onNotified: (notified: Notified) => void, now: () => Date) {
    this.#store = store;
    this.#userId = userId;
    this.#onNotified = onNotified;
    this.#now = now;
  }

  /** Resolves once every event up to `upTo` is removed from the inbox, durably. */
  record(upTo: number): Promise<void> {
    if (upTo <= this.#recorded) return Promise.resolve();
    this.#wanted = Math.max(this.#wanted, upTo);
    this.#writing ??= this.#write();
    return this.#writing;
  }

  async #write(): Promise<void> {
    try {
      while (this.#wanted > this.#recorded) {
        const upTo = this.#wanted;
        const notified = await this.#store.acknowledge(this.#userId, upTo, this.#now().toISOString());
        this.#recorded = upTo;
        this.#onNotified(notified);
      }
    } finally {
      // Cleared in the same step as the loop's last check: an ack arriving after it starts a
      // new write instead of joining one that has already decided it is done.
      this.#writing = undefined;
    }
  }
}
