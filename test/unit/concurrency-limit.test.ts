import { expect } from "chai";
import { ConcurrencyLimit } from "../../server/concurrency-limit.js";

describe("ConcurrencyLimit (unit)", () => {
  it("runs at most its limit at once and starts the rest in arrival order", async () => {
    const limit = new ConcurrencyLimit(2);
    const releases: Array<() => void> = [];
    const started: number[] = [];
    let running = 0;
    let most = 0;
    const results = Array.from({ length: 5 }, (_, i) =>
      limit.run(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise<void>((resolve) => releases.push(resolve));
        running--;
        return i;
      }),
    );
    while (started.length < 5) {
      await new Promise((resolve) => setImmediate(resolve));
      expect(limit.load.running).to.equal(2);
      releases.shift()?.();
    }
    for (const release of releases.splice(0)) release();
    expect(await Promise.all(results)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(started).to.deep.equal([0, 1, 2, 3, 4]);
    expect(most).to.equal(2);
    expect(limit.load).to.deep.equal({ running: 0, waiting: 0 });
  });

  it("frees the slot when a task fails", async () => {
    const limit = new ConcurrencyLimit(1);
    await limit.run(() => Promise.reject(new Error("boom"))).catch(() => {});
    expect(await limit.run(async () => "next")).to.equal("next");
  });
});
