import { describe, expect, test } from "bun:test";
import Stripe from "stripe";
import {
  mapActionIntent,
  mapCancelActionError,
  mapCancelActionIntent,
  mapCardFailure,
  mapLookup,
  mapPaymentIntent,
  mapSearchResult,
} from "../../modules/gateways/stripe/stripe-mapping";

/** A PaymentIntent of payment pay_1 for 1999 USD, as Stripe answers it. */
const intent = (status: string, extra: Record<string, unknown> = {}) => ({
  id: "pi_1",
  object: "payment_intent",
  amount: 1999,
  currency: "usd",
  metadata: { paystream_payment_id: "pay_1" },
  status,
  ...extra,
});
const redirect = { type: "redirect_to_url", redirect_to_url: { url: "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_1", return_url: "https://shop.example/back" } };
const card = { id: "pm_1", object: "payment_method", card: { brand: "visa", last4: "3220", exp_month: 12, exp_year: 2030, fingerprint: "fp1" } };
const authFailure = {
  code: "payment_intent_authentication_failure",
  type: "invalid_request_error",
  message: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
};
const target = { paymentId: "pay_1", amount: 1999, currency: "USD", capture: true };

describe("stripe: 3-D Secure answers of a charge", () => {
  test("requires_action with a redirect_to_url is a wait for the customer at that URL", () => {
    expect(mapPaymentIntent(intent("requires_action", { next_action: redirect }))).toEqual({
      kind: "requires_action",
      gatewayReference: "pi_1",
      url: "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_1",
    });
  });

  test("any other next action (use_stripe_sdk), or a URL that is not http(s), is declined authentication_required", () => {
    for (const next_action of [
      { type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect" } },
      null,
      { type: "redirect_to_url", redirect_to_url: { url: "javascript:alert(1)" } },
      { type: "redirect_to_url" },
    ]) {
      expect(mapPaymentIntent(intent("requires_action", { next_action }))).toMatchObject({ kind: "declined", code: "authentication_required", gatewayReference: "pi_1" });
    }
  });

  test("error_on_requires_action's card error, in either of its documented names, is authentication_required", () => {
    expect(mapCardFailure({ code: "authentication_required", decline_code: "authentication_required", message: "Your card was declined. This transaction requires authentication." }, "pi_1")).toEqual({
      kind: "declined",
      code: "authentication_required",
      message: "Your card was declined. This transaction requires authentication.",
      gatewayReference: "pi_1",
    });
    expect(mapCardFailure({ code: "requires_action_not_handled" }, null)).toMatchObject({ kind: "declined", code: "authentication_required" });
  });

  test("a PaymentIntent whose customer failed authentication is declined authentication_failed", () => {
    expect(mapPaymentIntent(intent("requires_payment_method", { last_payment_error: authFailure }))).toMatchObject({
      kind: "declined",
      code: "authentication_failed",
      gatewayReference: "pi_1",
    });
  });

  test("a lookup that finds a PaymentIntent waiting for its customer answers requires_action with its URL: neither charged nor 'not charged'", () => {
    const how = { searched: true, searchLagMs: 0, now: new Date() };
    expect(mapLookup([intent("requires_action", { next_action: redirect })], { ...target, lastAttemptAt: new Date(0) }, how)).toEqual({
      kind: "requires_action",
      gatewayReference: "pi_1",
      url: redirect.redirect_to_url.url,
    });
    // One nobody can complete (use_stripe_sdk: no returnUrl was sent) is the decline the charge answered.
    expect(mapLookup([intent("requires_action", { next_action: { type: "use_stripe_sdk" } })], { ...target, lastAttemptAt: new Date(0) }, how)).toMatchObject({
      kind: "declined",
      code: "authentication_required",
    });
    // A succeeded PaymentIntent of the payment still wins over a waiting one.
    expect(mapSearchResult([intent("requires_action", { next_action: redirect }), { ...intent("succeeded"), id: "pi_2" }])).toEqual({ kind: "approved", gatewayReference: "pi_2" });
  });
});

describe("stripe: checkAction's mapping of the PaymentIntent", () => {
  test("succeeded is approved, with the card of the expanded payment method", () => {
    expect(mapActionIntent(intent("succeeded", { payment_method: card }), target)).toEqual({
      kind: "approved",
      gatewayReference: "pi_1",
      card: { brand: "visa", last4: "3220", expMonth: 12, expYear: 2030, fingerprint: "fp1" },
    });
    expect(mapActionIntent(intent("succeeded", { payment_method: "pm_1" }), target)).toEqual({ kind: "approved", gatewayReference: "pi_1" });
  });

  test("requires_capture is approved for an authorization only", () => {
    expect(mapActionIntent(intent("requires_capture"), { ...target, capture: false })).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapActionIntent(intent("requires_capture"), target).kind).toBe("unknown");
  });

  test("still with the customer, or in flight, is pending", () => {
    for (const status of ["requires_action", "requires_confirmation", "processing"]) expect(mapActionIntent(intent(status), target)).toEqual({ kind: "pending" });
  });

  test("failed or abandoned authentication, and a canceled PaymentIntent, fail authentication_failed", () => {
    expect(mapActionIntent(intent("requires_payment_method", { last_payment_error: authFailure }), target)).toEqual({
      kind: "failed",
      code: "authentication_failed",
      message: authFailure.message,
    });
    expect(mapActionIntent(intent("requires_payment_method"), target)).toMatchObject({ kind: "failed", code: "authentication_failed" });
    expect(mapActionIntent(intent("canceled"), target)).toMatchObject({ kind: "failed", code: "authentication_failed" });
  });

  test("a card declined after authentication fails with the card's decline code", () => {
    const declined = { type: "card_error", code: "card_declined", decline_code: "insufficient_funds", message: "Your card has insufficient funds." };
    expect(mapActionIntent(intent("requires_payment_method", { last_payment_error: declined }), target)).toEqual({
      kind: "failed",
      code: "insufficient_funds",
      message: "Your card has insufficient funds.",
    });
  });

  test("a PaymentIntent of another payment, amount or currency, or an unreadable body, is unknown", () => {
    for (const other of [
      intent("succeeded", { metadata: { paystream_payment_id: "pay_2" } }),
      intent("succeeded", { metadata: {} }),
      intent("succeeded", { amount: 2000 }),
      intent("succeeded", { currency: "eur" }),
      { id: "pi_1" },
      null,
    ]) {
      expect(mapActionIntent(other, target).kind).toBe("unknown");
    }
  });
});

describe("stripe: cancelAction's mapping", () => {
  const { errors } = Stripe;
  const unexpectedState = (status: string) =>
    new errors.StripeInvalidRequestError({ type: "invalid_request_error", code: "payment_intent_unexpected_state", statusCode: 400, payment_intent: intent(status) } as never);

  test("a canceled PaymentIntent is approved", () => {
    expect(mapCancelActionIntent(intent("canceled"))).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapCancelActionIntent(intent("requires_action")).kind).toBe("unknown");
    expect(mapCancelActionIntent("<html>").kind).toBe("unknown");
  });

  test("payment_intent_unexpected_state: succeeded is declined (look it up), already canceled is approved", () => {
    expect(mapCancelActionError(unexpectedState("succeeded"))).toMatchObject({ kind: "declined", code: "payment_intent_unexpected_state", gatewayReference: "pi_1" });
    expect(mapCancelActionError(unexpectedState("canceled"))).toEqual({ kind: "approved", gatewayReference: "pi_1" });
  });

  test("other failures are an operation's: lost answers unknown, rate limits and bad keys transient", () => {
    expect(mapCancelActionError(new errors.StripeConnectionError({ detail: { code: "ETIMEDOUT" } } as never)).kind).toBe("unknown");
    expect(mapCancelActionError(new errors.StripeAPIError({ statusCode: 500 } as never)).kind).toBe("unknown");
    expect(mapCancelActionError(new errors.StripeRateLimitError({ statusCode: 429 } as never)).kind).toBe("transient");
    expect(mapCancelActionError(new errors.StripeAuthenticationError({ statusCode: 401 } as never)).kind).toBe("transient");
    expect(mapCancelActionError(new errors.StripeConnectionError({ detail: { code: "ECONNREFUSED" } } as never)).kind).toBe("transient");
  });
});
