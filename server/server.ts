// The Parley server: a TCP listener whose connections feed the dispatcher, plus the stages
// that run beside it (normalization, expiry) and the one housekeeping timer for deadlines.

import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { type AdminContext, runAdminRequest } from "./admin/admin-ops.js";
import type { AdminSocket } from "./admin/admin-socket.js";
import type { Services } from "./commands/command.js";
import { COMMANDS } from "./commands/index.js";
import { isPostgresUrl, type ServerSettings } from "./config.js";
import { Connection } from "./connection.js";
import { ExpirySweeper } from "./delivery/expiry-sweeper.js";
import { SessionRegistry } from "./delivery/session-registry.js";
import {
  DISK_CHECK_INTERVAL_MS,
  DiskSpaceGuard,
  type FreeDiskBytes,
  NO_DISK_FLOOR,
  statfsFreeBytes,
} from "./disk-space-guard.js";
import { Dispatcher } from "./dispatcher.js";
import type { Logger } from "./logger.js";
import { LoginThrottle } from "./login-throttle.js";
import { countedNormalizer } from "./metrics/counted-normalizer.js";
import { NO_METRICS, type ServerMetrics } from "./metrics/server-metrics.js";
import { MessageIntake } from "./normalization/message-intake.js";
import { NormalizationStage } from "./normalization/normalization-stage.js";
import type { TextNormalizer } from "./normalization/text-normalizer.js";
import { PasswordChecker } from "./passwords.js";
import { encodeFrame } from "./protocol/frame-encoder.js";
import type { ErrorCode, Limits } from "./protocol/messages.js";
import { RateLimiter } from "./rate-limiter.js";
import type { Store } from "./store/store.js";

export const SERVER_NAME = "parley/0.1.0";

const MAX_HOUSEKEEPING_INTERVAL_MS = 1000;
const LIMITER_PRUNE_INTERVAL_MS = 60_000;
/** Addresses whose recent registrations are remembered at most; past it the oldest are forgotten. */
const MAX_REGISTERING_ADDRESSES = 100_000;
/** Sockets past --max-connections that the listener still takes, to tell them why they are refused. */
const REFUSAL_HEADROOM = 64;
/**
 * Mozilla's "intermediate" profile (version 5.7): TLS 1.2 with forward-secret AEAD suites only
 * (no static RSA, no CBC or SHA-1), and TLS 1.3 with Node's default suites.
 */
const TLS_PROFILE = {
  minVersion: "TLSv1.2",
  ciphers: [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
  honorCipherOrder: false,
} as const;

export interface ServerOptions {
  readonly settings: ServerSettings;
  readonly store: Store;
  readonly normalizer: TextNormalizer;
  readonly logger: Logger;
  readonly now?: () => Date;
  /**
   * The admin socket, claimed before the store was opened and closed after it (by the caller):
   * the server answers it while it runs, and `busy` once stopping. Without one, no administration.
   */
  readonly adminSocket?: AdminSocket;
  /** What the server counts; nothing by default (--metrics-port makes a Prometheus one). */
  readonly metrics?: ServerMetrics;
  /** Reads the free space of the database's folder for --min-free-disk-mb; statfs by default. */
  readonly freeDiskBytes?: FreeDiskBytes;
  readonly diskCheckIntervalMs?: number;
}

export class ParleyServer {
  readonly #listener: net.Server;
  readonly #log: Logger;
  readonly #settings: ServerSettings;
  readonly #services: Services;
  readonly #dispatcher: Dispatcher;
  readonly #normalization: NormalizationStage;
  readonly #sweeper: ExpirySweeper;
  /** Undefined when there is no floor: PostgreSQL (its disk is not ours to see), or a floor of 0. */
  readonly #diskGuard: DiskSpaceGuard | undefined;
  readonly #connections = new Set<Connection>();
  readonly #connectionsByAddress = new Map<string, number>();
  /** Sockets holding a slot, handshakes included. */
  #admitted = 0;
  /** How each admitted socket gives its slot back, by socketKey(). */
  readonly #releases = new Map<string, () => void>();
  readonly #housekeeping: NodeJS.Timeout;
  #nextConnectionId = 1;
  #stopping: Promise<void> | undefined;
  #adminSocket: AdminSocket | undefined;

  private constructor(options: ServerOptions) {
    const { settings, store, logger } = options;
    const now = options.now ?? (() => new Date());
    const metrics = options.metrics ?? NO_METRICS;
    this.#log = logger;
    this.#settings = settings;
    const sessions = new SessionRegistry(
      store,
      settings.maxInFlight,
      settings.maxDevices,
      logger,
      now,
      options.metrics === undefined ? undefined : (count) => metrics.eventsDelivered(count),
    );
    const normalizer =
      options.metrics === undefined ? options.normalizer : countedNormalizer(options.normalizer, metrics);
    this.#normalization = new NormalizationStage(store, normalizer, logger, now);
    const intake = new MessageIntake(store, normalizer, this.#normalization, logger, settings.intakeWindow);
    // Connections that stopped reading while the intake was full read again.
    intake.onDecongested(() => {
      for (const connection of this.#connections) connection.updateReading();
    });
    this.#diskGuard =
      settings.minFreeDiskBytes > 0 && !isPostgresUrl(settings.dbPath)
        ? new DiskSpaceGuard(
            path.dirname(path.resolve(settings.dbPath)),
            settings.minFreeDiskBytes,
            options.freeDiskBytes ?? statfsFreeBytes,
            logger,
            options.diskCheckIntervalMs ?? DISK_CHECK_INTERVAL_MS,
          )
        : undefined;
    const limits: Limits = {
      maxTextChars: settings.maxTextChars,
      maxFrameBytes: settings.maxFrameBytes,
      maxPending: settings.maxPending,
      maxInFlight: settings.maxInFlight,
      idleTimeoutMs: settings.idleTimeoutMs,
      maxDevices: settings.maxDevices,
      maxRoomMembers: settings.maxRoomMembers,
    };
    this.#services = {
      settings,
      limits,
      serverName: SERVER_NAME,
      store,
      passwords: new PasswordChecker(settings.scryptCost),
      sendLimiter: new RateLimiter(settings.sendRatePerSec, settings.sendBurst),
      registrationLimiter: new RateLimiter(
        settings.registrationsPerAddressPerHour / 3600,
        settings.registrationsPerAddressPerHour,
        MAX_REGISTERING_ADDRESSES,
      ),
      loginThrottle: new LoginThrottle(
        settings.loginFailuresPerUserPerMin,
        settings.loginFailuresPerAddressPerMin,
      ),
      sessions,
      intake,
      metrics,
      diskSpace: this.#diskGuard ?? NO_DISK_FLOOR,
      now,
    };
    if (options.metrics !== undefined) {
      store.onCommits((commits) => metrics.storeCommitted(commits));
      metrics.readGaugesFrom(() => ({
        connections: this.#connections.size,
        sessions: sessions.sessionCount,
        inFlightEvents: sessions.inFlightEvents(),
        intakeMessages: intake.inFlight,
      }));
    }
    this.#dispatcher = new Dispatcher(COMMANDS, this.#services);
    this.#sweeper = new ExpirySweeper(store, settings.messageTtlMs, settings.retentionMs, logger, now);
    this.#listener = ParleyServer.#createListener(
      settings,
      (socket) => this.#admit(socket),
      (socket) => this.#accept(socket),
      logger,
    );
    // Deadlines are checked at a quarter of the shortest, so none is overshot by more than that.
    const intervalMs = Math.min(
      MAX_HOUSEKEEPING_INTERVAL_MS,
      settings.idleTimeoutMs / 4,
      settings.drainTimeoutMs / 4,
      settings.loginTimeoutMs / 4,
    );
    let lastPruneMs = Date.now();
    this.#housekeeping = setInterval(() => {
      const nowMs = Date.now();
      for (const connection of this.#connections) connection.checkDeadlines(nowMs);
      if (nowMs - lastPruneMs > LIMITER_PRUNE_INTERVAL_MS) {
        lastPruneMs = nowMs;
        this.#services.sendLimiter.prune(nowMs);
        this.#services.loginThrottle.prune(nowMs);
        this.#services.registrationLimiter.prune(nowMs);
      }
    }, intervalMs);
    this.#housekeeping.unref();
  }

  static #createListener(
    settings: ServerSettings,
    admit: (socket: net.Socket) => boolean,
    accept: (socket: net.Socket) => void,
    log: Logger,
  ): net.Server {
    // allowHalfOpen: a client may send its requests and shut its side; it still gets the answers.
    const options = { allowHalfOpen: true, noDelay: true };
    let listener: net.Server;
    if (settings.tlsCert !== undefined && settings.tlsKey !== undefined) {
      const tlsServer = tls.createServer({
        ...options,
        ...TLS_PROFILE,
        cert: readPem(settings.tlsCert, "certificate"),
        key: readPem(settings.tlsKey, "key"),
        // A client that stalls in the handshake is bounded like one that never logs in.
        handshakeTimeout: settings.loginTimeoutMs,
      });
      // Counted at the TCP connection, not after the handshake: sockets stalled in the handshake
      // hold resources too, and must not escape the limits.
      tlsServer.on("connection", (socket: net.Socket) => {
        if (!admit(socket)) socket.destroy();
      });
      tlsServer.on("secureConnection", accept);
      // Node only reports a failed or timed-out handshake; the socket stays open unless destroyed.
      tlsServer.on("tlsClientError", (error, socket) => {
        log.debug("TLS handshake failed", { error: error.message });
        socket.destroy();
      });
      listener = tlsServer;
    } else {
      listener = net.createServer(options, (socket) => {
        if (admit(socket)) accept(socket);
      });
    }
    listener.maxConnections = settings.maxConnections + REFUSAL_HEADROOM;
    return listener;
  }

  /** Starts listening, and answering the admin socket; resolves once the port is bound. */
  static async start(options: ServerOptions): Promise<ParleyServer> {
    await options.store.resetPresence();
    const server = new ParleyServer(options);
    await server.#services.sessions.loadClusterPresence();
    try {
      // Known before the first request.
      await server.#diskGuard?.check();
      await new Promise<void>((resolve, reject) => {
        server.#listener.once("error", reject);
        server.#listener.listen(options.settings.port, options.settings.host, () => {
          server.#listener.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      clearInterval(server.#housekeeping);
      server.#sweeper.stop();
      server.#diskGuard?.stop();
      throw error;
    }
    const admin = server.#adminContext();
    server.#adminSocket = options.adminSocket;
    server.#adminSocket?.serve((request) =>
      server.#stopping === undefined
        ? runAdminRequest(admin, request)
        : Promise.resolve({ ok: false, code: "busy", message: "the server is shutting down; try again" }),
    );
    // Messages stored but not normalized before a restart are taken up again.
    server.#normalization.wake();
    return server;
  }

  // Administrators act through the server while it runs, so that it ends a removed account's
  // sessions at once and its store stays the database's only writer.
  #adminContext(): AdminContext {
    const sessions = this.#services.sessions;
    return {
      store: this.#services.store,
      passwords: this.#services.passwords,
      log: this.#log,
      now: this.#services.now,
      sessions: {
        isOnline: (userId) => sessions.isOnline(userId),
        endSessionsOf: (userId, reason) => {
          const ended = sessions.sessionsOf(userId);
          for (const session of ended) session.connection.close(reason, { ev: "session_replaced" });
          return ended.length;
        },
      },
    };
  }

  get port(): number {
    return (this.#listener.address() as net.AddressInfo).port;
  }

  get host(): string {
    return (this.#listener.address() as net.AddressInfo).address;
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
    this.#diskGuard?.stop();
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

  /**
   * Takes a connection's slot against --max-connections and --max-connections-per-address, from
   * its first TCP byte until its socket or its Connection closes; false (and the socket refused)
   * when there is none. A plain-text client is told why; a TLS client cannot be, before its handshake.
   */
  #admit(socket: net.Socket): boolean {
    if (this.#stopping !== undefined) {
      socket.destroy();
      return false;
    }
    const address = socket.remoteAddress ?? "unknown";
    const fromAddress = this.#connectionsByAddress.get(address) ?? 0;
    let refusal: [ErrorCode, string] | undefined;
    if (this.#admitted >= this.#settings.maxConnections) {
      refusal = ["server_full", "the server has too many connections; try again later"];
    } else if (fromAddress >= this.#settings.maxConnectionsPerAddress) {
      refusal = ["too_many_connections", "too many connections from your address"];
    }
    if (refusal !== undefined) {
      if (this.#settings.tlsCert !== undefined) {
        this.#log.warn("connection refused", { address: socket.remoteAddress, code: refusal[0] });
      } else {
        this.#refuse(socket, ...refusal);
      }
      return false;
    }
    this.#admitted++;
    this.#connectionsByAddress.set(address, fromAddress + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#admitted--;
      const left = (this.#connectionsByAddress.get(address) ?? 1) - 1;
      if (left === 0) this.#connectionsByAddress.delete(address);
      else this.#connectionsByAddress.set(address, left);
    };
    const key = socketKey(socket);
    this.#releases.set(key, release);
    socket.once("close", () => {
      this.#releases.delete(key);
      release();
    });
    return true;
  }

  #accept(socket: net.Socket): void {
    if (this.#stopping !== undefined) {
      socket.destroy();
      return;
    }
    // Under TLS the slot was taken by the TCP socket beneath this one, which has the same key.
    const release = this.#releases.get(socketKey(socket)) ?? (() => {});
    this.#services.metrics.connectionAccepted();
    const id = this.#nextConnectionId++;
    const log = this.#log.child({ conn: id });
    const connection = new Connection(id, socket, this.#settings, this.#dispatcher, log);
    this.#connections.add(connection);
    log.info("connection accepted", { address: socket.remoteAddress, port: socket.remotePort });
    connection.onClose((reason) => {
      this.#connections.delete(connection);
      // The slot frees when the connection is done, not when its socket has flushed.
      release();
      const session = connection.session;
      log.info("connection closed", { reason, user: session?.user.name });
      if (session !== undefined) void this.#services.sessions.detach(session);
    });
  }

  #refuse(socket: net.Socket, code: ErrorCode, message: string): void {
    this.#log.warn("connection refused", { address: socket.remoteAddress, code });
    socket.on("error", () => {});
    socket.end(encodeFrame({ ev: "error", code, message }));
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

/** The same for a TLS socket and the TCP socket beneath it, and unique among open connections. */
function socketKey(socket: net.Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read the TLS ${what} ${file}: ${(error as Error).message}`);
  }
}
