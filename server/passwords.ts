// Password hashing with scrypt. Each hash carries its own parameters
// ("scrypt$N$r$p$salt$hash", base64 parts), so the cost can be raised later and old
// hashes still verify.

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { ConcurrencyLimit } from "./concurrency-limit.js";

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;

function derive(
  password: string,
  salt: Buffer,
  cost: number,
  blockSize: number,
  parallelism: number,
): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; Node refuses above 32 MiB unless told.
  const maxmem = 128 * cost * blockSize * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, { N: cost, r: blockSize, p: parallelism, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashPassword(password: string, cost: number): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost, BLOCK_SIZE, PARALLELISM);
  return ["scrypt", cost, BLOCK_SIZE, PARALLELISM, salt.toString("base64"), key.toString("base64")].join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [cost, blockSize, parallelism] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  const actual = await derive(password, salt, cost, blockSize, parallelism);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * scrypt runs on libuv's pool of four threads, which file and DNS work share. Two at a time keep
 * a flood of log-ins from taking them all; the rest queue in arrival order, so a log-in waits
 * behind the checks already asked for, not behind an unbounded crowd.
 */
const MAX_SCRYPT_IN_FLIGHT = 2;

/**
 * Checks a password against an account, or against a decoy when there is no account, so that
 * an unknown user name costs the same scrypt work as a wrong password and cannot be told apart.
 */
export class PasswordChecker {
  readonly #cost: number;
  readonly #scrypt = new ConcurrencyLimit(MAX_SCRYPT_IN_FLIGHT);
  #decoy: Promise<string> | undefined;

  constructor(cost: number) {
    this.#cost = cost;
  }

  hash(password: string): Promise<string> {
    return this.#scrypt.run(() => hashPassword(password, this.#cost));
  }

  async check(password: string, storedHash: string | undefined): Promise<boolean> {
    if (storedHash !== undefined) return this.#scrypt.run(() => verifyPassword(password, storedHash));
    this.#decoy ??= hashPassword(randomBytes(12).toString("base64"), this.#cost);
    const decoy = await this.#decoy;
    await this.#scrypt.run(() => verifyPassword(password, decoy));
    return false;
  }
}
