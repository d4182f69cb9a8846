// Makes the README's captures of the TUI: a real server, alice on two devices (one with
// --theme dark, one with --theme light) and bob, in tmux at 80x24 with TERM=tmux-256color;
// `capture-pane -e` turned into SVG (tui-client/screenshots/tui-dark.svg and tui-light.svg).
// Usage: npm run build && node dist/test/bench/tui-screenshots.js

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TUI_MAIN = path.resolve(HERE, "../../tui-client/main.js");
const DOCS = path.resolve(HERE, "../../../tui-client/screenshots");
const PASSWORD = "correct-horse-battery";
const socket = `parley-shots-${process.pid}`;
const env = { ...process.env, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };
const tmux = (...args: string[]): string =>
  execFileSync("tmux", ["-u", "-L", socket, "-f", "/dev/null", ...args], { env, encoding: "utf8" });
const screen = (name: string): string => tmux("capture-pane", "-p", "-t", name);

async function waitFor(name: string, text: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!screen(name).includes(text)) {
    if (Date.now() > deadline) throw new Error(`${name}: timed out waiting for ${text}:\n${screen(name)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function start(name: string, port: number, args: string[]): void {
  tmux(
    "new-session",
    "-d",
    "-x",
    "80",
    "-y",
    "24",
    "-s",
    name,
    "env",
    "LANG=C.UTF-8",
    "TERM=tmux-256color",
    process.execPath,
    TUI_MAIN,
    "--port",
    String(port),
    ...args,
  );
}

function type(name: string, text: string, enter = true): void {
  tmux("send-keys", "-t", name, "-l", text);
  if (enter) tmux("send-keys", "-t", name, "Enter");
}

// The xterm palette for the colours the themes use.
const BASE = [
  "#000000",
  "#cd0000",
  "#00cd00",
  "#cdcd00",
  "#0000ee",
  "#cd00cd",
  "#00cdcd",
  "#e5e5e5",
  "#7f7f7f",
  "#ff0000",
  "#00ff00",
  "#ffff00",
  "#5c5cff",
  "#ff00ff",
  "#00ffff",
  "#ffffff",
];
function color256(n: number): string {
  if (n < 16) return BASE[n]!;
  if (n >= 232) {
    const v = (8 + (n - 232) * 10).toString(16).padStart(2, "0");
    return `#${v}${v}${v}`;
  }
  const i = n - 16;
  const c = (x: number): string => (x === 0 ? 0 : 55 + x * 40).toString(16).padStart(2, "0");
  return `#${c(Math.floor(i / 36))}${c(Math.floor(i / 6) % 6)}${c(i % 6)}`;
}

/** capture-pane -e output to an SVG of 80x24 cells. */
function toSvg(ansi: string, background: string, foreground: string, title: string): string {
  const cellW = 9;
  const cellH = 18;
  const out: string[] = [];
  const esc = (t: string): string => t.replace(/&/gu, "&amp;").replace(/</gu, "&lt;").replace(/>/gu, "&gt;");
  let fg: string | undefined;
  let bg: string | undefined;
  let bold = false;
  let inverse = false;
  let underline = false;
  ansi
    .split("\n")
    .slice(0, 24)
    .forEach((line, row) => {
      let col = 0;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: parsing escape sequences is the point.
      const parts = line.split(/(\x1b\[[0-9;]*m)/u);
      for (const part of parts) {
        // biome-ignore lint/suspicious/noControlCharactersInRegex: parsing escape sequences is the point.
        const sgr = /^\x1b\[([0-9;]*)m$/u.exec(part);
        if (sgr !== null) {
          const codes = sgr[1] === "" ? [0] : sgr[1]!.split(";").map(Number);
          for (let i = 0; i < codes.length; i++) {
            const code = codes[i]!;
            if (code === 0) {
              fg = bg = undefined;
              bold = inverse = underline = false;
            } else if (code === 1) bold = true;
            else if (code === 22) bold = false;
            else if (code === 4) underline = true;
            else if (code === 24) underline = false;
            else if (code === 7) inverse = true;
            else if (code === 27) inverse = false;
            else if (code >= 30 && code <= 37) fg = BASE[code - 30];
            else if (code >= 90 && code <= 97) fg = BASE[code - 90 + 8];
            else if (code >= 40 && code <= 47) bg = BASE[code - 40];
            else if (code >= 100 && code <= 107) bg = BASE[code - 100 + 8];
            else if (code === 39) fg = undefined;
            else if (code === 49) bg = undefined;
            else if ((code === 38 || code === 48) && codes[i + 1] === 5) {
              if (code === 38) fg = color256(codes[i + 2]!);
              else bg = color256(codes[i + 2]!);
              i += 2;
            }
          }
          continue;
        }
        for (const ch of part) {
          const wide =
            /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60\u{1f300}-\u{1faff}]/u.test(
              ch,
            );
          const w = wide ? 2 : 1;
          let f = fg ?? foreground;
          let b = bg;
          if (inverse) {
            const t = f;
            f = b ?? background;
            b = t;
          }
          const x = col * cellW;
          const y = row * cellH;
          if (b !== undefined)
            out.push(`<rect x="${x}" y="${y}" width="${w * cellW}" height="${cellH}" fill="${b}"/>`);
          if (ch !== " ") {
            out.push(
              `<text x="${x}" y="${y + 14}" fill="${f}"${bold ? ' font-weight="bold"' : ""}${underline ? ' text-decoration="underline"' : ""}>${esc(ch)}</text>`,
            );
          } else if (underline) {
            out.push(`<rect x="${x}" y="${y + 16}" width="${cellW}" height="1" fill="${f}"/>`);
          }
          col += w;
        }
      }
    });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${80 * cellW}" height="${24 * cellH}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">
<title>${title}</title>
<rect width="100%" height="100%" fill="${background}"/>
${out.join("\n")}
</svg>
`;
}

async function main(): Promise<void> {
  const temp = makeTempDir();
  const server = await spawnServer(path.join(temp.dir, "parley.db"));
  try {
    const port = server.port;
    for (const user of ["bob", "alice"]) {
      start(user, port, ["--user", user, "--device", "laptop"]);
      await waitFor(user, "Password");
      tmux("send-keys", "-t", user, "C-r");
      await waitFor(user, "Again");
      type(user, PASSWORD);
      type(user, PASSWORD);
      await waitFor(user, `${user} (you)`);
    }
    tmux("kill-session", "-t", "alice");
    type("bob", "/create #lab alice");
    await waitFor("bob", "Created #lab");
    type("bob", "Morning all! Standup moved to 10:30.");
    type("bob", "/msg alice Hi alice, lunch at noon? 🍜");
    type("bob", "Also: the 日本語 release notes are ready for review.");
    await waitFor("bob", "release notes");
    for (const theme of ["dark", "light"]) {
      start(theme, port, ["--user", "alice", "--device", theme, "--theme", theme]);
      await waitFor(theme, "Password");
      type(theme, PASSWORD);
      await waitFor(theme, "alice (you)");
      tmux("send-keys", "-t", theme, "Tab");
      await waitFor(theme, "release notes");
    }
    type("dark", "Sure! See you at noon 👍");
    await waitFor("bob", "See you at noon");
    type("bob", "/msg #lab alice: can you demo the new client?");
    for (const theme of ["dark", "light"]) {
      await waitFor(theme, "Act: #lab(2)*");
      type(theme, "Thanks, on my w", false);
    }
    fs.mkdirSync(DOCS, { recursive: true });
    for (const [theme, background, foreground] of [
      ["dark", "#1d1f21", "#d0d0d0"],
      ["light", "#ffffff", "#1d1f21"],
    ] as const) {
      const ansi = tmux("capture-pane", "-p", "-e", "-t", theme);
      fs.writeFileSync(
        path.join(DOCS, `tui-${theme}.svg`),
        toSvg(ansi, background, foreground, `Parley in tmux at 80x24, --theme ${theme}`),
      );
      process.stdout.write(`--theme ${theme}, as capture-pane -p shows it:\n${screen(theme)}\n`);
    }
    process.stdout.write(`wrote ${DOCS}/tui-dark.svg and tui-light.svg\n`);
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
