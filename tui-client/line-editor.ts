// A one-line text editor with history: the input line and the log-in fields. Pure, so key
// handling is tested without a terminal. Positions count graphemes, so the cursor never
// lands inside an emoji or between a letter and its accent.

import { graphemes, stringWidth } from "./text-width.js";

export interface EditorView {
  /** The visible slice of the text (masked when the editor is a password field). */
  readonly text: string;
  /** The cursor's cell offset within `text`. */
  readonly cursor: number;
}

export class LineEditor {
  #chars: string[] = [];
  #cursor = 0;
  // History as sent, oldest first; #historyIndex === #history.length means "the draft".
  readonly #history: string[] = [];
  #historyIndex = 0;
  #draft: string[] = [];
  #scroll = 0;
  readonly #maxHistory: number;

  constructor(options: { readonly maxHistory?: number } = {}) {
    this.#maxHistory = options.maxHistory ?? 500;
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

  set(value: string): void {
    this.#chars = graphemes(value);
    this.#cursor = this.#chars.length;
  }

  clear(): void {
    this.set("");
  }

  insert(text: string): void {
    // Re-segment around the cursor: a combining mark typed after a letter joins it.
    const before = this.#chars.slice(0, this.#cursor).join("") + text;
    const after = this.#chars.slice(this.#cursor).join("");
    const left = graphemes(before);
    this.#chars = graphemes(before + after);
    this.#cursor = Math.min(left.length, this.#chars.length);
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
   */
  view(width: number, mask?: string): EditorView {
    const shown = mask === undefined ? this.#chars : this.#chars.map(() => mask);
    const room = Math.max(1, width - 1); // one cell for the cursor after the last character
    const widthBetween = (from: number, to: number): number => stringWidth(shown.slice(from, to).join(""));
    if (this.#cursor < this.#scroll) this.#scroll = this.#cursor;
    while (widthBetween(this.#scroll, this.#cursor) > room) this.#scroll++;
    // Show as much as fits when text after the scroll point is short enough.
    while (this.#scroll > 0 && widthBetween(this.#scroll - 1, shown.length) <= room) this.#scroll--;
    let end = this.#scroll;
    let used = 0;
    while (end < shown.length) {
      const w = stringWidth(shown[end]!);
      if (used + w > width) break;
      used += w;
      end++;
    }
    return {
      text: shown.slice(this.#scroll, end).join(""),
      cursor: widthBetween(this.#scroll, this.#cursor),
    };
  }

  #isSpace(index: number): boolean {
    return /^\s+$/u.test(this.#chars[index]!);
  }
}
