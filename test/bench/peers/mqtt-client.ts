// A lean MQTT 5 client for the load generators: just what the bench uses (CONNECT, SUBSCRIBE,
// QoS 1 PUBLISH and PUBACK, DISCONNECT), every packet written in one tick leaving in one write,
// like bench-client.ts for Parley. mqtt.js spent a whole core on 7,700 msgs/s here, so with it
// the client, not the broker, would have been measured.

import net from "node:net";

const CONNECT = 1;
const CONNACK = 2;
const PUBLISH = 3;
const PUBACK = 4;
const SUBSCRIBE = 8;
const SUBACK = 9;
const DISCONNECT = 14;
const PROP_SESSION_EXPIRY = 0x11;
const PROP_RECEIVE_MAXIMUM = 0x21;
const CONNECT_TIMEOUT_MS = 10_000;

export interface MqttConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly clientId: string;
  /** Clean start: discard any session the broker kept for this client id. */
  readonly cleanStart: boolean;
  /** Seconds the broker keeps the session after the connection ends (0: none). */
  readonly sessionExpiry: number;
  /** How many unacknowledged QoS 1 messages the broker may push to this client. */
  readonly receiveMaximum: number;
  /**
   * Set before CONNECT: a persistent session's waiting messages may come in the same read as
   * the CONNACK.
   */
  readonly onMessage?: (message: MqttMessage) => void;
}

export interface MqttMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** Sends this message's PUBACK. */
  ack(): void;
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return bytes;
}

function utf8(text: string): Buffer {
  const body = Buffer.from(text, "utf8");
  const length = Buffer.allocUnsafe(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([length, body]);
}

function packet(type: number, flags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | flags, ...varint(body.length)]), body]);
}

function u16(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

export class MqttConnection {
  /** Each QoS 1 (or 0) message pushed by the broker. */
  onMessage: (message: MqttMessage) => void = () => {};
  /** What the broker allows in flight from this client (its CONNACK's receive maximum). */
  serverReceiveMaximum = 65_535;
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  #input: Buffer = Buffer.alloc(0);
  #out: Buffer[] = [];
  #flushScheduled = false;
  #nextId = 1;
  readonly #waiting = new Map<number, (error?: Error) => void>();
  #onConnack: ((reasonCode: number, receiveMaximum: number) => void) | undefined;
  #isClosed = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.#isClosed = true;
        const error = new Error("connection closed");
        for (const callback of this.#waiting.values()) callback(error);
        this.#waiting.clear();
        this.#onConnack?.(-1, 0);
        resolve();
      }),
    );
  }

  static async connect(options: MqttConnectOptions): Promise<MqttConnection> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: options.host, port: options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${options.host}:${options.port} timed out`));
      }, CONNECT_TIMEOUT_MS);
      socket.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(socket);
      });
    });
    const connection = new MqttConnection(socket);
    if (options.onMessage !== undefined) connection.onMessage = options.onMessage;
    const properties = Buffer.from([
      PROP_SESSION_EXPIRY,
      ...[24, 16, 8, 0].map((shift) => (options.sessionExpiry >>> shift) & 0xff),
      PROP_RECEIVE_MAXIMUM,
      (options.receiveMaximum >> 8) & 0xff,
      options.receiveMaximum & 0xff,
    ]);
    const body = Buffer.concat([
      utf8("MQTT"),
      Buffer.from([5, options.cleanStart ? 0x02 : 0x00]),
      u16(0), // no keep-alive: the runs are short, and the bench closes its connections
      Buffer.from(varint(properties.length)),
      properties,
      utf8(options.clientId),
    ]);
    const acked = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no CONNACK")), CONNECT_TIMEOUT_MS);
      connection.#onConnack = (reasonCode, receiveMaximum) => {
        clearTimeout(timer);
        connection.#onConnack = undefined;
        if (reasonCode !== 0) reject(new Error(`CONNACK reason code ${reasonCode}`));
        else {
          connection.serverReceiveMaximum = receiveMaximum;
          resolve();
        }
      };
    });
    connection.#write(packet(CONNECT, 0, body));
    try {
      await acked;
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return connection;
  }

  #id(): number {
    const id = this.#nextId;
    this.#nextId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  subscribe(topic: string): Promise<void> {
    const id = this.#id();
    const body = Buffer.concat([u16(id), Buffer.from([0]), utf8(topic), Buffer.from([1])]);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (error) => (error ? reject(error) : resolve()));
      this.#write(packet(SUBSCRIBE, 0x02, body));
    });
  }

  /** A QoS 1 publish; `done` runs on its PUBACK (with an error for a failure reason code). */
  publish(topic: string, payload: Buffer, done: (error?: Error) => void): void {
    if (this.#isClosed) {
      done(new Error("connection closed"));
      return;
    }
    const id = this.#id();
    this.#waiting.set(id, done);
    this.#write(packet(PUBLISH, 0x02, Buffer.concat([utf8(topic), u16(id), Buffer.from([0]), payload])));
  }

  publishAsync(topic: string, payload: Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.publish(topic, payload, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** DISCONNECT (reason 0: the session is kept as its expiry says), then close. */
  async end(): Promise<void> {
    if (!this.#isClosed) {
      this.#write(Buffer.from([DISCONNECT << 4, 0]));
      process.nextTick(() => this.#socket.end());
    }
    await this.closed;
  }

  #write(buffer: Buffer): void {
    this.#out.push(buffer);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(() => {
      this.#flushScheduled = false;
      const buffers = this.#out;
      this.#out = [];
      if (!this.#isClosed) this.#socket.write(buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers));
    });
  }

  #onData(chunk: Buffer): void {
    let input = this.#input.length === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    for (;;) {
      if (input.length < 2) break;
      let length = 0;
      let multiplier = 1;
      let offset = 1;
      let complete = false;
      while (offset < input.length && offset <= 4) {
        const byte = input[offset++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || input.length < offset + length) break;
      this.#handle(input[0]!, input.subarray(offset, offset + length));
      input = input.subarray(offset + length);
    }
    this.#input = input.length === 0 ? Buffer.alloc(0) : Buffer.from(input);
  }

  #handle(header: number, body: Buffer): void {
    const type = header >> 4;
    switch (type) {
      case PUBLISH: {
        const qos = (header >> 1) & 0x03;
        const topicLength = body.readUInt16BE(0);
        const topic = body.toString("utf8", 2, 2 + topicLength);
        let offset = 2 + topicLength;
        let id = 0;
        if (qos > 0) {
          id = body.readUInt16BE(offset);
          offset += 2;
        }
        const [propertiesLength, used] = readVarint(body, offset);
        offset += used + propertiesLength;
        const payload = body.subarray(offset);
        this.onMessage({
          topic,
          payload,
          ack: qos === 0 ? () => {} : () => this.#write(Buffer.from([PUBACK << 4, 2, id >> 8, id & 0xff])),
        });
        break;
      }
      case PUBACK:
      case SUBACK: {
        const id = body.readUInt16BE(0);
        const callback = this.#waiting.get(id);
        if (callback === undefined) break;
        this.#waiting.delete(id);
        let reason = 0;
        if (type === PUBACK) reason = body.length > 2 ? body[2]! : 0;
        else {
          const [propertiesLength, used] = readVarint(body, 2);
          reason = body[2 + used + propertiesLength] ?? 0;
          if (reason === 1) reason = 0; // granted QoS 1
        }
        // PUBACK 0x10: accepted, no matching subscribers (the sync topic): still a success.
        callback(
          reason === 0 || reason === 0x10 ? undefined : new Error(`reason code 0x${reason.toString(16)}`),
        );
        break;
      }
      case CONNACK: {
        const reasonCode = body[1]!;
        let receiveMaximum = 65_535;
        const [propertiesLength, used] = readVarint(body, 2);
        let offset = 2 + used;
        const end = offset + propertiesLength;
        while (offset < end) {
          const id = body[offset++]!;
          if (id === PROP_RECEIVE_MAXIMUM) receiveMaximum = body.readUInt16BE(offset);
          offset += propertyLength(id, body, offset);
        }
        this.#onConnack?.(reasonCode, receiveMaximum);
        break;
      }
      case DISCONNECT:
        this.#socket.destroy();
        break;
      default:
        break;
    }
  }
}

function readVarint(buffer: Buffer, offset: number): [number, number] {
  let value = 0;
  let multiplier = 1;
  let used = 0;
  for (;;) {
    const byte = buffer[offset + used++] ?? 0;
    value += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0 || used === 4) return [value, used];
  }
}

/** The length of a CONNACK property's value (MQTT 5, section 2.2.2.2). */
function propertyLength(id: number, buffer: Buffer, offset: number): number {
  switch (id) {
    case 0x24: // maximum QoS
    case 0x25: // retain available
    case 0x28: // wildcard subscription available
    case 0x29: // subscription identifiers available
    case 0x2a: // shared subscription available
      return 1;
    case 0x13: // server keep alive
    case 0x21: // receive maximum
    case 0x22: // topic alias maximum
      return 2;
    case 0x11: // session expiry interval
    case 0x27: // maximum packet size
      return 4;
    case 0x26: {
      // user property: two strings
      const first = buffer.readUInt16BE(offset);
      return 4 + first + buffer.readUInt16BE(offset + 2 + first);
    }
    default:
      // assigned client id, reason string, response information, server reference,
      // authentication method: one string; authentication data: binary of the same form
      return 2 + buffer.readUInt16BE(offset);
  }
}
