/**
 * Snowflake helpers. Ids are decimal strings of up to 20 digits, beyond the range a JS
 * number holds exactly, so they are compared as strings (shorter is smaller) or BigInt.
 */

export const EPOCH_MS = 1420070400000n; // Discord's epoch, which Spectrus keeps

export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function idTime(id: string): number {
  return Number((BigInt(id) >> 22n) + EPOCH_MS);
}

let counter = 0;

/** A nonce as Discord's clients make them: a snowflake for now (at most 25 characters,
 * which the API requires), unique within this page by its counter bits. */
export function makeNonce(now: number = Date.now()): string {
  counter = (counter + 1) & 0xfff;
  const random = BigInt(Math.floor(Math.random() * 0x3ff)) << 12n;
  return ((BigInt(now) - EPOCH_MS) << 22n | random | BigInt(counter)).toString();
}
