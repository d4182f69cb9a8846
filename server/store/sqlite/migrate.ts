// Brings a SQLite database to the schema this server was built for, or refuses to: the server
// must not serve from a database whose migrations failed or that a newer Parley has migrated.

import { type Kysely, type Migration, Migrator, sql } from "kysely";
import { migrations as knownMigrations } from "../../../migrations/index.js";

/**
 * The database cannot be used as it is: a migration failed, the schema is newer than this
 * server, or the file is not a usable database. The message is one line, for an operator;
 * main prints it and exits 1.
 */
export class SchemaError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SchemaError";
  }
}

// biome-ignore lint/suspicious/noExplicitAny: migrations run on the schema of their own time, not today's.
type AnyKysely = Kysely<any>;

export function createMigrator(
  db: AnyKysely,
  migrations: Record<string, Migration> = knownMigrations,
): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // migrateToLatest wraps the whole run in one transaction of its own.
    disableTransactions: true,
  });
}

/**
 * Runs every migration not yet applied, all in one transaction: either the database reaches
 * the latest schema, or it is left exactly as it was. Migrations therefore must not use
 * statements SQLite refuses inside a transaction (VACUUM, PRAGMA foreign_keys, journal_mode).
 * Throws SchemaError.
 */
export async function migrateToLatest(
  db: AnyKysely,
  migrations: Record<string, Migration> = knownMigrations,
): Promise<void> {
  try {
    await sql`BEGIN IMMEDIATE`.execute(db);
  } catch (error) {
    throw new SchemaError(`cannot start the database migration: ${oneLine(error)}`, { cause: error });
  }
  let committed = false;
  try {
    // Checked before the Migrator runs, because it would first write its own tables.
    const unknown = (await appliedMigrations(db)).find((name) => !Object.hasOwn(migrations, name));
    if (unknown !== undefined) {
      throw new SchemaError(
        `database schema is newer than this server (unknown migration ${unknown}); upgrade Parley`,
      );
    }
    const { error, results } = await createMigrator(db, migrations).migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((result) => result.status === "Error");
      const what = failed ? `migration ${failed.migrationName}` : "database migration";
      throw new SchemaError(`${what} failed: ${oneLine(error)}`, { cause: error });
    }
    await sql`COMMIT`.execute(db);
    committed = true;
  } catch (error) {
    if (error instanceof SchemaError) throw error;
    throw new SchemaError(`database migration failed: ${oneLine(error)}`, { cause: error });
  } finally {
    if (!committed) {
      // SQLite may already have rolled back by itself (a full disk does); the first error is the news.
      await sql`ROLLBACK`.execute(db).catch(() => undefined);
    }
  }
}

async function appliedMigrations(db: AnyKysely): Promise<string[]> {
  const table = await sql<{ name: string }>`
    SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'
  `.execute(db);
  if (table.rows.length === 0) return [];
  const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
  return applied.rows.map((row) => row.name);
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim();
}
