// The one file that imports blessed. Blessed sets up the terminal, parses keys and the mouse,
// follows resizes and draws only the cells that changed; the cells themselves come from the
// view model's frame, painted here one by one. Blessed's own content engine (tags, wrapping)
// is not used: it measures emoji as one cell where terminals use two, which garbles lines.

import blessed from "blessed";
import type { Frame, Style } from "./styled-text.js";
import { cells, codePointWidth } from "./text-width.js";
import type { KeyPress } from "./view-model.js";

export interface ScreenHandlers {
  key(key: KeyPress): void;
  click(x: number, y: number): void;
  wheel(direction: "up" | "down"): void;
  resize(cols: number, rows: number): void;
}

/** The parts of blessed's internals this file relies on, beyond its published types. */
type Cell = [number, string];
type CellLine = Cell[] & { dirty?: boolean };
interface ScreenInternals {
  lines: CellLine[];
  dattr: number;
}
interface UnicodeModule {
  charWidth(str: string | number, i?: number): number;
}
interface MouseData {
  x: number;
  y: number;
  action: string;
}

const STYLES: Record<
  Style,
  { fg?: string | number; bg?: string | number; bold?: boolean; inverse?: boolean; underline?: boolean }
> = {
  normal: {},
  dim: { fg: 8 },
  bold: { bold: true },
  title: { fg: "white", bg: "blue", bold: true },
  own: { fg: "cyan" },
  peer: { fg: "yellow", bold: true },
  mark: { fg: "green" },
  read: { fg: "cyan", bold: true },
  error: { fg: "red", bold: true },
  online: { fg: "green" },
  offline: { fg: 8 },
  selected: { inverse: true, bold: true },
  unread: { fg: "yellow", bold: true },
  status: { fg: "white", bg: "blue" },
  status_good: { fg: "white", bg: "blue", bold: true },
  status_bad: { fg: "yellow", bg: "blue", bold: true },
  separator: { fg: 8 },
  field: { underline: true },
  field_focused: { underline: true, bold: true },
};

let widthsPatched = false;

/**
 * Blessed decides whether a cell hides the next one with its own width table, which predates
 * emoji. Giving it ours keeps its idea of a line's width equal to the terminal's.
 */
function patchBlessedWidths(): void {
  if (widthsPatched) return;
  widthsPatched = true;
  const unicode = (blessed as unknown as { unicode: UnicodeModule }).unicode;
  unicode.charWidth = (str: string | number, i?: number): number => {
    const point = typeof str === "number" ? str : str.codePointAt(i ?? 0);
    return point === undefined ? 0 : codePointWidth(point);
  };
}

export class Screen {
  readonly #screen: blessed.Widgets.Screen;
  readonly #canvas: blessed.Widgets.BoxElement;
  readonly #attrs = new Map<Style, number>();
  #frame: Frame | undefined;
  /** Blessed hands an astral character (an emoji) over as two keypresses, one per UTF-16 half. */
  #highSurrogate: string | undefined;

  constructor(handlers: ScreenHandlers) {
    patchBlessedWidths();
    this.#screen = blessed.screen({
      smartCSR: true,
      fullUnicode: true,
      forceUnicode: true,
      title: "Parley",
      warnings: false,
      autoPadding: false,
    });
    // Box-drawing characters go out as UTF-8, not through the terminal's alternate character
    // set: tmux's capture-pane (and copy-paste) would otherwise show "x" for "│".
    (this.#screen as unknown as { tput: { brokenACS: boolean } }).tput.brokenACS = true;
    this.#canvas = blessed.box({ top: 0, left: 0, width: "100%", height: "100%" });
    this.#screen.append(this.#canvas);
    for (const [style, spec] of Object.entries(STYLES) as [Style, (typeof STYLES)[Style]][]) {
      this.#attrs.set(style, (this.#canvas as unknown as { sattr(s: object): number }).sattr(spec));
    }

    const canvas = this.#canvas as unknown as { render(): unknown };
    const renderBox = canvas.render.bind(this.#canvas);
    canvas.render = () => {
      const coords = renderBox();
      this.#paint();
      return coords;
    };

    this.#canvas.enableMouse();
    this.#canvas.on("mouse", (data: MouseData) => {
      if (data.action === "mousedown") handlers.click(data.x, data.y);
      else if (data.action === "wheelup") handlers.wheel("up");
      else if (data.action === "wheeldown") handlers.wheel("down");
    });
    this.#screen.on(
      "keypress",
      (ch: string | undefined, key: { full?: string; name?: string } | undefined) => {
        const press = this.#translate(ch, key);
        if (press !== undefined) handlers.key(press);
      },
    );
    this.#screen.on("resize", () => handlers.resize(this.cols, this.rows));
  }

  get cols(): number {
    return this.#screen.cols;
  }

  get rows(): number {
    return this.#screen.rows;
  }

  /** Shows a frame; only the cells that differ from the last one reach the terminal. */
  show(frame: Frame): void {
    this.#frame = frame;
    this.#screen.render();
    const program = this.#screen.program;
    if (frame.cursor === undefined) {
      program.hideCursor();
    } else {
      program.cup(frame.cursor.y, frame.cursor.x);
      program.showCursor();
    }
  }

  /** Ctrl-L: forgets what the terminal shows and paints everything again. */
  redraw(): void {
    this.#screen.realloc();
    this.#screen.program.clear();
    if (this.#frame !== undefined) this.show(this.#frame);
  }

  destroy(): void {
    this.#screen.destroy();
  }

  #translate(
    ch: string | undefined,
    key: { full?: string; name?: string } | undefined,
  ): KeyPress | undefined {
    // "return" comes with a twin named "enter"; one Enter must act once.
    if (key?.name === "return") return undefined;
    if (ch !== undefined && ch.length === 1) {
      const unit = ch.charCodeAt(0);
      if (unit >= 0xd800 && unit <= 0xdbff) {
        this.#highSurrogate = ch;
        return undefined;
      }
      if (unit >= 0xdc00 && unit <= 0xdfff) {
        const high = this.#highSurrogate;
        this.#highSurrogate = undefined;
        if (high === undefined) return undefined;
        const pair = high + ch;
        return { full: pair, ch: pair };
      }
    }
    this.#highSurrogate = undefined;
    const full = key?.full ?? ch;
    if (full === undefined) return undefined;
    return { full, ch };
  }

  #paint(): void {
    const frame = this.#frame;
    if (frame === undefined) return;
    const internals = this.#screen as unknown as ScreenInternals;
    const lines = internals.lines;
    const cols = this.cols;
    const blank = internals.dattr;
    for (let y = 0; y < lines.length; y++) {
      const line = lines[y]!;
      const row = frame.rows[y] ?? [];
      let x = 0;
      const put = (attr: number, text: string): void => {
        const cell = line[x];
        if (cell === undefined) return;
        if (cell[0] !== attr || cell[1] !== text) {
          cell[0] = attr;
          cell[1] = text;
          line.dirty = true;
        }
        x++;
      };
      for (const segment of row) {
        const attr = this.#attrs.get(segment.style) ?? blank;
        for (const cell of cells(segment.text)) {
          if (x >= cols) break;
          if (cell.width === 2) {
            if (x + 1 >= cols) {
              put(attr, " ");
              continue;
            }
            put(attr, cell.text);
            // The terminal draws the wide character over this cell too; blessed skips it.
            put(attr, " ");
          } else {
            put(attr, cell.text);
          }
        }
      }
      while (x < cols && x < line.length) put(blank, " ");
    }
  }
}
