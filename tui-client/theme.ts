// Colours: what each symbolic style looks like, per theme and per how many colours the
// terminal has. Pure, so the choice is tested without a terminal; screen.ts hands the
// result to blessed.
//
// Why the colour depth is decided here rather than by blessed: blessed reads it from
// terminfo, and it cannot read ncurses 6's extended terminfo format, so for tmux-256color
// and screen-256color (tmux's and screen's defaults) it falls back to 8 colours and turns
// the grey of dim text (colour 8) into black, invisible on a dark background.

import type { Style } from "./styled-text.js";

export type ThemeName = "dark" | "light";
export const THEMES: readonly ThemeName[] = ["dark", "light"];

/** 0: no colour at all (NO_COLOR, or a dumb terminal); 8: the Linux console, screen, xterm; 256. */
export type ColorDepth = 0 | 8 | 256;

export interface StyleSpec {
  readonly fg?: string | number;
  readonly bg?: string | number;
  readonly bold?: boolean;
  readonly inverse?: boolean;
  readonly underline?: boolean;
}

/** How many colours to use, from the environment: NO_COLOR wins, then COLORTERM, then TERM. */
export function colorDepth(env: Readonly<Record<string, string | undefined>>): ColorDepth {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return 0;
  const term = env.TERM ?? "";
  if (term === "dumb") return 0;
  if (env.COLORTERM === "truecolor" || env.COLORTERM === "24bit") return 256;
  if (/256col|direct|truecolor|kitty|alacritty|foot|wezterm|ghostty/u.test(term)) return 256;
  return 8;
}

/** A grey that stays readable on the theme's background; none where only 8 colours exist. */
function grey(theme: ThemeName, depth: ColorDepth): StyleSpec {
  if (depth === 256) return { fg: theme === "dark" ? 245 : 242 };
  // Eight colours have no grey: bright black is black on the Linux console and in screen.
  return {};
}

/** The attributes of every style, for a theme and a colour depth. Never black or white text on the default background. */
export function themeStyles(theme: ThemeName, depth: ColorDepth): Record<Style, StyleSpec> {
  const dim = grey(theme, depth);
  const color = (spec: StyleSpec): StyleSpec => {
    if (depth !== 0) return spec;
    const { fg: _fg, bg: _bg, ...rest } = spec;
    return rest;
  };
  const dark = theme === "dark";
  const styles: Record<Style, StyleSpec> = {
    normal: {},
    dim,
    bold: { bold: true },
    title: color({ fg: "white", bg: "blue", bold: true }),
    own: color({ fg: dark ? "cyan" : "blue" }),
    peer: color({ fg: dark ? "yellow" : "magenta", bold: true }),
    mark: color({ fg: "green" }),
    read: color({ fg: dark ? "cyan" : "blue", bold: true }),
    error: color({ fg: "red", bold: true }),
    online: color({ fg: "green" }),
    offline: dim,
    selected: { inverse: true, bold: true },
    unread: color({ fg: dark ? "yellow" : "magenta", bold: true }),
    highlight: color({ fg: "red", bold: true }),
    status: color({ fg: "white", bg: "blue" }),
    status_good: color({ fg: "white", bg: "blue", bold: true }),
    status_bad: color({ fg: "yellow", bg: "blue", bold: true }),
    separator: dim,
    field: { underline: true },
    field_focused: { underline: true, bold: true },
    marker: color({ fg: "red" }),
  };
  if (depth === 0) {
    // Without colour, the bars and the title are told apart by inverse video.
    styles.title = { inverse: true, bold: true };
    styles.status = { inverse: true };
    styles.status_good = { inverse: true, bold: true };
    styles.status_bad = { inverse: true, bold: true };
    styles.unread = { bold: true };
    styles.highlight = { bold: true, underline: true };
  }
  return styles;
}
