// A PostgreSQL database of its own for each test that needs one, created empty and dropped
// afterwards, on the server PARLEY_TEST_PG names (by default the one CI starts on this machine).

import pg from "pg";

/** The server the tests use, through its maintenance database. */
export const TEST_PG_ADMIN_URL = process.env.PARLEY_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";

let created = 0;

export interface TestDatabase {
  /** postgres://… of the new, empty database. */
  readonly url: string;
  readonly name: string;
  /** Drops it, ending whatever connections are still open to it. Idempotent. */
  drop(): Promise<void>;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  created += 1;
  const name = `parley_test_${process.pid}_${created}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
