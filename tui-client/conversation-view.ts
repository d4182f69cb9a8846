// Lays one conversation out as screen lines (time, mark, sender, wrapped text, day separators)
// and finds the window of lines on screen for a scroll position. Pure: the view model uses it
// to scroll and to know which messages have been seen; the renderer uses it to paint.

import { type ChatMessage, type Conversation, isRoomName, type ScrollPosition } from "./conversation.js";
import { type Row, type Segment, seg } from "./styled-text.js";
import { padEndToWidth, padStartToWidth, stringWidth, truncateToWidth, wrapText } from "./text-width.js";
import type { TimeFormat } from "./time-format.js";

export interface LayoutLine {
  /** The message this line belongs to (a day separator belongs to the message after it). */
  readonly key: string;
  /** The line's index within that message's block. */
  readonly offset: number;
  readonly row: Row;
  /** Set on lines of a message from the peer: seeing the line means reading the message. */
  readonly incomingId: number | undefined;
}

export interface LayoutOptions {
  readonly me: string;
  readonly width: number;
  readonly time: TimeFormat;
  readonly maxTextChars: number;
  /** The message the unread-line marker stands before, if any. */
  readonly markerBefore?: string | undefined;
}

const TOP_KEY = "top";
/** The key of the unread-line marker's line (a scroll position can point at it). */
export const MARKER_KEY = "unread-marker";
const MAX_NICK_WIDTH = 12;

export const MARKS: Record<ChatMessage["status"], string> = {
  pending: "…",
  sent: "✓",
  delivered: "✓✓",
  read: "✔✔",
  undeliverable: "✗",
  expired: "✗",
  failed: "✗",
};

export function layoutConversation(conversation: Conversation, options: LayoutOptions): LayoutLine[] {
  const { me, width } = options;
  const lines: LayoutLine[] = [];
  const room = isRoomName(conversation.peer);
  const topText = conversation.reachedStart
    ? room
      ? `start of ${conversation.peer}`
      : `start of your conversation with ${conversation.peer}`
    : conversation.loadingOlder || conversation.history === "loading"
      ? "loading messages…"
      : "PgUp loads older messages";
  lines.push({ key: TOP_KEY, offset: 0, row: centered(topText, width, "dim"), incomingId: undefined });
  if (conversation.messages.length === 0 && conversation.history === "loaded") {
    lines.push({
      key: TOP_KEY,
      offset: 1,
      row: [seg("  No messages yet: type below and press Enter.", "dim")],
      incomingId: undefined,
    });
  }

  // In a room anyone may speak: the column fits the longest sender (within the bound).
  let nickWidth = Math.max(stringWidth(me), room ? 1 : stringWidth(conversation.peer), 1);
  if (room) {
    for (const message of conversation.messages)
      if (!message.notice) nickWidth = Math.max(nickWidth, stringWidth(message.from));
  }
  nickWidth = Math.min(MAX_NICK_WIDTH, nickWidth);
  // time(5) space mark(2) space nick space
  const prefixWidth = 5 + 1 + 2 + 1 + nickWidth + 1;
  const textWidth = Math.max(8, width - prefixWidth);
  const indent = " ".repeat(prefixWidth);

  let previousDay = "";
  for (const message of conversation.messages) {
    const block = messageBlock(message, conversation.peer, options, nickWidth, textWidth, indent);
    const withSeparator = block.day !== previousDay;
    previousDay = block.day;
    const blockLines = withSeparator ? block.withSeparator : block.withoutSeparator;
    // The unread-line marker goes after the day's separator, right above the first unread message.
    const markerAt = message.key !== options.markerBefore ? -1 : withSeparator ? 1 : 0;
    blockLines.forEach((line, index) => {
      if (index === markerAt) {
        lines.push({
          key: MARKER_KEY,
          offset: 0,
          row: centered("new", width, "marker", "─"),
          incomingId: undefined,
        });
      }
      lines.push(line);
    });
  }
  return lines;
}

interface CachedBlock {
  readonly inputs: readonly unknown[];
  readonly day: string;
  /** The message's lines, led by a day separator when it starts a new day. */
  readonly withSeparator: readonly LayoutLine[];
  readonly withoutSeparator: readonly LayoutLine[];
}

// Wrapping and date formatting are the costly part of a frame; a message's rows change only
// when one of these inputs does, so every frame reuses them (a keypress re-renders).
const blockCache = new WeakMap<ChatMessage, CachedBlock>();

function messageBlock(
  message: ChatMessage,
  peer: string,
  options: LayoutOptions,
  nickWidth: number,
  textWidth: number,
  indent: string,
): CachedBlock {
  const inputs = [
    options.width,
    options.time,
    options.maxTextChars,
    peer,
    nickWidth,
    message.id,
    message.text,
    message.at,
    message.status,
    message.error,
  ];
  const cached = blockCache.get(message);
  if (cached?.inputs.every((value, i) => value === inputs[i])) return cached;

  const { time, width } = options;
  const rows: Row[] = [];
  if (message.notice) {
    // time(5), then the text where the mark and the sender would be: "15:52  · bob added carol"
    wrapText(`· ${printable(message.text)}`, Math.max(8, width - 7)).forEach((text, index) => {
      rows.push(
        index === 0
          ? [seg(time.time(message.at), "dim"), seg("  "), seg(text, "dim")]
          : [seg("       "), seg(text, "dim")],
      );
    });
  } else {
    messageRows(message, options, nickWidth, textWidth, indent, rows);
  }
  const note = message.notice ? undefined : noteFor(message, peer, options.maxTextChars);
  if (note !== undefined) {
    for (const text of wrapText(note.text, textWidth)) rows.push([seg(indent), seg(text, note.style)]);
  }
  const incomingId = message.outgoing ? undefined : message.id;
  const separator: LayoutLine = {
    key: message.key,
    offset: 0,
    row: centered(time.day(message.at), width, "separator", "─"),
    incomingId,
  };
  const block: CachedBlock = {
    inputs,
    day: time.dayKey(message.at),
    withSeparator: [
      separator,
      ...rows.map((row, i) => ({ key: message.key, offset: i + 1, row, incomingId })),
    ],
    withoutSeparator: rows.map((row, i) => ({ key: message.key, offset: i, row, incomingId })),
  };
  blockCache.set(message, block);
  return block;
}

function messageRows(
  message: ChatMessage,
  options: LayoutOptions,
  nickWidth: number,
  textWidth: number,
  indent: string,
  rows: Row[],
): void {
  const nick = padStartToWidth(truncateToWidth(message.from, nickWidth), nickWidth);
  const mark = message.outgoing ? MARKS[message.status] : "";
  const markStyle = message.status === "read" ? "read" : isProblem(message) ? "error" : "mark";
  const textStyle = message.status === "failed" ? "dim" : "normal";
  // A text sent with line breaks keeps them: each line wraps on its own.
  const wrapped = message.text.split(/\r\n|\r|\n/u).flatMap((line) => wrapText(printable(line), textWidth));
  wrapped.forEach((text, index) => {
    rows.push(
      index === 0
        ? [
            seg(options.time.time(message.at), "dim"),
            seg(" "),
            seg(padEndToWidth(mark, 2), markStyle),
            seg(" "),
            seg(nick, message.outgoing ? "own" : "peer"),
            seg(" "),
            seg(text, textStyle),
          ]
        : [seg(indent), seg(text, textStyle)],
    );
  });
}

function isProblem(message: ChatMessage): boolean {
  return message.status === "failed" || message.status === "undeliverable" || message.status === "expired";
}

/** Controls cannot reach us from the server, but a local draft could hold a tab. */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, " ");
}

/** The plain-words note shown beside a message that did not go as planned. */
function noteFor(
  message: ChatMessage,
  peer: string,
  maxTextChars: number,
): { text: string; style: Segment["style"] } | undefined {
  if (message.status === "undeliverable")
    return { text: `✗ undeliverable: ${peer} no longer exists`, style: "error" };
  if (message.status === "expired")
    return { text: `✗ expired: ${peer} did not collect it in time`, style: "error" };
  if (message.error === undefined) return undefined;
  if (message.status !== "failed") {
    return { text: "… the server cannot store it right now; retrying", style: "dim" };
  }
  return { text: `✗ not sent: ${sendErrorText(message.error, peer, maxTextChars)}`, style: "error" };
}

export function sendErrorText(
  error: { code: string; message: string },
  peer: string,
  maxTextChars: number,
): string {
  switch (error.code) {
    case "rate_limited":
      return "you are sending too fast; wait a moment and send it again";
    case "mailbox_full":
      return `${peer}'s mailbox is full; try again once ${peer} has caught up`;
    case "text_too_long":
      return `longer than ${maxTextChars} characters`;
    case "no_such_user":
      return `there is no user called ${peer}`;
    case "no_such_room":
      return `there is no room called ${peer}`;
    case "not_member":
      return `you are not a member of ${peer}`;
    case "empty_text":
      return "the message is empty";
    case "invalid_text":
      return "it holds characters that cannot be sent";
    case "logged_out":
      return "you logged out before it was sent";
    default:
      return error.message !== "" ? error.message : error.code;
  }
}

function centered(text: string, width: number, style: Segment["style"], fill = " "): Row {
  const label = ` ${truncateToWidth(text, Math.max(0, width - 4))} `;
  const room = Math.max(0, width - stringWidth(label));
  const left = Math.floor(room / 2);
  return [seg(fill.repeat(left) + label + fill.repeat(room - left), style)];
}

export interface Viewport {
  /** Index of the first line on screen. */
  readonly top: number;
  /** Index after the last line on screen. */
  readonly end: number;
  readonly atTop: boolean;
  readonly atBottom: boolean;
}

export function viewport(lines: readonly LayoutLine[], scroll: ScrollPosition, height: number): Viewport {
  const maxTop = Math.max(0, lines.length - height);
  let top = maxTop;
  if (!scroll.follow) {
    const anchor = lines.findIndex((line) => line.key === scroll.key && line.offset === scroll.offset);
    if (anchor !== -1) top = Math.min(anchor, maxTop);
  }
  return { top, end: Math.min(lines.length, top + height), atTop: top === 0, atBottom: top === maxTop };
}

/** The scroll position whose top line is `top`; following the bottom when that is the end. */
export function scrollTo(lines: readonly LayoutLine[], top: number, height: number): ScrollPosition {
  const maxTop = Math.max(0, lines.length - height);
  const clamped = Math.max(0, Math.min(top, maxTop));
  if (clamped === maxTop) return { follow: true };
  const line = lines[clamped]!;
  return { follow: false, key: line.key, offset: line.offset };
}
