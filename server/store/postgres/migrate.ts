// Brings a PostgreSQL database to the schema this server was built for, or refuses to, with the
// same refusals as SQLite's (server/store/sqlite/migrate.ts). Several nodes may start at once:
// an advisory lock makes them migrate one after the other.

import { type Kysely, type Migration, Migrator, sql } from "kysely";
import { migrations as knownMigrations } from "../../../migrations/postgres/index.js";
import { SchemaError } from "../sqlite/migrate.js";

// biome-ignore lint/suspicious/noExplicitAny: migrations run on the schema of their own time, not today's.
type AnyKysely = Kysely<any>;

/** Any constant of our own: the advisory lock that serializes the nodes' migrations. */
const MIGRATION_LOCK = 0x7061726c; // "parl"

/**
 * Runs every migration not yet applied in one transaction (PostgreSQL's DDL is transactional):
 * the database reaches the latest schema or is left as it was. Throws SchemaError.
 */
export async function migratePostgres(
  db: AnyKysely,
  migrations: Record<string, Migration> = knownMigrations,
): Promise<void> {
  try {
    await db.connection().execute(async (conn) => {
      await sql`BEGIN`.execute(conn);
      let committed = false;
      try {
        await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(conn);
        const unknown = (await appliedMigrations(conn)).find((name) => !Object.hasOwn(migrations, name));
        if (unknown !== undefined) {
          throw new SchemaError(
            `database schema is newer than this server (unknown migration ${unknown}); upgrade Parley`,
          );
        }
        const migrator = new Migrator({
          db: conn,
          provider: { getMigrations: async () => migrations },
          disableTransactions: true,
        });
        const { error, results } = await migrator.migrateToLatest();
        if (error !== undefined) {
          const failed = results?.find((result) => result.status === "Error");
          const what = failed ? `migration ${failed.migrationName}` : "database migration";
          throw new SchemaError(`${what} failed: ${oneLine(error)}`, { cause: error });
        }
        await sql`COMMIT`.execute(conn);
        committed = true;
      } finally {
        if (!committed) await sql`ROLLBACK`.execute(conn).catch(() => undefined);
      }
    });
  } catch (error) {
    if (error instanceof SchemaError) throw error;
    throw new SchemaError(`database migration failed: ${oneLine(error)}`, { cause: error });
  }
}

async function appliedMigrations(db: AnyKysely): Promise<string[]> {
  const table = await sql<{ t: string | null }>`SELECT to_regclass('kysely_migration')::text AS t`.execute(
    db,
  );
  if (table.rows[0]?.t == null) return [];
  const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
  return applied.rows.map((row) => row.name);
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim();
}
