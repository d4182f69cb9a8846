// Hands every commit's events to the store's listeners in seq order, whichever node committed
// them. Several nodes write to one database; a session must get its stream in seq order, and
// its device's position (an ack) must never pass an event it was not shown.
//
// Writers are serialized by the store_meta lock, so seqs are given in commit order. A node
// remembers up to which seq it has handed events on (seenUpTo). Its own commit's events go out
// at once when they follow seenUpTo; when another node committed in between, that range is read
// from the database first. Other nodes' commits are learned of two ways:
// - LISTEN/NOTIFY on one connection per node: each commit notifies its highest seq (a number,
//   never a text; far below NOTIFY's 8,000-byte limit). NOTIFY takes a global lock at commit,
//   which is why it is once per transaction, not per event; a listener that stalls fills the
//   server's notification queue (8 GB by default), so the listener only records a number.
// - a catch-up read every CATCH_UP_MS: a lost notification (the listener reconnecting, the
//   database restarting) delays events by at most that long and never loses one.
// A listener that lost its connection is opened again at the next tick; onReconnect is then given
// it, for what only a notification carries (presence on the control channel) to be read again.

import pg from "pg";
import type { StoreLogger } from "../sqlite/write-queue.js";
import type { InboxListener, LiveEvent } from "../store.js";
import { toInboxEvent, toRoomInboxEvent } from "../stream-rows.js";
import { CONTROL_CHANNEL } from "./node-membership.js";
import type { InboxRow, RoomEventRow } from "./statements.js";

export const NEWS_CHANNEL = "parley_news";

/** How often a node reads what other nodes committed, whatever it heard. */
export const CATCH_UP_MS = 1000;

const LAST_SEQ = "SELECT last_seq FROM store_meta WHERE id = 1";

const INBOX_RANGE = `SELECT e.user_id, e.skip_device_id, e.seq, e.kind, e.message_id, e.receipt_status, e.up_to,
    e.created_at AS event_at, m.text, m.created_at AS message_at, s.name AS sender, r.name AS recipient,
    coalesce(wu.name, wr.name) AS with_name
  FROM inbox_events e
  LEFT JOIN messages m ON m.id = e.message_id
  LEFT JOIN users s ON s.id = m.sender_id
  LEFT JOIN users r ON r.id = m.recipient_id
  LEFT JOIN users wu ON wu.id = e.with_user_id
  LEFT JOIN rooms wr ON wr.id = e.with_room_id
  WHERE e.seq > $1 AND e.seq <= $2`;

const ROOM_RANGE = `SELECT ro.name AS room, m.sender_device_id,
    ARRAY(SELECT rm.user_id::text FROM room_members rm
          WHERE rm.room_id = re.room_id AND rm.first_seq <= re.seq AND (rm.last_seq IS NULL OR rm.last_seq >= re.seq)
          ORDER BY rm.id) AS user_ids,
    re.seq, re.kind, re.message_id, re.change, re.created_at AS event_at,
    m.text, m.created_at AS message_at, s.name AS sender, u.name AS user_name, b.name AS by_name
  FROM room_events re
  JOIN rooms ro ON ro.id = re.room_id
  LEFT JOIN messages m ON m.id = re.message_id
  LEFT JOIN users s ON s.id = m.sender_id
  LEFT JOIN users u ON u.id = re.user_id
  LEFT JOIN users b ON b.id = re.by_id
  WHERE re.seq > $1 AND re.seq <= $2`;

type InboxRangeRow = InboxRow & { readonly user_id: number; readonly skip_device_id: number | null };
type RoomRangeRow = RoomEventRow & {
  readonly room: string;
  readonly sender_device_id: number | null;
  readonly user_ids: string[];
};

export class NewsFeed {
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #listeners: readonly InboxListener[];
  readonly #logger: StoreLogger | undefined;
  readonly #onControl: (payload: string) => void;
  #seenUpTo: number;
  /** Reads and hand-overs, one after the other, so that events go out in seq order. */
  #chain: Promise<void> = Promise.resolve();
  #listener: pg.Client | undefined;
  /** A connection being opened: ticks while the database is down must not open one each. */
  #connecting: Promise<void> | undefined;
  #lostSince: number | undefined;
  readonly #onReconnect: (listener: pg.Client) => Promise<void>;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    pool: pg.Pool,
    url: string,
    lastSeq: number,
    listeners: readonly InboxListener[],
    logger?: StoreLogger,
    onControl: (payload: string) => void = () => {},
    onReconnect: (listener: pg.Client) => Promise<void> = async () => {},
  ) {
    this.#onControl = onControl;
    this.#onReconnect = onReconnect;
    this.#pool = pool;
    this.#url = url;
    this.#seenUpTo = lastSeq;
    this.#listeners = listeners;
    this.#logger = logger;
  }

  /** Starts listening and the catch-up timer. */
  async start(): Promise<void> {
    await this.#reconnect();
    this.#timer = setInterval(() => this.#tick(), CATCH_UP_MS);
    this.#timer.unref();
  }

  /** This node committed the events of seqs first..last (news holds them, in seq order). */
  committed(first: number, last: number, news: readonly LiveEvent[]): void {
    // At once when nothing was committed in between, as SQLite's store does: before the writes'
    // promises settle. A read in flight then skips what this hands on.
    if (first === this.#seenUpTo + 1) {
      this.#seenUpTo = last;
      this.#hand(news);
      return;
    }
    this.#enqueue(async () => {
      if (first - 1 > this.#seenUpTo) await this.#readUpTo(first - 1);
      this.#handNew(news, last);
    });
  }

  /** Reads whatever other nodes committed since the last hand-over. */
  catchUp(): Promise<void> {
    return this.#enqueue(async () => {
      const last = (await this.#pool.query<{ last_seq: number }>(LAST_SEQ)).rows[0]!.last_seq;
      if (last > this.#seenUpTo) await this.#readUpTo(last);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#chain;
    await this.#listener?.end().catch(() => undefined);
  }

  #enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(job);
    // A failed read (the database down) is retried by the next notification or tick.
    this.#chain = run.catch((error: unknown) => {
      this.#logger?.error("store: could not read other nodes' events", { error: String(error) });
    });
    return this.#chain;
  }

  async #readUpTo(last: number): Promise<void> {
    const range = [this.#seenUpTo, last];
    const [own, rooms] = await Promise.all([
      this.#pool.query<InboxRangeRow>(INBOX_RANGE, range),
      this.#pool.query<RoomRangeRow>(ROOM_RANGE, range),
    ]);
    const news: LiveEvent[] = [
      ...own.rows.map((row) => ({
        event: toInboxEvent(row),
        userIds: [row.user_id],
        skipDeviceId: row.skip_device_id,
      })),
      ...rooms.rows.map((row) => ({
        event: toRoomInboxEvent(row, row.room),
        userIds: row.user_ids.map(Number),
        skipDeviceId: row.kind === "message" ? row.sender_device_id : null,
      })),
    ];
    news.sort((a, b) => a.event.seq - b.event.seq);
    this.#handNew(news, last);
  }

  /** Hands on the events past what was handed on already (while this read or wait went on). */
  #handNew(news: readonly LiveEvent[], last: number): void {
    const seen = this.#seenUpTo;
    if (last <= seen) return;
    this.#seenUpTo = last;
    this.#hand(news.filter((live) => live.event.seq > seen));
  }

  #hand(news: readonly LiveEvent[]): void {
    if (news.length === 0) return;
    for (const listener of this.#listeners) listener(news);
  }

  #tick(): void {
    if (this.#closed) return;
    if (this.#listener === undefined) void this.#reconnect();
    void this.catchUp();
  }

  #reconnect(): Promise<void> {
    this.#connecting ??= this.#listen().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
    });
    const lost = (error?: Error) => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      this.#lostSince = Date.now();
      if (!this.#closed)
        this.#logger?.error("store: the news listener lost its connection", { error: String(error) });
    };
    client.on("error", lost);
    client.on("end", () => lost());
    client.on("notification", (message) => {
      if (message.channel === CONTROL_CHANNEL) {
        if (!this.#closed) this.#onControl(message.payload ?? "");
        return;
      }
      if (Number(message.payload) > this.#seenUpTo) void this.catchUp();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NEWS_CHANNEL}`);
      // Presence changes and sessions taken over by other nodes (node-membership.ts).
      await client.query(`LISTEN ${CONTROL_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      // Once per outage, not at every tick of it.
      if (this.#lostSince === undefined) {
        this.#lostSince = Date.now();
        this.#logger?.error("store: cannot listen for other nodes' events", { error: String(error) });
      }
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    if (this.#lostSince === undefined) return;
    this.#logger?.warn?.("store: listening for other nodes' events again", {
      afterMs: Date.now() - this.#lostSince,
    });
    this.#lostSince = undefined;
    // What was committed while it listened to nothing comes with the catch-up read; what was
    // only notified (presence) is read again, on the listener's own connection: a notification
    // of a commit after that read's snapshot arrives after its result, never before.
    void this.catchUp();
    await this.#onReconnect(client).catch((error: unknown) => {
      this.#logger?.error("store: could not read again what other nodes notified", { error: String(error) });
    });
  }
}
