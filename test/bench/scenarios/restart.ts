// Scenario 7: server start-up time on a large database. The server creates the schema on an
// empty file; the bench then fills it directly with better-sqlite3 (multi-row inserts in big
// transactions, consistent with migrations/2026_11_25_001_initial.ts): users, messages mostly
// delivered, a tenth still waiting in their recipients' inboxes, and some receipts waiting.
// Start-up is timed from spawn to the "listening" line, median of several starts.

import { scryptSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { BENCH_PASSWORD, padText } from "../bench-client.js";
import type { BenchContext } from "../bench-context.js";
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

export async function restartScenario(ctx: BenchContext): Promise<void> {
  const size = ctx.sizes.restart;
  const dbPath = path.join(ctx.folder(S), "parley.db");
  // The first start creates the schema.
  await ctx.withServer(S, { dbPath, profile: false }, async () => {});
  const startups = async () => {
    const times: number[] = [];
    for (let i = 0; i < size.runs; i++) {
      await ctx.withServer(S, { dbPath, profile: false }, async (server) => {
        times.push(server.startupMs);
      });
    }
    return median(times);
  };
  const nodeStart = ctx.bound("node start-up", ctx.limits.nodeStartMs, "ms");
  ctx.row(S, `server start-up, empty database (median of ${size.runs})`, await startups(), "ms", {
    bound: nodeStart,
  });

  const fillSeconds = fillDatabase(dbPath, size.users, size.messages);
  ctx.note(
    `restart: filled the database with ${size.messages} messages for ${size.users} users in ${fillSeconds.toFixed(1)} s ` +
      `(${100 / WAITING_EVERY}% waiting in inboxes, receipts for ${100 / RECEIPT_EVERY}% of the delivered)`,
  );
  ctx.row(S, `database size with ${size.messages} messages`, fs.statSync(dbPath).size / MIB, "MiB");
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
