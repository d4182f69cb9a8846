// The crash tests' load: pipelines `total` sends and kills the server with SIGKILL once `killAfter`
// of them are answered, mid-stream, while the rest are still on the wire.

import { expect } from "chai";
import type { TestClient } from "./test-client.js";

/** The ids of the sends answered ok before the server died, in the order they were answered. */
export async function sendUntilKilled(
  client: TestClient,
  kill: () => Promise<number | string>,
  options: { readonly to: string; readonly total: number; readonly killAfter: number },
): Promise<number[]> {
  const acknowledged: number[] = [];
  let killed: Promise<number | string> | undefined;
  const responses = [];
  for (let i = 0; i < options.total; i++) {
    const rid = client.fire("send", { to: options.to, text: `crash ${i}`, cid: `k${i}` });
    responses.push(
      client.waitForResponse(rid, 10_000).then(
        (response) => {
          if (response.ok) acknowledged.push(response.id);
          if (acknowledged.length === options.killAfter && killed === undefined) killed = kill();
        },
        () => undefined,
      ),
    );
  }
  await client.closed;
  expect(await killed).to.equal("SIGKILL");
  await Promise.all(responses);
  expect(acknowledged.length).to.be.at.least(options.killAfter).and.below(options.total);
  return acknowledged;
}
