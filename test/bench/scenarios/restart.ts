// Scenario 7: server start-up time on a large database. The server creates the schema on an
// empty database; the bench then fills it directly — SQLite with better-sqlite3 (multi-row
// inserts in big transactions, consistent with migrations/2026_11_25_001_initial.ts),
// PostgreSQL with INSERT … SELECT over generate_series (consistent with
// migrations/postgres/2026_12_01_001_initial.ts) — with the same rows: users, messages mostly
// delivered, a tenth still waiting in their recipients' inboxes, and some receipts waiting.
// Start-up is timed from spawn to the "listening" line, median of several starts.

import { scryptSync } from "node:crypto";
import fs from "node:fs";
import Database from "better-sqlite3";
import { BENCH_PASSWORD, padText } from "../bench-client.js";
import type { BenchContext } from "../bench-context.js";
import type { BenchDatabase } from "../bench-database.js";
import { MIB, median } from "../stats.js";

const S = "restart";
const ROWS_PER_INSERT = 100;
const ROWS_PER_TRANSACTION = 50_000;
const SPREAD_MS = 10 * 24 * 3600 * 1000;
/** One message in this many is still waiting for its recipient. */
const WAITING_EVERY = 10;
/** One delivered message in this many has its receipt still waiting for its sender. */
const RECEIPT_EVERY = 20;

function fakeHash(): string {
  const salt = Buffer.from("bench-salt-12345");
  const key = scryptSync(BENCH_PASSWORD, salt, 32, { N: 1024, r: 8, p: 1 });
  return ["scrypt", 1024, 8, 1, salt.toString("base64"), key.toString("base64")].join("$");
}

function multiInsert(db: Database.Database, table: string, columns: readonly string[]): Database.Statement {
  const row = `(${columns.map(() => "?").join(", ")})`;
  const rows = Array.from({ length: ROWS_PER_INSERT }, () => row).join(", ");
  return db.prepare(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${rows}`);
}

/** Fills a migrated, empty database; returns the seconds it took. */
export function fillDatabase(dbPath: string, users: number, messages: number): number {
  const started = performance.now();
  const db = new Database(dbPath);
  try {
    db.pragma("synchronous = OFF");
    // Consistent by construction; the multi-row inserts of events may run ahead of their messages.
    db.pragma("foreign_keys = OFF");
    db.pragma("cache_size = -262144");
    const nowMs = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const hash = fakeHash();

    const insertUser = db.prepare(
      "INSERT INTO users (id, name, display_name, password_hash, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    db.transaction(() => {
      for (let u = 1; u <= users; u++)
        insertUser.run(u, `user${u}`, `User ${u}`, hash, iso(nowMs - SPREAD_MS - 1000), iso(nowMs));
    })();

    const messageColumns = [
      "id",
      "sender_id",
      "recipient_id",
      "cid",
      "raw_text",
      "text",
      "status",
      "created_at",
      "released_at",
      "delivered_at",
    ];
    const eventColumns = ["user_id", "seq", "kind", "message_id", "receipt_status", "created_at"];
    let seq = 0;
    const insertMessages = multiInsert(db, "messages", messageColumns);
    const insertEvents = multiInsert(db, "inbox_events", eventColumns);
    let messageRows: unknown[] = [];
    let eventRows: unknown[] = [];
    const flushMessages = () => {
      insertMessages.run(messageRows);
      messageRows = [];
    };
    const flushEvents = () => {
      insertEvents.run(eventRows);
      eventRows = [];
    };
    const insertOne = (table: string, columns: readonly string[], values: unknown[]) => {
      db.prepare(
        `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      ).run(values);
    };

    for (let first = 1; first <= messages; first += ROWS_PER_TRANSACTION) {
      const last = Math.min(messages, first + ROWS_PER_TRANSACTION - 1);
      db.transaction(() => {
        for (let id = first; id <= last; id++) {
          const sender = ((id - 1) % users) + 1;
          const recipient = ((id * 7 + 3) % users) + 1;
          const at = iso(nowMs - SPREAD_MS + Math.floor((id / messages) * (SPREAD_MS - 60_000)));
          const text = padText(`stored message ${id}`, 100);
          const waiting = id % WAITING_EVERY === 0;
          messageRows.push(
            id,
            sender,
            recipient,
            `c${id}`,
            text,
            text,
            waiting ? "sent" : "delivered",
            at,
            at,
            waiting ? null : at,
          );
          if (messageRows.length === ROWS_PER_INSERT * messageColumns.length) flushMessages();
          if (waiting) {
            eventRows.push(recipient, ++seq, "message", id, null, at);
          } else if (id % RECEIPT_EVERY === 1) {
            eventRows.push(sender, ++seq, "receipt", id, "delivered", at);
          }
          if (eventRows.length === ROWS_PER_INSERT * eventColumns.length) flushEvents();
        }
        // Rows short of a full multi-row insert go in one at a time.
        for (let i = 0; i < messageRows.length; i += messageColumns.length) {
          insertOne("messages", messageColumns, messageRows.slice(i, i + messageColumns.length));
        }
        messageRows = [];
      })();
    }
    db.transaction(() => {
      for (let i = 0; i < eventRows.length; i += eventColumns.length) {
        insertOne("inbox_events", eventColumns, eventRows.slice(i, i + eventColumns.length));
      }
      eventRows = [];
      db.prepare<[number]>("UPDATE store_meta SET last_seq = ?, expiry_cursor = 0").run(seq);
      // None of these rows waits for the normalizer: say so, as the server would have, or its
      // first start walks every row looking for pending ones.
      db.prepare("UPDATE normalization_progress SET last_message_id = (SELECT max(id) FROM messages)").run();
    })();
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return (performance.now() - started) / 1000;
}

/** The same rows as fillDatabase, in PostgreSQL; returns the seconds it took. */
export async function fillPostgres(db: BenchDatabase, users: number, messages: number): Promise<number> {
  const started = performance.now();
  const nowMs = Date.now();
  // An ISO-8601 UTC text, as the server writes its timestamps, from epoch milliseconds.
  const iso = (ms: string) =>
    `to_char(to_timestamp((${ms}) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const statements = [
    `INSERT INTO users (id, name, display_name, password_hash, created_at, last_seen_at) OVERRIDING SYSTEM VALUE
     SELECT u, 'user' || u, 'User ' || u, $1, ${iso(`${nowMs - SPREAD_MS - 1000}`)}, ${iso(`${nowMs}`)}
     FROM generate_series(1, ${users}) u`,
    `INSERT INTO messages (id, sender_id, recipient_id, cid, raw_text, text, status, created_at, released_at, delivered_at)
     OVERRIDING SYSTEM VALUE
     SELECT id, ((id - 1) % ${users}) + 1, ((id * 7 + 3) % ${users}) + 1, 'c' || id, t, t,
       CASE WHEN id % ${WAITING_EVERY} = 0 THEN 'sent' ELSE 'delivered' END, at, at,
       CASE WHEN id % ${WAITING_EVERY} = 0 THEN NULL ELSE at END
     FROM (SELECT id, rpad('stored message ' || id || ' ', 100, 'x') AS t,
             ${iso(`${nowMs - SPREAD_MS} + floor(id::float8 / ${messages} * ${SPREAD_MS - 60_000})`)} AS at
           FROM generate_series(1, ${messages}) id) m`,
    `INSERT INTO inbox_events (user_id, seq, kind, message_id, receipt_status, created_at)
     SELECT CASE WHEN waiting THEN recipient_id ELSE sender_id END, row_number() OVER (ORDER BY id),
       CASE WHEN waiting THEN 'message' ELSE 'receipt' END, id,
       CASE WHEN waiting THEN NULL ELSE 'delivered' END, created_at
     FROM (SELECT *, id % ${WAITING_EVERY} = 0 AS waiting FROM messages) m
     WHERE waiting OR id % ${RECEIPT_EVERY} = 1`,
    "UPDATE store_meta SET last_seq = (SELECT count(*) FROM inbox_events), expiry_cursor = 0",
    `UPDATE users u SET undelivered = w.n
     FROM (SELECT recipient_id, count(*) AS n FROM messages WHERE status = 'sent' GROUP BY recipient_id) w
     WHERE w.recipient_id = u.id`,
    // Rows inserted with their ids: the identities go on after them.
    "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
    "SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages))",
    "ANALYZE",
  ];
  for (const statement of statements) {
    await db.query(statement, statement.includes("$1") ? [fakeHash()] : []);
  }
  return (performance.now() - started) / 1000;
}

export async function restartScenario(ctx: BenchContext): Promise<void> {
  await ctx.withDatabase(S, (db) => restartOn(ctx, db));
}

async function restartOn(ctx: BenchContext, db: BenchDatabase): Promise<void> {
  const size = ctx.sizes.restart;
  // The first start creates the schema.
  await ctx.withServer(S, { db, profile: false }, async () => {});
  const startups = async () => {
    const times: number[] = [];
    for (let i = 0; i < size.runs; i++) {
      await ctx.withServer(S, { db, profile: false }, async (server) => {
        times.push(server.startupMs);
      });
    }
    return median(times);
  };
  const nodeStart = ctx.bound("node start-up", ctx.limits.nodeStartMs, "ms");
  ctx.row(S, `server start-up, empty database (median of ${size.runs})`, await startups(), "ms", {
    bound: nodeStart,
  });

  const fillSeconds =
    db.backend === "sqlite"
      ? fillDatabase(db.location, size.users, size.messages)
      : await fillPostgres(db, size.users, size.messages);
  ctx.note(
    `restart: filled the database with ${size.messages} messages for ${size.users} users in ${fillSeconds.toFixed(1)} s ` +
      `(${100 / WAITING_EVERY}% waiting in inboxes, receipts for ${100 / RECEIPT_EVERY}% of the delivered)`,
  );
  const bytes = db.backend === "sqlite" ? fs.statSync(db.location).size : await db.bytesInUse();
  ctx.row(S, `database size with ${size.messages} messages`, bytes / MIB, "MiB");
  ctx.row(
    S,
    `server start-up with ${size.messages} stored messages (median of ${size.runs})`,
    await startups(),
    "ms",
    {
      bound: nodeStart,
      target: { op: "<=", value: 1000, unit: "ms" },
    },
  );
}
