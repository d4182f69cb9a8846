// The rules for user names, passwords and display names (see README.md beside this file).

import { codePointLength, hasInvalidCharacter } from "./text-rules.js";

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 1024;
export const MAX_DISPLAY_NAME_CHARS = 64;

export function isValidUserName(user: string): boolean {
  return USER_NAME.test(user);
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
  return trimmed;
}
