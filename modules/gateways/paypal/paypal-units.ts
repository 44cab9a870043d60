/**
 * PayPal's own units: Orders v2 takes `amount.value` as a decimal string ("19.99") in one of
 * PayPal's currencies. Source: PayPal's "Currency codes" page,
 * https://developer.paypal.com/docs/api/reference/currency-codes/ (also
 * https://developer.paypal.com/reference/currency-codes/): "The PayPal REST Payments API supports
 * these currencies", HUF, JPY and TWD marked "This currency does not support decimals. If you pass
 * a decimal amount, an error occurs." PayPal answers such a value with DECIMALS_NOT_SUPPORTED and
 * an unlisted currency with CURRENCY_NOT_SUPPORTED
 * (https://developer.paypal.com/api/rest/reference/orders/v2/errors/).
 *
 * ISO 4217 gives HUF and TWD two decimals, so an amount of 1050 HUF minor units (10.50 HUF) cannot
 * be sent to PayPal exactly and is refused, while 1000 goes as "10". BRL, CNY and MYR are listed
 * for in-country accounts only; INR is left out, as PayPal has offered no domestic payments in
 * India since 1 April 2021 (same page).
 */

import type { GatewayAmount } from "../port";
import { formatDecimal } from "../../money";
import { type CurrencyRule, currencyNotSupported, fromGatewayMinorUnits, toGatewayMinorUnits } from "../units";

const TWO_DECIMALS: CurrencyRule = { decimals: 2, multipleOf: 1 };
const NO_DECIMALS: CurrencyRule = { decimals: 0, multipleOf: 1 };

const RULES: ReadonlyMap<string, CurrencyRule> = new Map([
  ...["AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "ILS", "MYR", "MXN", "NZD", "NOK", "PHP", "PLN", "GBP", "RUB", "SGD", "SEK", "CHF", "THB", "USD"].map(
    (code): [string, CurrencyRule] => [code, TWO_DECIMALS],
  ),
  ...["HUF", "JPY", "TWD"].map((code): [string, CurrencyRule] => [code, NO_DECIMALS]),
]);

/** Our amount (ISO 4217 minor units) as PayPal's `amount.value`, or why PayPal cannot charge it exactly. */
export function paypalAmount(amount: number, currency: string): GatewayAmount<string> {
  const rule = RULES.get(currency);
  if (rule === undefined) return currencyNotSupported("paypal");
  const units = toGatewayMinorUnits("paypal", amount, currency, rule);
  return units.ok ? { ok: true, value: formatDecimal(units.value, rule.decimals) } : units;
}

/** An amount PayPal reports (`{ currency_code, value: "10.00" }`) in ISO 4217 minor units; null when not exact. */
export function isoAmountFromPaypal(value: string, currency: string): number | null {
  const rule = RULES.get(currency);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (rule === undefined || match === null) return null;
  const fraction = match[2] ?? "";
  if (fraction.length > rule.decimals) return null;
  return fromGatewayMinorUnits(Number(`${match[1]}${fraction.padEnd(rule.decimals, "0")}`), currency, rule);
}
