// The streams' rows (and the messages retention looks at) as both backends read them (the same columns from the same SQL shape), and
// their conversion into the protocol's events: one place, so the two stores cannot drift apart.

import type { InboxEvent, ReceiptStatus, RoomChange } from "../protocol/messages.js";

/** A message retention looks at. */
export interface RetentionRow {
  readonly id: number;
  readonly recipient_id: number | null;
  readonly room_id: number | null;
  readonly status: string;
  readonly delivered_at: string | null;
  readonly created_at: string;
}

export interface InboxRow {
  readonly seq: number;
  readonly kind: "message" | "receipt" | "read_marker";
  readonly message_id: number | null;
  readonly receipt_status: ReceiptStatus | null;
  readonly up_to: number | null;
  readonly event_at: string;
  readonly text: string | null;
  readonly message_at: string | null;
  readonly sender: string | null;
  readonly recipient: string | null;
  readonly with_name: string | null;
}

export interface RoomEventRow {
  readonly seq: number;
  readonly kind: "message" | "room";
  readonly message_id: number | null;
  readonly change: RoomChange | null;
  readonly event_at: string;
  readonly text: string | null;
  readonly message_at: string | null;
  readonly sender: string | null;
  readonly user_name: string | null;
  readonly by_name: string | null;
}

export function toInboxEvent(row: InboxRow): InboxEvent {
  switch (row.kind) {
    case "message":
      return {
        ev: "message",
        seq: row.seq,
        id: row.message_id!,
        from: row.sender!,
        to: row.recipient!,
        // Released together with its message event, so never NULL here.
        text: row.text!,
        at: row.message_at!,
      };
    case "receipt":
      return {
        ev: "receipt",
        seq: row.seq,
        id: row.message_id!,
        to: row.recipient!,
        status: row.receipt_status!,
        at: row.event_at,
      };
    case "read_marker":
      return { ev: "read_marker", seq: row.seq, with: row.with_name!, upTo: row.up_to!, at: row.event_at };
  }
}

export function toRoomInboxEvent(row: RoomEventRow, room: string): InboxEvent {
  if (row.kind === "message") {
    return {
      ev: "message",
      seq: row.seq,
      id: row.message_id!,
      from: row.sender!,
      to: room,
      text: row.text!,
      at: row.message_at!,
    };
  }
  return {
    ev: "room",
    seq: row.seq,
    room,
    change: row.change!,
    user: row.user_name!,
    by: row.by_name!,
    at: row.event_at,
  };
}
