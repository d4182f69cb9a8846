// The client's network module: backoff (unit) and reconnecting to a real listener on port 0
// (integration).

import net from "node:net";
import { expect } from "chai";
import type { DecodedItem } from "../../server/protocol/frame-decoder.js";
import { backoffDelayMs, Network, type NetworkListener } from "../../tui-client/network.js";

describe("tui network backoff (unit)", () => {
  it("doubles from the initial delay up to the cap, with jitter in the upper half", () => {
    const low = (attempt: number): number => backoffDelayMs(attempt, 500, 15_000, () => 0);
    const high = (attempt: number): number => backoffDelayMs(attempt, 500, 15_000, () => 1);
    expect([0, 1, 2, 3].map(high)).to.deep.equal([500, 1000, 2000, 4000]);
    expect([0, 1, 2, 3].map(low)).to.deep.equal([250, 500, 1000, 2000]);
    expect(high(10)).to.equal(15_000);
    expect(high(1000)).to.equal(15_000);
  });
});

/** A listener that records what happens, with a way to wait for it. */
class Recorder implements NetworkListener {
  readonly log: string[] = [];
  readonly frames: Record<string, unknown>[] = [];
  readonly #waiters: (() => void)[] = [];

  connecting(): void {
    this.#push("connecting");
  }
  opened(): void {
    this.#push("opened");
  }
  received(items: DecodedItem[]): void {
    for (const item of items) if (item.kind === "frame") this.frames.push(item.value);
    this.#push("received");
  }
  closed(_reason: string, retryInMs: number | undefined): void {
    this.#push(retryInMs === undefined ? "closed:held" : "closed:retry");
  }

  async until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out; log: ${this.log.join(", ")}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  count(entry: string): number {
    return this.log.filter((e) => e === entry).length;
  }

  #push(entry: string): void {
    this.log.push(entry);
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

describe("tui network reconnect (integration)", () => {
  let server: net.Server;
  let port: number;
  let sockets: net.Socket[];
  let network: Network | undefined;

  beforeEach(async () => {
    sockets = [];
    server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  afterEach(async () => {
    network?.stop();
    network = undefined;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("decodes lines split across chunks and writes one line per request", async () => {
    const recorder = new Recorder();
    network = new Network({ host: "127.0.0.1", port, initialBackoffMs: 10, maxBackoffMs: 40 }, recorder);
    network.start();
    await recorder.until(() => recorder.count("opened") === 1 && sockets.length === 1);
    const expected = '{"op":"ping","rid":1}\n{"op":"ack","upTo":3}\n';
    let received = "";
    const allReceived = new Promise<void>((resolve) =>
      sockets[0]!.on("data", (chunk) => {
        received += String(chunk);
        if (received.length >= expected.length) resolve();
      }),
    );
    network.write([
      { op: "ping", rid: 1 },
      { op: "ack", upTo: 3 },
    ]);
    sockets[0]!.write('{"rid":1,"ok":tr');
    sockets[0]!.write('ue,"at":"x"}\n{"ev":"shutdown"}\n');
    await recorder.until(() => recorder.frames.length === 2);
    expect(recorder.frames).to.deep.equal([{ rid: 1, ok: true, at: "x" }, { ev: "shutdown" }]);
    await allReceived;
    expect(received).to.equal(expected);
  });

  it("reconnects by itself after the server closes the connection", async () => {
    const recorder = new Recorder();
    network = new Network({ host: "127.0.0.1", port, initialBackoffMs: 10, maxBackoffMs: 40 }, recorder);
    network.start();
    await recorder.until(() => sockets.length === 1);
    sockets[0]!.destroy();
    await recorder.until(() => recorder.count("closed:retry") === 1);
    // What the held cases below check the absence of: a lost connection schedules a retry.
    expect(network.retryPending, "retry pending").to.equal(true);
    await recorder.until(() => recorder.count("opened") === 2 && sockets.length === 2);
    expect(recorder.count("closed:retry")).to.equal(1);
    expect(network.retryPending, "retry pending once connected").to.equal(false);
  });

  it("keeps retrying while the server is down, and connects once it is back", async () => {
    const recorder = new Recorder();
    network = new Network({ host: "127.0.0.1", port, initialBackoffMs: 10, maxBackoffMs: 40 }, recorder);
    network.start();
    await recorder.until(() => sockets.length === 1);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      sockets[0]!.destroy();
    });
    await recorder.until(() => recorder.count("closed:retry") >= 3);
    server = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    await recorder.until(() => recorder.count("opened") === 2);
  });

  it("lets the listener hold the network when it hears of a loss, and connects on connectNow", async () => {
    const recorder = new Recorder();
    let self: Network | undefined;
    const holding: NetworkListener = {
      connecting: () => recorder.connecting(),
      opened: () => recorder.opened(),
      received: (items) => recorder.received(items),
      closed: (reason, retryInMs) => {
        recorder.closed(reason, retryInMs);
        self?.hold("nobody needs the connection");
      },
    };
    network = new Network({ host: "127.0.0.1", port, initialBackoffMs: 10, maxBackoffMs: 40 }, holding);
    self = network;
    network.start();
    await recorder.until(() => sockets.length === 1);
    sockets[0]!.destroy();
    await recorder.until(() => recorder.count("closed:retry") === 1);
    // The retry was armed before the listener heard of the loss; its hold() disarmed it, so no
    // attempt can come (the state says so, instead of a wait that proves nothing on a slow machine).
    expect(network.retryPending, "retry pending").to.equal(false);
    expect(recorder.count("connecting")).to.equal(1);
    network.connectNow();
    network.connectNow();
    await recorder.until(() => recorder.count("opened") === 2);
    expect(recorder.count("connecting")).to.equal(2);
  });

  it("does not reconnect while held, and does on reconnectNow", async () => {
    const recorder = new Recorder();
    network = new Network({ host: "127.0.0.1", port, initialBackoffMs: 10, maxBackoffMs: 40 }, recorder);
    network.start();
    await recorder.until(() => recorder.count("opened") === 1);
    network.hold("session replaced");
    await recorder.until(() => recorder.count("closed:held") === 1);
    // Held: no reconnect attempt is scheduled, so none can come.
    expect(network.retryPending, "retry pending").to.equal(false);
    expect(recorder.count("connecting")).to.equal(1);
    network.reconnectNow();
    await recorder.until(() => recorder.count("opened") === 2);
  });
});
