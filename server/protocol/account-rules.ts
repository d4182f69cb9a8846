// The rules for user, device and room names, passwords and display names (see README.md beside
// this file).

import { codePointLength, hasInvalidCharacter } from "./text-rules.js";

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 1024;
export const MAX_DISPLAY_NAME_CHARS = 64;

// Characters that reorder or hide what others see, so that one name can pass for another:
// bidi marks, embeddings, overrides and isolates; zero-width and other invisible characters
// (soft hyphen, fillers, word joiner, invisible operators, BOM). ZWNJ and ZWJ are listed too,
// but kept where they join two visible characters, as in emoji sequences and Persian words.
// A string, so that the linter does not read U+034F (a combining mark) as joining its neighbour.
// biome-ignore lint/complexity/useRegexLiterals: as a literal it would trip noMisleadingCharacterClass.
const INVISIBLE_OR_BIDI = new RegExp(
  "[\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180E\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\u3164\\uFEFF\\uFFA0\\uFFF9-\\uFFFB]",
  "u",
);
const JOINER_BETWEEN_VISIBLE = /(?<=[^\p{White_Space}\p{Cf}])[\u200C\u200D](?=[^\p{White_Space}\p{Cf}])/gu;

const ROOM_NAME = /^#[A-Za-z0-9_.-]{1,32}$/;
/** The device a login names when it names none. */
export const DEFAULT_DEVICE = "default";

export function isValidUserName(user: string): boolean {
  return USER_NAME.test(user);
}

/** Device names follow the user name rule. */
export function isValidDeviceName(device: string): boolean {
  return USER_NAME.test(device);
}

/** `#` and then what a user name may be, so the two never collide. */
export function isValidRoomName(room: string): boolean {
  return ROOM_NAME.test(room);
}

export function isAcceptablePassword(password: string): boolean {
  const length = codePointLength(password);
  return length >= MIN_PASSWORD_CHARS && length <= MAX_PASSWORD_CHARS;
}

/** The display name as stored (trimmed), or undefined when it breaks the rules. */
export function cleanDisplayName(name: string): string | undefined {
  const trimmed = name.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, "");
  const length = codePointLength(trimmed);
  if (length < 1 || length > MAX_DISPLAY_NAME_CHARS || hasInvalidCharacter(trimmed)) return undefined;
  if (INVISIBLE_OR_BIDI.test(trimmed.replace(JOINER_BETWEEN_VISIBLE, ""))) return undefined;
  return trimmed;
}
