// Pasted text told from keys, and colours per terminal, unit (issue 12).

import { expect } from "chai";
import { cleanPaste, PasteFilter } from "../../tui-client/paste.js";
import { colorDepth, themeStyles } from "../../tui-client/theme.js";

describe("tui paste filter (unit)", () => {
  it("takes a bracketed paste whole, line breaks included, across reads", () => {
    const filter = new PasteFilter();
    expect(filter.feed("a\x1b[200~one\r\ntwo\r")).to.deep.equal([{ kind: "keys", text: "a" }]);
    expect(filter.feed("three\x1b[20")).to.deep.equal([]);
    expect(filter.feed("1~b")).to.deep.equal([
      { kind: "paste", text: "one\ntwo\nthree" },
      { kind: "keys", text: "b" },
    ]);
  });

  it("passes keys, Enter and escape sequences through", () => {
    const filter = new PasteFilter();
    for (const keys of ["x", "\r", "\x1b", "\x1b[A", "hello\r"]) {
      expect(filter.feed(keys)).to.deep.equal([{ kind: "keys", text: keys }]);
    }
  });

  it("leaves unbracketed text to the key parser, even several lines in one read (fast typing)", () => {
    expect(new PasteFilter().feed("secret-pw\rsecret-pw")).to.deep.equal([
      { kind: "keys", text: "secret-pw\rsecret-pw" },
    ]);
  });

  it("drops control characters and escape sequences from a paste, keeping tabs and line breaks", () => {
    expect(cleanPaste("a\tb\x1b[31mred\x1b[0m\x07\r\nc")).to.equal("a\tbred\nc");
  });
});

describe("tui colours (unit)", () => {
  it("never draws dim text in black: grey with 256 colours, the default colour with 8 (issue 12)", () => {
    for (const theme of ["dark", "light"] as const) {
      for (const depth of [0, 8, 256] as const) {
        const styles = themeStyles(theme, depth);
        for (const [style, spec] of Object.entries(styles)) {
          expect([0, 8, "black"], `${theme} ${depth} ${style}`).to.not.include(spec.fg);
          if (spec.bg === undefined) expect(spec.fg, `${theme} ${depth} ${style}`).to.not.equal("white");
        }
      }
    }
    expect(themeStyles("dark", 256).dim.fg).to.equal(245);
    expect(themeStyles("dark", 8).dim).to.deep.equal({});
  });

  it("uses no colour at all under NO_COLOR, and tells the bars apart by inverse video", () => {
    const styles = themeStyles("dark", colorDepth({ NO_COLOR: "1", TERM: "xterm-256color" }));
    for (const spec of Object.values(styles)) {
      expect(spec.fg).to.equal(undefined);
      expect(spec.bg).to.equal(undefined);
    }
    expect(styles.status.inverse).to.equal(true);
  });

  it("reads the colour depth from TERM and COLORTERM, as blessed cannot for tmux-256color", () => {
    expect(colorDepth({ TERM: "tmux-256color" })).to.equal(256);
    expect(colorDepth({ TERM: "screen-256color" })).to.equal(256);
    expect(colorDepth({ TERM: "linux" })).to.equal(8);
    expect(colorDepth({ TERM: "screen" })).to.equal(8);
    expect(colorDepth({ TERM: "dumb" })).to.equal(0);
    expect(colorDepth({ TERM: "xterm", COLORTERM: "24bit" })).to.equal(256);
    expect(colorDepth({ TERM: "xterm-256color", NO_COLOR: "" })).to.equal(256);
  });
});
