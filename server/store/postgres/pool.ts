// The connection pool every PostgreSQL store of a process reads and writes through.

import pg from "pg";
import type { StoreLogger } from "../sqlite/write-queue.js";

/**
 * Connections per node: one carries the group-committed writes (a node writes one batch at a
 * time), the others serve reads, which never wait on a write. max_connections (100 by default)
 * bounds nodes × this.
 */
export const DEFAULT_POOL_SIZE = 10;

const INT8_OID = 20;

/** Ids, seqs and counts are BIGINT; every one of them stays far below 2^53. */
function parseInt8(text: string): number {
  return Number(text);
}

export function openPool(url: string, size: number, logger?: StoreLogger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: size,
    // A database that is down fails a request within this rather than queueing it for ever.
    connectionTimeoutMillis: 5000,
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection that the server closes (a restart) is reported here; without a handler
  // it would crash the process. The pool opens a new one for the next request.
  pool.on("error", (error) =>
    logger?.error("store: an idle database connection failed", { error: error.message }),
  );
  // A connection checked out of the pool (a batch's transaction) has no listener of the pool's:
  // its failure, emitted once or twice ("ECONNRESET", then "terminated unexpectedly"), would
  // crash the process. The query it was running rejects, and its caller reports it.
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}
