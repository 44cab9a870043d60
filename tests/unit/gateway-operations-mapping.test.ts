import { describe, expect, test } from "bun:test";
import { type CapturedPayment, type Order, type PaymentAuthorization, type Refund } from "@paypal/paypal-server-sdk";
import Stripe from "stripe";
import {
  mapAuthorizationCapture,
  mapAuthorizationLookup,
  mapErrorResponse,
  mapOperationRecord,
  mapOrder,
  mapRefund as mapPaypalRefund,
  mapVoid,
} from "../../modules/gateways/paypal/paypal-mapping";
import {
  mapOperationError,
  mapOperationIntent,
  mapOperationLookup,
  mapPaymentIntent,
  mapRefund as mapStripeRefund,
  mapRefundLookup,
} from "../../modules/gateways/stripe/stripe-mapping";

describe("stripe: authorizations, captures, voids and refunds", () => {
  const intent = (status: string, extra: Record<string, unknown> = {}) => ({
    id: "pi_1",
    object: "payment_intent",
    status,
    currency: "usd",
    amount: 1999,
    amount_received: status === "succeeded" ? 1999 : 0,
    metadata: { paystream_payment_id: "pay_1" },
    ...extra,
  });
  const refund = (status: string | null, extra: Record<string, unknown> = {}) => ({
    id: "re_1",
    object: "refund",
    status,
    amount: 500,
    currency: "usd",
    metadata: { paystream_payment_id: "pay_1", paystream_refund_id: "ref_1" },
    ...extra,
  });
  const invalid = (raw: Record<string, unknown>) => new Stripe.errors.StripeInvalidRequestError({ statusCode: 400, ...raw });

  test("an authorization is approved at requires_capture only when it was asked for", () => {
    expect(mapPaymentIntent(intent("requires_capture"), false)).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapPaymentIntent(intent("succeeded"), false)).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapPaymentIntent(intent("requires_capture"), true).kind).toBe("unknown");
  });

  test("a capture is done at succeeded, a void at canceled; anything else after a 2xx is unknown", () => {
    expect(mapOperationIntent(intent("succeeded"), "capture")).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapOperationIntent(intent("canceled"), "void")).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapOperationIntent(intent("processing"), "capture").kind).toBe("unknown");
    expect(mapOperationIntent(intent("requires_capture"), "void").kind).toBe("unknown");
    expect(mapOperationIntent({ unexpected: true }, "capture").kind).toBe("unknown");
  });

  test("refund statuses: pending is unknown (asked again later), failed and canceled are declined", () => {
    expect(mapStripeRefund(refund("succeeded"))).toEqual({ kind: "approved", gatewayReference: "re_1" });
    expect(mapStripeRefund(refund("pending"))).toMatchObject({ kind: "unknown", gatewayReference: "re_1" });
    expect(mapStripeRefund(refund("requires_action")).kind).toBe("unknown");
    expect(mapStripeRefund(refund("failed", { failure_reason: "expired_or_canceled_card" }))).toMatchObject({
      kind: "declined",
      code: "refund_failed",
      message: expect.stringContaining("expired_or_canceled_card"),
    });
    expect(mapStripeRefund(refund("canceled"))).toMatchObject({ kind: "declined", code: "refund_failed" });
    expect(mapStripeRefund({ object: "payment_intent", unexpected: true }).kind).toBe("unknown");
  });

  test("refusals are named as the simulator names them; other errors map as for a charge", () => {
    const unexpected = (status: string) => invalid({ code: "payment_intent_unexpected_state", payment_intent: intent(status) });
    expect(mapOperationError(unexpected("succeeded"))).toMatchObject({ kind: "declined", code: "authorization_already_captured" });
    expect(mapOperationError(unexpected("canceled"))).toMatchObject({ kind: "declined", code: "authorization_voided" });
    expect(mapOperationError(unexpected("requires_payment_method"))).toMatchObject({ kind: "declined", code: "payment_intent_unexpected_state" });
    expect(mapOperationError(invalid({ code: "amount_too_large" }))).toMatchObject({ kind: "declined", code: "amount_too_large" });
    expect(mapOperationError(invalid({ code: "charge_already_refunded" }))).toMatchObject({ kind: "declined", code: "charge_already_refunded" });
    // Stripe answers a refund past what is left without a code.
    expect(
      mapOperationError(invalid({ param: "amount", message: "Refund amount ($25.00) is greater than unrefunded amount on charge ($21.45)" })),
    ).toMatchObject({ kind: "declined", code: "amount_too_large" });
    expect(mapOperationError(invalid({ code: "resource_missing" }))).toMatchObject({ kind: "declined", code: "gateway_invalid_request" });
    expect(mapOperationError(new Stripe.errors.StripeAPIError({ statusCode: 500 })).kind).toBe("unknown");
    expect(mapOperationError(new Stripe.errors.StripeRateLimitError({ statusCode: 429 })).kind).toBe("transient");
    expect(mapOperationError(new Stripe.errors.StripeConnectionError({ detail: { code: "ECONNREFUSED" } })).kind).toBe("transient");
  });

  test("a capture or void is looked up on its PaymentIntent", () => {
    const capture = { operation: "capture" as const, paymentId: "pay_1", amount: 1999, currency: "USD" };
    const voided = { ...capture, operation: "void" as const };
    expect(mapOperationLookup(intent("succeeded"), capture)).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapOperationLookup(intent("succeeded", { amount_received: 1000 }), capture).kind).toBe("unknown");
    expect(mapOperationLookup(intent("requires_capture"), capture).kind).toBe("not_charged");
    expect(mapOperationLookup(intent("canceled"), capture).kind).toBe("not_charged");
    expect(mapOperationLookup(intent("canceled"), voided)).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapOperationLookup(intent("succeeded"), voided).kind).toBe("not_charged");
    expect(mapOperationLookup(intent("processing"), voided).kind).toBe("unknown");
    expect(mapOperationLookup(intent("succeeded", { metadata: { paystream_payment_id: "pay_2" } }), capture).kind).toBe("unknown");
    expect(mapOperationLookup(intent("succeeded", { currency: "eur" }), capture).kind).toBe("unknown");
  });

  test("a refund is looked up by our refund id among the PaymentIntent's refunds", () => {
    const target = { refundId: "ref_1", amount: 500, currency: "USD" };
    const other = refund("succeeded", { id: "re_2", metadata: { paystream_refund_id: "ref_2" } });
    expect(mapRefundLookup([other, refund("succeeded")], target, true)).toEqual({ kind: "approved", gatewayReference: "re_1" });
    expect(mapRefundLookup([other], target, true).kind).toBe("not_charged");
    expect(mapRefundLookup([other], target, false).kind).toBe("unknown");
    expect(mapRefundLookup([refund("succeeded", { amount: 501 })], target, true).kind).toBe("unknown");
    expect(mapRefundLookup([refund("pending")], target, true).kind).toBe("unknown");
    expect(mapRefundLookup([refund("failed")], target, true)).toMatchObject({ kind: "declined", code: "refund_failed" });
  });
});

describe("paypal: authorizations, captures, voids and refunds", () => {
  const authorizedOrder = (status: string, extra: Record<string, unknown> = {}): Order =>
    ({
      id: "ORDER1",
      status: "COMPLETED",
      purchaseUnits: [{ payments: { authorizations: [{ id: "AUTH1", status, ...extra }] } }],
    }) as Order;
  const authorization = (status: string, extra: Partial<PaymentAuthorization> = {}): PaymentAuthorization =>
    ({ id: "AUTH1", status, customId: "pay_1", amount: { currencyCode: "USD", value: "19.99" }, ...extra }) as PaymentAuthorization;

  test("an authorized order is approved with the authorization's id; a denied one is declined by processor code", () => {
    expect(mapOrder(authorizedOrder("CREATED"), false)).toEqual({ kind: "approved", gatewayReference: "AUTH1" });
    expect(mapOrder(authorizedOrder("CAPTURED"), false)).toEqual({ kind: "approved", gatewayReference: "AUTH1" });
    expect(mapOrder(authorizedOrder("DENIED", { processorResponse: { responseCode: "5120" } }), false)).toMatchObject({
      kind: "declined",
      code: "insufficient_funds",
    });
    expect(mapOrder(authorizedOrder("PENDING"), false).kind).toBe("unknown");
    expect(mapOrder({ id: "ORDER1", status: "COMPLETED", purchaseUnits: [{}] } as Order, false).kind).toBe("unknown");
  });

  test("captures, voids and refunds by status", () => {
    const capture = (status: string, extra: Record<string, unknown> = {}) => ({ id: "CAP1", status, ...extra }) as CapturedPayment;
    expect(mapAuthorizationCapture(capture("COMPLETED"))).toEqual({ kind: "approved", gatewayReference: "CAP1" });
    expect(mapAuthorizationCapture(capture("DECLINED", { processorResponse: { responseCode: "0500" } }))).toMatchObject({ kind: "declined", code: "card_declined" });
    expect(mapAuthorizationCapture(capture("PENDING")).kind).toBe("unknown");
    expect(mapAuthorizationCapture({} as CapturedPayment).kind).toBe("unknown");
    expect(mapVoid(null, "AUTH1")).toEqual({ kind: "approved", gatewayReference: "AUTH1" });
    expect(mapVoid(authorization("VOIDED"), "AUTH1")).toEqual({ kind: "approved", gatewayReference: "AUTH1" });
    expect(mapVoid({} as PaymentAuthorization, "AUTH1").kind).toBe("unknown");
    const refund = (status: string) => ({ id: "REF1", status }) as Refund;
    expect(mapPaypalRefund(refund("COMPLETED"))).toEqual({ kind: "approved", gatewayReference: "REF1" });
    expect(mapPaypalRefund(refund("PENDING")).kind).toBe("unknown");
    expect(mapPaypalRefund(refund("FAILED"))).toMatchObject({ kind: "declined", code: "refund_failed" });
    expect(mapPaypalRefund(refund("CANCELLED"))).toMatchObject({ kind: "declined", code: "refund_failed" });
  });

  test("Payments v2 refusals are declined with the simulator's codes", () => {
    const refusal = (issue: string) => mapErrorResponse(422, { name: "UNPROCESSABLE_ENTITY", details: [{ issue }] });
    expect(refusal("AUTHORIZATION_ALREADY_CAPTURED")).toMatchObject({ kind: "declined", code: "authorization_already_captured" });
    expect(refusal("PREVIOUSLY_CAPTURED")).toMatchObject({ kind: "declined", code: "authorization_already_captured" });
    expect(refusal("AUTHORIZATION_VOIDED")).toMatchObject({ kind: "declined", code: "authorization_voided" });
    expect(refusal("PREVIOUSLY_VOIDED")).toMatchObject({ kind: "declined", code: "authorization_voided" });
    expect(refusal("MAX_CAPTURE_AMOUNT_EXCEEDED")).toMatchObject({ kind: "declined", code: "amount_too_large" });
    expect(refusal("REFUND_AMOUNT_EXCEEDED")).toMatchObject({ kind: "declined", code: "amount_too_large" });
    expect(refusal("CAPTURE_FULLY_REFUNDED")).toMatchObject({ kind: "declined", code: "charge_already_refunded" });
    expect(mapErrorResponse(500, {}).kind).toBe("unknown");
    expect(mapErrorResponse(429, {}).kind).toBe("transient");
  });

  test("a capture or void is looked up on the authorization; a captured one needs the capture itself", () => {
    const target = { customId: "pay_1", currency: "USD" };
    expect(mapAuthorizationLookup(authorization("CREATED"), "capture", target)?.kind).toBe("not_charged");
    expect(mapAuthorizationLookup(authorization("CREATED"), "void", target)?.kind).toBe("not_charged");
    expect(mapAuthorizationLookup(authorization("VOIDED"), "void", target)).toEqual({ kind: "approved", gatewayReference: "AUTH1" });
    expect(mapAuthorizationLookup(authorization("VOIDED"), "capture", target)?.kind).toBe("not_charged");
    expect(mapAuthorizationLookup(authorization("CAPTURED"), "void", target)?.kind).toBe("not_charged");
    expect(mapAuthorizationLookup(authorization("CAPTURED"), "capture", target)).toBeNull();
    expect(mapAuthorizationLookup(authorization("PENDING"), "capture", target)?.kind).toBe("unknown");
    expect(mapAuthorizationLookup(authorization("CREATED", { customId: "pay_2" }), "void", target)?.kind).toBe("unknown");
  });

  test("a replayed capture or refund counts only with our id, amount and currency", () => {
    const record = { id: "REF1", status: "COMPLETED", customId: "ref_1", amount: { currencyCode: "USD", value: "5.00" } } as Refund;
    const approved = { kind: "approved", gatewayReference: "REF1" } as const;
    const target = { customId: "ref_1", currency: "USD", value: "5.00" };
    expect(mapOperationRecord(record, approved, target)).toEqual(approved);
    expect(mapOperationRecord(record, approved, { ...target, value: "5.01" }).kind).toBe("unknown");
    expect(mapOperationRecord(record, approved, { ...target, customId: "ref_2" }).kind).toBe("unknown");
    expect(mapOperationRecord(record, { kind: "unknown", reason: "pending" }, target).kind).toBe("unknown");
  });
});
