// Random requests for the fault tests: every op of the protocol, each argument sometimes
// plausible, sometimes any JSON at all, sometimes missing; and what each op may answer.
// Lines are built as JSON text, so values JSON.stringify cannot produce (1e400, -0, 1.0,
// integers past 2^53, lone surrogate escapes) reach the server too.

import fc from "fast-check";
import { type ErrorCode, OPS, type Op } from "../../server/protocol/messages.js";
import { PASSWORD } from "../helpers/test-client.js";

/** Each op's arguments, as the protocol's table names them. */
export const ARGUMENTS: Readonly<Record<Op, readonly string[]>> = {
  hello: ["version", "client"],
  register: ["user", "password", "name"],
  login: ["user", "password", "device"],
  logout: [],
  unregister: ["password"],
  send: ["to", "text", "cid"],
  ack: ["upTo"],
  read: ["with", "upTo"],
  users: ["after", "limit"],
  history: ["with", "before", "limit"],
  ping: [],
  devices: [],
  forget_device: ["device"],
  room_create: ["room", "members"],
  room_add: ["room", "user"],
  room_remove: ["room", "user"],
  room_leave: ["room"],
  rooms: [],
  room_members: ["room"],
};

/**
 * The error codes each op may answer with: the protocol's table, bad_argument for every op that
 * takes arguments, not_logged_in for every op that needs a session, and rate_limited for
 * unregister (server/protocol/README.md: it counts as a failed log-in) and register (the
 * registration limit). `unavailable` is left out on purpose: these tests run on a healthy disk,
 * where it would mean a broken store.
 */
export const OP_ERROR_CODES: Readonly<Record<Op, readonly ErrorCode[]>> = {
  hello: ["bad_argument", "unsupported_version"],
  register: ["bad_argument", "invalid_username", "weak_password", "user_exists", "rate_limited"],
  login: ["bad_argument", "bad_credentials", "rate_limited"],
  logout: ["not_logged_in"],
  unregister: ["not_logged_in", "bad_argument", "bad_credentials", "rate_limited"],
  send: [
    "not_logged_in",
    "bad_argument",
    "no_such_user",
    "empty_text",
    "text_too_long",
    "invalid_text",
    "bad_cid",
    "mailbox_full",
    "rate_limited",
    "no_such_room",
    "not_member",
  ],
  ack: [],
  read: ["not_logged_in", "bad_argument", "no_such_user", "no_such_room", "not_member"],
  users: ["not_logged_in", "bad_argument"],
  history: ["not_logged_in", "bad_argument", "no_such_user", "no_such_room", "not_member"],
  ping: [],
  devices: ["not_logged_in"],
  forget_device: ["not_logged_in", "bad_argument", "no_such_device"],
  room_create: [
    "not_logged_in",
    "bad_argument",
    "invalid_room",
    "room_exists",
    "no_such_user",
    "too_many_members",
  ],
  room_add: [
    "not_logged_in",
    "bad_argument",
    "no_such_room",
    "not_member",
    "no_such_user",
    "too_many_members",
  ],
  room_remove: ["not_logged_in", "bad_argument", "no_such_room", "not_member", "not_owner", "no_such_user"],
  room_leave: ["not_logged_in", "bad_argument", "no_such_room", "not_member"],
  rooms: ["not_logged_in"],
  room_members: ["not_logged_in", "bad_argument", "no_such_room", "not_member"],
};

/** Fields every ok response of the op carries (beyond rid and ok). */
export const OK_FIELDS: Readonly<Record<Op, readonly string[]>> = {
  hello: ["server", "version", "limits"],
  register: ["user"],
  login: ["user", "pending"],
  logout: [],
  unregister: [],
  send: ["id", "at", "duplicate"],
  ack: [],
  read: [],
  users: ["users", "more"],
  history: ["messages"],
  ping: ["at"],
  devices: ["devices"],
  forget_device: [],
  room_create: ["room"],
  room_add: [],
  room_remove: [],
  room_leave: [],
  rooms: ["rooms"],
  room_members: ["members"],
};

/** Error events a connection may get for framing: never `internal`. */
export const FRAMING_EVENT_CODES: readonly ErrorCode[] = [
  "bad_frame",
  "unknown_op",
  "frame_too_large",
  "too_many_errors",
];

/** Characters at the edges of the text rules, of XML 1.0, of UTF-16 and of JSON. */
const EDGE_CHARACTERS = [
  " ",
  "\t",
  "\n",
  "\r",
  "\u000b",
  "\u0000",
  "\u0008",
  "\u001f",
  "\u007f",
  "\u0084",
  "\u0085",
  "\u0086",
  "\u009f",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\u3000",
  "\ufeff",
  "\ufffd",
  "\ufffe",
  "\uffff",
  "\ud800",
  "\udfff",
  "\u{1f600}",
  "\u{10ffff}",
  "é",
  "&",
  "<",
  ">",
  "]]>",
  "<![CDATA[",
  "&amp;",
  '"',
  "\\",
  "a",
  "Z",
  "0",
];

/** Message-like texts: mostly short, often full of edge characters, sometimes at the length limit. */
export const trickyText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...EDGE_CHARACTERS), maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "x".repeat(4096),
      "x".repeat(4097),
      "\u{1f600}".repeat(4096),
      "\u{1f600}".repeat(4097),
      ` ${"y ".repeat(2000)}`,
    ),
  },
);

/** Literals worth sending that JSON.stringify never writes. */
const ODD_JSON_LITERALS = [
  "1e400",
  "-1e400",
  "-0",
  "1.0",
  "1e0",
  "0.5",
  "9007199254740993",
  "-9007199254740993",
  "1e-400",
  '"\\ud800"',
  '"\\u0000"',
  "[]",
  "{}",
  "null",
  "true",
  '{"__proto__":{"x":1}}',
  `${"[".repeat(200)}1${"]".repeat(200)}`,
];

/** Any JSON value, as text. */
export const anyJsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_JSON_LITERALS) },
);

const validUserName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/);
const integerLike = fc.oneof(
  fc.integer({ min: -2, max: 2000 }),
  fc.constantFrom(0, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 31, -(2 ** 31)),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

function plausible(name: string, userNames: readonly string[]): fc.Arbitrary<unknown> {
  const userName = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...userNames) },
    { weight: 2, arbitrary: validUserName },
    { weight: 1, arbitrary: trickyText },
    { weight: 1, arbitrary: fc.constantFrom("", "x".repeat(33), "nobody-here") },
  );
  switch (name) {
    case "version":
      return fc.oneof(fc.constant(1), fc.integer({ min: -3, max: 5 }), fc.constantFrom("1", 1.5));
    case "user":
    case "to":
    case "with":
    case "after":
      return userName;
    case "password":
      return fc.oneof(
        { weight: 3, arbitrary: fc.constant(PASSWORD) },
        { weight: 2, arbitrary: trickyText },
        { weight: 1, arbitrary: fc.constantFrom("short", "p".repeat(1024), "p".repeat(1025)) },
      );
    case "cid":
      return fc.oneof(fc.string({ maxLength: 70 }), fc.constantFrom("", "c".repeat(64), "c".repeat(65)));
    case "upTo":
    case "before":
      return integerLike;
    case "limit":
      return fc.oneof(fc.integer({ min: -5, max: 250 }), integerLike);
    default:
      return trickyText;
  }
}

/** One argument: plausible, any JSON, or missing (undefined). */
function argumentText(name: string, userNames: readonly string[]): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 6, arbitrary: plausible(name, userNames).map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: anyJsonText },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const reserved = new Set(["op", "rid", ...Object.values(ARGUMENTS).flat()]);

/** A request's body: its op and each argument as JSON text, plus unknown fields to ignore. */
export interface RequestBody {
  readonly op: Op;
  readonly fields: ReadonlyArray<readonly [string, string]>;
}

/** Random arguments for `op`; `userNames` are accounts the server may know (to, with, user). */
export function requestBody(op: Op, userNames: readonly string[]): fc.Arbitrary<RequestBody> {
  const named = ARGUMENTS[op].map((name) =>
    argumentText(name, userNames).map((text) => [name, text] as const),
  );
  const unknown = fc.array(
    fc.tuple(
      fc.string({ maxLength: 8 }).filter((key) => !reserved.has(key)),
      anyJsonText,
    ),
    { maxLength: 2 },
  );
  return fc.tuple(fc.tuple(...named), unknown).map(([args, extra]) => ({
    op,
    fields: [...args.filter((pair): pair is readonly [string, string] => pair[1] !== undefined), ...extra],
  }));
}

/** A random request to any op, each op equally likely unless `weights` (integers) say otherwise. */
export function anyRequestBody(
  userNames: readonly string[],
  weights: Partial<Readonly<Record<Op, number>>> = {},
): fc.Arbitrary<RequestBody> {
  return fc.oneof(...OPS.map((op) => ({ weight: weights[op] ?? 1, arbitrary: requestBody(op, userNames) })));
}

/** The request as one line of JSON text, with its newline. */
export function requestLine(body: RequestBody, rid: string | number): string {
  const fields = [`"op":${JSON.stringify(body.op)}`, `"rid":${JSON.stringify(rid)}`];
  for (const [name, text] of body.fields) fields.push(`${JSON.stringify(name)}:${text}`);
  return `{${fields.join(",")}}\n`;
}
