import { randomBytes } from "node:crypto";

const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/** Characters of an id body that encode its millisecond time. */
const TIME_LENGTH = 10;

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < TIME_LENGTH; i++) {
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

/** Characters after the prefix: 10 of time and 16 random, all from CROCKFORD. */
const ID_BODY_LENGTH = 26;

/**
 * One kind of id the API hands out (payments, webhook events, …): how to make one, and the one
 * definition of what such an id looks like. Text of any other shape names nothing that could
 * exist, so routes answer it without a query — which is also what keeps a NUL byte, an unpaired
 * surrogate or a megabyte of path away from the database.
 */
export interface IdKind {
  readonly prefix: string;
  /** Anchored; for documentation (OpenAPI `pattern`) and for matching. */
  readonly pattern: RegExp;
  /** The OpenAPI `pattern` and `examples` of such an id. */
  readonly doc: { pattern: string; examples: string[] };
  matches(text: string): boolean;
  next(now?: number): string;
  /** The smallest id that can have been made at `ms`: ids made since then sort at or above it. */
  floor(ms: number): string;
}

export function timeOrderedIdKind(prefix: string): IdKind {
  if (!/^[a-z]{2,8}$/.test(prefix)) throw new Error(`id prefix ${JSON.stringify(prefix)} must be 2 to 8 lower-case letters`);
  const pattern = new RegExp(`^${prefix}_[${CROCKFORD}]{${ID_BODY_LENGTH}}$`);
  return {
    prefix,
    pattern,
    doc: { pattern: pattern.source, examples: [`${prefix}_01jd6z2k8m3q4r5s6t7v8w9x0y`] },
    // The length test first: a huge hostile string is dismissed without scanning it.
    matches: (text) => text.length === prefix.length + 1 + ID_BODY_LENGTH && pattern.test(text),
    next: (now) => newTimeOrderedId(prefix, now),
    floor: (ms) => `${prefix}_${encodeTime(Math.max(0, Math.floor(ms)))}${CROCKFORD[0]!.repeat(ID_BODY_LENGTH - TIME_LENGTH)}`,
  };
}

export const PAYMENT_ID = timeOrderedIdKind("pay");

export const newPaymentId = (now?: number) => PAYMENT_ID.next(now);

/** `re_…`, time ordered like payment ids, so a payment's refunds list newest first by id. */
export const REFUND_ID = timeOrderedIdKind("re");
export const newRefundId = (now?: number) => REFUND_ID.next(now);

/** `dp_…`, time ordered: a payment's disputes list newest first by id (docs/CONTRACT.md §10). */
export const DISPUTE_ID = timeOrderedIdKind("dp");
