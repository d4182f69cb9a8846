// What the screen paints: rows of styled segments. The view model builds them; screen.ts maps
// each style to terminal attributes. Keeping styles symbolic keeps blessed out of the model.

import { stringWidth, truncateToWidth } from "./text-width.js";

export type Style =
  | "normal"
  | "dim"
  | "bold"
  | "title"
  | "own"
  | "peer"
  | "mark"
  | "read"
  | "error"
  | "online"
  | "offline"
  | "selected"
  | "unread"
  /** An unread conversation with a message for this user (the activity list). */
  | "highlight"
  | "status"
  | "status_good"
  | "status_bad"
  | "separator"
  | "field"
  | "field_focused"
  /** The unread-line marker in a conversation. */
  | "marker";

export interface Segment {
  readonly text: string;
  readonly style: Style;
}

export type Row = readonly Segment[];

export interface Frame {
  readonly width: number;
  readonly height: number;
  /** Exactly `height` rows, each exactly `width` cells wide. */
  readonly rows: readonly Row[];
  /** Where the terminal cursor goes; hidden when absent. */
  readonly cursor: { readonly x: number; readonly y: number } | undefined;
}

export function seg(text: string, style: Style = "normal"): Segment {
  return { text, style };
}

export function rowWidth(row: Row): number {
  let width = 0;
  for (const segment of row) width += stringWidth(segment.text);
  return width;
}

/** Cuts or pads a row to exactly `width` cells; padding takes `fill`'s style. */
export function fitRow(row: Row, width: number, fill: Style = "normal"): Segment[] {
  const out: Segment[] = [];
  let used = 0;
  for (const segment of row) {
    if (used >= width) break;
    const w = stringWidth(segment.text);
    if (used + w <= width) {
      out.push(segment);
      used += w;
    } else {
      const cut = truncateToWidth(segment.text, width - used, "");
      out.push({ text: cut, style: segment.style });
      used += stringWidth(cut);
    }
  }
  if (used < width) out.push({ text: " ".repeat(width - used), style: fill });
  return out;
}

/** The plain text of a frame, as `tmux capture-pane -p` would show it (for tests). */
export function frameText(frame: Frame): string {
  return frame.rows
    .map((row) =>
      row
        .map((segment) => segment.text)
        .join("")
        .trimEnd(),
    )
    .join("\n");
}
