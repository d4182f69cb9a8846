// The rules a message text must pass before it is stored. They live with the protocol
// because clients check the same rules before sending.

// Characters XML 1.0 cannot carry to the normalizer (C0 controls but tab, LF and CR; U+FFFE and
// U+FFFF), or that would drive a terminal (DEL and the C1 controls but NEL). Lone surrogates
// are caught separately: a regex with the u flag cannot name them in a class.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u0084\u0086-\u009F\uFFFE\uFFFF]/u;
const ONLY_WHITESPACE = /^\p{White_Space}*$/u;

export function hasInvalidCharacter(text: string): boolean {
  return FORBIDDEN.test(text) || !text.isWellFormed();
}

export function isBlank(text: string): boolean {
  return ONLY_WHITESPACE.test(text);
}

/** Length in Unicode code points, the unit `maxTextChars` counts. */
export function codePointLength(text: string): number {
  // Fast path: without surrogates, UTF-16 units and code points agree.
  let surrogatePairs = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        surrogatePairs++;
        i++;
      }
    }
  }
  return text.length - surrogatePairs;
}
