// Pushes one device's stream to its connection, in seq order, keeping at most `maxInFlight`
// events unacknowledged. It always pulls from the store (seq > last pushed) instead of
// forwarding live events, so an event can never be skipped or overtaken: a wake-up only
// says "look again".

import type { InboxEvent } from "../protocol/messages.js";
import type { Store } from "../store/store.js";
import type { SessionConnection } from "./session-connection.js";

/** Events fetched per store read; also bounds what one pump adds to a socket buffer. */
const FETCH_BATCH = 128;
/** After a failed store read, look again this much later. */
const RETRY_AFTER_FAILURE_MS = 1000;

export class InboxPusher {
  readonly #store: Store;
  readonly #userId: number;
  readonly #deviceId: number;
  readonly #connection: SessionConnection;
  readonly #stopListening: () => void;
  readonly #maxInFlight: number;
  /** Seqs pushed and not yet acknowledged, ascending. */
  readonly #inFlight: number[] = [];
  #pushedUpTo: number;
  #dirty = true;
  #fetching = false;
  #stopped = false;

  /** Pushes the events after `position`, the device's acknowledged seq. */
  constructor(
    store: Store,
    userId: number,
    deviceId: number,
    position: number,
    connection: SessionConnection,
    maxInFlight: number,
  ) {
    this.#store = store;
    this.#userId = userId;
    this.#deviceId = deviceId;
    this.#pushedUpTo = position;
    this.#connection = connection;
    this.#maxInFlight = maxInFlight;
    this.#stopListening = connection.onWritable(() => this.#pump());
  }

  /** Starts pushing what waits; call after the login response is written. */
  start(): void {
    this.#pump();
  }

  /** New events may be in the inbox. */
  wake(): void {
    this.#dirty = true;
    this.#pump();
  }

  /**
   * Records a client's ack and returns the seq that may really be removed from the inbox:
   * never beyond what this session has pushed, so an ack cannot drop unseen events.
   */
  acknowledged(upTo: number): number {
    const effective = Math.min(upTo, this.#pushedUpTo);
    let done = 0;
    while (done < this.#inFlight.length && this.#inFlight[done]! <= effective) done++;
    this.#inFlight.splice(0, done);
    this.#pump();
    return effective;
  }

  stop(): void {
    this.#stopped = true;
    this.#stopListening();
  }

  #pump(): void {
    if (this.#stopped || this.#fetching || !this.#dirty) return;
    const room = Math.min(this.#maxInFlight - this.#inFlight.length, FETCH_BATCH);
    if (room <= 0 || !this.#connection.canPush) return;
    this.#dirty = false;
    this.#fetching = true;
    this.#store.inboxAfter(this.#userId, this.#deviceId, this.#pushedUpTo, room).then(
      (events) => this.#push(events, room),
      (error: unknown) => {
        this.#fetching = false;
        this.#dirty = true;
        this.#connection.log.warn("inbox read failed; retrying", { error: String(error) });
        setTimeout(() => this.#pump(), RETRY_AFTER_FAILURE_MS).unref();
      },
    );
  }

  #push(events: InboxEvent[], asked: number): void {
    this.#fetching = false;
    if (this.#stopped) return;
    for (const event of events) {
      this.#connection.send(event);
      this.#inFlight.push(event.seq);
      this.#pushedUpTo = event.seq;
    }
    // A full batch means more may wait; a short one means we have caught up, and any
    // later event will come with its own wake-up.
    if (events.length === asked) this.#dirty = true;
    this.#pump();
  }
}
