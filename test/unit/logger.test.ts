import { expect } from "chai";
import { createLogger } from "../../server/logger.js";

describe("logger (unit)", () => {
  it("writes one line per entry: line separators and control characters escaped, the value kept", () => {
    const lines: string[] = [];
    const log = createLogger("debug", (line) => lines.push(line)).child({ conn: 1 });
    const tricky = "a\u2028b\u2029c\nd\re\u0000f\u007fg\u0085h\u009bi\u202ej\u2066k\u001b[2J";
    log.info("tricky", { value: tricky });
    expect(lines).to.have.length(1);
    const line = lines[0]!;
    expect(line.endsWith("\n")).to.equal(true);
    const unsafe = [...line.slice(0, -1)]
      .map((char) => char.codePointAt(0)!)
      .filter(
        (code) =>
          code < 0x20 ||
          (code >= 0x7f && code <= 0x9f) ||
          code === 0x2028 ||
          code === 0x2029 ||
          (code >= 0x202a && code <= 0x202e) ||
          (code >= 0x2066 && code <= 0x2069),
      );
    expect(unsafe).to.deep.equal([]);
    expect(JSON.parse(line)).to.include({ msg: "tricky", value: tricky, conn: 1 });
  });
});
