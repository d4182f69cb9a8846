// The one file that imports blessed. Blessed sets up the terminal, parses keys and the mouse,
// follows resizes and draws only the cells that changed; the cells themselves come from the
// view model's frame, painted here one by one. Blessed's own content engine (tags, wrapping)
// is not used: it measures emoji as one cell where terminals use two, which garbles lines.

import blessed from "blessed";
import { PasteFilter } from "./paste.js";
import type { Frame, Style } from "./styled-text.js";
import { cells, codePointWidth } from "./text-width.js";
import { type ColorDepth, type StyleSpec, type ThemeName, themeStyles } from "./theme.js";
import type { KeyPress } from "./view-model.js";

export interface ScreenOptions {
  readonly theme: ThemeName;
  readonly colors: ColorDepth;
  /** False: no mouse reporting, so the terminal keeps selection and its own scrolling. */
  readonly mouse: boolean;
}

export interface ScreenHandlers {
  key(key: KeyPress): void;
  /** A paste, whole: bracketed by the terminal, or several lines arriving in one read. */
  paste(text: string): void;
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

  constructor(handlers: ScreenHandlers, options: ScreenOptions) {
    patchBlessedWidths();
    // Installed before blessed so that a paste never reaches its key parser: there each line
    // break would be an Enter, and a three-line paste two messages and a draft.
    const input = process.stdin;
    const paste = new PasteFilter();
    const emit = input.emit.bind(input);
    input.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
      if (event !== "data") return emit(event, ...args);
      const parts = paste.feed(String(args[0]));
      for (const part of parts) {
        if (part.kind === "paste") handlers.paste(part.text);
        else emit("data", Buffer.from(part.text));
      }
      return true;
    }) as typeof input.emit;
    this.#screen = blessed.screen({
      input,
      smartCSR: true,
      fullUnicode: true,
      forceUnicode: true,
      title: "Parley",
      warnings: false,
      autoPadding: false,
    });
    // Box-drawing characters go out as UTF-8, not through the terminal's alternate character
    // set: tmux's capture-pane (and copy-paste) would otherwise show "x" for "│".
    const tput = (this.#screen as unknown as { tput: { brokenACS: boolean; colors: number } }).tput;
    tput.brokenACS = true;
    // Blessed cannot read ncurses 6's terminfo format and falls back to 8 colours for
    // tmux-256color and screen-256color; theme.ts decides from TERM and COLORTERM instead.
    tput.colors = options.colors === 256 ? 256 : Math.min(tput.colors, 8);
    // Bracketed paste: the terminal marks pasted text (ESC [200~ … ESC [201~) for PasteFilter.
    this.#screen.program.write("\x1b[?2004h");
    this.#canvas = blessed.box({ top: 0, left: 0, width: "100%", height: "100%" });
    this.#screen.append(this.#canvas);
    const styles = themeStyles(options.theme, options.colors);
    // Element.sattr (missing from @types/blessed) turns a style into blessed's packed cell
    // attribute, the unit of its cell buffer; each style is packed once, here.
    for (const [style, spec] of Object.entries(styles) as [Style, StyleSpec][]) {
      this.#attrs.set(style, (this.#canvas as unknown as { sattr(s: object): number }).sattr(spec));
    }

    // Blessed's public "render" event fires once the box has been drawn into the screen's
    // cell buffer and before the buffer reaches the terminal: the frame's cells go in then.
    this.#canvas.on("render", () => this.#paint());

    if (options.mouse) this.#canvas.enableMouse();
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

  /**
   * A message for this user somewhere else: the terminal bell, and with `desktop` an OSC 777
   * and an OSC 9 notification (terminals that know neither ignore them; tmux passes the bell
   * on to the outer terminal and marks the window).
   */
  alert(desktop: { title: string; body: string } | undefined): void {
    let out = "\x07";
    if (desktop !== undefined) {
      const clean = (text: string): string =>
        // biome-ignore lint/suspicious/noControlCharactersInRegex: a control character would end the OSC early.
        text.replace(/[\u0000-\u001f\u007f-\u009f;]/gu, " ").slice(0, 200);
      out += `\x1b]777;notify;${clean(desktop.title)};${clean(desktop.body)}\x1b\\`;
      out += `\x1b]9;${clean(desktop.title)}: ${clean(desktop.body)}\x1b\\`;
    }
    this.#screen.program.write(out);
  }

  /** Ctrl-L: forgets what the terminal shows and paints everything again. */
  redraw(): void {
    this.#screen.realloc();
    this.#screen.program.clear();
    if (this.#frame !== undefined) this.show(this.#frame);
  }

  destroy(): void {
    this.#screen.program.write("\x1b[?2004l");
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

  /**
   * Writes the frame into blessed's cell buffer (screen.lines, not in its typings): blessed
   * then sends only the cells that changed. Its own content engine is bypassed on purpose
   * (see the top of this file); marking a line dirty is how blessed expects widgets to
   * report a change.
   */
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
