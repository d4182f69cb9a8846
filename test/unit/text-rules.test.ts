import { expect } from "chai";
import { codePointLength, hasInvalidCharacter, isBlank } from "../../server/protocol/text-rules.js";

describe("text rules (unit)", () => {
  it("counts code points, not UTF-16 units", () => {
    expect(codePointLength("abc")).to.equal(3);
    expect(codePointLength("👋🏽x")).to.equal(3);
    expect(codePointLength("\ud800")).to.equal(1);
  });

  it("refuses exactly the characters the protocol names", () => {
    const forbidden = [0x00, 0x08, 0x0b, 0x0c, 0x0e, 0x1f, 0x7f, 0x84, 0x86, 0x9f, 0xfffe, 0xffff];
    for (const code of forbidden)
      expect(hasInvalidCharacter(`a${String.fromCharCode(code)}b`), code.toString(16)).to.equal(true);
    for (const allowed of ["\t", "\n", "\r", "\u0085", "\u00a0", "é", "😀", "\ufeff"]) {
      expect(hasInvalidCharacter(`a${allowed}b`), JSON.stringify(allowed)).to.equal(false);
    }
    expect(hasInvalidCharacter("a\ud800b")).to.equal(true);
    expect(hasInvalidCharacter("a\udc00")).to.equal(true);
  });

  it("treats every Unicode White_Space character as blank", () => {
    expect(isBlank(" \t\n\r\u00a0\u3000\u2028\u0085")).to.equal(true);
    expect(isBlank("")).to.equal(true);
    expect(isBlank(" x ")).to.equal(false);
    expect(isBlank("\ufeff")).to.equal(false);
  });
});
