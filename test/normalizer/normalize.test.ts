import { expect } from "chai";
import fc from "fast-check";
import { normalize } from "../../normalizer/normalize.js";

// Every character with the Unicode White_Space property, written out so that the tests do not
// take the implementation's regular expression on trust.
const WHITE_SPACE: readonly [codePoint: number, name: string][] = [
  [0x0009, "CHARACTER TABULATION"],
  [0x000a, "LINE FEED"],
  [0x000b, "LINE TABULATION"],
  [0x000c, "FORM FEED"],
  [0x000d, "CARRIAGE RETURN"],
  [0x0020, "SPACE"],
  [0x0085, "NEXT LINE"],
  [0x00a0, "NO-BREAK SPACE"],
  [0x1680, "OGHAM SPACE MARK"],
  [0x2000, "EN QUAD"],
  [0x2001, "EM QUAD"],
  [0x2002, "EN SPACE"],
  [0x2003, "EM SPACE"],
  [0x2004, "THREE-PER-EM SPACE"],
  [0x2005, "FOUR-PER-EM SPACE"],
  [0x2006, "SIX-PER-EM SPACE"],
  [0x2007, "FIGURE SPACE"],
  [0x2008, "PUNCTUATION SPACE"],
  [0x2009, "THIN SPACE"],
  [0x200a, "HAIR SPACE"],
  [0x2028, "LINE SEPARATOR"],
  [0x2029, "PARAGRAPH SEPARATOR"],
  [0x202f, "NARROW NO-BREAK SPACE"],
  [0x205f, "MEDIUM MATHEMATICAL SPACE"],
  [0x3000, "IDEOGRAPHIC SPACE"],
];

// Look-alikes without the White_Space property: they are part of words and must be kept.
const NOT_WHITE_SPACE: readonly [codePoint: number, name: string][] = [
  [0xfeff, "ZERO WIDTH NO-BREAK SPACE (byte order mark)"],
  [0x200b, "ZERO WIDTH SPACE"],
  [0x180e, "MONGOLIAN VOWEL SEPARATOR"],
  [0x2060, "WORD JOINER"],
  [0x00ad, "SOFT HYPHEN"],
];

const WHITE_SPACE_CHARS = WHITE_SPACE.map(([codePoint]) => String.fromCodePoint(codePoint));
const WHITE_SPACE_RUN = /\p{White_Space}+/u;
const NORMALIZED_SHAPE = /^(?:\P{White_Space}+(?: \P{White_Space}+)*)?$/u;

function hex(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}`;
}

function words(text: string): string[] {
  return text.split(WHITE_SPACE_RUN).filter((word) => word !== "");
}

// Strings dense in white space of every kind, runs of it, U+FEFF, multi-byte text and emoji,
// mixed with arbitrary code points.
const textArbitrary = fc.oneof(
  fc.string({
    unit: fc.oneof(
      fc.constantFrom(...WHITE_SPACE_CHARS),
      fc.constantFrom("a", "b", "z", "é", "語", "😀", "\uFEFF", "&", "<"),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    ),
    maxLength: 40,
  }),
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
);

describe("normalize (unit)", () => {
  describe("properties", () => {
    it("is idempotent", () => {
      fc.assert(
        fc.property(textArbitrary, (text) => {
          const once = normalize(text);
          expect(normalize(once)).to.equal(once);
        }),
      );
    });

    it("leaves no leading, trailing or doubled space and no other white space", () => {
      fc.assert(
        fc.property(textArbitrary, (text) => {
          expect(normalize(text)).to.match(NORMALIZED_SHAPE);
        }),
      );
    });

    it("keeps the words, in order, joined by single spaces", () => {
      fc.assert(
        fc.property(textArbitrary, (text) => {
          expect(normalize(text)).to.equal(words(text).join(" "));
          expect(words(normalize(text))).to.deep.equal(words(text));
        }),
      );
    });

    it("leaves text without white space as it is", () => {
      fc.assert(
        fc.property(fc.string({ unit: "binary" }), (text) => {
          const word = text.replace(/\p{White_Space}/gu, "");
          expect(normalize(word)).to.equal(word);
        }),
      );
    });
  });

  describe("each White_Space character", () => {
    it("the table lists every White_Space code point and nothing else", () => {
      const found: number[] = [];
      for (let codePoint = 0; codePoint <= 0x10ffff; codePoint += 1) {
        if (codePoint >= 0xd800 && codePoint <= 0xdfff) continue;
        if (/^\p{White_Space}$/u.test(String.fromCodePoint(codePoint))) found.push(codePoint);
      }
      expect(found.map(hex)).to.deep.equal(WHITE_SPACE.map(([codePoint]) => hex(codePoint)));
    });

    for (const [codePoint, name] of WHITE_SPACE) {
      const ws = String.fromCodePoint(codePoint);
      it(`${hex(codePoint)} ${name} separates words and is trimmed`, () => {
        expect(normalize(`a${ws}b`)).to.equal("a b");
        expect(normalize(`a${ws}${ws} ${ws}b`)).to.equal("a b");
        expect(normalize(`${ws}a${ws}`)).to.equal("a");
        expect(normalize(`${ws}${ws}`)).to.equal("");
      });
    }
  });

  describe("characters that are not White_Space", () => {
    for (const [codePoint, name] of NOT_WHITE_SPACE) {
      const char = String.fromCodePoint(codePoint);
      it(`${hex(codePoint)} ${name} is kept, even at either end`, () => {
        expect(normalize(`${char}a${char}b${char}`)).to.equal(`${char}a${char}b${char}`);
        expect(normalize(` ${char} `)).to.equal(char);
        expect(normalize(`a ${char} b`)).to.equal(`a ${char} b`);
      });
    }
  });

  describe("examples", () => {
    const cases: [input: string, expected: string][] = [
      ["", ""],
      [" ", ""],
      ["\t\n\r ", ""],
      ["a", "a"],
      ["  hello   world  ", "hello world"],
      ["a\tb\nc", "a b c"],
      ["a\r\nb", "a b"],
      ["line one\n\nline two", "line one line two"],
      ["😀  👍🏽\u3000語", "😀 👍🏽 語"],
      [`  <a href="x">&amp;</a> 'q'  `, `<a href="x">&amp;</a> 'q'`],
    ];
    for (const [input, expected] of cases) {
      it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
        expect(normalize(input)).to.equal(expected);
      });
    }
  });
});
