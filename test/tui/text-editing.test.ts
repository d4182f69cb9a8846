// Text measurement and the line editor, unit: multi-byte text, emoji and wide characters.

import { expect } from "chai";
import fc from "fast-check";
import { LineEditor } from "../../tui-client/line-editor.js";
import { stringWidth, truncateToWidth, wrapText } from "../../tui-client/text-width.js";

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
});
