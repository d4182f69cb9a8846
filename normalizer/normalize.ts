// The normalization rule, pure: every run of Unicode White_Space becomes one space, and
// none is left at either end. String.prototype.trim is not used: it also strips U+FEFF,
// which is not White_Space and must be kept.

const WHITESPACE_RUN = /\p{White_Space}+/gu;

export function normalize(text: string): string {
  const collapsed = text.replace(WHITESPACE_RUN, " ");
  const start = collapsed.startsWith(" ") ? 1 : 0;
  const end = collapsed.endsWith(" ") && collapsed.length > start ? collapsed.length - 1 : collapsed.length;
  return collapsed.slice(start, end);
}
