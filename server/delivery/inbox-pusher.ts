// Pushes one device's stream to its connection, in seq order, keeping at most `maxInFlight`
// events unacknowledged. It reads the store (seq > last pushed) until it has caught up; from then
// on it takes the events each commit adds straight from the commit's news, without reading
// them back, for as long as it stays caught up. That is exact because the store tells of
// commits in commit order on the same channel that answers reads: news that arrives while a
// read is in flight may or may not be in that read, so it only marks the stream to be read again;
// news that arrives while caught up follows everything pushed so far. Whenever it cannot take
// news at once (the window or the socket is full) it falls back to reading.

import type { InboxEvent } from "../protocol/messages.js";
import type { Store } from "../store/store.js";
import type { SessionConnection } from "./session-connection.js";

/** Events fetched per store read; also bounds what one pump adds to a socket buffer. */
const FETCH_BATCH = 512;
/** After a failed store read, look again this much later. */
const RETRY_AFTER_FAILURE_MS = 1000;

export class InboxPusher {
  readonly #store: Store;
  readonly #userId: number;
  readonly #deviceId: number;
  readonly #connection: SessionConnection;
  readonly #stopListening: () => void;
  readonly #maxInFlight: number;
  readonly #onPushed: (count: number) => void;
  // Seqs pushed and not yet acknowledged, ascending, from #inFlightHead on: acknowledging moves
  // the head instead of shifting the array (an ack per event made that a copy of the window each).
  #inFlight: number[] = [];
  #inFlightHead = 0;
  #pushedUpTo: number;
  #dirty = true;
  #fetching = false;
  #started = false;
  #stopped = false;

  /** Pushes the events after `position`, the device's acknowledged seq. */
  constructor(
    store: Store,
    userId: number,
    deviceId: number,
    position: number,
    connection: SessionConnection,
    maxInFlight: number,
    onPushed: (count: number) => void = () => {},
  ) {
    this.#store = store;
    this.#userId = userId;
    this.#deviceId = deviceId;
    this.#pushedUpTo = position;
    this.#connection = connection;
    this.#maxInFlight = maxInFlight;
    this.#onPushed = onPushed;
    this.#stopListening = connection.onWritable(() => this.#pump());
  }

  /** Starts pushing what waits; call after the login response is written. */
  start(): void {
    this.#started = true;
    this.#pump();
  }

  /** Events a commit added to this device's stream, in seq order. */
  offer(events: readonly InboxEvent[]): void {
    const caughtUp = this.#started && !this.#dirty && !this.#fetching && !this.#stopped;
    if (caughtUp && this.#connection.canPush && this.#unacknowledged + events.length <= this.#maxInFlight) {
      let pushed = 0;
      for (const event of events) {
        if (event.seq <= this.#pushedUpTo) continue;
        this.#connection.send(event);
        this.#inFlight.push(event.seq);
        this.#pushedUpTo = event.seq;
        pushed++;
      }
      this.#onPushed(pushed);
      return;
    }
    this.#dirty = true;
    this.#pump();
  }

  /**
   * Records a client's ack and returns the seq that may really be removed from the inbox:
   * never beyond what this session has pushed, so an ack cannot drop unseen events.
   */
  acknowledged(upTo: number): number {
    const effective = Math.min(upTo, this.#pushedUpTo);
    let head = this.#inFlightHead;
    while (head < this.#inFlight.length && this.#inFlight[head]! <= effective) head++;
    if (head === this.#inFlight.length) {
      this.#inFlight = [];
      head = 0;
    } else if (head > this.#maxInFlight) {
      this.#inFlight = this.#inFlight.slice(head);
      head = 0;
    }
    this.#inFlightHead = head;
    this.#pump();
    return effective;
  }

  /** Events pushed and not acknowledged yet. */
  get unacknowledged(): number {
    return this.#unacknowledged;
  }

  get #unacknowledged(): number {
    return this.#inFlight.length - this.#inFlightHead;
  }

  stop(): void {
    this.#stopped = true;
    this.#stopListening();
  }

  #pump(): void {
    if (!this.#started || this.#stopped || this.#fetching || !this.#dirty) return;
    const room = Math.min(this.#maxInFlight - this.#unacknowledged, FETCH_BATCH);
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
    this.#onPushed(events.length);
    // A full batch means more may wait; a short one means we have caught up, and any
    // later event will come with its own wake-up.
    if (events.length === asked) this.#dirty = true;
    this.#pump();
  }
}
