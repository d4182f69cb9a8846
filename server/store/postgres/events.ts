// Rows of the streams' tables, as the protocol's events.

import type { InboxEvent } from "../../protocol/messages.js";
import type { InboxRow, RoomEventRow } from "./statements.js";

export function toInboxEvent(row: InboxRow): InboxEvent {
  switch (row.kind) {
    case "message":
      return {
        ev: "message",
        seq: row.seq,
        id: row.message_id!,
        from: row.sender!,
        to: row.recipient!,
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
