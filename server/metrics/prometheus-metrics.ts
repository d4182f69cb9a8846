// ServerMetrics in Prometheus' text format, with prom-client, served over HTTP at /metrics
// (--metrics-port). Beside Parley's own metrics, prom-client's defaults give the process's
// resident memory, CPU, event-loop lag and heap.

import http from "node:http";
import type net from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Logger } from "../logger.js";
import type { CommitRecord } from "../store/store.js";
import type { ServerGauges, ServerMetrics } from "./server-metrics.js";

/** Seconds: a commit's fsync is ~1 ms on an SSD and can take a second on a busy disk. */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const NORMALIZER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WRITES_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

export class PrometheusMetrics implements ServerMetrics {
  readonly registry = new Registry();
  #read: (() => ServerGauges) | undefined;
  readonly #connectionsTotal: Counter;
  readonly #sends: Counter;
  readonly #deliveries: Counter;
  readonly #acks: Counter;
  readonly #commitSeconds: Histogram;
  readonly #commitWrites: Histogram;
  readonly #normalizerSeconds: Histogram;
  readonly #normalizerTexts: Counter;
  readonly #normalizerFailures: Counter;
  readonly #normalizerOutages: Counter;
  readonly #normalizerUp: Gauge;
  #normalizerAnswering = true;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string, pick: (gauges: ServerGauges) => number) => {
      const read = () => this.#read?.();
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const gauges = read();
          if (gauges !== undefined) this.set(pick(gauges));
        },
      });
    };
    gauge("parley_connections", "Client connections open now.", (g) => g.connections);
    gauge("parley_sessions", "Logged-in sessions (one per user and device) now.", (g) => g.sessions);
    gauge(
      "parley_inbox_in_flight_events",
      "Events pushed to sessions and not acknowledged yet, summed over the sessions.",
      (g) => g.inFlightEvents,
    );
    gauge(
      "parley_intake_messages",
      "Sent messages between arrival and storage (at most --intake-window).",
      (g) => g.intakeMessages,
    );
    this.#connectionsTotal = new Counter({
      name: "parley_connections_accepted_total",
      help: "Client connections accepted.",
      registers,
    });
    this.#sends = new Counter({
      name: "parley_sends_total",
      help: "Sends stored and answered ok.",
      registers,
    });
    this.#deliveries = new Counter({
      name: "parley_deliveries_total",
      help: "Events (messages, receipts, room changes) pushed to sessions.",
      registers,
    });
    this.#acks = new Counter({ name: "parley_acks_total", help: "Ack requests received.", registers });
    this.#commitSeconds = new Histogram({
      name: "parley_store_commit_seconds",
      help: "Time of each store transaction's COMMIT (with SQLite: mostly its fsync).",
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.#commitWrites = new Histogram({
      name: "parley_store_commit_writes",
      help: "Writes (store calls) sharing each committed transaction (group commit).",
      buckets: WRITES_BUCKETS,
      registers,
    });
    this.#normalizerSeconds = new Histogram({
      name: "parley_normalizer_call_seconds",
      help: "Duration of NormalizeBatch calls to the normalizer, answered or not.",
      buckets: NORMALIZER_BUCKETS,
      registers,
    });
    this.#normalizerTexts = new Counter({
      name: "parley_normalizer_texts_total",
      help: "Texts sent to the normalizer.",
      registers,
    });
    this.#normalizerFailures = new Counter({
      name: "parley_normalizer_failures_total",
      help: "NormalizeBatch calls that failed (unreachable, fault, refused text).",
      registers,
    });
    this.#normalizerOutages = new Counter({
      name: "parley_normalizer_outages_total",
      help: "Outages of the normalizer: runs of failed calls after an answered one.",
      registers,
    });
    this.#normalizerUp = new Gauge({
      name: "parley_normalizer_up",
      help: "1 when the last NormalizeBatch call was answered, 0 when it failed.",
      registers,
    });
    this.#normalizerUp.set(1);
  }

  readGaugesFrom(read: () => ServerGauges): void {
    this.#read = read;
  }

  connectionAccepted(): void {
    this.#connectionsTotal.inc();
  }

  messageSent(): void {
    this.#sends.inc();
  }

  eventsDelivered(count: number): void {
    this.#deliveries.inc(count);
  }

  ackReceived(): void {
    this.#acks.inc();
  }

  storeCommitted(commits: readonly CommitRecord[]): void {
    for (const commit of commits) {
      this.#commitSeconds.observe(commit.commitMs / 1000);
      this.#commitWrites.observe(commit.writes);
    }
  }

  normalizerCalled(texts: number, seconds: number, ok: boolean): void {
    this.#normalizerSeconds.observe(seconds);
    this.#normalizerTexts.inc(texts);
    if (!ok) {
      this.#normalizerFailures.inc();
      if (this.#normalizerAnswering) this.#normalizerOutages.inc();
    }
    this.#normalizerAnswering = ok;
    this.#normalizerUp.set(ok ? 1 : 0);
  }

  /** Serves GET /metrics on host:port; resolves with the listener once bound. */
  async serve(host: string, port: number, log: Logger): Promise<http.Server> {
    const server = http.createServer((request, response) => {
      if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
        response.writeHead(404, { "content-type": "text/plain" }).end("Parley serves /metrics only\n");
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        (error: unknown) => {
          log.error("metrics: collecting failed", { error: String(error) });
          response.writeHead(500, { "content-type": "text/plain" }).end("collecting the metrics failed\n");
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    log.info("metrics listening", { host: address.address, port: address.port, path: "/metrics" });
    return server;
  }
}
