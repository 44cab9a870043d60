import { describe, expect, test } from "bun:test";
import { acceptsEveryCard } from "../../modules/gateways/configuration";
import { paypalAmount } from "../../modules/gateways/paypal/paypal-units";
import { stripeAmount } from "../../modules/gateways/stripe/stripe-units";
import { validatePaymentRequest } from "../../modules/intake";
import { CARDS, paymentBody } from "../support/payments";

const NOW = new Date("2026-11-26T12:00:00Z");
// These checks are about units only: both accounts take every card here.
const stripe = { toGatewayAmount: stripeAmount, acceptsCardData: acceptsEveryCard };
const paypal = { toGatewayAmount: paypalAmount, acceptsCardData: acceptsEveryCard };

function failures(body: unknown, gateway: { toGatewayAmount: typeof stripeAmount | typeof paypalAmount; acceptsCardData: typeof acceptsEveryCard }): string[] {
  const result = validatePaymentRequest(body, NOW, gateway);
  return result.ok ? [] : result.errors.map((error) => `${error.field}:${error.code}`);
}

describe("intake asks the configured gateway whether it can charge the amount exactly", () => {
  test("a currency the gateway does not take is refused on the currency field", () => {
    expect(failures(paymentBody(CARDS.visa, { currency: "KRW", amount: 12_000 }), paypal)).toEqual(["currency:currency_not_supported_by_gateway"]);
    expect(failures(paymentBody(CARDS.visa, { currency: "iqd", amount: 1000 }), stripe)).toEqual(["currency:currency_not_supported_by_gateway"]);
  });

  test("an amount the gateway's units cannot express is refused on the amount field, never rounded", () => {
    expect(failures(paymentBody(CARDS.visa, { currency: "HUF", amount: 1050 }), paypal)).toEqual(["amount:amount_not_supported_by_gateway"]);
    expect(failures(paymentBody(CARDS.visa, { currency: "MGA", amount: 1050 }), stripe)).toEqual(["amount:amount_not_supported_by_gateway"]);
    expect(failures(paymentBody(CARDS.visa, { currency: "KWD", amount: 5124 }), stripe)).toEqual(["amount:amount_not_supported_by_gateway"]);
  });

  test("what the gateway can charge exactly passes", () => {
    for (const [currency, amount] of [["HUF", 1000], ["JPY", 500], ["USD", 1999]] as const) {
      expect(failures(paymentBody(CARDS.visa, { currency, amount }), paypal)).toEqual([]);
    }
    for (const [currency, amount] of [["MGA", 1000], ["ISK", 5], ["KWD", 5120], ["HUF", 1045], ["UGX", 3745]] as const) {
      expect(failures(paymentBody(CARDS.visa, { currency, amount }), stripe)).toEqual([]);
    }
  });

  test("the refusal is reported with every other error of the request", () => {
    const body = paymentBody("4242 4242 4242 4241", { currency: "HUF", amount: 1050, customer: { email: "nope", name: "Jane" } });
    expect(failures(body, paypal).sort()).toEqual(["amount:amount_not_supported_by_gateway", "card.number:luhn_check_failed", "customer.email:invalid_email"]);
  });

  test("with an invalid amount the currency is still checked, and the amount reported once", () => {
    expect(failures(paymentBody(CARDS.visa, { currency: "KRW", amount: 0 }), paypal)).toEqual([
      "amount:amount_too_small",
      "currency:currency_not_supported_by_gateway",
    ]);
    expect(failures(paymentBody(CARDS.visa, { currency: "HUF", amount: 10.5 }), paypal)).toEqual(["amount:amount_not_integer"]);
  });

  test("a currency outside ISO 4217 gets only the ISO error", () => {
    expect(failures(paymentBody(CARDS.visa, { currency: "ABC" }), stripe)).toEqual(["currency:currency_unsupported"]);
  });

  test("the refusal's message is fixed text about the gateway, without the amount", () => {
    const result = validatePaymentRequest(paymentBody(CARDS.visa, { currency: "HUF", amount: 1050 }), NOW, paypal);
    expect(result).toEqual({
      ok: false,
      errors: [{ field: "amount", code: "amount_not_supported_by_gateway", message: "must be a multiple of 100: the paypal gateway charges HUF in steps of 1.00" }],
    });
  });
});
