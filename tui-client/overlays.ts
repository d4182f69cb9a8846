// What the overlays list, as plain lines: /users, /devices, /members and /search. Pure
// functions of the view model's state, so each is tested through the view model's frames.

import type { DeviceEntry, RoomMemberEntry } from "../server/protocol/messages.js";
import { type Conversation, sameUser } from "./conversation.js";
import type { TimeFormat } from "./time-format.js";

export interface OverlayContent {
  readonly title: string;
  readonly lines: readonly string[];
}

function byName<T extends { user: string }>(a: T, b: T): number {
  return a.user.toLowerCase() < b.user.toLowerCase() ? -1 : 1;
}

function presence(online: boolean, lastSeen: string | null, time: TimeFormat, now: Date): string {
  if (online) return "online";
  return lastSeen === null ? "offline" : `offline, last seen ${time.since(lastSeen, now)}`;
}

/** /users: everyone, alphabetically, with presence. */
export function usersOverlay(
  users: readonly { user: string; name: string; online: boolean; lastSeen: string | null }[],
  time: TimeFormat,
  now: Date,
): OverlayContent {
  const contacts = [...users].sort(byName);
  const width = Math.max(4, ...contacts.map((contact) => contact.user.length));
  const lines = contacts.map((contact) => {
    const state = presence(contact.online, contact.lastSeen, time, now);
    const name = contact.name !== contact.user ? `  (${contact.name})` : "";
    return `${contact.online ? "●" : "○"} ${contact.user.padEnd(width)}  ${state}${name}`;
  });
  const online = contacts.filter((contact) => contact.online).length;
  return {
    title: `Users: ${contacts.length}, ${online} online`,
    lines: lines.length > 0 ? lines : ["(nobody yet)"],
  };
}

/** /devices: this user's devices with presence; `mine` is marked "(this one)". */
export function devicesOverlay(
  devices: readonly DeviceEntry[],
  mine: string | undefined,
  time: TimeFormat,
  now: Date,
): OverlayContent {
  const here = mine?.toLowerCase();
  const width = Math.max(6, ...devices.map((entry) => String(entry.device).length));
  const lines = devices.map((entry) => {
    const state = presence(entry.online, entry.lastSeen, time, now);
    const tag = entry.device.toLowerCase() === here ? "  (this one)" : "";
    return `${entry.online ? "●" : "○"} ${entry.device.padEnd(width)}  ${state}${tag}`;
  });
  const online = devices.filter((entry) => entry.online).length;
  return {
    title: `Devices: ${devices.length}, ${online} online`,
    lines: lines.length > 0 ? lines : ["(none)"],
  };
}

/** /members: who is in the room, who is online, and how far each has read. */
export function membersOverlay(
  room: {
    readonly room: string;
    readonly owner: string | undefined;
    readonly members: ReadonlyMap<string, RoomMemberEntry> | undefined;
  },
  conversation: Conversation | undefined,
  isMe: (user: string) => boolean,
  time: TimeFormat,
): OverlayContent {
  const members = [...(room.members?.values() ?? [])].sort(byName);
  const newest = conversation?.newestId ?? 0;
  const width = Math.max(4, ...members.map((member) => member.user.length + (isMe(member.user) ? 6 : 0)));
  const lines = members.map((member) => {
    const name = `${member.user}${isMe(member.user) ? " (you)" : ""}`.padEnd(width);
    const owner = room.owner !== undefined && sameUser(room.owner, member.user) ? "  owner" : "";
    return `${member.online ? "●" : "○"} ${name}  ${readProgress(member.readUpTo, conversation, newest, time)}${owner}`;
  });
  const online = members.filter((member) => member.online).length;
  return {
    title: `${room.room}: ${members.length} member${members.length === 1 ? "" : "s"}, ${online} online`,
    lines: lines.length > 0 ? lines : ["(nobody)"],
  };
}

function readProgress(
  readUpTo: number | null,
  conversation: Conversation | undefined,
  newest: number,
  time: TimeFormat,
): string {
  if (readUpTo === null || readUpTo <= 0) return "has read nothing yet";
  if (readUpTo >= newest) return "has read everything";
  const behind = conversation?.messages.filter(
    (message) => message.id !== undefined && message.id > readUpTo,
  ).length;
  const upTo = conversation?.byId(readUpTo);
  const where = upTo === undefined ? `message ${readUpTo}` : `${time.time(upTo.at)} ${upTo.from}`;
  return `${behind} message${behind === 1 ? "" : "s"} behind (read up to ${where})`;
}

/** /search: the loaded messages holding `term` (any case), oldest first, and whether more can load. */
export function searchOverlay(conversation: Conversation, term: string, time: TimeFormat): OverlayContent {
  const needle = term.toLowerCase();
  const lines: string[] = [];
  for (const message of conversation.messages) {
    if (message.notice || !message.text.toLowerCase().includes(needle)) continue;
    const text = message.text.replace(/\s+/gu, " ");
    lines.push(`${time.day(message.at)} ${time.time(message.at)}  ${message.from}: ${text}`);
  }
  const more = conversation.reachedStart
    ? "all messages searched"
    : conversation.loadingOlder
      ? "loading older messages…"
      : "PgUp at the top loads older messages";
  return {
    title: `Search ${conversation.peer} for "${term}": ${lines.length} found; ${more}`,
    lines: lines.length > 0 ? lines : ["(nothing found in the loaded messages)"],
  };
}
