/** Integer minor units a payment may be for: intake validates and documents them, the payments table checks them. */
export const MIN_AMOUNT = 1;
export const MAX_AMOUNT = 99_999_999;

/** An integer count of 10^-decimals units as a decimal string: (1999, 2) → "19.99", (500, 0) → "500", (5, 3) → "0.005". */
export function formatDecimal(units: number, decimals: number): string {
  const sign = units < 0 ? "-" : "";
  const digits = String(Math.abs(units));
  if (decimals === 0) return sign + digits;
  const padded = digits.padStart(decimals + 1, "0");
  return `${sign}${padded.slice(0, -decimals)}.${padded.slice(-decimals)}`;
}
