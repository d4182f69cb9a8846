// Records one device's acknowledgements in the store. Clients may ack every event; writing
// each ack on its own would cost a store write per message, so while one write is in
// progress later acks only raise the mark, and the next write covers them all.

import type { Store } from "../store/store.js";

export class AckRecorder {
  readonly #store: Store;
  readonly #userId: number;
  readonly #deviceId: number;
  readonly #now: () => Date;
  #wanted = 0;
  #recorded = 0;
  #writing: Promise<void> | undefined;

  constructor(store: Store, userId: number, deviceId: number, now: () => Date) {
    this.#store = store;
    this.#userId = userId;
    this.#deviceId = deviceId;
    this.#now = now;
  }

  /** Resolves once the device's position is at `upTo` or beyond, durably. */
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
        await this.#store.acknowledge(this.#userId, this.#deviceId, upTo, this.#now().toISOString());
        this.#recorded = upTo;
      }
    } finally {
      // Cleared in the same step as the loop's last check: an ack arriving after it starts a
      // new write instead of joining one that has already decided it is done.
      this.#writing = undefined;
    }
  }
}
