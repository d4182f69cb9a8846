// One logged-in device: the connection it speaks on, the pusher of its stream and the recorder
// of its acknowledgements. The registry creates and ends sessions; commands see only this.

import type { InboxEvent } from "../protocol/messages.js";
import type { DeviceRecord, Store } from "../store/store.js";
import { AckRecorder } from "./ack-recorder.js";
import { InboxPusher } from "./inbox-pusher.js";
import type { SessionConnection } from "./session-connection.js";

export interface SessionUser {
  readonly id: number;
  readonly name: string;
}

export interface SessionDevice {
  readonly id: number;
  readonly name: string;
}

export class Session {
  readonly user: SessionUser;
  readonly device: SessionDevice;
  readonly connection: SessionConnection;
  readonly #pusher: InboxPusher;
  readonly #acks: AckRecorder;

  constructor(
    store: Store,
    user: SessionUser,
    device: DeviceRecord,
    connection: SessionConnection,
    maxInFlight: number,
    now: () => Date,
    onPushed?: (count: number) => void,
  ) {
    this.user = user;
    this.device = { id: device.id, name: device.name };
    this.connection = connection;
    this.#pusher = new InboxPusher(
      store,
      user.id,
      device.id,
      device.ackedSeq,
      connection,
      maxInFlight,
      onPushed,
    );
    this.#acks = new AckRecorder(store, user.id, device.id, now);
  }

  /** Starts pushing what waits; called once the login response is on the wire. */
  start(): void {
    this.#pusher.start();
  }

  /** Events a commit just added to this device's stream, in seq order. */
  offer(events: readonly InboxEvent[]): void {
    this.#pusher.offer(events);
  }

  /**
   * The client acknowledged every event up to `upTo`. Resolves once the device's position is
   * stored; never beyond what this session pushed, so an ack cannot drop unseen events.
   */
  acknowledge(upTo: number): Promise<void> {
    const effective = this.#pusher.acknowledged(upTo);
    return effective > 0 ? this.#acks.record(effective) : Promise.resolve();
  }

  /** Events pushed to this session and not acknowledged yet. */
  get unacknowledged(): number {
    return this.#pusher.unacknowledged;
  }

  stop(): void {
    this.#pusher.stop();
  }
}
