// Every PostgreSQL migration, by name, in the order they run. Separate from SQLite's: the two
// engines' DDL differ, and each database records only its own engine's migrations.

import type { Migration } from "kysely";
import * as initial from "./2026_12_01_001_initial.js";
import * as nodes from "./2026_12_01_002_nodes.js";
import * as messageEventIndexes from "./2026_12_02_002_message_event_indexes.js";
import * as writeFunctions from "./2026_12_02_003_write_functions.js";
import * as eventSeqIndexes from "./2026_12_02_004_event_seq_indexes.js";

export const migrations: Record<string, Migration> = {
  "2026_12_01_001_initial": initial,
  "2026_12_01_002_nodes": nodes,
  "2026_12_02_002_message_event_indexes": messageEventIndexes,
  "2026_12_02_003_write_functions": writeFunctions,
  "2026_12_02_004_event_seq_indexes": eventSeqIndexes,
};
