// How many terminal cells a piece of text takes. The layout wraps and truncates with these
// functions and the screen paints cells with them, so both agree with each other and with
// the terminal (wcwidth-style: each code point counts on its own, as tmux and xterm do).

// East Asian Wide and Fullwidth ranges (Unicode 15), plus the emoji that default to
// emoji presentation. Sorted, so a binary search finds a code point.
const WIDE_RANGES: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f1e6, 0x1f1ff],
  [0x1f200, 0x1f202],
  [0x1f210, 0x1f23b],
  [0x1f240, 0x1f248],
  [0x1f250, 0x1f251],
  [0x1f260, 0x1f265],
  [0x1f300, 0x1f320],
  [0x1f32d, 0x1f335],
  [0x1f337, 0x1f37c],
  [0x1f37e, 0x1f393],
  [0x1f3a0, 0x1f3ca],
  [0x1f3cf, 0x1f3d3],
  [0x1f3e0, 0x1f3f0],
  [0x1f3f4, 0x1f3f4],
  [0x1f3f8, 0x1f43e],
  [0x1f440, 0x1f440],
  [0x1f442, 0x1f4fc],
  [0x1f4ff, 0x1f53d],
  [0x1f54b, 0x1f54e],
  [0x1f550, 0x1f567],
  [0x1f57a, 0x1f57a],
  [0x1f595, 0x1f596],
  [0x1f5a4, 0x1f5a4],
  [0x1f5fb, 0x1f64f],
  [0x1f680, 0x1f6c5],
  [0x1f6cc, 0x1f6cc],
  [0x1f6d0, 0x1f6d2],
  [0x1f6d5, 0x1f6d7],
  [0x1f6dc, 0x1f6df],
  [0x1f6eb, 0x1f6ec],
  [0x1f6f4, 0x1f6fc],
  [0x1f7e0, 0x1f7eb],
  [0x1f7f0, 0x1f7f0],
  [0x1f90c, 0x1f93a],
  [0x1f93c, 0x1f945],
  [0x1f947, 0x1f9ff],
  [0x1fa70, 0x1faff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

// Combining marks, format characters (ZWJ, soft hyphen) and variation selectors take no
// cell of their own: the terminal draws them over the character before.
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;

function isWide(codePoint: number): boolean {
  let low = 0;
  let high = WIDE_RANGES.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const [start, end] = WIDE_RANGES[mid]!;
    if (codePoint < start) high = mid - 1;
    else if (codePoint > end) low = mid + 1;
    else return true;
  }
  return false;
}

/** Cells taken by one code point: 0, 1 or 2. Control characters take none. */
export function codePointWidth(codePoint: number): number {
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0)) return 0;
  if (codePoint < 0x300) return 1;
  if (codePoint >= 0x1160 && codePoint <= 0x11ff) return 0; // Hangul medial vowels, final consonants
  if (ZERO_WIDTH.test(String.fromCodePoint(codePoint))) return 0;
  return isWide(codePoint) ? 2 : 1;
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
