// --metrics-port: Prometheus text over HTTP from a real server, after real traffic.

import { expect } from "chai";
import { PrometheusMetrics } from "../../server/metrics/prometheus-metrics.js";
import { loggedIn, type TestClient } from "../helpers/test-client.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

/** The value of the sample `name` (with exactly `labels`, e.g. '{le="+Inf"}'), or undefined. */
function sample(text: string, name: string, labels = ""): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}${labels} `)) return Number(line.slice(name.length + labels.length + 1));
  }
  return undefined;
}

async function scrape(
  port: number,
  path = "/metrics",
): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    text: await response.text(),
  };
}

describe("metrics (integration)", () => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    server = await startTestServer({ metricsPort: 0 });
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server.stop();
  });

  it("counts connections, sessions, sends, deliveries, acks, commits and normalizer calls", async () => {
    const ann = await loggedIn(server.port, "ann");
    const bob = await loggedIn(server.port, "bob");
    clients.push(ann, bob);
    await ann.ok("send", { to: "bob", text: "hello   bob", cid: "c1" });
    const message = await bob.expectEvent((event) => event.ev === "message");
    bob.ack(message.seq);
    await bob.roundtrip();

    const { status, type, text } = await scrape(server.metricsPort!);
    expect(status).to.equal(200);
    expect(type).to.match(/^text\/plain; version=0\.0\.4/);
    expect(sample(text, "parley_connections")).to.equal(2);
    expect(sample(text, "parley_sessions")).to.equal(2);
    expect(sample(text, "parley_connections_accepted_total")).to.equal(2);
    expect(sample(text, "parley_sends_total")).to.equal(1);
    expect(sample(text, "parley_deliveries_total")).to.be.at.least(1);
    expect(sample(text, "parley_acks_total")).to.equal(1);
    expect(sample(text, "parley_intake_messages")).to.equal(0);
    expect(sample(text, "parley_inbox_in_flight_events")).to.be.a("number");
    // Registrations, log-ins and the send each committed at least once.
    expect(sample(text, "parley_store_commit_seconds_count")).to.be.at.least(3);
    expect(sample(text, "parley_store_commit_writes_sum")).to.be.at.least(3);
    expect(sample(text, "parley_normalizer_texts_total")).to.be.at.least(1);
    expect(sample(text, "parley_normalizer_up")).to.equal(1);
    expect(sample(text, "parley_normalizer_outages_total")).to.equal(0);
    expect(sample(text, "process_resident_memory_bytes")).to.be.above(10 * 1024 * 1024);
    expect(sample(text, "nodejs_eventloop_lag_seconds")).to.be.a("number");

    expect((await scrape(server.metricsPort!, "/")).status).to.equal(404);
  });

  it("counts an outage once for a run of failed normalizer calls (unit)", async () => {
    const metrics = new PrometheusMetrics();
    for (const ok of [true, false, false, false, true, false, true]) metrics.normalizerCalled(2, 0.01, ok);
    const text = await metrics.registry.metrics();
    expect(sample(text, "parley_normalizer_outages_total")).to.equal(2);
    expect(sample(text, "parley_normalizer_failures_total")).to.equal(4);
    expect(sample(text, "parley_normalizer_texts_total")).to.equal(14);
    expect(sample(text, "parley_normalizer_up")).to.equal(1);
  });
});
