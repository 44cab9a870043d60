/**
 * Card checks on already-typed values: number format, brand by IIN, length per brand,
 * Luhn, CVC and expiry. The request validator turns their outcomes into field errors;
 * nothing here ever echoes a card number or CVC.
 */

export type CardBrand = "visa" | "mastercard" | "amex" | "discover" | "diners" | "jcb" | "unionpay" | "maestro";

/** An IIN range: card numbers whose first `min.length` digits lie in [min, max]. */
interface IinRange {
  readonly brand: CardBrand;
  readonly min: string;
  readonly max: string;
}

function iin(brand: CardBrand, min: string, max: string = min): IinRange {
  return { brand, min, max };
}

/**
 * First match wins. The ranges are disjoint except Discover's co-branded 622126–622925,
 * which sits inside UnionPay's 62 and must therefore come before it.
 */
const IIN_RANGES: readonly IinRange[] = [
  iin("visa", "4"),
  iin("mastercard", "51", "55"),
  iin("mastercard", "2221", "2720"),
  iin("amex", "34"),
  iin("amex", "37"),
  iin("discover", "6011"),
  iin("discover", "644", "649"),
  iin("discover", "65"),
  iin("discover", "622126", "622925"),
  iin("diners", "300", "305"),
  iin("diners", "36"),
  iin("diners", "38", "39"),
  iin("jcb", "3528", "3589"),
  iin("unionpay", "62"),
  iin("unionpay", "81"),
  iin("maestro", "5018"),
  iin("maestro", "5020"),
  iin("maestro", "5038"),
  iin("maestro", "5893"),
  iin("maestro", "6304"),
  iin("maestro", "6759"),
  iin("maestro", "6761", "6763"),
];

function lengthsBetween(min: number, max: number): readonly number[] {
  return Array.from({ length: max - min + 1 }, (_, i) => min + i);
}

const VALID_LENGTHS: Readonly<Record<CardBrand, readonly number[]>> = {
  visa: [13, 16, 19],
  mastercard: [16],
  amex: [15],
  discover: lengthsBetween(16, 19),
  diners: lengthsBetween(14, 19),
  jcb: lengthsBetween(16, 19),
  unionpay: lengthsBetween(16, 19),
  maestro: lengthsBetween(12, 19),
};

/** Digit groups separated by single spaces or dashes ("4242 4242-4242 4242"). */
const CARD_NUMBER_FORMAT = /^\d+(?:[ -]\d+)*$/;

/**
 * The digits of a card number as typed by a person, or undefined when it contains anything
 * other than digits and single space/dash separators. Surrounding whitespace is ignored.
 */
export function normalizeCardNumber(input: string): string | undefined {
  const trimmed = input.trim();
  return CARD_NUMBER_FORMAT.test(trimmed) ? trimmed.replace(/[ -]/g, "") : undefined;
}

export function detectBrand(digits: string): CardBrand | undefined {
  for (const { brand, min, max } of IIN_RANGES) {
    if (digits.length < min.length) continue;
    // Same-length digit strings compare like the numbers they spell.
    const prefix = digits.slice(0, min.length);
    if (prefix >= min && prefix <= max) return brand;
  }
  return undefined;
}

export function isValidLengthForBrand(brand: CardBrand, length: number): boolean {
  return VALID_LENGTHS[brand].includes(length);
}

/** Luhn mod-10 checksum over a string of ASCII digits. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    // Double every second digit counting from the rightmost (check) digit.
    const doubled = (digits.length - i) % 2 === 0;
    const digit = digits.charCodeAt(i) - 48;
    const contribution = doubled ? digit * 2 : digit;
    sum += contribution > 9 ? contribution - 9 : contribution;
  }
  return digits.length > 0 && sum % 10 === 0;
}

export type CardNumberCheck =
  | { ok: true; brand: CardBrand }
  | { ok: false; code: "card_brand_unsupported"; brand: undefined }
  | { ok: false; code: "invalid_length" | "luhn_check_failed"; brand: CardBrand };

/**
 * Brand, then length, then checksum: each step only makes sense once the previous one
 * passed, so a number gets at most one of these errors. The brand is returned even for a
 * bad length or checksum so the CVC can still be checked against it.
 */
export function checkCardNumber(digits: string): CardNumberCheck {
  const brand = detectBrand(digits);
  if (brand === undefined) return { ok: false, code: "card_brand_unsupported", brand };
  if (!isValidLengthForBrand(brand, digits.length)) return { ok: false, code: "invalid_length", brand };
  if (!passesLuhn(digits)) return { ok: false, code: "luhn_check_failed", brand };
  return { ok: true, brand };
}

/** Amex prints a 4-digit CID, everyone else a 3-digit CVC; without a known brand accept either. */
export function isValidCvc(cvc: string, brand: CardBrand | undefined): boolean {
  if (brand === undefined) return /^\d{3,4}$/.test(cvc);
  return brand === "amex" ? /^\d{4}$/.test(cvc) : /^\d{3}$/.test(cvc);
}

export function isValidExpMonth(month: number): boolean {
  return Number.isInteger(month) && month >= 1 && month <= 12;
}

export function isValidExpYear(year: number): boolean {
  return Number.isInteger(year) && year >= 1000 && year <= 9999;
}

/** Cards are valid through the last instant of their expiry month, in UTC. */
export function isExpired(expMonth: number, expYear: number, now: Date): boolean {
  // Month index `expMonth` (0-based) is the month after expiry; Date.UTC rolls 12 into January.
  const firstInstantAfterExpiry = Date.UTC(expYear, expMonth, 1);
  return now.getTime() >= firstInstantAfterExpiry;
}

export const MAX_EXPIRY_YEARS_AHEAD = 20;

/** No issuer prints expiries this far out; such a year is almost certainly a typo. */
export function isExpiryTooFar(expYear: number, now: Date): boolean {
  return expYear > now.getUTCFullYear() + MAX_EXPIRY_YEARS_AHEAD;
}
