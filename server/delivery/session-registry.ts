// Who is logged in where: one active session per user, its inbox pusher, presence.

import type { Logger } from "../logger.js";
import { encodeFrame } from "../protocol/frame-encoder.js";
import type { PresenceEvent } from "../protocol/messages.js";
import type { Store } from "../store/store.js";
import { AckRecorder } from "./ack-recorder.js";
import { InboxPusher } from "./inbox-pusher.js";
import type { SessionConnection } from "./session-connection.js";

export interface SessionUser {
  readonly id: number;
  readonly name: string;
}

export interface ActiveSession {
  readonly user: SessionUser;
  readonly connection: SessionConnection;
  readonly pusher: InboxPusher;
  readonly acks: AckRecorder;
}

export class SessionRegistry {
  readonly #store: Store;
  readonly #maxInFlight: number;
  readonly #log: Logger;
  readonly #byUser = new Map<number, ActiveSession>();
  readonly #now: () => Date;
  readonly #pendingPresence: Array<{ readonly userId: number; readonly line: string }> = [];

  constructor(store: Store, maxInFlight: number, log: Logger, now: () => Date) {
    this.#store = store;
    this.#maxInFlight = maxInFlight;
    this.#log = log;
    this.#now = now;
  }

  isOnline(userId: number): boolean {
    return this.#byUser.has(userId);
  }

  get(userId: number): ActiveSession | undefined {
    return this.#byUser.get(userId);
  }

  /**
   * Makes `connection` the user's session. An earlier session of the same user is told it was
   * replaced and closed; its unacknowledged events stay in the inbox for the new one.
   * Pushing starts only when the caller calls `pusher.start()`, after the login response.
   */
  async attach(user: SessionUser, connection: SessionConnection): Promise<ActiveSession> {
    const previous = this.#byUser.get(user.id);
    const session: ActiveSession = {
      user,
      connection,
      pusher: new InboxPusher(this.#store, user.id, connection, this.#maxInFlight),
      acks: new AckRecorder(this.#store, user.id, (notified) => this.wake(notified.userIds), this.#now),
    };
    this.#byUser.set(user.id, session);
    if (previous !== undefined) {
      previous.pusher.stop();
      previous.connection.log.info("session replaced", { by: connection.id });
      previous.connection.close("session replaced", { ev: "session_replaced" });
      return session;
    }
    const at = this.#now().toISOString();
    this.#broadcastPresence(user, true, at);
    await this.#recordPresence(user, true, at);
    return session;
  }

  /** Ends the user's session if `connection` still holds it: the user goes offline. */
  async detach(user: SessionUser, connection: SessionConnection): Promise<void> {
    const session = this.#byUser.get(user.id);
    if (session === undefined || session.connection !== connection) return;
    session.pusher.stop();
    this.#byUser.delete(user.id);
    const at = this.#now().toISOString();
    this.#broadcastPresence(user, false, at);
    await this.#recordPresence(user, false, at);
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

  /** Tells the sessions of these users that their inboxes have new events. */
  wake(userIds: readonly number[]): void {
    for (const userId of userIds) this.#byUser.get(userId)?.pusher.wake();
  }

  // Presence goes to every other logged-in user, so a burst of log-ins costs O(n²) frames.
  // The changes of one event-loop turn are encoded once and written to each session in one
  // write; a user's own change is left out of their copy.
  #broadcastPresence(user: SessionUser, online: boolean, at: string): void {
    const event: PresenceEvent = { ev: "presence", user: user.name, online, at };
    this.#pendingPresence.push({ userId: user.id, line: encodeFrame(event) });
    if (this.#pendingPresence.length === 1) setImmediate(() => this.#flushPresence());
  }

  #flushPresence(): void {
    const changes = this.#pendingPresence.splice(0);
    const all = changes.map((change) => change.line).join("");
    const changed = new Set(changes.map((change) => change.userId));
    for (const session of this.#byUser.values()) {
      if (!changed.has(session.user.id)) {
        session.connection.sendEncoded(all);
        continue;
      }
      const others = changes.filter((change) => change.userId !== session.user.id);
      if (others.length > 0) session.connection.sendEncoded(others.map((change) => change.line).join(""));
    }
  }
}
