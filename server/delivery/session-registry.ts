// Who is logged in where: one session per (user, device), presence per user, and the hand-over
// to sessions of the events each commit adds to their streams (the one place that does it).

import type { Logger } from "../logger.js";
import { encodeFrame } from "../protocol/frame-encoder.js";
import type { InboxEvent, PresenceEvent } from "../protocol/messages.js";
import type { ClusterEvent, DeviceRecord, LiveEvent, Store } from "../store/store.js";
import { Session, type SessionUser } from "./session.js";
import type { SessionConnection } from "./session-connection.js";

export class SessionRegistry {
  readonly #store: Store;
  readonly #maxInFlight: number;
  readonly #maxDevices: number;
  readonly #log: Logger;
  readonly #byDevice = new Map<number, Session>();
  readonly #byUser = new Map<number, Set<Session>>();
  /**
   * Users online on some node, as the store last told (several nodes on one database): empty
   * for a single node. A user is online when they have a session here or are in this set.
   */
  readonly #clusterOnline = new Set<number>();
  /**
   * Users this node last told its sessions were online. A log-out's own commit and the store's
   * notification of it race (several nodes), and either may tell first; this keeps the other
   * from telling the same change twice.
   */
  readonly #toldOnline = new Set<number>();
  readonly #now: () => Date;
  readonly #pendingPresence: Array<{ readonly userId: number; readonly line: string }> = [];
  readonly #onPushed: ((count: number) => void) | undefined;

  /** `onPushed` is told how many events each push hands to a session (for metrics). */
  constructor(
    store: Store,
    maxInFlight: number,
    maxDevices: number,
    log: Logger,
    now: () => Date,
    onPushed?: (count: number) => void,
  ) {
    this.#onPushed = onPushed;
    this.#store = store;
    this.#maxInFlight = maxInFlight;
    this.#maxDevices = maxDevices;
    this.#log = log;
    this.#now = now;
    store.onNewEvents((news) => this.#deliver(news));
    store.onCluster((event) => this.#onCluster(event));
  }

  /** Learns who is online on other nodes (at start-up; nothing for a single node). */
  async loadClusterPresence(): Promise<void> {
    for (const userId of await this.#store.onlineUserIds()) {
      this.#clusterOnline.add(userId);
      this.#toldOnline.add(userId);
    }
  }

  /** Online on this node or, with several nodes on one database, on any. */
  isOnline(userId: number): boolean {
    return this.#byUser.has(userId) || this.#clusterOnline.has(userId);
  }

  /** Whether the device has a session now (the store's flag may lag a log-out by a commit). */
  isDeviceOnline(deviceId: number): boolean {
    return this.#byDevice.has(deviceId);
  }

  /** Sessions now, one per logged-in device. */
  get sessionCount(): number {
    return this.#byDevice.size;
  }

  /** Events pushed and not acknowledged yet, summed over every session. */
  inFlightEvents(): number {
    let sum = 0;
    for (const session of this.#byDevice.values()) sum += session.unacknowledged;
    return sum;
  }

  /** The user's sessions, one per logged-in device. */
  sessionsOf(userId: number): readonly Session[] {
    return [...(this.#byUser.get(userId) ?? [])];
  }

  /**
   * Logs the device in and makes `connection` its session. An earlier session of the same device,
   * and those of devices forgotten to make room for it, are told they were replaced and closed;
   * their unacknowledged events stay for their device. Pushing starts with `session.start()`.
   */
  async attach(user: SessionUser, deviceName: string, connection: SessionConnection): Promise<Session> {
    const at = this.#now().toISOString();
    const { device, forgotten } = await this.#store.attachDevice(user.id, deviceName, at, this.#maxDevices);
    const wasHere = this.#byUser.has(user.id);
    const wasOnline = this.isOnline(user.id);
    for (const gone of forgotten) this.#replace(gone, connection);
    this.#replace(device, connection);
    const session = new Session(
      this.#store,
      user,
      device,
      connection,
      this.#maxInFlight,
      this.#now,
      this.#onPushed,
    );
    this.#byDevice.set(device.id, session);
    const sessions = this.#byUser.get(user.id);
    if (sessions === undefined) this.#byUser.set(user.id, new Set([session]));
    else sessions.add(session);
    if (!wasOnline) this.#broadcastPresence(user, true, at);
    if (!wasHere) await this.#recordPresence(user, true, at);
    return session;
  }

  /** Ends the session of a device that was forgotten, if it has one. */
  endDevice(device: DeviceRecord, by: SessionConnection): void {
    this.#replace(device, by);
  }

  /** Ends a session; the user goes offline with their last one. */
  async detach(session: Session): Promise<void> {
    if (this.#byDevice.get(session.device.id) !== session) return;
    this.#remove(session);
    const at = this.#now().toISOString();
    try {
      await this.#store.detachDevice(session.device.id, at);
    } catch (error) {
      this.#log.warn("could not record the device's log-out", { error: String(error) });
    }
    if (this.#byUser.has(session.user.id)) return;
    // Online on another node still, or (its store tells every node) about to be told offline.
    if (!this.#clusterOnline.has(session.user.id)) this.#broadcastPresence(session.user, false, at);
    await this.#recordPresence(session.user, false, at);
  }

  // Each session gets the events of its user's stream that a commit added, in seq order, at once.
  #deliver(news: readonly LiveEvent[]): void {
    const offers = new Map<Session, InboxEvent[]>();
    for (const { event, userIds, skipDeviceId } of news) {
      for (const userId of userIds) {
        const sessions = this.#byUser.get(userId);
        if (sessions === undefined) continue;
        for (const session of sessions) {
          if (session.device.id === skipDeviceId) continue;
          const events = offers.get(session);
          if (events === undefined) offers.set(session, [event]);
          else events.push(event);
        }
      }
    }
    for (const [session, events] of offers) session.offer(events);
  }

  // Another node's log-in, log-out, reaping of a dead node, or session take-over.
  #onCluster(event: ClusterEvent): void {
    if (event.kind === "replaced") {
      const session = this.#byDevice.get(event.deviceId);
      if (session === undefined) return;
      this.#remove(session);
      session.connection.log.info("session replaced", { by: "another node" });
      session.connection.close("session replaced", { ev: "session_replaced" });
      return;
    }
    if (event.kind === "removed") {
      for (const session of this.sessionsOf(event.userId)) {
        this.#remove(session);
        session.connection.close("account removed", { ev: "session_replaced" });
      }
      return;
    }
    const before = this.isOnline(event.userId);
    if (event.online) this.#clusterOnline.add(event.userId);
    else this.#clusterOnline.delete(event.userId);
    const after = this.isOnline(event.userId);
    if (before !== after) this.#broadcastPresence({ id: event.userId, name: event.user }, after, event.at);
  }

  #replace(device: DeviceRecord, by: SessionConnection): void {
    const previous = this.#byDevice.get(device.id);
    if (previous === undefined) return;
    this.#remove(previous);
    previous.connection.log.info("session replaced", { by: by.id });
    previous.connection.close("session replaced", { ev: "session_replaced" });
  }

  #remove(session: Session): void {
    session.stop();
    this.#byDevice.delete(session.device.id);
    const sessions = this.#byUser.get(session.user.id);
    sessions?.delete(session);
    if (sessions?.size === 0) this.#byUser.delete(session.user.id);
  }

  // The online flag and last-seen time are for operators; a log-in must not fail because the
  // disk is full, so a failure to record them is logged, not thrown.
  async #recordPresence(user: SessionUser, online: boolean, at: string): Promise<void> {
    try {
      await this.#store.recordPresence(user.id, online, at);
    } catch (error) {
      this.#log.warn("could not record presence", { user: user.name, online, error: String(error) });
    }
  }

  // Presence goes to every other logged-in user, so a burst of log-ins costs O(n²) frames.
  // The changes of one event-loop turn are encoded once and written to each session in one
  // write; a user's own change is left out of their copy.
  #broadcastPresence(user: SessionUser, online: boolean, at: string): void {
    if (this.#toldOnline.has(user.id) === online) return;
    if (online) this.#toldOnline.add(user.id);
    else this.#toldOnline.delete(user.id);
    const event: PresenceEvent = { ev: "presence", user: user.name, online, at };
    this.#pendingPresence.push({ userId: user.id, line: encodeFrame(event) });
    if (this.#pendingPresence.length === 1) setImmediate(() => this.#flushPresence());
  }

  #flushPresence(): void {
    const changes = this.#pendingPresence.splice(0);
    const all = changes.map((change) => change.line).join("");
    const changed = new Set(changes.map((change) => change.userId));
    for (const session of this.#byDevice.values()) {
      if (!changed.has(session.user.id)) {
        session.connection.sendEncoded(all);
        continue;
      }
      const others = changes.filter((change) => change.userId !== session.user.id);
      if (others.length > 0) session.connection.sendEncoded(others.map((change) => change.line).join(""));
    }
  }
}
