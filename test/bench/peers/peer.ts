// What the bench's --peers comparison needs from a message broker, so that one pair generator
// and one backlog generator (generators.ts) drive RabbitMQ and Mosquitto alike. A "user" of
// Parley is, on a broker, one client (one connection) and one durable inbox: a queue on
// RabbitMQ, a persistent session subscribed to one topic on Mosquitto.

export type PeerName = "rabbitmq" | "mosquitto";

export const PEER_NAMES: readonly PeerName[] = ["rabbitmq", "mosquitto"];

export const PEER_LABELS: Readonly<Record<PeerName, string>> = {
  rabbitmq: "RabbitMQ",
  mosquitto: "Mosquitto",
};

/** HOST:PORT from the environment, else the default. */
function endpoint(variable: string, host: string, port: number): { host: string; port: number } {
  const value = process.env[variable];
  const match = value === undefined ? null : /^(.+):(\d+)$/.exec(value);
  return match === null ? { host, port } : { host: match[1]!, port: Number(match[2]) };
}

/**
 * Where each broker listens (the machine's services; PARLEY_BENCH_RABBITMQ and
 * PARLEY_BENCH_MOSQUITTO=HOST:PORT elsewhere), and the name of its process for /proc.
 */
export const PEER_ENDPOINTS: Readonly<Record<PeerName, { host: string; port: number; process: string }>> = {
  rabbitmq: { ...endpoint("PARLEY_BENCH_RABBITMQ", "127.0.0.1", 5672), process: "beam.smp" },
  mosquitto: { ...endpoint("PARLEY_BENCH_MOSQUITTO", "127.0.0.1", 1883), process: "mosquitto" },
};

/**
 * How many unacknowledged messages a broker may push to one consumer: Parley's in-flight window
 * per connection (its default --max-in-flight), so the consumers of every system get the same.
 */
export const CONSUMER_WINDOW = 1024;

/** One user's sending side. */
export interface Publisher {
  /** The most unconfirmed publishes the broker accepts from one client (its own limit). */
  readonly maxInFlight: number;
  /**
   * Publishes `body` durably to `to`'s inbox; `confirmed` runs once the broker has confirmed it
   * (RabbitMQ: a publisher confirm; MQTT: the PUBACK of a QoS 1 publish), or with the error.
   */
  publish(to: string, body: Buffer, confirmed: (error?: Error) => void): void;
  close(): Promise<void>;
}

/** One user's receiving side, consuming its inbox. */
export interface Subscription {
  /**
   * Resolves once the broker has processed everything this client sent before (every ack):
   * the peer's equivalent of Parley's ping.
   */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface PeerDriver {
  readonly name: PeerName;
  /** Makes `user`'s durable inbox exist, so that messages to it wait while it is offline. */
  createInbox(user: string): Promise<void>;
  publisher(user: string): Promise<Publisher>;
  /**
   * Consumes `user`'s inbox; `onMessage` gets each body with its own `ack`, which acknowledges
   * that one message (never cumulatively).
   */
  subscribe(user: string, onMessage: (body: Buffer, ack: () => void) => void): Promise<Subscription>;
  /** Deletes the inboxes (queues, sessions) of `users`, so that runs leave nothing behind. */
  deleteInboxes(users: readonly string[]): Promise<void>;
}

export async function peerDriver(name: PeerName): Promise<PeerDriver> {
  if (name === "rabbitmq") {
    const { RabbitMqDriver } = await import("./rabbitmq.js");
    return new RabbitMqDriver(PEER_ENDPOINTS.rabbitmq);
  }
  const { MosquittoDriver } = await import("./mosquitto.js");
  return new MosquittoDriver(PEER_ENDPOINTS.mosquitto);
}
