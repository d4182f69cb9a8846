// The Store the server uses: a SqliteStore in a worker thread of its own (store-worker.ts), so
// that SQLite's work and every commit's fsync leave the event loop that serves the sockets. Calls
// made in one turn of the event loop cross in one message; answers come back the same way, with
// the users each commit gave new events to. Behaviour is the SqliteStore's: it passes the same
// contract suite.

import { Worker } from "node:worker_threads";
import type { HistoryMessage, InboxEvent } from "../../protocol/messages.js";
import {
  type AttachedDevice,
  type ClusterListener,
  type CommitListener,
  type Conversation,
  type DeviceRecord,
  type EnqueuedMessage,
  type InboxListener,
  type NewMessage,
  type NewUser,
  type NormalizedMessage,
  type RetentionBatch,
  type RoomMemberRecord,
  type RoomRecord,
  type Store,
  StoreError,
  type UnnormalizedMessage,
  type UserPage,
  type UserRecord,
} from "../store.js";
import type { CallOutcome, FromWorker, SerializedError, StoreCall, ToWorker } from "./worker-messages.js";
import type { StoreLogger } from "./write-queue.js";

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export class WorkerStore implements Store {
  readonly #worker: Worker;
  readonly #logger: StoreLogger | undefined;
  readonly #listeners: InboxListener[] = [];
  readonly #commitListeners: CommitListener[] = [];
  readonly #pending = new Map<number, Pending>();
  #calls: StoreCall[] = [];
  #nextId = 1;
  #unnormalized: boolean;
  #closing: Promise<void> | undefined;
  #failure: StoreError | undefined;

  private constructor(worker: Worker, unnormalized: boolean, logger: StoreLogger | undefined) {
    this.#worker = worker;
    this.#logger = logger;
    this.#unnormalized = unnormalized;
    worker.on("message", (message: FromWorker) => this.#receive(message));
    worker.on("error", (error) => this.#fail(error));
    worker.on("exit", (code) => {
      if (this.#closing === undefined) this.#fail(new Error(`the store's thread exited with code ${code}`));
    });
  }

  /** Starts the worker and opens the database in it; rejects with its one-line reason. */
  static open(path: string, logger?: StoreLogger): Promise<WorkerStore> {
    const worker = new Worker(new URL("./store-worker.js", import.meta.url), { workerData: { path } });
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if ("log" in message) {
          logger?.error(message.log.msg, message.log.fields);
          return;
        }
        worker.off("message", onMessage);
        worker.off("error", reject);
        if ("ready" in message) resolve(new WorkerStore(worker, message.unnormalized, logger));
        else if ("openFailed" in message) {
          void worker.terminate();
          reject(new Error(message.openFailed));
        }
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
    });
  }

  onNewEvents(listener: InboxListener): void {
    this.#listeners.push(listener);
  }

  onCommits(listener: CommitListener): void {
    this.#commitListeners.push(listener);
  }

  hasUnnormalized(): boolean {
    return this.#unnormalized;
  }

  /** Runs a PRAGMA on the worker's connection: for tests that provoke a full disk or check integrity. */
  pragmaForTests(pragma: string): Promise<unknown> {
    return this.#call("pragmaForTests", [pragma]);
  }

  createUser(input: NewUser): Promise<UserRecord> {
    return this.#call("createUser", [input]);
  }
  findUser(user: string): Promise<UserRecord | undefined> {
    return this.#call("findUser", [user]);
  }
  listUsers(after: string | undefined, limit: number): Promise<UserPage> {
    return this.#call("listUsers", [after, limit]);
  }
  setPasswordHash(userId: number, passwordHash: string): Promise<void> {
    return this.#call("setPasswordHash", [userId, passwordHash]);
  }
  recordPresence(userId: number, online: boolean, at: string): Promise<void> {
    return this.#call("recordPresence", [userId, online, at]);
  }
  resetPresence(): Promise<void> {
    return this.#call("resetPresence", []);
  }
  // One node: no other node to hear from, and the in-memory throttle is the whole truth.
  onCluster(_listener: ClusterListener): void {}
  onlineUserIds(): Promise<number[]> {
    return Promise.resolve([]);
  }
  countLoginAttempt(_key: string): Promise<number> {
    return Promise.resolve(0);
  }
  forgiveLoginAttempt(_key: string): Promise<void> {
    return Promise.resolve();
  }
  deleteUser(userId: number, at: string): Promise<void> {
    return this.#call("deleteUser", [userId, at]);
  }
  attachDevice(userId: number, name: string, at: string, maxDevices: number): Promise<AttachedDevice> {
    return this.#call("attachDevice", [userId, name, at, maxDevices]);
  }
  detachDevice(deviceId: number, at: string): Promise<void> {
    return this.#call("detachDevice", [deviceId, at]);
  }
  listDevices(userId: number): Promise<DeviceRecord[]> {
    return this.#call("listDevices", [userId]);
  }
  forgetDevice(userId: number, name: string): Promise<DeviceRecord> {
    return this.#call("forgetDevice", [userId, name]);
  }
  enqueueMessage(input: NewMessage): Promise<EnqueuedMessage> {
    return this.#call("enqueueMessage", [input]);
  }
  unnormalizedMessages(limit: number): Promise<UnnormalizedMessage[]> {
    return this.#call("unnormalizedMessages", [limit]);
  }
  releaseMessages(items: readonly NormalizedMessage[], at: string): Promise<void> {
    return this.#call("releaseMessages", [items, at]);
  }
  holdMessage(id: number, at: string): Promise<void> {
    return this.#call("holdMessage", [id, at]);
  }
  inboxAfter(userId: number, deviceId: number, afterSeq: number, limit: number): Promise<InboxEvent[]> {
    return this.#call("inboxAfter", [userId, deviceId, afterSeq, limit]);
  }
  inboxCount(userId: number, deviceId: number): Promise<number> {
    return this.#call("inboxCount", [userId, deviceId]);
  }
  acknowledge(userId: number, deviceId: number, upToSeq: number, at: string): Promise<void> {
    return this.#call("acknowledge", [userId, deviceId, upToSeq, at]);
  }
  markRead(
    readerId: number,
    deviceId: number,
    conversation: Conversation,
    upToId: number,
    at: string,
  ): Promise<void> {
    return this.#call("markRead", [readerId, deviceId, conversation, upToId, at]);
  }
  history(
    userId: number,
    conversation: Conversation,
    beforeId: number | undefined,
    limit: number,
  ): Promise<HistoryMessage[]> {
    return this.#call("history", [userId, conversation, beforeId, limit]);
  }
  expireMessages(olderThan: string, at: string): Promise<void> {
    return this.#call("expireMessages", [olderThan, at]);
  }
  deleteDeliveredBefore(cutoff: string, afterId: number, limit: number): Promise<RetentionBatch> {
    return this.#call("deleteDeliveredBefore", [cutoff, afterId, limit]);
  }
  findRoom(name: string): Promise<RoomRecord | undefined> {
    return this.#call("findRoom", [name]);
  }
  isRoomMember(roomId: number, userId: number): Promise<boolean> {
    return this.#call("isRoomMember", [roomId, userId]);
  }
  createRoom(name: string, ownerId: number, memberIds: readonly number[], at: string): Promise<RoomRecord> {
    return this.#call("createRoom", [name, ownerId, memberIds, at]);
  }
  addRoomMember(
    roomId: number,
    userId: number,
    byId: number,
    at: string,
    maxMembers: number,
  ): Promise<boolean> {
    return this.#call("addRoomMember", [roomId, userId, byId, at, maxMembers]);
  }
  removeRoomMember(roomId: number, userId: number, byId: number, at: string): Promise<boolean> {
    return this.#call("removeRoomMember", [roomId, userId, byId, at]);
  }
  listRooms(userId: number): Promise<RoomRecord[]> {
    return this.#call("listRooms", [userId]);
  }
  roomMembers(roomId: number): Promise<RoomMemberRecord[]> {
    return this.#call("roomMembers", [roomId]);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#flush();
    const closed = new Promise<void>((resolve) => this.#worker.once("exit", () => resolve()));
    if (this.#failure === undefined) this.#post({ close: true });
    await closed;
    this.#fail(new Error("the store is closed"));
  }

  #call<T>(method: string, args: readonly unknown[]): Promise<T> {
    if (this.#closing !== undefined)
      return Promise.reject(new StoreError("unavailable", "the store is closed"));
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    // Every call of this turn goes in one message.
    if (this.#calls.length === 0) setImmediate(() => this.#flush());
    this.#calls.push({ id, method, args });
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
  }

  #flush(): void {
    if (this.#calls.length === 0) return;
    const calls = this.#calls;
    this.#calls = [];
    this.#post({ calls });
  }

  #post(message: ToWorker): void {
    this.#worker.postMessage(message);
  }

  #receive(message: FromWorker): void {
    if ("log" in message) {
      this.#logger?.error(message.log.msg, message.log.fields);
      return;
    }
    if (!("outcomes" in message)) return;
    this.#unnormalized = message.unnormalized;
    if (message.commits.length > 0) for (const listener of this.#commitListeners) listener(message.commits);
    // New events first: a session woken now reads after the commits these answers report.
    if (message.events.length > 0) for (const listener of this.#listeners) listener(message.events);
    for (const outcome of message.outcomes) this.#settle(outcome);
  }

  #settle(outcome: CallOutcome): void {
    const pending = this.#pending.get(outcome.id);
    if (pending === undefined) return;
    this.#pending.delete(outcome.id);
    if (outcome.ok) pending.resolve(outcome.value);
    else pending.reject(deserialize(outcome.error));
  }

  #fail(error: Error): void {
    this.#failure ??= new StoreError("unavailable", `the database is unavailable: ${error.message}`, {
      cause: error,
    });
    if (this.#closing === undefined)
      this.#logger?.error("store: its thread failed", { error: error.message });
    for (const pending of this.#pending.values()) pending.reject(this.#failure);
    this.#pending.clear();
  }
}

function deserialize(error: SerializedError): Error {
  if (error.kind === "store") return new StoreError(error.code, error.message);
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}
