/**
 * Stripe's own units: the `amount` of a PaymentIntent is an integer in Stripe's minor unit of the
 * currency, which is not always ISO 4217's. Source: Stripe's "Supported currencies" page,
 * https://docs.stripe.com/currencies (sections "Supported presentment currencies",
 * "Zero-decimal currencies", "Three-decimal currencies" and "Special cases"), and
 * https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds.
 *
 * Where Stripe and ISO 4217 differ:
 * - MGA: ISO gives it 2 decimals, Stripe takes whole ariary (zero-decimal): 1050 (10.50 MGA) cannot
 *   be charged, 1000 is sent as 10.
 * - ISK and UGX: ISO gives them 0 decimals; Stripe's special cases say "backward compatibility
 *   requires you to represent it as a two-decimal value, where the decimal amount is always `00`.
 *   For example, to charge 5 ISK, provide an `amount` value of `500`" (the same for UGX, although the
 *   page also lists UGX among the zero-decimal currencies; Stripe's API refuses a UGX amount not
 *   divisible by 100, "Currency UGX has become effectively zero-decimal and charged amounts must be
 *   evenly divisible by 100", so the special case is the rule).
 * - Three-decimal currencies (BHD JOD KWD OMR TND) go as-is, but "these API calls require the
 *   least-significant (last) digit to be 0": 5124 (5.124 KWD) cannot be charged exactly.
 * - HUF and TWD are "zero-decimal for payouts, even though you can charge two-decimal amounts":
 *   a charge takes any two-decimal amount, so they need no rule of their own here.
 * A currency not on Stripe's presentment list (IQD, LYD, CLF, …) is refused. Minimum charge
 * amounts are not checked: Stripe applies them after converting to the account's settlement
 * currency, which this service does not know.
 */

import type { GatewayAmount } from "../port";
import { type CurrencyRule, fromGatewayMinorUnits, toGatewayMinorUnits } from "../units";

/**
 * Stripe's presentment currencies, "two-decimal currencies unless otherwise specified". Which of
 * them an account may charge in depends on its country; the three-decimal ones (last line) are
 * listed for accounts in the United Arab Emirates. ANG, BGN and STD are withdrawn from ISO 4217,
 * so intake never lets them through.
 */
const PRESENTMENT_CURRENCIES = `
  USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BIF BMD BND BOB BRL BSD BWP BYN BZD
  CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GNF GTQ
  GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JPY KES KGS KHR KMF KRW KYD KZT LAK LBP LKR LRD LSL MAD
  MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN
  PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SOS SRD STD SZL THB TJS TOP TRY TTD TWD TZS
  UAH UGX UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
  BHD JOD KWD OMR TND`;

/** "For the following zero-decimal currencies, the charge and the amount are the same". */
const ZERO_DECIMAL = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF";
const THREE_DECIMAL = "BHD JOD KWD OMR TND";
/** Whole units written with two decimals that are always 00 (the special cases above). */
const WHOLE_UNITS_AS_TWO_DECIMALS = "ISK UGX";

const codes = (list: string): string[] => list.trim().split(/\s+/);

const RULES: ReadonlyMap<string, CurrencyRule> = new Map([
  ...codes(PRESENTMENT_CURRENCIES).map((code): [string, CurrencyRule] => [code, { decimals: 2, multipleOf: 1 }]),
  ...codes(ZERO_DECIMAL).map((code): [string, CurrencyRule] => [code, { decimals: 0, multipleOf: 1 }]),
  ...codes(THREE_DECIMAL).map((code): [string, CurrencyRule] => [code, { decimals: 3, multipleOf: 10 }]),
  ...codes(WHOLE_UNITS_AS_TWO_DECIMALS).map((code): [string, CurrencyRule] => [code, { decimals: 2, multipleOf: 100 }]),
]);

/** Our amount (ISO 4217 minor units) as Stripe's integer `amount`, or why Stripe cannot charge it exactly. */
export function stripeAmount(amount: number, currency: string): GatewayAmount<number> {
  return toGatewayMinorUnits("stripe", amount, currency, RULES.get(currency));
}


/** An amount Stripe reports (in its units) in ISO 4217 minor units of `currency` (upper case); null when not exact. */
export function isoAmountFromStripe(value: number, currency: string): number | null {
  return fromGatewayMinorUnits(value, currency, RULES.get(currency));
}
