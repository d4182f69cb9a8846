// A one-line text editor with history: the input line and the log-in fields. Pure, so key
// handling is tested without a terminal. Positions count graphemes, so the cursor never
// lands inside an emoji or between a letter and its accent.
//
// Every edit costs what it touches, never the whole line (senpai's ui/editor.go): an insert
// segments only the inserted text and the graphemes on either side of the cursor, and a
// view measures only the cells it shows. A 65,536-character paste is one linear pass.

import { graphemes, stringWidth } from "./text-width.js";

export interface EditorView {
  /** The visible slice of the text (masked when the editor is a password field). */
  readonly text: string;
  /** The cursor's cell offset within `text`. */
  readonly cursor: number;
}

/** What the editor measures with; tests count the work through it. */
export interface TextMeasure {
  graphemes(text: string): string[];
  width(text: string): number;
}

const DEFAULT_MEASURE: TextMeasure = { graphemes, width: stringWidth };

/** How a line break in the text shows on the one-line input. */
export const NEWLINE_SHOWN = "↵";

export class LineEditor {
  #chars: string[] = [];
  #cursor = 0;
  // History as sent, oldest first; #historyIndex === #history.length means "the draft".
  readonly #history: string[] = [];
  #historyIndex = 0;
  #draft: string[] = [];
  #scroll = 0;
  readonly #maxHistory: number;
  readonly #measure: TextMeasure;

  constructor(options: { readonly maxHistory?: number; readonly measure?: TextMeasure } = {}) {
    this.#maxHistory = options.maxHistory ?? 500;
    this.#measure = options.measure ?? DEFAULT_MEASURE;
  }

  get value(): string {
    return this.#chars.join("");
  }

  /** The cursor position in graphemes from the start. */
  get cursor(): number {
    return this.#cursor;
  }

  get isEmpty(): boolean {
    return this.#chars.length === 0;
  }

  /** The text before the cursor (for completion). */
  get beforeCursor(): string {
    return this.#chars.slice(0, this.#cursor).join("");
  }

  set(value: string): void {
    this.#chars = this.#measure.graphemes(value);
    this.#cursor = this.#chars.length;
  }

  clear(): void {
    this.set("");
  }

  insert(text: string): void {
    if (text === "") return;
    // Re-segment only around the cursor: a combining mark typed after a letter joins it, a
    // second regional indicator makes a flag with the first. One grapheme on each side is
    // enough for that; the rest of the line cannot change its segmentation.
    const from = Math.max(0, this.#cursor - 1);
    const to = Math.min(this.#chars.length, this.#cursor + 1);
    const before = this.#chars.slice(from, this.#cursor).join("");
    const after = this.#chars.slice(this.#cursor, to).join("");
    const left = this.#measure.graphemes(before + text);
    const middle = after === "" ? left : this.#measure.graphemes(before + text + after);
    this.#splice(from, to - from, middle);
    this.#cursor = Math.min(from + left.length, this.#chars.length);
  }

  /** Replaces `count` graphemes from `start` with `items`, without spreading big arrays as arguments. */
  #splice(start: number, count: number, items: readonly string[]): void {
    if (items.length < 1024) {
      this.#chars.splice(start, count, ...items);
      return;
    }
    const tail = this.#chars.slice(start + count);
    this.#chars.length = start;
    for (const item of items) this.#chars.push(item);
    for (const item of tail) this.#chars.push(item);
  }

  backspace(): void {
    if (this.#cursor === 0) return;
    this.#chars.splice(this.#cursor - 1, 1);
    this.#cursor--;
  }

  deleteForward(): void {
    if (this.#cursor < this.#chars.length) this.#chars.splice(this.#cursor, 1);
  }

  left(): void {
    if (this.#cursor > 0) this.#cursor--;
  }

  right(): void {
    if (this.#cursor < this.#chars.length) this.#cursor++;
  }

  home(): void {
    this.#cursor = 0;
  }

  end(): void {
    this.#cursor = this.#chars.length;
  }

  wordLeft(): void {
    let i = this.#cursor;
    while (i > 0 && this.#isSpace(i - 1)) i--;
    while (i > 0 && !this.#isSpace(i - 1)) i--;
    this.#cursor = i;
  }

  wordRight(): void {
    let i = this.#cursor;
    while (i < this.#chars.length && this.#isSpace(i)) i++;
    while (i < this.#chars.length && !this.#isSpace(i)) i++;
    this.#cursor = i;
  }

  /** Ctrl-W: deletes the word before the cursor. */
  deleteWordBack(): void {
    const end = this.#cursor;
    this.wordLeft();
    this.#chars.splice(this.#cursor, end - this.#cursor);
  }

  /** Ctrl-U: deletes from the start of the line to the cursor. */
  deleteToStart(): void {
    this.#chars.splice(0, this.#cursor);
    this.#cursor = 0;
  }

  /** Ctrl-K: deletes from the cursor to the end of the line. */
  deleteToEnd(): void {
    this.#chars.splice(this.#cursor);
  }

  /** Records a sent line and returns to an empty draft. */
  commit(): string {
    const value = this.value;
    if (value.trim() !== "" && this.#history[this.#history.length - 1] !== value) {
      this.#history.push(value);
      if (this.#history.length > this.#maxHistory) this.#history.shift();
    }
    this.#historyIndex = this.#history.length;
    this.#draft = [];
    this.clear();
    return value;
  }

  /** Up: the previous sent line; the draft being typed is kept for Down. */
  historyPrevious(): void {
    if (this.#historyIndex === 0) return;
    if (this.#historyIndex === this.#history.length) this.#draft = this.#chars;
    this.#historyIndex--;
    this.set(this.#history[this.#historyIndex]!);
  }

  historyNext(): void {
    if (this.#historyIndex >= this.#history.length) return;
    this.#historyIndex++;
    if (this.#historyIndex === this.#history.length) {
      this.#chars = this.#draft;
      this.#cursor = this.#chars.length;
    } else {
      this.set(this.#history[this.#historyIndex]!);
    }
  }

  /**
   * The slice to show in `width` cells, scrolled horizontally so the cursor stays visible.
   * The scroll position is remembered so the text does not jump while the cursor moves.
   * Costs the cells shown (plus the distance the cursor moved), not the line's length.
   */
  view(width: number, mask?: string): EditorView {
    const shown = (index: number): string => {
      const char = this.#chars[index]!;
      if (mask !== undefined) return mask;
      return char === "\n" || char === "\r\n" || char === "\r" ? NEWLINE_SHOWN : char;
    };
    const cellWidth = (index: number): number => this.#measure.width(shown(index));
    const room = Math.max(1, width - 1); // one cell for the cursor after the last character
    const length = this.#chars.length;
    if (this.#scroll > length) this.#scroll = length;
    if (this.#cursor < this.#scroll) this.#scroll = this.#cursor;
    // The leftmost start that still shows the cursor, measured back from the cursor.
    let earliest = this.#cursor;
    let used = 0;
    while (earliest > this.#scroll) {
      const w = cellWidth(earliest - 1);
      if (used + w > room) break;
      used += w;
      earliest--;
    }
    if (earliest > this.#scroll) this.#scroll = earliest;
    // Show as much as fits when the text after the scroll point is short enough.
    if (this.#scroll > 0) {
      let tail = 0;
      for (let i = this.#scroll; i < length && tail <= room; i++) tail += cellWidth(i);
      while (this.#scroll > 0 && tail <= room) {
        const w = cellWidth(this.#scroll - 1);
        if (tail + w > room) break;
        tail += w;
        this.#scroll--;
      }
    }
    let text = "";
    let cursor = 0;
    used = 0;
    for (let end = this.#scroll; end < length; end++) {
      const w = cellWidth(end);
      if (used + w > width) break;
      if (end < this.#cursor) cursor += w;
      text += shown(end);
      used += w;
    }
    return { text, cursor };
  }

  #isSpace(index: number): boolean {
    return /^\s+$/u.test(this.#chars[index]!);
  }
}
