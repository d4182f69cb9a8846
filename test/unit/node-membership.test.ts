import { expect } from "chai";
import { ClusterPresence, DEAD_NODE_MS, ReapGate } from "../../server/store/postgres/node-membership.js";

describe("node membership (unit)", () => {
  it("ReapGate: reaps from the start, not again until heartbeats succeeded for DEAD_NODE_MS in a row", () => {
    const gate = new ReapGate();
    expect(gate.succeeded(1000)).to.equal(true);
    gate.failed();
    gate.failed();
    expect(gate.succeeded(50_000)).to.equal(false);
    expect(gate.succeeded(50_000 + DEAD_NODE_MS - 1)).to.equal(false);
    expect(gate.succeeded(50_000 + DEAD_NODE_MS)).to.equal(true);
  });

  it("ClusterPresence: after a reconnect, tells only what changed since the listeners were told", () => {
    const presence = new ClusterPresence();
    const at = "2026-12-01T00:00:00.000Z";
    presence.note({ kind: "presence", userId: 1, user: "ann", online: true, at });
    presence.note({ kind: "presence", userId: 2, user: "bob", online: true, at });
    presence.note({ kind: "presence", userId: 2, user: "bob", online: false, at });
    presence.note({ kind: "replaced", deviceId: 7 });
    presence.note({ kind: "presence", userId: 3, user: "cat", online: true, at });
    // While the listener was away: ann left, bob came back, cat stayed.
    const now = [
      { id: 2, name: "bob" },
      { id: 3, name: "cat" },
    ];
    expect(presence.resync(now, at)).to.deep.equal([
      { kind: "presence", userId: 1, user: "ann", online: false, at },
      { kind: "presence", userId: 2, user: "bob", online: true, at },
    ]);
    expect(presence.resync(now, at)).to.deep.equal([]);
  });
});
