// Reading a request's arguments: a missing or mistyped one is bad_argument, with a message
// that names it. Unknown fields are ignored, so newer clients can talk to older servers.

import { ProtocolError } from "./protocol-error.js";

export type Args = Readonly<Record<string, unknown>>;

export function stringArg(args: Args, name: string): string {
  const value = args[name];
  if (typeof value !== "string") throw new ProtocolError("bad_argument", `"${name}" must be a string`);
  return value;
}

export function optionalStringArg(args: Args, name: string): string | undefined {
  return args[name] === undefined ? undefined : stringArg(args, name);
}

export function integerArg(args: Args, name: string): number {
  const value = args[name];
  if (!Number.isSafeInteger(value)) throw new ProtocolError("bad_argument", `"${name}" must be an integer`);
  return value as number;
}

export function optionalIntegerArg(args: Args, name: string): number | undefined {
  return args[name] === undefined ? undefined : integerArg(args, name);
}
