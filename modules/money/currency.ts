/**
 * ISO 4217 currencies we accept, with their minor-unit exponent (how many decimal
 * places the minor unit has, i.e. amount = major × 10^exponent).
 *
 * Source: ISO 4217 list one as published 2026-01-01. Left out on purpose:
 * - codes that are not money a card can be charged in: precious metals (XAU XAG XPD XPT),
 *   testing / no-currency (XTS XXX), bond-market and accounting units (XBA XBB XBC XBD XDR
 *   XSU XUA XAD);
 * - withdrawn codes (HRK, SLL, VEF, MRO, STD, CUC, ZWL, ANG → XCG, BGN → EUR since 2026).
 * The remaining fund codes (BOV CHE CHW CLF COU MXV USN UYI UYW) are part of the active
 * list and are kept.
 */

const CODES_BY_EXPONENT: Readonly<Record<number, string>> = {
  0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
  2: `AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP
      BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB
      EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES
      KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
      MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD
      RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP
      TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG`,
  3: "BHD IQD JOD KWD LYD OMR TND",
  4: "CLF UYW",
};

/** Upper-case code → exponent. A Map, so request-supplied keys can never hit Object.prototype. */
const EXPONENTS: ReadonlyMap<string, number> = new Map(
  Object.entries(CODES_BY_EXPONENT).flatMap(([exponent, codes]) =>
    codes
      .trim()
      .split(/\s+/)
      .map((code): [string, number] => [code, Number(exponent)]),
  ),
);

/** Every accepted code, upper-case (the API documents them). */
export const SUPPORTED_CURRENCY_CODES: readonly string[] = [...EXPONENTS.keys()].sort();

/**
 * ASCII-only guard before upper-casing: `toUpperCase` maps some non-ASCII letters onto ASCII
 * (e.g. "ſ" → "S"), which would otherwise let "uſd" through as USD.
 */
const THREE_ASCII_LETTERS = /^[A-Za-z]{3}$/;

/** The upper-case form of a supported currency code (any letter case accepted), else undefined. */
export function normalizeCurrencyCode(code: string): string | undefined {
  if (!THREE_ASCII_LETTERS.test(code)) return undefined;
  const upper = code.toUpperCase();
  return EXPONENTS.has(upper) ? upper : undefined;
}

export function isSupportedCurrency(code: string): boolean {
  return normalizeCurrencyCode(code) !== undefined;
}

/** Number of decimal places of the currency's minor unit (0 for JPY, 2 for USD, 3 for KWD…). */
export function currencyExponent(code: string): number | undefined {
  const normalized = normalizeCurrencyCode(code);
  return normalized === undefined ? undefined : EXPONENTS.get(normalized);
}
