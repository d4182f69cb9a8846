// The real TUI in a real terminal against a real server (e2e): two users in two tmux sessions
// register, talk, watch the marks move, and carry on across a server restart. Every wait polls
// the screen (capture-pane) until the expected text is there, with a deadline: the screen
// changing is the event.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { makeSelfSignedCertificate } from "../helpers/self-signed.js";
import { type ServerProcess, spawnServer } from "../helpers/server-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const TUI_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../tui-client/main.js");
const COLS = 100;
const ROWS = 30;
const WAIT_MS = 20_000;
const POLL_MS = 50;
const PASSWORD = "correct-horse-battery";

function tmuxAvailable(): boolean {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** One tmux server of our own (-L), so nothing here touches anyone else's sessions. */
class Terminals {
  readonly #socket = `parley-tui-e2e-${process.pid}-${Date.now()}`;
  readonly #env = { ...process.env, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };

  tmux(...args: string[]): string {
    return execFileSync("tmux", ["-u", "-L", this.#socket, "-f", "/dev/null", ...args], {
      env: this.#env,
      encoding: "utf8",
    });
  }

  start(
    name: string,
    port: number,
    user: string,
    extraArgs: readonly string[] = [],
    extraEnv: readonly string[] = [],
  ): void {
    this.tmux(
      "new-session",
      "-d",
      "-x",
      String(COLS),
      "-y",
      String(ROWS),
      "-s",
      name,
      "env",
      "LANG=C.UTF-8",
      ...extraEnv,
      process.execPath,
      TUI_MAIN,
      "--port",
      String(port),
      "--user",
      user,
      ...extraArgs,
    );
  }
  /** Starts a TUI and registers `user` from its log-in screen; resolves with the main screen. */
  async register(
    name: string,
    port: number,
    user: string,
    extraArgs: readonly string[] = [],
    extraEnv: readonly string[] = [],
  ): Promise<string> {
    this.start(name, port, user, extraArgs, extraEnv);
    await this.waitForText(name, "Password");
    this.keys(name, "C-r");
    await this.waitForText(name, "Again");
    this.type(name, PASSWORD);
    this.keys(name, "Enter");
    this.type(name, PASSWORD);
    this.keys(name, "Enter");
    return this.waitForText(name, `${user} (you)`);
  }

  screen(name: string): string {
    return this.tmux("capture-pane", "-p", "-t", name);
  }

  /** The screen with its colours and attributes, as escape sequences. */
  screenWithEscapes(name: string): string {
    return this.tmux("capture-pane", "-p", "-e", "-t", name);
  }

  /** Appends everything the TUI `name` writes to the terminal to `file` (bells, OSC included). */
  recordOutput(name: string, file: string): void {
    this.tmux("pipe-pane", "-o", "-t", name, `cat >> ${file}`);
  }

  /** Pastes `text` as the terminal does, bracketed when the TUI asked for it. */
  paste(name: string, text: string, file: string): void {
    fs.writeFileSync(file, text);
    this.tmux("load-buffer", "-b", "parley-paste", file);
    this.tmux("paste-buffer", "-p", "-d", "-b", "parley-paste", "-t", name);
  }

  type(name: string, text: string): void {
    this.tmux("send-keys", "-t", name, "-l", text);
  }

  keys(name: string, ...keys: string[]): void {
    this.tmux("send-keys", "-t", name, ...keys);
  }

  /** Polls the screen until `test` holds; fails with the screen's content at the deadline. */
  async waitFor(
    name: string,
    what: string,
    test: (screen: string) => boolean,
    timeoutMs = WAIT_MS,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen(name);
      if (test(screen)) return screen;
      if (Date.now() > deadline) {
        throw new Error(`${name}: timed out waiting for ${what}; the screen shows:\n${screen}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async waitForText(name: string, text: string, timeoutMs = WAIT_MS): Promise<string> {
    return this.waitFor(name, JSON.stringify(text), (screen) => screen.includes(text), timeoutMs);
  }

  /** Ends the TUIs (SIGHUP, as when a terminal closes) and removes the socket file. */
  kill(): void {
    let socketPath: string | undefined;
    try {
      socketPath = this.tmux("display-message", "-p", "#{socket_path}").trim();
      this.tmux("kill-server");
    } catch {
      // Already gone.
    }
    if (socketPath) fs.rmSync(socketPath, { force: true });
  }
}

/** The screen line that holds `text` (a message line in the conversation pane). */
function lineWith(screen: string, text: string): string | undefined {
  return screen.split("\n").find((line) => line.includes(text));
}

/** The status-bar line, next to last. */
function statusLine(screen: string): string {
  const lines = screen.split("\n");
  return lines[ROWS - 2] ?? "";
}

/** The contacts-pane part of the line that shows `user`. */
function contactLine(screen: string, user: string): string | undefined {
  return screen
    .split("\n")
    .map((line) => line.split("│")[0]!)
    .find((line) => new RegExp(`[●○] ${user}\\b`, "u").test(line));
}

describe("tui end to end, two TUIs in tmux (e2e)", function () {
  this.timeout(120_000);
  let terminals: Terminals;
  let temp: { dir: string; remove(): void };
  let server: ServerProcess | undefined;
  let port: number;
  let dbPath: string;

  before(async () => {
    // Never skipped: CI installs tmux, and a missing one must fail loudly.
    if (!tmuxAvailable()) throw new Error("tmux is not installed: apt-get install tmux");
    temp = makeTempDir("parley-tui-e2e-");
    dbPath = path.join(temp.dir, "parley.db");
    server = await spawnServer(dbPath);
    port = server.port;
    terminals = new Terminals();
  });

  after(async () => {
    terminals?.kill();
    if (server !== undefined) await server.stop();
    temp?.remove();
  });

  it("registers two users from two TUIs and shows each to the other", async () => {
    for (const user of ["alice", "bob"]) await terminals.register(user, port, user);
    await terminals.waitFor(
      "alice",
      "bob online",
      (screen) => contactLine(screen, "bob")?.includes("● bob") === true,
    );
    await terminals.waitFor(
      "bob",
      "alice online",
      (screen) => contactLine(screen, "alice")?.includes("● alice") === true,
    );
  });

  it("shows a typed message on the other screen, with an unread count and a delivered mark", async () => {
    terminals.type("alice", "/msg bob Hello Bob 👋 how are you?");
    terminals.keys("alice", "Enter");
    // Bob has no conversation open: the message shows up as an unread count.
    await terminals.waitFor("bob", "an unread count of 1 for alice", (screen) =>
      /alice\s+1\s*$/u.test(contactLine(screen, "alice") ?? ""),
    );
    // Bob's client acknowledged it, so the server sent Alice a delivered receipt.
    await terminals.waitFor("alice", "the delivered mark", (screen) =>
      (lineWith(screen, "Hello Bob 👋") ?? "").includes("✓✓"),
    );

    terminals.keys("bob", "Tab"); // the most recent conversation comes first: alice
    await terminals.waitForText("bob", "Hello Bob 👋 how are you?");
    await terminals.waitFor("bob", "the unread count to clear", (screen) =>
      /alice\s*$/u.test(contactLine(screen, "alice") ?? ""),
    );
    // On Bob's screen now, so read: Alice's mark turns to the read mark.
    await terminals.waitFor("alice", "the read mark", (screen) =>
      (lineWith(screen, "Hello Bob 👋") ?? "").includes("✔✔"),
    );

    terminals.type("bob", "Fine, thanks! 日本語 works too");
    terminals.keys("bob", "Enter");
    await terminals.waitForText("alice", "Fine, thanks! 日本語 works too");
  });

  it("reconnects both TUIs after a server restart and carries on", async () => {
    await server!.stop();
    server = undefined;
    for (const user of ["alice", "bob"]) {
      await terminals.waitFor(user, "the offline state", (screen) => statusLine(screen).includes("offline"));
    }
    // Typed while the server is down: kept, marked as waiting, sent after the reconnect.
    terminals.type("bob", "sent while the server was down");
    terminals.keys("bob", "Enter");
    await terminals.waitFor("bob", "the waiting mark", (screen) =>
      (lineWith(screen, "sent while the server was down") ?? "").includes("…"),
    );

    server = await spawnServer(dbPath, ["--port", String(port)]);
    for (const user of ["alice", "bob"]) {
      await terminals.waitFor(user, "online again", (screen) => statusLine(screen).includes("● online"));
    }
    await terminals.waitForText("alice", "sent while the server was down");

    terminals.type("alice", "after the restart 🎉");
    terminals.keys("alice", "Enter");
    const bobScreen = await terminals.waitForText("bob", "after the restart 🎉");
    expect(bobScreen.match(/sent while the server was down/gu), "no duplicate").to.have.length(1);
    await terminals.waitFor("alice", "the read mark after the restart", (screen) =>
      (lineWith(screen, "after the restart 🎉") ?? "").includes("✔✔"),
    );
    const aliceScreen = terminals.screen("alice");
    expect(aliceScreen.match(/Hello Bob 👋/gu), "history reload adds no duplicate").to.have.length(1);
  });
});

describe("tui over TLS, in tmux (e2e)", function () {
  this.timeout(60_000);
  let terminals: Terminals;
  let temp: { dir: string; remove(): void };
  let server: ServerProcess | undefined;

  after(async () => {
    terminals?.kill();
    if (server !== undefined) await server.stop();
    temp?.remove();
  });

  it("registers and talks to a TLS server whose self-signed certificate it is given with --ca", async () => {
    temp = makeTempDir("parley-tui-tls-");
    const certificate = makeSelfSignedCertificate(temp.dir);
    server = await spawnServer(path.join(temp.dir, "parley.db"), [
      "--tls-cert",
      certificate.certFile,
      "--tls-key",
      certificate.keyFile,
    ]);
    terminals = new Terminals();
    const screen = await terminals.register("carol", server.port, "carol", ["--ca", certificate.certFile]);
    expect(statusLine(screen)).to.include("online");
  });
});

/** The contacts-pane part of the line that shows `room` ("   #lab   2"). */
function roomLine(screen: string, room: string): string | undefined {
  return screen
    .split("\n")
    .map((line) => line.split("│")[0]!)
    .find((line) => new RegExp(`^.\\s+${room}\\b`, "u").test(line));
}

/** The number after a contact's name, 0 when there is none; undefined when it is not listed. */
function unreadOf(line: string | undefined): number | undefined {
  if (line === undefined) return undefined;
  const match = /\s(\d+)\s*$/u.exec(line);
  return match === null ? 0 : Number(match[1]);
}

// Needs the version 2 server (rooms and devices): written before it was merged.
describe("tui rooms and devices, three TUIs in tmux (e2e)", function () {
  this.timeout(120_000);
  let terminals: Terminals;
  let temp: { dir: string; remove(): void };
  let server: ServerProcess | undefined;
  let port: number;

  before(async () => {
    if (!tmuxAvailable()) throw new Error("tmux is not installed: apt-get install tmux");
    temp = makeTempDir("parley-tui-rooms-");
    server = await spawnServer(path.join(temp.dir, "parley.db"));
    port = server.port;
    terminals = new Terminals();
  });

  after(async () => {
    terminals?.kill();
    if (server !== undefined) await server.stop();
    temp?.remove();
  });

  it("registers alice (laptop) and bob, and logs alice in on a second device (phone)", async () => {
    for (const [user, device] of [
      ["alice", "laptop"],
      ["bob", "desk"],
    ] as const) {
      await terminals.register(user, port, user, ["--device", device]);
    }
    // The same account on another device: a session beside the laptop's, not replacing it.
    terminals.start("phone", port, "alice", ["--device", "phone"]);
    await terminals.waitForText("phone", "Password");
    terminals.type("phone", PASSWORD);
    terminals.keys("phone", "Enter");
    await terminals.waitForText("phone", "alice (you)");
    // The laptop, asked after the phone's log-in, still has its session: both devices are online.
    terminals.type("alice", "/devices");
    terminals.keys("alice", "Enter");
    await terminals.waitForText("alice", "Devices: 2, 2 online");
    expect(statusLine(terminals.screen("alice")), "the laptop is still logged in").to.include("● online");
    terminals.keys("alice", "Escape");
    await terminals.waitFor("alice", "the overlay closed", (screen) => !screen.includes("Devices: 2"));
  });

  it("creates a room that shows up for its member and on the other device", async () => {
    terminals.type("alice", "/create #lab bob");
    terminals.keys("alice", "Enter");
    await terminals.waitFor("alice", "the room open", (screen) => screen.trimEnd().endsWith("#lab>"));
    await terminals.waitFor("alice", "the room header", (screen) =>
      (screen.split("\n")[0] ?? "").includes("#lab  2 members"),
    );
    await terminals.waitForText("bob", "alice created the room #lab with you");
    await terminals.waitFor(
      "bob",
      "#lab in the contacts",
      (screen) => roomLine(screen, "#lab") !== undefined,
    );
    await terminals.waitFor(
      "phone",
      "#lab in the contacts",
      (screen) => roomLine(screen, "#lab") !== undefined,
    );
  });

  it("carries a room conversation: unread counts, own messages from the other device, read markers", async () => {
    terminals.type("alice", "Hello lab 👋");
    terminals.keys("alice", "Enter");
    await terminals.waitFor(
      "bob",
      "an unread count of 1 for #lab",
      (screen) => unreadOf(roomLine(screen, "#lab")) === 1,
    );

    // The laptop looks elsewhere (bob, the next contact; her own entry comes last) before bob answers.
    terminals.keys("alice", "Tab");
    await terminals.waitFor("alice", "bob's conversation open", (screen) =>
      screen.trimEnd().endsWith("bob>"),
    );

    terminals.keys("bob", "Tab"); // the most recent conversation: #lab
    await terminals.waitFor("bob", "alice's message in #lab", (screen) =>
      /alice Hello lab 👋/u.test(lineWith(screen, "Hello lab") ?? ""),
    );
    await terminals.waitFor("bob", "the members online in the header", (screen) =>
      (screen.split("\n")[0] ?? "").includes("2 members, online: alice, bob"),
    );
    terminals.type("bob", "Hi alice, 日本語 too");
    terminals.keys("bob", "Enter");

    // Only bob's message counts on both of alice's devices: her own is not unread.
    await terminals.waitFor(
      "alice",
      "#lab unread 1 on the laptop",
      (screen) => unreadOf(roomLine(screen, "#lab")) === 1,
    );
    await terminals.waitFor(
      "phone",
      "#lab unread 1 on the phone",
      (screen) => unreadOf(roomLine(screen, "#lab")) === 1,
    );

    // The laptop reads it: the phone hears of it through a read marker, and its count clears.
    terminals.keys("alice", "BTab");
    await terminals.waitForText("alice", "Hi alice, 日本語 too");
    await terminals.waitFor(
      "phone",
      "#lab read on the laptop",
      (screen) => unreadOf(roomLine(screen, "#lab")) === 0,
    );

    // The phone shows the whole conversation, alice's own message with its mark.
    terminals.keys("phone", "Tab");
    const phone = await terminals.waitForText("phone", "Hi alice, 日本語 too");
    expect(lineWith(phone, "Hello lab 👋")).to.match(/✓\s+alice Hello lab 👋/u);

    // And what the phone sends reaches the laptop as alice's own message, and bob.
    terminals.type("phone", "sent from my phone");
    terminals.keys("phone", "Enter");
    const laptop = await terminals.waitForText("alice", "sent from my phone");
    expect(lineWith(laptop, "sent from my phone")).to.match(/alice sent from my phone/u);
    await terminals.waitForText("bob", "sent from my phone");
    expect(unreadOf(roomLine(terminals.screen("alice"), "#lab")), "own message, not unread").to.equal(0);
  });

  it("lists the room's members and alice's devices", async () => {
    terminals.type("alice", "/members");
    terminals.keys("alice", "Enter");
    const members = await terminals.waitForText("alice", "#lab: 2 members, 2 online");
    expect(lineWith(members, "alice (you)")).to.include("●");
    expect(lineWith(members, "● bob")).to.include("has read");
    expect(members).to.include("owner");
    terminals.keys("alice", "Escape");
    await terminals.waitFor("alice", "the overlay closed", (screen) => screen.trimEnd().endsWith("#lab>"));

    terminals.type("alice", "/devices");
    terminals.keys("alice", "Enter");
    const devices = await terminals.waitForText("alice", "Devices: 2, 2 online");
    expect(lineWith(devices, "laptop")).to.include("(this one)");
    expect(lineWith(devices, "phone")).to.include("online");
    terminals.keys("alice", "Escape");
  });

  it("shows a member leaving on every screen", async () => {
    terminals.type("bob", "/leave");
    terminals.keys("bob", "Enter");
    await terminals.waitForText("bob", "You left #lab.");
    await terminals.waitFor("bob", "the header to say so", (screen) =>
      (screen.split("\n")[0] ?? "").includes("you are not a member"),
    );
    await terminals.waitForText("alice", "· bob left");
    await terminals.waitFor("alice", "one member left", (screen) =>
      (screen.split("\n")[0] ?? "").includes("#lab  1 member"),
    );
    terminals.keys("phone", "C-l");
    await terminals.waitForText("phone", "· bob left");
  });
});

describe("tui issue 12: paste, completion, notification and activity in tmux (e2e)", function () {
  this.timeout(120_000);
  let terminals: Terminals;
  let temp: { dir: string; remove(): void };
  let server: ServerProcess | undefined;

  before(async () => {
    if (!tmuxAvailable()) throw new Error("tmux is not installed: apt-get install tmux");
    temp = makeTempDir("parley-tui-e2e12-");
    server = await spawnServer(path.join(temp.dir, "parley.db"));
    terminals = new Terminals();
    // dora runs with tmux's own TERM, where blessed alone drew dim text black.
    await terminals.register("dora", server.port, "dora", [], ["TERM=tmux-256color"]);
    await terminals.register("eve", server.port, "eve");
  });

  after(async () => {
    terminals?.kill();
    if (server !== undefined) await server.stop();
    temp?.remove();
  });

  /** Polls a file until `test` holds on its content. */
  async function waitForFile(file: string, what: string, test: (text: string) => boolean): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, "latin1") : "";
      if (test(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} in ${file}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  it("draws dim text in grey, not black, with TERM=tmux-256color", () => {
    const screen = terminals.screenWithEscapes("dora");
    expect(screen).to.include("\x1b[38;5;245m");
    expect(screen).to.not.include("\x1b[30m");
  });

  it("rings and notifies for a message to you elsewhere, and lists it in the status bar", async () => {
    const output = path.join(temp.dir, "dora.out");
    terminals.recordOutput("dora", output);
    terminals.type("dora", "/notify desktop");
    terminals.keys("dora", "Enter");
    await terminals.waitForText("dora", "desktop notification");
    terminals.type("eve", "/msg dora are you there dora?");
    terminals.keys("eve", "Enter");
    await terminals.waitFor("dora", "eve in the activity list", (screen) =>
      statusLine(screen).includes("Act: eve(1)*"),
    );
    const written = await waitForFile(output, "the bell and OSC 777", (text) =>
      text.includes("\x1b]777;notify;Parley: eve;are you there dora?"),
    );
    expect(written).to.include("\x07");
    expect(written).to.include("\x1b]9;Parley: eve: are you there dora?");
  });

  it("completes a user name with Tab in a command", async () => {
    terminals.type("dora", "/msg e");
    terminals.keys("dora", "Tab");
    await terminals.waitFor("dora", "the completed name", (screen) =>
      /\/msg eve\s*$/u.test(screen.split("\n")[ROWS - 1] ?? ""),
    );
    terminals.type("dora", "completed by Tab");
    terminals.keys("dora", "Enter");
    await terminals.waitForText("eve", "completed by Tab");
    // /msg opened the conversation, and the activity list is empty again.
    await terminals.waitFor(
      "dora",
      "an empty activity list",
      (screen) => !statusLine(screen).includes("Act:"),
    );
  });

  it("sends a pasted three-line text as one message, line breaks kept", async () => {
    terminals.paste("dora", "first line\nsecond line\nthird line", path.join(temp.dir, "paste.txt"));
    await terminals.waitForText("dora", "first line↵second line↵third line");
    terminals.keys("dora", "Enter");
    // The server stores the line breaks; the normalizer, which decides what is delivered,
    // makes every run of white space one space. One message either way, nothing left over.
    const screen = await terminals.waitForText("eve", "third line");
    const lines = screen.split("\n").filter((line) => /(first|second|third) line/u.test(line));
    expect(lines, screen).to.have.length(1);
    expect(lines[0]).to.match(/\d\d:\d\d\s+dora first line\s+second line\s+third line/u);
    // Nothing was left behind in dora's input line.
    await terminals.waitFor("dora", "an empty input line", (text) =>
      /^eve> *$/u.test(text.split("\n")[ROWS - 1] ?? ""),
    );
  });
});
