// Row types of the PostgreSQL schema, for the kysely queries of pg-store.ts. The same tables as
// SQLite's (BIGINT columns read as numbers, see pool.ts), less normalization_progress.

import type { Generated } from "kysely";

export type MessageRowStatus =
  | "pending"
  | "held"
  | "sent"
  | "delivered"
  | "read"
  | "undeliverable"
  | "expired";
export type ReceiptRowStatus = "delivered" | "read" | "undeliverable" | "expired";

export interface UsersTable {
  id: Generated<number>;
  name: string;
  display_name: string;
  password_hash: string;
  created_at: string;
  last_seen_at: string | null;
  online: Generated<0 | 1>;
  deleted_at: string | null;
}

export interface DevicesTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  acked_seq: number;
  online: Generated<0 | 1>;
  created_at: string;
  last_login_at: string;
  last_seen_at: string;
}

export interface RoomsTable {
  id: Generated<number>;
  name: string;
  owner_id: number;
  created_at: string;
  deleted_at: string | null;
}

export interface RoomMembersTable {
  id: Generated<number>;
  room_id: number;
  user_id: number;
  first_seq: number;
  last_seq: number | null;
  joined_at: string;
  left_at: string | null;
  read_up_to: number | null;
}

export interface MessagesTable {
  id: Generated<number>;
  sender_id: number;
  sender_device_id: number | null;
  recipient_id: number | null;
  room_id: number | null;
  cid: string;
  raw_text: string | null;
  text: string | null;
  status: MessageRowStatus;
  created_at: string;
  released_at: string | null;
  delivered_at: string | null;
  read_at: string | null;
}

export interface InboxEventsTable {
  user_id: number;
  seq: number;
  kind: "message" | "receipt" | "read_marker";
  message_id: number | null;
  receipt_status: ReceiptRowStatus | null;
  skip_device_id: number | null;
  with_user_id: number | null;
  with_room_id: number | null;
  up_to: number | null;
  created_at: string;
}

export interface RoomEventsTable {
  room_id: number;
  seq: number;
  kind: "message" | "room";
  message_id: number | null;
  change: "created" | "joined" | "left" | "removed" | null;
  user_id: number | null;
  by_id: number | null;
  created_at: string;
}

export interface StoreMetaTable {
  id: 1;
  last_seq: number;
  expiry_cursor: number;
  room_horizon: string;
}

export interface PgSchema {
  users: UsersTable;
  devices: DevicesTable;
  rooms: RoomsTable;
  room_members: RoomMembersTable;
  messages: MessagesTable;
  inbox_events: InboxEventsTable;
  room_events: RoomEventsTable;
  store_meta: StoreMetaTable;
}
