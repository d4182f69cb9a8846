// The Parley server: a TCP listener whose connections feed the dispatcher, plus the stages
// that run beside it (normalization, expiry) and the one housekeeping timer for deadlines.

import net from "node:net";
import type { Services } from "./commands/command.js";
import { COMMANDS } from "./commands/index.js";
import type { ServerSettings } from "./config.js";
import { Connection } from "./connection.js";
import { ExpirySweeper } from "./delivery/expiry-sweeper.js";
import { SessionRegistry } from "./delivery/session-registry.js";
import { Dispatcher } from "./dispatcher.js";
import type { Logger } from "./logger.js";
import { LoginThrottle } from "./login-throttle.js";
import { NormalizationStage } from "./normalization/normalization-stage.js";
import type { TextNormalizer } from "./normalization/text-normalizer.js";
import { PasswordChecker } from "./passwords.js";
import type { Limits } from "./protocol/messages.js";
import { RateLimiter } from "./rate-limiter.js";
import type { Store } from "./store/store.js";

export const SERVER_NAME = "parley/0.1.0";

const MAX_HOUSEKEEPING_INTERVAL_MS = 1000;
const LIMITER_PRUNE_INTERVAL_MS = 60_000;

export interface ServerOptions {
  readonly settings: ServerSettings;
  readonly store: Store;
  readonly normalizer: TextNormalizer;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export class ParleyServer {
  readonly #listener: net.Server;
  readonly #log: Logger;
  readonly #settings: ServerSettings;
  readonly #services: Services;
  readonly #dispatcher: Dispatcher;
  readonly #normalization: NormalizationStage;
  readonly #sweeper: ExpirySweeper;
  readonly #connections = new Set<Connection>();
  readonly #housekeeping: NodeJS.Timeout;
  #nextConnectionId = 1;
  #stopping: Promise<void> | undefined;

  private constructor(options: ServerOptions) {
    const { settings, store, logger } = options;
    const now = options.now ?? (() => new Date());
    this.#log = logger;
    this.#settings = settings;
    const sessions = new SessionRegistry(store, settings.maxInFlight, logger, now);
    this.#normalization = new NormalizationStage(
      store,
      options.normalizer,
      (notified) => sessions.wake(notified.userIds),
      logger,
      now,
    );
    const limits: Limits = {
      maxTextChars: settings.maxTextChars,
      maxFrameBytes: settings.maxFrameBytes,
      maxPending: settings.maxPending,
      maxInFlight: settings.maxInFlight,
      idleTimeoutMs: settings.idleTimeoutMs,
    };
    this.#services = {
      settings,
      limits,
      serverName: SERVER_NAME,
      store,
      passwords: new PasswordChecker(settings.scryptCost),
      sendLimiter: new RateLimiter(settings.sendRatePerSec, settings.sendBurst),
      loginThrottle: new LoginThrottle(
        settings.loginFailuresPerUserPerMin,
        settings.loginFailuresPerAddressPerMin,
      ),
      sessions,
      messagesStored: () => this.#normalization.wake(),
      now,
    };
    this.#dispatcher = new Dispatcher(COMMANDS, this.#services);
    this.#sweeper = new ExpirySweeper(
      store,
      settings.messageTtlMs,
      (notified) => sessions.wake(notified.userIds),
      logger,
      now,
    );
    // allowHalfOpen: a client may send its requests and shut its side; it still gets the answers.
    this.#listener = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.#accept(socket),
    );
    const intervalMs = Math.min(
      MAX_HOUSEKEEPING_INTERVAL_MS,
      settings.idleTimeoutMs / 4,
      settings.drainTimeoutMs / 4,
    );
    let lastPruneMs = Date.now();
    this.#housekeeping = setInterval(() => {
      const nowMs = Date.now();
      for (const connection of this.#connections) connection.checkDeadlines(nowMs);
      if (nowMs - lastPruneMs > LIMITER_PRUNE_INTERVAL_MS) {
        lastPruneMs = nowMs;
        this.#services.sendLimiter.prune(nowMs);
        this.#services.loginThrottle.prune(nowMs);
      }
    }, intervalMs);
    this.#housekeeping.unref();
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: ServerOptions): Promise<ParleyServer> {
    await options.store.resetPresence();
    const server = new ParleyServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#listener.once("error", reject);
      server.#listener.listen(options.settings.port, options.settings.host, () => {
        server.#listener.off("error", reject);
        resolve();
      });
    });
    // Messages stored but not normalized before a restart are taken up again.
    server.#normalization.wake();
    return server;
  }

  get port(): number {
    return (this.#listener.address() as net.AddressInfo).port;
  }

  get host(): string {
    return (this.#listener.address() as net.AddressInfo).address;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Shuts down in order: stop accepting, tell every connection, let requests in progress
   * finish and their answers go out, then close what is left once the deadline passes.
   * The caller closes the store afterwards. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#log.info("shutting down", { connections: this.#connections.size });
    const closed = new Promise<void>((resolve) => this.#listener.close(() => resolve()));
    clearInterval(this.#housekeeping);
    this.#sweeper.stop();
    for (const connection of this.#connections) connection.drainAndClose("shutdown", { ev: "shutdown" });
    const deadline = new Promise<void>((resolve) =>
      setTimeout(resolve, this.#settings.shutdownTimeoutMs).unref(),
    );
    await Promise.race([Promise.all([closed, this.#allConnectionsClosed()]), deadline]);
    for (const connection of this.#connections) connection.close("shutdown deadline");
    await this.#normalization.stop();
  }

  #allConnectionsClosed(): Promise<void> {
    const pending = [...this.#connections].map(
      (connection) => new Promise<void>((resolve) => connection.onClose(() => resolve())),
    );
    return Promise.all(pending).then(() => undefined);
  }

  #accept(socket: net.Socket): void {
    if (this.#stopping !== undefined) {
      socket.destroy();
      return;
    }
    const id = this.#nextConnectionId++;
    const log = this.#log.child({ conn: id });
    const connection = new Connection(id, socket, this.#settings, this.#dispatcher, log);
    this.#connections.add(connection);
    log.info("connection accepted", { address: socket.remoteAddress, port: socket.remotePort });
    connection.onClose((reason) => {
      this.#connections.delete(connection);
      log.info("connection closed", { reason, user: connection.user?.name });
      const user = connection.user;
      if (user !== undefined) void this.#services.sessions.detach(user, connection);
    });
  }
}
