// Text measurement and the line editor, unit: multi-byte text, emoji and wide characters.

import { expect } from "chai";
import fc from "fast-check";
import { LineEditor, type TextMeasure } from "../../tui-client/line-editor.js";
import { graphemes, stringWidth, truncateToWidth, wrapText } from "../../tui-client/text-width.js";

describe("tui text width and wrapping (unit)", () => {
  it("counts cells the way terminals do", () => {
    expect(stringWidth("hello")).to.equal(5);
    expect(stringWidth("日本語")).to.equal(6);
    expect(stringWidth("👋")).to.equal(2);
    expect(stringWidth("é")).to.equal(1); // e + combining acute
    expect(stringWidth("✓✓")).to.equal(2);
    expect(stringWidth("a\u200db")).to.equal(2);
  });

  it("wraps at spaces, breaks long words, and never splits a grapheme", () => {
    expect(wrapText("the quick brown fox", 10)).to.deep.equal(["the quick", "brown fox"]);
    expect(wrapText("abcdefghij", 4)).to.deep.equal(["abcd", "efgh", "ij"]);
    expect(wrapText("👋👋👋", 5)).to.deep.equal(["👋👋", "👋"]);
    expect(wrapText("", 10)).to.deep.equal([""]);
  });

  it("never makes a line wider than asked (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 200 }),
        fc.integer({ min: 2, max: 60 }),
        (text, width) => {
          const clean = text.replace(/\p{Cc}/gu, " ");
          for (const line of wrapText(clean, width)) expect(stringWidth(line)).to.be.at.most(width);
        },
      ),
    );
  });

  it("splits graphemes as Intl.Segmenter does, on short and long text (property)", () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
    const reference = (text: string): string[] => [...segmenter.segment(text)].map((s) => s.segment);
    const pieces = fc.constantFrom(
      "a",
      " ",
      "e\u0301",
      "\u{1F1EB}",
      "\u{1F1F7}",
      "\u{1F44B}\u{1F3FD}",
      "\u200d",
      "\r",
      "\n",
      "\u0600",
      "1",
      "日",
      "\u{1F468}",
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(pieces, fc.string({ unit: "grapheme", maxLength: 3 })), { maxLength: 400 }),
        (parts) => {
          const text = parts.join("");
          expect(graphemes(text)).to.deep.equal(reference(text));
        },
      ),
    );
  });

  it("splits long text without ASCII as Intl.Segmenter does, across its chunks", () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
    const text = `${"é👋🏽日\u{1F1EB}\u{1F1F7}".repeat(300)}\u{1F1EB}${"\u{1F1F7}\u{1F1EB}".repeat(200)}e\u0301`;
    expect(graphemes(text)).to.deep.equal([...segmenter.segment(text)].map((s) => s.segment));
  });

  it("truncates with an ellipsis inside the width", () => {
    expect(truncateToWidth("alexandra", 6)).to.equal("alexa…");
    expect(truncateToWidth("日本語", 4)).to.equal("日…");
    expect(truncateToWidth("bob", 6)).to.equal("bob");
  });
});

describe("tui line editor (unit)", () => {
  it("edits at the cursor and moves by grapheme", () => {
    const editor = new LineEditor();
    editor.insert("hello wörld");
    editor.home();
    editor.right();
    editor.insert("X");
    expect(editor.value).to.equal("hXello wörld");
    editor.end();
    editor.left();
    editor.left();
    editor.backspace(); // removes the r
    expect(editor.value).to.equal("hXello wöld");
    editor.deleteForward();
    expect(editor.value).to.equal("hXello wöd");
  });

  it("treats an emoji with a skin tone, or a flag, as one character", () => {
    const editor = new LineEditor();
    editor.insert("a👍🏽b🇫🇷");
    expect(editor.cursor).to.equal(4);
    editor.backspace();
    expect(editor.value).to.equal("a👍🏽b");
    editor.left();
    editor.backspace();
    expect(editor.value).to.equal("ab");
  });

  it("deletes words and line halves like readline", () => {
    const editor = new LineEditor();
    editor.insert("one two three");
    editor.deleteWordBack();
    expect(editor.value).to.equal("one two ");
    editor.wordLeft();
    editor.deleteToEnd();
    expect(editor.value).to.equal("one ");
    editor.insert("2 3");
    editor.wordLeft();
    editor.deleteToStart();
    expect(editor.value).to.equal("3");
  });

  it("walks the lines sent with Up and Down, keeping the draft", () => {
    const editor = new LineEditor();
    editor.insert("first");
    editor.commit();
    editor.insert("second");
    editor.commit();
    editor.insert("draft");
    editor.historyPrevious();
    expect(editor.value).to.equal("second");
    editor.historyPrevious();
    expect(editor.value).to.equal("first");
    editor.historyPrevious();
    expect(editor.value).to.equal("first");
    editor.historyNext();
    editor.historyNext();
    expect(editor.value).to.equal("draft");
  });

  it("scrolls a long line so the cursor stays in view", () => {
    const editor = new LineEditor();
    editor.insert("0123456789abcdefghij");
    let view = editor.view(10);
    expect(view.text.endsWith("j")).to.equal(true);
    expect(view.cursor).to.be.at.most(10);
    editor.home();
    view = editor.view(10);
    expect(view.text.startsWith("0")).to.equal(true);
    expect(view.cursor).to.equal(0);
  });

  it("masks a password one dot per character", () => {
    const editor = new LineEditor();
    editor.insert("pä👋");
    expect(editor.view(20, "•").text).to.equal("•••");
  });

  /** A measure that counts the characters it is handed: the editor's work, in a unit that does not depend on the machine. */
  function countingMeasure(): { measure: TextMeasure; work: () => number } {
    let work = 0;
    return {
      measure: {
        graphemes: (text) => {
          work += text.length;
          return graphemes(text);
        },
        width: (text) => {
          work += text.length;
          return stringWidth(text);
        },
      },
      work: () => work,
    };
  }

  /** Types `text` one character at a time, as a terminal without bracketed paste delivers a paste, viewing every `renderEvery` keys. */
  function typeAndCount(length: number, renderEvery: number): number {
    const { measure, work } = countingMeasure();
    const editor = new LineEditor({ measure });
    const text = "lorem ipsum dolor sit amet, ".repeat(Math.ceil(length / 28)).slice(0, length);
    for (let i = 0; i < text.length; i++) {
      editor.insert(text[i]!);
      if (i % renderEvery === 0) editor.view(80);
    }
    editor.view(80);
    expect(editor.value).to.equal(text);
    return work();
  }

  it("takes a 65,536-character paste in work linear in its length (issue 12: 77 s for 4,995)", () => {
    // Typed key by key: the old editor re-segmented the whole line on each key (quadratic).
    const small = typeAndCount(4096, 256);
    const big = typeAndCount(65_536, 256);
    expect(big / small).to.be.below(16 * 1.5); // 16 times the text: about 16 times the work
    expect(big).to.be.below(65_536 * 10);
    // In one piece, as bracketed paste delivers it: the text is segmented about once.
    const { measure, work } = countingMeasure();
    const editor = new LineEditor({ measure });
    const text = "x".repeat(65_535) + "\u00e9";
    editor.insert(text);
    const view = editor.view(80);
    expect(editor.value).to.equal(text);
    expect(view.text.endsWith("\u00e9")).to.equal(true);
    expect(work()).to.be.below(3 * text.length);
  });

  it("views a long line at a cost of the cells shown, wherever the cursor is", () => {
    const { measure, work } = countingMeasure();
    const editor = new LineEditor({ measure });
    editor.set("y".repeat(65_536));
    const before = work();
    editor.view(80);
    editor.home();
    editor.view(80);
    editor.end();
    editor.view(80);
    expect(work() - before).to.be.below(1000);
  });

  it("keeps what an insert in the middle joins with: accents and flags", () => {
    const editor = new LineEditor();
    editor.set("ab");
    editor.left();
    editor.insert("e\u0301");
    expect(editor.value).to.equal("ae\u0301b");
    expect(editor.cursor).to.equal(2);
    editor.set("\u{1F1EB}");
    editor.insert("\u{1F1F7}"); // F + R: one flag
    expect(editor.cursor).to.equal(1);
    editor.backspace();
    expect(editor.value).to.equal("");
  });

  it("shows a line break in the input as one visible mark", () => {
    const editor = new LineEditor();
    editor.insert("one\ntwo");
    expect(editor.value).to.equal("one\ntwo");
    expect(editor.view(20).text).to.equal("one↵two");
  });
});
