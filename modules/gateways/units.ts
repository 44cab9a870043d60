/**
 * Turning our amounts (ISO 4217 minor units, the API's only unit) into a gateway's own units,
 * exactly or not at all. Each adapter owns a table of rules for its gateway; the arithmetic and
 * the refusals are shared here so that every gateway refuses alike and none ever rounds.
 */

import { currencyExponent, formatDecimal } from "../money";
import type { GatewayAmount, GatewayName, OperationOutcome } from "./port";

/** How a gateway writes amounts of one currency. */
export interface CurrencyRule {
  /** Decimal places of the gateway's amount: its integer amount counts units of 10^-decimals. */
  readonly decimals: number;
  /** The gateway's integer amount must be a multiple of this (1 when any integer goes). */
  readonly multipleOf: number;
}

/**
 * `amount` in the gateway's integer units for `rule` (undefined: the gateway does not take the
 * currency), or the refusal when that cannot be done exactly.
 */
export function toGatewayMinorUnits(
  gateway: GatewayName,
  amount: number,
  currency: string,
  rule: CurrencyRule | undefined,
): GatewayAmount<number> {
  const exponent = currencyExponent(currency);
  if (rule === undefined || exponent === undefined) return currencyNotSupported(gateway);
  if (!Number.isSafeInteger(amount)) {
    return { ok: false, code: "amount_not_supported_by_gateway", message: "must be a whole number of minor currency units" };
  }
  const shift = rule.decimals - exponent;
  const step = isoStep(rule.multipleOf, shift);
  if (amount % step !== 0) {
    const message = `must be a multiple of ${step}: the ${gateway} gateway charges ${currency} in steps of ${formatDecimal(step, exponent)}`;
    return { ok: false, code: "amount_not_supported_by_gateway", message };
  }
  const value = shift >= 0 ? amount * 10 ** shift : amount / 10 ** -shift;
  if (!Number.isSafeInteger(value)) {
    return { ok: false, code: "amount_not_supported_by_gateway", message: `is too large for the ${gateway} gateway` };
  }
  return { ok: true, value };
}

export function currencyNotSupported(gateway: GatewayName): GatewayAmount<never> {
  return { ok: false, code: "currency_not_supported_by_gateway", message: `is not a currency the ${gateway} gateway can charge` };
}

/**
 * The smallest ISO minor-unit step the gateway can express: with fewer gateway decimals than ISO
 * (`shift` < 0) whole gateway units of 10^-shift minor units each, times its own multiple; with
 * more, the multiple shrinks by what the extra decimals already provide (ISK at Stripe: 100 / 100).
 */
function isoStep(multipleOf: number, shift: number): number {
  return shift < 0 ? multipleOf * 10 ** -shift : multipleOf / greatestCommonDivisor(multipleOf, 10 ** shift);
}

function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

/** The rule of a gateway that takes every ISO 4217 currency in its ISO minor units (the simulator). */
export function isoCurrencyRule(currency: string): CurrencyRule | undefined {
  const exponent = currencyExponent(currency);
  return exponent === undefined ? undefined : { decimals: exponent, multipleOf: 1 };
}

/**
 * What a charge whose amount the gateway cannot take ends as: declined before anything is sent.
 * Intake refuses such payments, so this is reached only by a payment accepted under another
 * GATEWAY setting than the one now processing it.
 */
export function declineUnchargeable(refusal: Extract<GatewayAmount, { ok: false }>): OperationOutcome {
  return { kind: "declined", code: refusal.code, message: refusal.message, gatewayReference: null };
}

/**
 * The inverse of toGatewayMinorUnits: a gateway's integer amount in ISO 4217 minor units of
 * `currency` (an amount the gateway reports, such as a dispute's). Null when the currency or the
 * amount cannot be expressed exactly.
 */
export function fromGatewayMinorUnits(value: number, currency: string, rule: CurrencyRule | undefined): number | null {
  const exponent = currencyExponent(currency);
  if (rule === undefined || exponent === undefined || !Number.isSafeInteger(value)) return null;
  const shift = rule.decimals - exponent;
  const amount = shift >= 0 ? value / 10 ** shift : value * 10 ** -shift;
  return Number.isSafeInteger(amount) ? amount : null;
}
