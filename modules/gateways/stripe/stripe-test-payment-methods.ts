/**
 * Stripe's test PaymentMethods for its documented test card numbers (docs.stripe.com/testing:
 * "Cards by brand", "Declined payments", "Refunds", "3D Secure authentication"). An ordinary Stripe
 * account refuses raw card numbers, test mode included, unless raw card data APIs are enabled
 * (support.stripe.com/questions/enabling-access-to-raw-card-data-apis); with a test-mode key these
 * numbers are sent as their PaymentMethods instead, so README's examples work against any Stripe
 * test account. README's "Stripe test cards" table is this one.
 */

import type { CardDataAcceptance } from "../port";

export const STRIPE_TEST_PAYMENT_METHODS: Readonly<Record<string, string>> = {
  "4242424242424242": "pm_card_visa",
  "4000056655665556": "pm_card_visa_debit",
  "5555555555554444": "pm_card_mastercard",
  "5200828282828210": "pm_card_mastercard_debit",
  "5105105105105100": "pm_card_mastercard_prepaid",
  "378282246310005": "pm_card_amex",
  "6011111111111117": "pm_card_discover",
  "3056930009020004": "pm_card_diners",
  "3566002020360505": "pm_card_jcb",
  "6200000000000005": "pm_card_unionpay",
  "4000000000000002": "pm_card_chargeDeclined",
  "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
  "4000000000009987": "pm_card_chargeDeclinedLostCard",
  "4000000000009979": "pm_card_chargeDeclinedStolenCard",
  "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
  "4000000000000127": "pm_card_chargeDeclinedIncorrectCvc",
  "4000000000000119": "pm_card_chargeDeclinedProcessingError",
  "4000000000005126": "pm_card_refundFail",
  "4000002500003155": "pm_card_authenticationRequiredOnSetup",
  "4000002760003184": "pm_card_authenticationRequired",
  "4000000000003220": "pm_card_threeDSecure2Required",
};

/** The card numbers of the test PaymentMethods above, by PaymentMethod id. */
const TEST_CARD_NUMBERS: ReadonlyMap<string, string> = new Map(Object.entries(STRIPE_TEST_PAYMENT_METHODS).map(([number, paymentMethod]) => [paymentMethod, number]));

/** The brands Stripe names its brand test PaymentMethods after; its decline and behaviour test cards are all Visa (their numbers begin with 4). */
const BRANDED_TEST_PAYMENT_METHOD = /^pm_card_(visa|mastercard|amex|discover|diners|jcb|unionpay)/;

/** The card behind one of Stripe's test PaymentMethods (the table above), or undefined for any other id. */
export function stripeTestPaymentMethodCard(paymentMethod: string): { number: string; brand: string } | undefined {
  const number = TEST_CARD_NUMBERS.get(paymentMethod);
  if (number === undefined) return undefined;
  return { number, brand: BRANDED_TEST_PAYMENT_METHOD.exec(paymentMethod)?.[1] ?? "visa" };
}

/** Test-mode secret and restricted keys (docs.stripe.com/keys): only they may use test PaymentMethods. */
const TEST_MODE_KEY = /^(sk|rk)_test_/;

export interface StripeCardSettings {
  secretKey: string;
  /** STRIPE_RAW_CARD_DATA: the account has raw card data APIs enabled. */
  rawCardData: boolean;
}

/** How a card goes to Stripe: as raw card data, as its test PaymentMethod, or not at all. */
export type StripeCardRoute = { send: "raw_card_data" } | { send: "payment_method"; paymentMethod: string } | { send: "nothing"; message: string };

export const CARD_DATA_NOT_ACCEPTED_MESSAGE =
  "The Stripe account does not accept raw card numbers (STRIPE_RAW_CARD_DATA is false): send a paymentMethod (a payment method id from Stripe.js/Elements) instead of card. With a test-mode key, Stripe's test card numbers are accepted (see README).";

export function stripeCardRoute(cardNumber: string, settings: StripeCardSettings): StripeCardRoute {
  if (settings.rawCardData) return { send: "raw_card_data" };
  const paymentMethod = TEST_MODE_KEY.test(settings.secretKey) ? STRIPE_TEST_PAYMENT_METHODS[cardNumber] : undefined;
  return paymentMethod === undefined ? { send: "nothing", message: CARD_DATA_NOT_ACCEPTED_MESSAGE } : { send: "payment_method", paymentMethod };
}

export function stripeCardAcceptance(cardNumber: string, settings: StripeCardSettings): CardDataAcceptance {
  const route = stripeCardRoute(cardNumber, settings);
  return route.send === "nothing" ? { ok: false, code: "card_data_not_accepted", message: route.message } : { ok: true };
}
