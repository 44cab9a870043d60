import { randomBytes } from "node:crypto";

const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** 80 random bits as 16 base32 digits (each 0..31). */
function randomDigits(): number[] {
  const bytes = randomBytes(10);
  const digits: number[] = [];
  let value = 0;
  let bits = 0;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      digits.push((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  return digits;
}

let lastTime = 0;
let lastDigits: number[] = [];

/**
 * Time-ordered opaque ids (ULID layout: 48-bit millisecond time + 80 random bits, base32),
 * monotonic within a process: ids made in the same millisecond increment the random part, so
 * "newest first" by id holds even for payments created back to back.
 */
export function newTimeOrderedId(prefix: string, now = Date.now()): string {
  let digits: number[];
  if (now <= lastTime) {
    digits = [...lastDigits];
    for (let i = digits.length - 1; i >= 0; i--) {
      if (digits[i]! < 31) {
        digits[i]!++;
        break;
      }
      digits[i] = 0;
    }
    now = lastTime;
  } else {
    digits = randomDigits();
  }
  lastTime = now;
  lastDigits = digits;
  return `${prefix}_${encodeTime(now)}${digits.map((d) => CROCKFORD[d]).join("")}`;
}

export const newPaymentId = (now?: number) => newTimeOrderedId("pay", now);
