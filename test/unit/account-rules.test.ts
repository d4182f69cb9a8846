import { expect } from "chai";
import { cleanDisplayName } from "../../server/protocol/account-rules.js";

describe("account rules (unit)", () => {
  describe("display names", () => {
    it("refuse bidi controls, which reorder what others see", () => {
      for (const code of [
        0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
      ]) {
        expect(cleanDisplayName(`ad${String.fromCodePoint(code)}min`), code.toString(16)).to.equal(undefined);
      }
    });

    it("refuse zero-width and invisible characters, which make look-alike names", () => {
      for (const code of [
        0x00ad, 0x034f, 0x115f, 0x180e, 0x200b, 0x2060, 0x2061, 0x2064, 0x3164, 0xfeff, 0xffa0,
      ]) {
        expect(cleanDisplayName(`ali${String.fromCodePoint(code)}ce`), code.toString(16)).to.equal(undefined);
      }
      expect(cleanDisplayName("\u200d")).to.equal(undefined);
      expect(cleanDisplayName("alice\u200c")).to.equal(undefined);
      expect(cleanDisplayName("a\u200d\u200db")).to.equal(undefined);
    });

    it("keep joiners between two visible characters: emoji sequences and Persian", () => {
      expect(cleanDisplayName("👩\u200d💻 Ada")).to.equal("👩\u200d💻 Ada");
      expect(cleanDisplayName("می\u200cخواهم")).to.equal("می\u200cخواهم");
      expect(cleanDisplayName("  Zoë  ")).to.equal("Zoë");
    });
  });
});
