import { describe, expect, test } from "bun:test";
import Stripe from "stripe";
import { acceptsEveryCard } from "../../modules/gateways/configuration";
import { mapErrorResponse } from "../../modules/gateways/paypal/paypal-mapping";
import { mapOperationError, mapStripeError } from "../../modules/gateways/stripe/stripe-mapping";
import { STRIPE_TEST_PAYMENT_METHODS, stripeCardAcceptance, stripeCardRoute, stripeTestPaymentMethodCard } from "../../modules/gateways/stripe/stripe-test-payment-methods";
import { stripeAmount } from "../../modules/gateways/stripe/stripe-units";
import { validatePaymentRequest } from "../../modules/intake";
import { CARDS, paymentBody } from "../support/payments";

const NOW = new Date("2026-12-07T12:00:00Z");
const TEST_KEY = "sk_test_abc";

/** Stripe's answer to raw card numbers on an account without raw card data APIs (test mode). */
const RAW_CARD_REFUSAL =
  "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest you use test tokens that map to the test card you are using, see https://stripe.com/docs/testing. To enable raw card data APIs in test mode, see https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis.";

describe("Stripe test card numbers → Stripe's test PaymentMethods", () => {
  test("the README examples' cards and the simulator's decline cards each have their PaymentMethod", () => {
    expect(STRIPE_TEST_PAYMENT_METHODS).toMatchObject({
      [CARDS.visa]: "pm_card_visa",
      [CARDS.mastercard]: "pm_card_mastercard",
      [CARDS.amex]: "pm_card_amex",
      [CARDS.declined]: "pm_card_chargeDeclined",
      [CARDS.insufficientFunds]: "pm_card_chargeDeclinedInsufficientFunds",
      [CARDS.lostCard]: "pm_card_chargeDeclinedLostCard",
      [CARDS.stolenCard]: "pm_card_chargeDeclinedStolenCard",
      [CARDS.expiredCard]: "pm_card_chargeDeclinedExpiredCard",
      [CARDS.incorrectCvc]: "pm_card_chargeDeclinedIncorrectCvc",
      [CARDS.processingError]: "pm_card_chargeDeclinedProcessingError",
    });
  });

  test("each test PaymentMethod names its card (number and brand), the one the simulator charges for it", () => {
    expect(stripeTestPaymentMethodCard("pm_card_visa")).toEqual({ number: CARDS.visa, brand: "visa" });
    expect(stripeTestPaymentMethodCard("pm_card_mastercard")).toEqual({ number: CARDS.mastercard, brand: "mastercard" });
    expect(stripeTestPaymentMethodCard("pm_card_amex")).toEqual({ number: CARDS.amex, brand: "amex" });
    expect(stripeTestPaymentMethodCard("pm_card_visa_debit")).toEqual({ number: "4000056655665556", brand: "visa" });
    expect(stripeTestPaymentMethodCard("pm_card_chargeDeclinedInsufficientFunds")).toEqual({ number: CARDS.insufficientFunds, brand: "visa" });
    expect(stripeTestPaymentMethodCard("pm_card_unknown")).toBeUndefined();
    for (const [number, paymentMethod] of Object.entries(STRIPE_TEST_PAYMENT_METHODS)) expect(stripeTestPaymentMethodCard(paymentMethod)?.number).toBe(number);
  });

  test("README's table is the adapter's table, row for row", async () => {
    const readme = await Bun.file(`${import.meta.dir}/../../README.md`).text();
    const rows = [...readme.matchAll(/^\| `?(\d[\d ]+\d)`? \| `(pm_card_\w+)` \|/gm)].map(([, number, pm]) => [number?.replaceAll(" ", ""), pm]);
    expect(Object.fromEntries(rows)).toEqual(STRIPE_TEST_PAYMENT_METHODS);
  });

  test("with raw card data off and a test key (secret or restricted), a test number goes as its PaymentMethod", () => {
    for (const secretKey of [TEST_KEY, "rk_test_abc"]) {
      expect(stripeCardRoute(CARDS.visa, { secretKey, rawCardData: false })).toEqual({ send: "payment_method", paymentMethod: "pm_card_visa" });
      expect(stripeCardAcceptance(CARDS.declined, { secretKey, rawCardData: false })).toEqual({ ok: true });
    }
  });

  test("with raw card data off, another number with a test key, and any card with a live key, is not accepted", () => {
    for (const [number, secretKey] of [["4111111111111111", TEST_KEY], [CARDS.visa, "sk_live_abc"], [CARDS.visa, "rk_live_abc"]] as const) {
      expect(stripeCardRoute(number, { secretKey, rawCardData: false })).toMatchObject({ send: "nothing" });
      const acceptance = stripeCardAcceptance(number, { secretKey, rawCardData: false });
      expect(acceptance).toEqual({ ok: false, code: "card_data_not_accepted", message: expect.stringContaining("paymentMethod") });
    }
  });

  test("with raw card data on, every card goes as raw card data, with either key", () => {
    for (const secretKey of [TEST_KEY, "sk_live_abc"]) {
      expect(stripeCardRoute("4111111111111111", { secretKey, rawCardData: true })).toEqual({ send: "raw_card_data" });
      expect(stripeCardRoute(CARDS.visa, { secretKey, rawCardData: true })).toEqual({ send: "raw_card_data" });
    }
  });
});

describe("intake asks the configured gateway whether it may be sent the card", () => {
  const stripe = (secretKey: string, rawCardData = false) => ({
    toGatewayAmount: stripeAmount,
    acceptsCardData: (number: string) => stripeCardAcceptance(number, { secretKey, rawCardData }),
  });
  const failures = (body: unknown, gateway: ReturnType<typeof stripe>) => {
    const result = validatePaymentRequest(body, NOW, gateway);
    return result.ok ? [] : result.errors.map((error) => `${error.field}:${error.code}`);
  };

  test("a number that is not a Stripe test card, with a test key, is refused as card_data_not_accepted, telling to send a paymentMethod", () => {
    const result = validatePaymentRequest(paymentBody("4111111111111111"), NOW, stripe(TEST_KEY));
    expect(result).toEqual({
      ok: false,
      errors: [{ field: "card", code: "card_data_not_accepted", message: expect.stringMatching(/send a paymentMethod \(a payment method id from Stripe\.js\/Elements\)/) }],
    });
    expect(JSON.stringify(result)).not.toContain("4111111111111111");
  });

  test("any card with a live key is refused", () => {
    for (const card of [CARDS.visa, "4111111111111111"]) expect(failures(paymentBody(card), stripe("sk_live_abc"))).toEqual(["card:card_data_not_accepted"]);
  });

  test("a Stripe test card with a test key, and any card with raw card data on, are accepted", () => {
    expect(failures(paymentBody("4242 4242 4242 4242"), stripe(TEST_KEY))).toEqual([]);
    expect(failures(paymentBody("4111111111111111"), stripe("sk_live_abc", true))).toEqual([]);
  });

  test("an invalid card number gets only its own error", () => {
    expect(failures(paymentBody("4111111111111112"), stripe("sk_live_abc"))).toEqual(["card.number:luhn_check_failed"]);
  });

  test("the simulator and PayPal accept every card", () => {
    expect(acceptsEveryCard()).toEqual({ ok: true });
    expect(validatePaymentRequest(paymentBody("4111111111111111"), NOW, { toGatewayAmount: stripeAmount, acceptsCardData: acceptsEveryCard }).ok).toBe(true);
  });
});

describe("an account unable to do what was asked is a configuration error, never a card decline", () => {
  test("Stripe's refusal of raw card data (400 invalid_request_error, no code)", () => {
    const error = new Stripe.errors.StripeInvalidRequestError({ statusCode: 400, type: "invalid_request_error", message: RAW_CARD_REFUSAL });
    expect(mapStripeError(error)).toEqual({ kind: "declined", code: "gateway_configuration_error", message: RAW_CARD_REFUSAL, gatewayReference: null });
    expect(mapOperationError(error)).toMatchObject({ code: "gateway_configuration_error" });
  });

  test("Stripe's live-mode wording of the same refusal", () => {
    const message =
      "Sending credit card numbers directly to the Stripe API is generally unsafe. To continue processing use Stripe.js, the Stripe mobile bindings, or Stripe Elements. For more information, see https://dashboard.stripe.com/account/integration/settings. If you are qualified to handle card data directly, see https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis.";
    expect(mapStripeError(new Stripe.errors.StripeInvalidRequestError({ statusCode: 400, message }))).toMatchObject({ code: "gateway_configuration_error" });
  });

  test("another Stripe invalid request stays gateway_invalid_request", () => {
    expect(mapStripeError(new Stripe.errors.StripeInvalidRequestError({ statusCode: 400, code: "parameter_unknown", message: "Received unknown parameter: x" }))).toMatchObject({
      code: "gateway_invalid_request",
    });
  });

  test.each(["PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING", "NOT_ENABLED_FOR_CARD_PROCESSING", "AUTH_CAPTURE_NOT_ENABLED"])("PayPal 422 %s", (issue) => {
    const body = {
      name: "UNPROCESSABLE_ENTITY",
      message: "The requested action could not be performed, semantically incorrect, or failed business validation.",
      details: [{ issue, description: "Payee account is not setup to be able to process card payments. Please contact PayPal customer support." }],
      debug_id: "b8f4b4cd8d8a1",
      links: [{ href: `https://developer.paypal.com/api/rest/reference/orders/v2/errors/#${issue.toLowerCase()}`, rel: "information_link", method: "GET" }],
    };
    expect(mapErrorResponse(422, body)).toEqual({
      kind: "declined",
      code: "gateway_configuration_error",
      message: `${issue}: Payee account is not setup to be able to process card payments. Please contact PayPal customer support. (debug_id b8f4b4cd8d8a1)`,
      gatewayReference: null,
    });
  });

  test("PayPal's card declines stay declines", () => {
    expect(mapErrorResponse(422, { name: "UNPROCESSABLE_ENTITY", details: [{ issue: "INSTRUMENT_DECLINED" }] })).toMatchObject({ code: "card_declined" });
  });
});
