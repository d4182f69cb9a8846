// Slash commands and the command line of the client, unit.

import { expect } from "chai";
import { DEFAULT_PORT, defaultDevice, parseArgs } from "../../tui-client/args.js";
import {
  COMMANDS,
  type CommandContext,
  helpLines,
  parseCommandLine,
  runCommand,
} from "../../tui-client/commands.js";
import { CHAT_KEYS } from "../../tui-client/keymap.js";

function recorder(active?: string): { context: CommandContext; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const record =
    (name: string) =>
    (...args: unknown[]): void => {
      calls.push([name, ...args]);
    };
  return {
    calls,
    context: {
      sendTo: record("sendTo"),
      activeConversation: () => active,
      createRoom: record("createRoom"),
      addToRoom: record("addToRoom"),
      removeFromRoom: record("removeFromRoom"),
      leaveRoom: record("leaveRoom"),
      showMembers: record("showMembers"),
      showDevices: record("showDevices"),
      showUsers: record("showUsers"),
      setNotify: record("setNotify"),
      search: record("search"),
      logout: record("logout"),
      startUnregister: record("startUnregister"),
      reconnect: record("reconnect"),
      quit: record("quit"),
      showHelp: record("showHelp"),
      notify: record("notify"),
    },
  };
}

describe("tui commands (unit)", () => {
  it("runs /msg with the rest of the line as the text", () => {
    const { context, calls } = recorder();
    runCommand("/msg bob  hello   there ", context);
    expect(calls).to.deep.equal([["sendTo", "bob", "hello   there"]]);
  });

  it("accepts a unique prefix and refuses an ambiguous or unknown one", () => {
    expect("command" in parseCommandLine("/q") && parseCommandLine("/q")).to.deep.include({ args: [] });
    const ambiguous = parseCommandLine("/u");
    expect(ambiguous).to.have.property("error").that.includes("ambiguous");
    expect(parseCommandLine("/frobnicate")).to.have.property("error").that.includes("unknown command");
  });

  it("checks arguments before running anything", () => {
    const { context, calls } = recorder();
    runCommand("/msg bob", context);
    runCommand("/quit now", context);
    expect(calls).to.deep.equal([
      ["notify", "usage: /msg USER TEXT", "error"],
      ["notify", "usage: /quit", "error"],
    ]);
  });

  it("dispatches every command in the table", () => {
    const { context, calls } = recorder();
    for (const name of ["users", "logout", "unregister", "reconnect", "quit", "help"])
      runCommand(`/${name}`, context);
    expect(calls.map((call) => call[0])).to.deep.equal([
      "showUsers",
      "logout",
      "startUnregister",
      "reconnect",
      "quit",
      "showHelp",
    ]);
  });

  it("/create takes a room and its members, with or without the #, and checks the name", () => {
    const { context, calls } = recorder();
    runCommand("/create #lab bob carol", context);
    runCommand("/create lab2 bob, carol", context);
    runCommand("/create #solo", context);
    runCommand("/create #no!good bob", context);
    runCommand("/create", context);
    expect(calls).to.deep.equal([
      ["createRoom", "#lab", ["bob", "carol"]],
      ["createRoom", "#lab2", ["bob", "carol"]],
      ["createRoom", "#solo", []],
      ["notify", "#no!good is not a room name: # and 1-32 of A-Z a-z 0-9 _ . -", "error"],
      ["notify", "usage: /create #ROOM USER…", "error"],
    ]);
  });

  it("/add /remove /leave /members act on the open room", () => {
    const { context, calls } = recorder("#lab");
    runCommand("/add dave", context);
    runCommand("/remove bob", context);
    runCommand("/members", context);
    runCommand("/leave", context);
    runCommand("/add", context);
    expect(calls).to.deep.equal([
      ["addToRoom", "#lab", "dave"],
      ["removeFromRoom", "#lab", "bob"],
      ["showMembers", "#lab"],
      ["leaveRoom", "#lab"],
      ["notify", "usage: /add USER", "error"],
    ]);
  });

  it("refuses room commands when no room is open", () => {
    for (const active of [undefined, "bob"]) {
      const { context, calls } = recorder(active);
      for (const line of ["/add dave", "/remove bob", "/members", "/leave"]) runCommand(line, context);
      expect(calls.map((call) => call[0])).to.deep.equal(["notify", "notify", "notify", "notify"]);
      expect(String(calls[0]![1])).to.include("acts on the open room");
    }
  });

  it("/devices lists devices wherever it is typed; /msg takes a room", () => {
    const { context, calls } = recorder();
    runCommand("/devices", context);
    runCommand("/d", context);
    runCommand("/msg #lab hi all", context);
    expect(calls).to.deep.equal([["showDevices"], ["showDevices"], ["sendTo", "#lab", "hi all"]]);
  });

  it("generates /help from the command and key tables", () => {
    const text = helpLines().join("\n");
    for (const command of COMMANDS) {
      expect(text).to.include(`/${command.name}`);
      expect(text).to.include(command.summary);
    }
    for (const binding of CHAT_KEYS) expect(text).to.include(binding.label);
  });
});

describe("tui command line (unit)", () => {
  it("defaults to 127.0.0.1:7878", () => {
    expect(parseArgs([], {}, "laptop")).to.deep.equal({
      kind: "run",
      config: {
        host: "127.0.0.1",
        port: DEFAULT_PORT,
        user: undefined,
        tls: false,
        ca: undefined,
        device: "laptop",
        theme: "dark",
        colors: 8,
        mouse: true,
      },
    });
  });

  it("takes PARLEY_ variables, and flags over them", () => {
    const env = { PARLEY_HOST: "chat.example", PARLEY_PORT: "9000", PARLEY_USER: "alice" };
    expect(parseArgs([], env, "laptop")).to.deep.equal({
      kind: "run",
      config: {
        host: "chat.example",
        port: 9000,
        user: "alice",
        tls: false,
        ca: undefined,
        device: "laptop",
        theme: "dark",
        colors: 8,
        mouse: true,
      },
    });
    expect(parseArgs(["--port", "9100", "--user=bob"], env, "laptop")).to.deep.equal({
      kind: "run",
      config: {
        host: "chat.example",
        port: 9100,
        user: "bob",
        tls: false,
        ca: undefined,
        device: "laptop",
        theme: "dark",
        colors: 8,
        mouse: true,
      },
    });
  });

  it("takes --tls, and --ca (which implies TLS) from flags or PARLEY_TLS / PARLEY_CA", () => {
    expect(parseArgs(["--tls"], {}, "laptop")).to.deep.include({ kind: "run" });
    expect((parseArgs(["--tls"], {}, "laptop") as { config: object }).config).to.include({
      tls: true,
      ca: undefined,
    });
    expect((parseArgs(["--ca", "/etc/cert.pem"], {}, "laptop") as { config: object }).config).to.include({
      tls: true,
      ca: "/etc/cert.pem",
    });
    expect((parseArgs([], { PARLEY_TLS: "1" }, "laptop") as { config: object }).config).to.include({
      tls: true,
    });
    expect((parseArgs([], { PARLEY_CA: "/x.pem" }, "laptop") as { config: object }).config).to.include({
      tls: true,
      ca: "/x.pem",
    });
    expect(parseArgs(["--ca"], {}, "laptop").kind).to.equal("error");
  });

  it("takes --device or PARLEY_DEVICE, and defaults to the host name made a valid device name", () => {
    const device = (argv: string[], env: Record<string, string>, host: string): unknown =>
      (parseArgs(argv, env, host) as { config: { device: string } }).config.device;
    expect(device(["--device", "phone"], { PARLEY_DEVICE: "tablet" }, "h")).to.equal("phone");
    expect(device(["--device=desk-2"], {}, "h")).to.equal("desk-2");
    expect(device([], { PARLEY_DEVICE: "tablet" }, "h")).to.equal("tablet");
    expect(device([], {}, "my laptop (home)")).to.equal("mylaptophome");
    expect(device([], {}, "a".repeat(40))).to.equal("a".repeat(32));
    expect(device([], {}, "ünïcode!")).to.equal("ncode");
    expect(device([], {}, "日本")).to.equal("default");
    expect(defaultDevice("")).to.equal("default");
    for (const [argv, env] of [
      [["--device", "two words"], {}],
      [["--device", "x".repeat(33)], {}],
      [[], { PARLEY_DEVICE: "bad/name" }],
    ] as const) {
      const parsed = parseArgs(argv, env, "h");
      expect(parsed.kind, JSON.stringify(argv)).to.equal("error");
      expect((parsed as { message: string }).message).to.match(/device|PARLEY_DEVICE/u);
    }
  });

  it("answers --help, and refuses bad flags with one line", () => {
    expect(parseArgs(["--help"], {}, "laptop")).to.deep.equal({ kind: "help" });
    for (const argv of [["--bogus"], ["--port", "x"], ["--port", "70000"], ["--host"]]) {
      const parsed = parseArgs(argv, {}, "laptop");
      expect(parsed.kind, argv.join(" ")).to.equal("error");
      expect((parsed as { message: string }).message).to.not.include("\n");
    }
    const fromEnv = parseArgs([], { PARLEY_PORT: "nope" }, "laptop");
    expect((fromEnv as { message: string }).message).to.include("PARLEY_PORT");
  });

  it("takes --theme, --no-mouse, and NO_COLOR, COLORTERM and TERM for colours (issue 12)", () => {
    const config = (argv: string[], env: Record<string, string> = {}): Record<string, unknown> =>
      (parseArgs(argv, env, "h") as unknown as { config: Record<string, unknown> }).config;
    expect(config(["--theme", "light", "--no-mouse"])).to.include({ theme: "light", mouse: false });
    expect(config([], { PARLEY_THEME: "light" })).to.include({ theme: "light" });
    expect(parseArgs(["--theme", "pink"], {}, "h").kind).to.equal("error");
    expect(config([], { TERM: "tmux-256color" })).to.include({ colors: 256 });
    expect(config([], { TERM: "screen" })).to.include({ colors: 8 });
    expect(config([], { TERM: "linux" })).to.include({ colors: 8 });
    expect(config([], { TERM: "screen", COLORTERM: "truecolor" })).to.include({ colors: 256 });
    expect(config([], { TERM: "xterm-256color", NO_COLOR: "1" })).to.include({ colors: 0 });
  });
});
