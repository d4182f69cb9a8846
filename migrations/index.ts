// Every migration, by name. Names sort in the order they run (a date, then a number), and the
// list is static so the compiled server needs no migration folder at run time.

import type { Migration } from "kysely";
import * as initial from "./2026_11_25_001_initial.js";
import * as lighterIndexes from "./2026_11_25_002_lighter_indexes.js";
import * as positionsDevicesRooms from "./2026_12_01_003_positions_devices_rooms.js";
import * as messageEventIndexes from "./2026_12_02_004_message_event_indexes.js";

export const migrations: Record<string, Migration> = {
  "2026_11_25_001_initial": initial,
  "2026_11_25_002_lighter_indexes": lighterIndexes,
  "2026_12_01_003_positions_devices_rooms": positionsDevicesRooms,
  "2026_12_02_004_message_event_indexes": messageEventIndexes,
};
