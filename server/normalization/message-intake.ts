// Where sent messages enter: the sends of one event-loop turn go to the normalizer in one
// NormalizeBatch call, and each is stored normalized and placed in its inboxes in one
// transaction, so a message answered `ok` is already in history and on its way. Only while
// the normalizer does not answer (or older messages still wait for it) are messages stored
// raw, for the normalization stage to release later in order.
//
// It also bounds what is in flight between receiving a send and storing it: past `window`
// messages it reports itself congested, and the server stops reading from connections that
// send (TCP backpressure, as a broker's credit flow slows publishers) until it drains.

import type { Logger } from "../logger.js";
import type { EnqueuedMessage, NewMessage, Store } from "../store/store.js";
import type { NormalizationStage } from "./normalization-stage.js";
import type { TextNormalizer } from "./text-normalizer.js";

export type SubmittedMessage = Omit<NewMessage, "normalizedText">;

interface Submission {
  readonly message: SubmittedMessage;
  readonly resolve: (stored: EnqueuedMessage) => void;
  readonly reject: (error: unknown) => void;
}

export class MessageIntake {
  readonly #store: Store;
  readonly #normalizer: TextNormalizer;
  readonly #stage: NormalizationStage;
  readonly #log: Logger;
  readonly #window: number;
  #turn: Submission[] = [];
  #turnScheduled = false;
  /** One NormalizeBatch call at a time: what arrives meanwhile waits and goes in the next one. */
  #normalizing = false;
  /** Batches store in the order they were taken, whatever order the normalizer answers in. */
  #tail: Promise<void> = Promise.resolve();
  #inFlight = 0;
  readonly #decongestedListeners: Array<() => void> = [];

  constructor(
    store: Store,
    normalizer: TextNormalizer,
    stage: NormalizationStage,
    log: Logger,
    window: number,
  ) {
    this.#store = store;
    this.#normalizer = normalizer;
    this.#stage = stage;
    this.#log = log;
    this.#window = window;
  }

  /** Messages between arrival and storage now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** True while more messages are in flight than the window allows. */
  get congested(): boolean {
    return this.#inFlight >= this.#window;
  }

  /** Called each time the intake stops being congested. */
  onDecongested(listener: () => void): void {
    this.#decongestedListeners.push(listener);
  }

  /** Resolves once the message is durably stored (normalized, when the normalizer answered). */
  submit(message: SubmittedMessage): Promise<EnqueuedMessage> {
    this.#inFlight += 1;
    if (this.#inFlight === this.#window) {
      this.#log.warn("intake full: not reading from senders until it drains", { window: this.#window });
    }
    return new Promise<EnqueuedMessage>((resolve, reject) => {
      this.#turn.push({ message, resolve, reject });
      this.#scheduleTurn();
    }).finally(() => this.#settled());
  }

  // A light load sends each message on at once; a heavy one gathers the sends that arrive while a
  // call is out into the next call, so the cost of a call is shared by more messages as load grows.
  #scheduleTurn(): void {
    if (this.#turnScheduled || this.#normalizing || this.#turn.length === 0) return;
    this.#turnScheduled = true;
    setImmediate(() => {
      this.#turnScheduled = false;
      this.#takeTurn();
    });
  }

  #takeTurn(): void {
    const batch = this.#turn;
    this.#turn = [];
    let texts: Promise<readonly string[] | undefined>;
    if (this.#store.hasUnnormalized()) {
      texts = Promise.resolve(undefined);
    } else {
      this.#normalizing = true;
      texts = this.#normalizer
        .normalizeBatch(batch.map((submission) => submission.message.text))
        .then(
          (normalized) => (normalized.length === batch.length ? normalized : undefined),
          (error: unknown) => {
            // The stage says so once per outage, and retries; here the batch just goes in raw.
            this.#log.debug("normalizing at intake failed; storing raw", { error: String(error) });
            return undefined;
          },
        )
        .finally(() => {
          this.#normalizing = false;
          this.#scheduleTurn();
        });
    }
    this.#tail = this.#tail.then(async () => this.#enqueue(batch, await texts));
  }

  // Every message of the batch is enqueued in this one synchronous loop, so they share a commit.
  #enqueue(batch: readonly Submission[], texts: readonly string[] | undefined): void {
    const stored: Array<Promise<unknown>> = [];
    batch.forEach((submission, index) => {
      const normalizedText = texts?.[index];
      const one = this.#store.enqueueMessage(
        normalizedText === undefined || normalizedText === ""
          ? submission.message
          : { ...submission.message, normalizedText },
      );
      one.then(submission.resolve, submission.reject);
      stored.push(one);
    });
    // Whatever went in raw waits for the stage.
    void Promise.allSettled(stored).then(() => {
      if (this.#store.hasUnnormalized()) this.#stage.wake();
    });
  }

  #settled(): void {
    const wasCongested = this.congested;
    this.#inFlight -= 1;
    if (!wasCongested || this.congested) return;
    this.#log.info("intake drained: reading from senders again", { window: this.#window });
    for (const listener of this.#decongestedListeners) listener();
  }
}
