// How many terminal cells a piece of text takes. The layout wraps and truncates with these
// functions and the screen paints cells with them, so both agree with each other and with
// the terminal (wcwidth-style: each code point counts on its own, as tmux and xterm do).

import { eastAsianWidth } from "get-east-asian-width";

// Combining marks, format characters (ZWJ, soft hyphen) and variation selectors take no
// cell of their own: the terminal draws them over the character before.
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;

/** Cells taken by one code point: 0, 1 or 2. Control characters take none. */
export function codePointWidth(codePoint: number): number {
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0)) return 0;
  if (codePoint < 0x300) return 1;
  if (codePoint >= 0x1160 && codePoint <= 0x11ff) return 0; // Hangul medial vowels, final consonants
  if (ZERO_WIDTH.test(String.fromCodePoint(codePoint))) return 0;
  // East Asian Wide and Fullwidth, emoji presentation included, from the Unicode data that
  // get-east-asian-width keeps up to date; ambiguous characters are narrow, as in terminals.
  return eastAsianWidth(codePoint);
}

export function stringWidth(text: string): number {
  let width = 0;
  for (const char of text) width += codePointWidth(char.codePointAt(0)!);
  return width;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** How much text the segmenter is handed at once; see `segmentInto`. */
const SEGMENT_CHUNK = 256;

/**
 * User-perceived characters: the unit the cursor moves by and wrapping never splits.
 * Each call of Intl.Segmenter costs tens of microseconds, so ASCII with ASCII on both sides
 * (always a grapheme of its own, but CR LF) skips it; the rest goes through `segmentInto`.
 */
export function graphemes(text: string): string[] {
  const out: string[] = [];
  let runStart = -1;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const alone =
      unit < 0x80 &&
      unit !== 0x0a &&
      unit !== 0x0d &&
      (i === 0 || text.charCodeAt(i - 1) < 0x80) &&
      (i + 1 === text.length || text.charCodeAt(i + 1) < 0x80);
    if (!alone) {
      if (runStart < 0) runStart = i;
      continue;
    }
    if (runStart >= 0) {
      segmentInto(out, text.slice(runStart, i));
      runStart = -1;
    }
    out.push(text[i]!);
  }
  if (runStart >= 0) segmentInto(out, text.slice(runStart));
  return out;
}

/**
 * V8's Intl.Segmenter (Node 20) slows down with the square of the string's length — 7 s
 * for 64 K characters — so long text goes through it in chunks. Each chunk's last grapheme
 * is carried into the next chunk: what follows may still join it (an accent, a flag's second
 * half), but a boundary before it cannot move, since that depends only on the characters
 * on either side.
 */
function segmentInto(out: string[], text: string): void {
  if (text.length <= SEGMENT_CHUNK) {
    for (const { segment } of segmenter.segment(text)) out.push(segment);
    return;
  }
  let carry = "";
  for (let start = 0; start < text.length; ) {
    let end = Math.min(text.length, start + SEGMENT_CHUNK);
    // Never between the two halves of a surrogate pair.
    const unit = text.charCodeAt(end - 1);
    if (unit >= 0xd800 && unit <= 0xdbff) end++;
    const piece = carry + text.slice(start, end);
    start = end;
    let last = "";
    for (const { segment } of segmenter.segment(piece)) {
      if (last !== "") out.push(last);
      last = segment;
    }
    carry = last;
  }
  if (carry !== "") out.push(carry);
}

/**
 * Splits text into terminal cells: each holds one spacing code point and the zero-width
 * ones that follow it. A cell of width 2 is followed on screen by a cell the terminal covers.
 */
export function cells(text: string): { text: string; width: number }[] {
  const out: { text: string; width: number }[] = [];
  for (const char of text) {
    const width = codePointWidth(char.codePointAt(0)!);
    if (width === 0) {
      const last = out[out.length - 1];
      if (last !== undefined) last.text += char;
      continue;
    }
    out.push({ text: char, width });
  }
  return out;
}

/** The longest prefix of `text` that fits `width` cells, never splitting a grapheme. */
export function truncateToWidth(text: string, width: number, ellipsis = "…"): string {
  if (stringWidth(text) <= width) return text;
  if (width <= 0) return "";
  const room = width - stringWidth(ellipsis);
  let used = 0;
  let out = "";
  for (const g of graphemes(text)) {
    const w = stringWidth(g);
    if (used + w > room) break;
    out += g;
    used += w;
  }
  return room >= 0 ? out + ellipsis : out;
}

export function padEndToWidth(text: string, width: number): string {
  const missing = width - stringWidth(text);
  return missing > 0 ? text + " ".repeat(missing) : text;
}

export function padStartToWidth(text: string, width: number): string {
  const missing = width - stringWidth(text);
  return missing > 0 ? " ".repeat(missing) + text : text;
}

/**
 * Word-wraps one paragraph to lines of at most `width` cells. Breaks at spaces when it can,
 * inside a word only when the word alone is wider than a line; never inside a grapheme.
 */
export function wrapText(text: string, width: number): string[] {
  const limit = Math.max(1, width);
  const lines: string[] = [];
  let line = "";
  let lineWidth = 0;
  // Words keep their leading spaces so that the original spacing survives inside a line.
  for (const word of text.split(/(?<= )(?=[^ ])/u)) {
    const wordWidth = stringWidth(word);
    if (lineWidth + stringWidth(word.trimEnd()) <= limit) {
      line += word;
      lineWidth += wordWidth;
      continue;
    }
    if (line !== "") {
      lines.push(line.trimEnd());
      line = "";
      lineWidth = 0;
    }
    if (stringWidth(word.trimEnd()) <= limit) {
      line = word;
      lineWidth = wordWidth;
      continue;
    }
    // A grapheme wider than a whole line (rare: long combining sequences) is cut by cells.
    const pieces = graphemes(word).flatMap((g) =>
      stringWidth(g) > limit ? cells(g).map((c) => c.text) : [g],
    );
    for (const g of pieces) {
      const w = stringWidth(g);
      if (lineWidth + w > limit && line !== "") {
        lines.push(line.trimEnd());
        line = "";
        lineWidth = 0;
      }
      if (line === "" && g === " ") continue;
      line += g;
      lineWidth += w;
    }
  }
  if (line !== "" || lines.length === 0) lines.push(line.trimEnd());
  return lines;
}
