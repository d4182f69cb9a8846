#!/usr/bin/env node
// The Parley terminal client: wires the network, the protocol session, the view model and the
// screen together (senpai's app.go). Everything that happens — a chunk from the server, a key,
// a timer — updates the session and the view model, then asks for one render; the render,
// the acknowledgements and the writes happen together once the current batch is done.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { ClientConfig } from "./args.js";
import { parseArgs, USAGE } from "./args.js";
import { type CommandContext, runCommand } from "./commands.js";
import { Network } from "./network.js";
import { Screen } from "./screen.js";
import { Session, type SessionEvent } from "./session.js";
import { type Intent, ViewModel } from "./view-model.js";

const CLIENT_NAME = "parley-tui/0.1.0";
/** How long to wait before sending again what the server could not store (`unavailable`). */
const RETRY_UNAVAILABLE_MS = 2000;
/** An unanswered ping older than this (and than two ping intervals) means a dead connection. */
const DEAD_LINK_MIN_MS = 10_000;

class App {
  readonly #session: Session;
  readonly #view: ViewModel;
  readonly #network: Network;
  readonly #screen: Screen;
  #renderScheduled = false;
  #redrawRequested = false;
  #pingTimer: NodeJS.Timeout | undefined;
  #pingIntervalMs = 40_000;
  #retryTimer: NodeJS.Timeout | undefined;
  #quitWarned = false;
  /** Alerts asked for in this batch: one bell per render, however many messages came. */
  #alert: { title: string; body: string; desktop: boolean } | undefined;
  #closed = false;

  constructor(config: ClientConfig, trustedCa: Buffer | undefined) {
    this.#session = new Session({
      cidPrefix: randomBytes(6).toString("base64url"),
      clientName: CLIENT_NAME,
      device: config.device,
    });
    this.#view = new ViewModel({
      host: config.host,
      port: config.port,
      user: config.user,
      device: config.device,
    });
    this.#screen = new Screen(
      {
        key: (key) => {
          this.#run(this.#view.key(key));
          this.#schedule();
        },
        paste: (text) => {
          this.#run(this.#view.paste(text));
          this.#schedule();
        },
        click: (x, y) => {
          this.#run(this.#view.click(x, y));
          this.#schedule();
        },
        wheel: (direction) => {
          this.#run(this.#view.wheel(direction));
          this.#schedule();
        },
        resize: (cols, rows) => {
          this.#view.resize(cols, rows);
          this.#schedule();
        },
      },
      { theme: config.theme, colors: config.colors, mouse: config.mouse },
    );
    this.#view.resize(this.#screen.cols, this.#screen.rows);
    this.#network = new Network(
      { host: config.host, port: config.port, ...(config.tls ? { tls: { ca: trustedCa } } : {}) },
      {
        connecting: () => {
          this.#view.setLink({ state: "connecting" });
          this.#schedule();
        },
        opened: () => {
          this.#view.setLink({ state: "open" });
          this.#session.connectionOpened();
          this.#schedule();
        },
        received: (items) => {
          for (const item of items) {
            if (item.kind === "frame") this.#dispatch(this.#session.handleFrame(item.value));
            else if (item.kind === "bad_frame")
              this.#view.notify(`Ignored a bad line from the server: ${item.reason}`, "error");
          }
          this.#schedule();
        },
        closed: (reason, retryInMs) => {
          this.#session.connectionLost();
          if (this.#session.phase === "replaced") {
            this.#view.setLink({ state: "held", reason: "session taken over elsewhere" });
          } else if (retryInMs === undefined) {
            this.#view.setLink({ state: "held", reason: `disconnected: ${reason}` });
          } else if (this.#session.user === undefined && !this.#session.hasQueuedAuth) {
            // On the log-in screen nothing waits for this connection (and the server drops
            // connections that do not log in soon): connect again when the user submits.
            this.#network.hold("not logged in");
            this.#view.setLink({ state: "held", reason: "not connected; logging in connects" });
          } else {
            this.#view.setLink({ state: "waiting", retryInMs, reason });
          }
          this.#schedule();
        },
      },
    );
  }

  start(): void {
    this.#restartPing();
    this.#network.start();
    this.#schedule();
  }

  /** Hands session events to the view model, then does what the protocol asks of the client. */
  #dispatch(events: readonly SessionEvent[]): void {
    for (const event of events) {
      this.#run(this.#view.apply(event));
      switch (event.type) {
        case "message":
          // Taken in by the view model: acknowledged with the next render.
          this.#session.handled(event.message.seq);
          break;
        case "receipt":
          this.#session.handled(event.receipt.seq);
          break;
        case "read_marker":
          this.#session.handled(event.marker.seq);
          break;
        case "room":
          this.#session.handled(event.event.seq);
          break;
        case "hello":
          this.#pingIntervalMs = Math.max(1000, Math.floor(event.limits.idleTimeoutMs / 3));
          this.#restartPing();
          break;
        case "logged_in":
          this.#network.resetBackoff();
          break;
        case "auth_failed":
          if (event.resumed && this.#session.user !== undefined)
            this.#network.drop("the server refused to log in again");
          break;
        case "session_replaced":
          this.#network.hold("session taken over elsewhere");
          break;
        case "shutdown":
          this.#network.drop("the server is shutting down");
          break;
        case "send_failed":
          if (event.retrying && this.#retryTimer === undefined) {
            this.#retryTimer = setTimeout(() => {
              this.#retryTimer = undefined;
              this.#session.retryWaitingSends();
              this.#schedule();
            }, RETRY_UNAVAILABLE_MS);
          }
          break;
        default:
          break;
      }
    }
  }

  #run(intents: readonly Intent[]): void {
    for (const intent of intents) {
      switch (intent.kind) {
        case "login":
          this.#session.login(intent.user, intent.password);
          this.#network.connectNow();
          break;
        case "register":
          this.#session.register(intent.user, intent.password);
          this.#network.connectNow();
          break;
        case "send":
          this.#dispatch(this.#session.send(intent.to, intent.text));
          break;
        case "command":
          runCommand(intent.line, this.#commandContext);
          break;
        case "load_users":
          this.#session.requestUsers(intent.after);
          break;
        case "alert":
          this.#alert = intent;
          break;
        case "load_rooms":
          this.#session.requestRooms();
          break;
        case "load_members":
          this.#session.requestRoomMembers(intent.room);
          break;
        case "load_history":
          this.#session.requestHistory(intent.peer, intent.before);
          break;
        case "unregister":
          this.#session.unregister(intent.password);
          break;
        case "redraw":
          this.#redrawRequested = true;
          break;
        case "quit":
          this.#quit();
          break;
      }
    }
  }

  readonly #commandContext: CommandContext = {
    sendTo: (user, text) => {
      const problem = this.#view.checkText(text);
      if (problem !== undefined) {
        this.#view.notify(problem, "error");
        return;
      }
      this.#run(this.#view.select(user));
      this.#dispatch(this.#session.send(user, text));
    },
    activeConversation: () => this.#view.activePeer,
    createRoom: (room, members) => this.#whenOnline(() => this.#session.createRoom(room, members)),
    addToRoom: (room, user) => this.#whenOnline(() => this.#session.addToRoom(room, user)),
    removeFromRoom: (room, user) => this.#whenOnline(() => this.#session.removeFromRoom(room, user)),
    leaveRoom: (room) => this.#whenOnline(() => this.#session.leaveRoom(room)),
    showMembers: (room) => this.#whenOnline(() => this.#session.requestRoomMembers(room, true)),
    showDevices: () => this.#whenOnline(() => this.#session.requestDevices()),
    showUsers: () => {
      if (this.#session.phase !== "ready") {
        this.#view.showUsers();
        this.#view.notify("Not connected: this is the list as last fetched.", "error");
        return;
      }
      this.#session.requestUsers();
      this.#view.awaitUsers();
    },
    setNotify: (mode) => this.#view.setNotify(mode),
    search: (text) => this.#run(this.#view.search(text)),
    logout: () => {
      this.#session.logout();
      this.#view.apply({ type: "logged_out" });
    },
    startUnregister: () => this.#view.startUnregisterPrompt(),
    reconnect: () => {
      this.#view.notify("Reconnecting…");
      this.#network.reconnectNow();
    },
    quit: () => this.#quit(),
    showHelp: (lines) => this.#view.showOverlay("Help", lines),
    notify: (text, level) => this.#view.notify(text, level),
  };

  /** Room and device commands ask the server now or not at all: unlike messages, they are not queued. */
  #whenOnline(request: () => void): void {
    if (this.#session.phase === "ready") request();
    else this.#view.notify("Not connected to the server; try again once online.", "error");
  }

  /** One render per batch of events: whatever happened in this turn is drawn once. */
  #schedule(): void {
    if (this.#renderScheduled || this.#closed) return;
    this.#renderScheduled = true;
    setImmediate(() => {
      this.#renderScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#closed) return;
    // Read marks move in their own step, then the frame shows the state as it is.
    const marker = this.#view.markShown();
    this.#screen.show(this.#view.frame());
    if (this.#redrawRequested) {
      this.#redrawRequested = false;
      this.#screen.redraw();
    }
    if (this.#alert !== undefined) {
      this.#screen.alert(this.#alert.desktop ? this.#alert : undefined);
      this.#alert = undefined;
    }
    // After the render: what is acknowledged and marked read has been shown.
    if (marker !== undefined) this.#session.markRead(marker.peer, marker.upTo);
    this.#session.flushAck();
    this.#network.write(this.#session.takeOutgoing());
  }

  #restartPing(): void {
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => {
      const since = this.#session.pingOutstandingSinceMs;
      const now = Date.now();
      if (since !== undefined && now - since > Math.max(2 * this.#pingIntervalMs, DEAD_LINK_MIN_MS)) {
        // Long without an answer: the link is dead even if TCP has not noticed.
        this.#network.drop("the server stopped answering");
      } else {
        this.#session.ping(now);
      }
      this.#schedule();
    }, this.#pingIntervalMs);
  }

  #quit(): void {
    const unsent = this.#session.unansweredSends.length;
    if (unsent > 0 && !this.#quitWarned) {
      this.#quitWarned = true;
      this.#view.notify(
        `${unsent} message${unsent === 1 ? " is" : "s are"} not stored by the server yet; Ctrl-C or /quit again quits anyway.`,
        "error",
      );
      return;
    }
    this.close();
    process.exit(0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#network.stop();
    this.#screen.destroy();
  }
}

function main(): void {
  const parsed = parseArgs(process.argv.slice(2), process.env, hostname());
  if (parsed.kind === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (parsed.kind === "error") {
    process.stderr.write(`${parsed.message}\n`);
    process.exit(2);
  }
  let trustedCa: Buffer | undefined;
  if (parsed.config.ca !== undefined) {
    try {
      trustedCa = readFileSync(parsed.config.ca);
    } catch (error) {
      process.stderr.write(`parley: cannot read --ca ${parsed.config.ca}: ${(error as Error).message}\n`);
      process.exit(2);
    }
  }
  const app = new App(parsed.config, trustedCa);
  const fail = (error: unknown): void => {
    app.close();
    process.stderr.write(
      `parley: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
  process.on("SIGTERM", () => {
    app.close();
    process.exit(0);
  });
  app.start();
}

main();
