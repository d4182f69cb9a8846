// Mosquitto as a peer: one MQTT 5 client per user with a fixed client id and a persistent
// session (clean start off, a session that never expires), one topic per user (the inbox) to
// which the user's session subscribes at QoS 1, QoS 1 publishes (a publish counts once its
// PUBACK arrives), and one PUBACK per received message, sent when the bench handles it. The
// receive maximum the consumer announces is CONSUMER_WINDOW, Parley's in-flight window; a
// publisher keeps no more unacknowledged publishes than the broker's CONNACK allows.

import { MqttConnection } from "./mqtt-client.js";
import { CONSUMER_WINDOW, type PeerDriver, type Publisher, type Subscription } from "./peer.js";

const TOPIC_PREFIX = "parley-bench/inbox/";
const SYNC_TOPIC_PREFIX = "parley-bench/sync/";
const NEVER_EXPIRES = 0xffffffff;

export function topicOf(user: string): string {
  return TOPIC_PREFIX + user;
}

export function clientIdOf(user: string): string {
  return `parley-bench-${user}`;
}

export class MosquittoDriver implements PeerDriver {
  readonly name = "mosquitto" as const;

  constructor(readonly endpoint: { host: string; port: number }) {}

  #connect(
    user: string,
    persistent: boolean,
    onMessage?: (message: { payload: Buffer; ack: () => void }) => void,
  ): Promise<MqttConnection> {
    return MqttConnection.connect({
      ...this.endpoint,
      ...(onMessage === undefined ? {} : { onMessage }),
      clientId: clientIdOf(user),
      cleanStart: !persistent,
      sessionExpiry: persistent ? NEVER_EXPIRES : 0,
      receiveMaximum: CONSUMER_WINDOW,
    });
  }

  async createInbox(user: string): Promise<void> {
    const client = await this.#connect(user, true);
    await client.subscribe(topicOf(user));
    await client.end();
  }

  async publisher(user: string): Promise<Publisher> {
    const client = await this.#connect(user, true);
    return {
      maxInFlight: client.serverReceiveMaximum,
      publish(to, body, confirmed) {
        client.publish(topicOf(to), body, confirmed);
      },
      close: () => client.end(),
    };
  }

  async subscribe(user: string, onMessage: (body: Buffer, ack: () => void) => void): Promise<Subscription> {
    // A persistent session starts sending what waits for it right after CONNACK: the handler
    // is in place before any packet is read.
    const client = await this.#connect(user, true, (message) => onMessage(message.payload, message.ack));
    await client.subscribe(topicOf(user));
    return {
      // A QoS 1 publish is answered after every PUBACK the client sent before it.
      sync: () => client.publishAsync(SYNC_TOPIC_PREFIX + user, Buffer.from("sync")),
      close: () => client.end(),
    };
  }

  async deleteInboxes(users: readonly string[]): Promise<void> {
    // Connecting with clean start and a session expiry of 0 discards the stored session.
    const batch = 50;
    for (let start = 0; start < users.length; start += batch) {
      await Promise.all(
        users.slice(start, start + batch).map(async (user) => {
          const client = await this.#connect(user, false);
          await client.end();
        }),
      );
    }
  }
}
