// `parley-server migrate-db --from FILE --to postgres://…`: moves a stopped server's SQLite
// database into an empty PostgreSQL database (server/store/migrate-db.ts). One line per table
// copied and a final line on standard output; a refusal or failure is one line on standard
// error and exit 1; a usage error exit 2.

import { parseArgs } from "node:util";
import { MigrateDbError, migrateDb } from "../store/migrate-db.js";
import { describeDb, isPostgresUrl } from "../store/open-store.js";

export const MIGRATE_DB_USAGE = `Usage: parley-server migrate-db --from FILE --to postgres://USER@HOST:PORT/DB

Copies every row of a SQLite database into a PostgreSQL database, ids kept, in one transaction.
The server using FILE must be stopped (FILE is locked meanwhile), FILE must be at the latest
schema (start the server on it once), and the PostgreSQL database must exist and hold no users.

Options:
  --from FILE   the SQLite database file (read only)
  --to URL      the PostgreSQL database (migrated to the latest schema first)
  --help        print this help`;

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

export async function runMigrateDbCommand(
  argv: readonly string[],
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  err: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  let from: string | undefined;
  let to: string | undefined;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { from: { type: "string" }, to: { type: "string" }, help: { type: "boolean" } },
      allowPositionals: false,
      strict: true,
    });
    if (values.help) {
      out(MIGRATE_DB_USAGE);
      return 0;
    }
    from = values.from;
    to = values.to;
    if (from === undefined || from === "") throw new Error("--from FILE is required");
    if (to === undefined || to === "") throw new Error("--to postgres://… is required");
    if (!isPostgresUrl(to)) throw new Error(`--to must be a postgres:// URL, not ${to}`);
  } catch (error) {
    err(`parley-server migrate-db: ${(error as Error).message} (see --help)`);
    return EXIT_USAGE;
  }

  const started = process.hrtime.bigint();
  try {
    const result = await migrateDb({
      from,
      to,
      onTable: (table, rows) => out(`${table}: ${rows} row${rows === 1 ? "" : "s"}`),
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    out(
      `copied ${result.rows} rows from ${from} to ${describeDb(to)} in ${seconds.toFixed(1)} s (last seq ${result.lastSeq})`,
    );
    return 0;
  } catch (error) {
    const message =
      error instanceof MigrateDbError ? error.message : (error as Error).message.replace(/\s+/g, " ");
    err(`parley-server migrate-db: ${message}`);
    return EXIT_FAILURE;
  }
}
