// The rules for user, device and room names, passwords and display names (see README.md beside
// this file).

import { codePointLength, hasInvalidCharacter } from "./text-rules.js";

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 1024;
export const MAX_DISPLAY_NAME_CHARS = 64;

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
  return trimmed;
}
