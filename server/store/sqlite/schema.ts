// Row types of the SQLite schema as of the latest migration, for kysely. They stay inside
// server/store/sqlite: the rest of the server sees the Store's domain types only.

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
  pending_messages: Generated<number>;
}

export interface MessagesTable {
  id: Generated<number>;
  sender_id: number;
  recipient_id: number;
  cid: string;
  raw_text: string;
  text: string | null;
  status: MessageRowStatus;
  created_at: string;
  released_at: string | null;
  delivered_at: string | null;
  read_at: string | null;
}

export interface InboxEventsTable {
  seq: Generated<number>;
  user_id: number;
  kind: "message" | "receipt";
  message_id: number;
  receipt_status: ReceiptRowStatus | null;
  created_at: string;
}

export interface NormalizationProgressTable {
  id: 1;
  last_message_id: number;
}

export interface Database {
  users: UsersTable;
  messages: MessagesTable;
  inbox_events: InboxEventsTable;
  normalization_progress: NormalizationProgressTable;
}
