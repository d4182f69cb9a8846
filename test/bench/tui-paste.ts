// How long the real TUI takes to show a pasted text in its input line: a real server, the
// client in tmux, `tmux paste-buffer` of N characters (default 4,995, as in issue 12), then
// capture-pane polling until the text's end marker is on screen. Prints the time in ms.
// Usage: npm run build && node dist/test/bench/tui-paste.js [CHARS] [--bracketed]

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const TUI_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../tui-client/main.js");
const PASSWORD = "correct-horse-battery";
const socket = `parley-paste-${process.pid}`;
const env = { ...process.env, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };
const tmux = (...args: string[]): string =>
  execFileSync("tmux", ["-u", "-L", socket, "-f", "/dev/null", ...args], { env, encoding: "utf8" });

async function waitFor(text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!tmux("capture-pane", "-p", "-t", "t").includes(text)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function main(): Promise<void> {
  const chars = Number(process.argv[2] ?? 4995);
  const bracketed = process.argv.includes("--bracketed");
  const temp = makeTempDir();
  const server = await spawnServer(path.join(temp.dir, "parley.db"));
  try {
    tmux(
      "new-session",
      "-d",
      "-x",
      "100",
      "-y",
      "30",
      "-s",
      "t",
      "env",
      "LANG=C.UTF-8",
      process.execPath,
      TUI_MAIN,
      "--port",
      String(server.port),
      "--user",
      "alice",
    );
    await waitFor("Password", 20_000);
    tmux("send-keys", "-t", "t", "C-r");
    await waitFor("Again", 20_000);
    for (let i = 0; i < 2; i++) {
      tmux("send-keys", "-t", "t", "-l", PASSWORD);
      tmux("send-keys", "-t", "t", "Enter");
    }
    await waitFor("alice (you)", 20_000);
    const marker = "ENDOFPASTE";
    const body = "lorem ipsum dolor sit amet ".repeat(Math.ceil(chars / 27)).slice(0, chars - marker.length);
    const file = path.join(temp.dir, "paste.txt");
    fs.writeFileSync(file, body + marker);
    tmux("load-buffer", "-b", "p", file);
    const started = process.hrtime.bigint();
    tmux("paste-buffer", "-b", "p", "-t", "t", ...(bracketed ? ["-p"] : []));
    await waitFor(marker, 600_000);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    process.stdout.write(`${chars} characters pasted: on screen after ${ms.toFixed(0)} ms\n`);
  } finally {
    try {
      tmux("kill-server");
    } catch {
      // gone already
    }
    await server.stop();
    temp.remove();
  }
}

await main();
