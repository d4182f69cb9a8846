// RabbitMQ as a peer: one AMQP connection per user, one durable classic queue per user (the
// inbox), persistent messages published through a confirm channel (a publish counts once
// confirmed), consumers with manual acks, one basic.ack per message, and a prefetch of
// CONSUMER_WINDOW.

import amqp, { type ChannelModel } from "amqplib";
import { CONSUMER_WINDOW, type PeerDriver, type Publisher, type Subscription } from "./peer.js";

const QUEUE_PREFIX = "parley-bench.";

export function queueOf(user: string): string {
  return QUEUE_PREFIX + user;
}

export class RabbitMqDriver implements PeerDriver {
  readonly name = "rabbitmq" as const;
  readonly #url: string;

  constructor(endpoint: { host: string; port: number }) {
    this.#url = `amqp://guest:guest@${endpoint.host}:${endpoint.port}`;
  }

  #connect(): Promise<ChannelModel> {
    return amqp.connect(this.#url, { timeout: 10_000 });
  }

  async createInbox(user: string): Promise<void> {
    const connection = await this.#connect();
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(queueOf(user), { durable: true, autoDelete: false, exclusive: false });
    } finally {
      await connection.close();
    }
  }

  async publisher(_user: string): Promise<Publisher> {
    const connection = await this.#connect();
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => {});
    return {
      maxInFlight: Number.POSITIVE_INFINITY,
      publish(to, body, confirmed) {
        channel.sendToQueue(queueOf(to), body, { persistent: true, mandatory: false }, (error) =>
          confirmed(error ? new Error(`nacked: ${String(error)}`) : undefined),
        );
      },
      async close() {
        await connection.close().catch(() => {});
      },
    };
  }

  async subscribe(user: string, onMessage: (body: Buffer, ack: () => void) => void): Promise<Subscription> {
    const connection = await this.#connect();
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    await channel.prefetch(CONSUMER_WINDOW);
    const queue = queueOf(user);
    await channel.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false });
    await channel.consume(
      queue,
      (message) => {
        if (message === null) return;
        onMessage(message.content, () => channel.ack(message));
      },
      { noAck: false },
    );
    return {
      // A synchronous method on the same channel is answered after the acks sent before it.
      async sync() {
        await channel.checkQueue(queue);
      },
      async close() {
        await connection.close().catch(() => {});
      },
    };
  }

  async deleteInboxes(users: readonly string[]): Promise<void> {
    const connection = await this.#connect();
    try {
      const channel = await connection.createChannel();
      for (const user of users) await channel.deleteQueue(queueOf(user));
    } finally {
      await connection.close();
    }
  }
}
