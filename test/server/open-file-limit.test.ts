// The open-file limit, not --max-connections, used to decide how many clients the server could
// hold: past it accept() failed with EMFILE. Run under `ulimit -n 512`, the server must cap its
// connections below the limit, say so in one line, and answer the rest with server_full.

import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { readOpenFileLimit } from "../../server/open-file-limit.js";
import { FAST_TEST_FLAGS } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const SERVER_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../server/main.js");
const LIMIT = 512;

/** Connects, sends a ping, and resolves with the first line the server answers. */
function firstLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write('{"op":"ping","rid":1}\n'));
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline >= 0) resolve(buffered.slice(0, newline));
    });
    socket.on("error", reject);
    sockets.push(socket);
  });
}
const sockets: net.Socket[] = [];

describe("the open-file limit (integration, child process)", () => {
  it("reads the soft limit from /proc/self/limits", () => {
    expect(readOpenFileLimit()).to.be.a("number").above(0);
  });

  it(`under ulimit -n ${LIMIT}: caps connections at ${LIMIT - 64}, logs it once, and serves`, async () => {
    const temp = makeTempDir();
    const args = [SERVER_MAIN, "--port", "0", "--db", path.join(temp.dir, "parley.db"), ...FAST_TEST_FLAGS];
    const child = spawn("bash", ["-c", `ulimit -n ${LIMIT} && exec "$@"`, "bash", process.execPath, ...args]);
    const lines: Record<string, unknown>[] = [];
    let stdout = "";
    const listening = new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        const complete = stdout.split("\n");
        stdout = complete.pop()!;
        for (const text of complete) {
          const line = JSON.parse(text) as Record<string, unknown>;
          lines.push(line);
          if (line.msg === "listening") resolve(line.port as number);
        }
      });
      child.on("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
    });
    try {
      const port = await listening;
      const capLines = lines.filter((line) => line.msg === "connections capped by the open-file limit");
      expect(capLines).to.have.length(1);
      expect(capLines[0]).to.include({ maxConnections: LIMIT - 64, openFileLimit: LIMIT, requested: 20_000 });

      // The cap is the server's --max-connections from here on: a client past it gets
      // server_full (test/server/limits.test.ts) instead of an EMFILE in accept().
      expect(await firstLine(port)).not.to.contain("server_full");
    } finally {
      for (const socket of sockets.splice(0)) socket.destroy();
      child.kill("SIGKILL");
      temp.remove();
    }
  });
});
