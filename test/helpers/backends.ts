// The stores the server's integration tests run on: each such suite runs once per backend.

export type Backend = "sqlite" | "postgres";

/** Every backend; PARLEY_TEST_BACKENDS=sqlite (or postgres) narrows a run to one. */
export const BACKENDS: readonly Backend[] = (process.env.PARLEY_TEST_BACKENDS ?? "sqlite,postgres")
  .split(",")
  .filter((name): name is Backend => name === "sqlite" || name === "postgres");
