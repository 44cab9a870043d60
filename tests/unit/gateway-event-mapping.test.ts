import { describe, expect, it } from "bun:test";
import { paypalSubject, stripeSubject } from "../../modules/gateway-events";
import { mapDisputeRecord as mapPaypalDispute, mapRefundRecord as mapPaypalRefund } from "../../modules/gateways/paypal/paypal-mapping";
import { isoAmountFromPaypal } from "../../modules/gateways/paypal/paypal-units";
import { mapDisputeRecord as mapStripeDispute, mapRefundRecord as mapStripeRefund } from "../../modules/gateways/stripe/stripe-mapping";
import { isoAmountFromStripe } from "../../modules/gateways/stripe/stripe-units";

/** The gateways' refund and dispute objects in paystream's terms (docs/CONTRACT.md §10), read defensively. */
describe("Stripe refund and dispute records", () => {
  it("reads a refund's status, a late failure with its reason", () => {
    expect(mapStripeRefund({ id: "re_1", object: "refund", status: "failed", failure_reason: "expired_or_canceled_card" })).toEqual({
      kind: "found",
      gatewayReference: "re_1",
      status: "failed",
      failureReason: "expired_or_canceled_card",
    });
    expect(mapStripeRefund({ id: "re_1", object: "refund", status: "requires_action" })).toMatchObject({ status: "pending" });
    expect(mapStripeRefund({ id: "re_1", object: "refund", status: "weird" }).kind).toBe("unknown");
    expect(mapStripeRefund({ id: "pi_1", object: "payment_intent" }).kind).toBe("unknown");
  });

  it("maps Stripe's dispute statuses onto the four, in ISO minor units", () => {
    const dispute = (status: string, extra: object = {}) => ({
      id: "dp_1",
      object: "dispute",
      amount: 50000,
      currency: "isk",
      payment_intent: "pi_1",
      reason: "fraudulent",
      status,
      evidence_details: { due_by: 1_900_000_000 },
      ...extra,
    });
    const expected = { needs_response: ["warning_needs_response", "needs_response"], under_review: ["warning_under_review", "under_review"], won: ["won", "warning_closed", "prevented"], lost: ["lost"] };
    for (const [ours, theirs] of Object.entries(expected))
      for (const status of theirs) expect(mapStripeDispute(dispute(status), isoAmountFromStripe)).toMatchObject({ kind: "found", dispute: { status: ours } });
    // ISK: Stripe counts it with two decimals that are always 00; ISO has none.
    expect(mapStripeDispute(dispute("lost"), isoAmountFromStripe)).toEqual({
      kind: "found",
      dispute: { gatewayReference: "dp_1", paymentReference: "pi_1", amount: 500, currency: "ISK", reason: "fraudulent", status: "lost", evidenceDueBy: new Date(1_900_000_000_000) },
    });
    expect(mapStripeDispute(dispute("charge_refunded"), isoAmountFromStripe).kind).toBe("unknown");
    expect(mapStripeDispute(dispute("lost", { amount: 50050 }), isoAmountFromStripe).kind).toBe("unknown");
  });
});

describe("PayPal refund and dispute records", () => {
  it("reads a refund's status", () => {
    expect(mapPaypalRefund({ id: "1JU08902781691411", status: "FAILED", statusDetails: { reason: "ECHECK" } })).toEqual({
      kind: "found",
      gatewayReference: "1JU08902781691411",
      status: "failed",
      failureReason: "ECHECK",
    });
    expect(mapPaypalRefund({ id: "1", status: "COMPLETED" })).toMatchObject({ status: "succeeded" });
    expect(mapPaypalRefund({ status: "COMPLETED" }).kind).toBe("unknown");
  });

  it("maps PayPal's dispute statuses and outcomes onto the four", () => {
    const dispute = (status: string, outcome?: string) => ({
      dispute_id: "PP-D-1",
      status,
      reason: "UNAUTHORISED",
      dispute_amount: { currency_code: "HUF", value: "1500" },
      disputed_transactions: [{ seller_transaction_id: "CAPTURE1" }],
      seller_response_due_date: "2031-01-01T00:00:00.000Z",
      ...(outcome ? { dispute_outcome: { outcome_code: outcome } } : {}),
    });
    const statusOf = (status: string, outcome?: string) => {
      const record = mapPaypalDispute(dispute(status, outcome), isoAmountFromPaypal);
      return record.kind === "found" ? record.dispute.status : record.kind;
    };
    expect(statusOf("WAITING_FOR_SELLER_RESPONSE")).toBe("needs_response");
    expect(statusOf("OPEN")).toBe("needs_response");
    expect(statusOf("UNDER_REVIEW")).toBe("under_review");
    expect(statusOf("WAITING_FOR_BUYER_RESPONSE")).toBe("under_review");
    expect(statusOf("RESOLVED", "RESOLVED_SELLER_FAVOUR")).toBe("won");
    expect(statusOf("RESOLVED", "CANCELED_BY_BUYER")).toBe("won");
    expect(statusOf("RESOLVED", "RESOLVED_BUYER_FAVOUR")).toBe("lost");
    expect(statusOf("OTHER")).toBe("unknown");
    // HUF: PayPal takes no decimals; ISO 4217 has two.
    expect(mapPaypalDispute(dispute("OPEN"), isoAmountFromPaypal)).toMatchObject({ dispute: { amount: 150000, currency: "HUF", paymentReference: "CAPTURE1" } });
    expect(isoAmountFromPaypal("10.5", "USD")).toBe(1050);
    expect(isoAmountFromPaypal("10.505", "USD")).toBeNull();
    expect(isoAmountFromPaypal("1e3", "USD")).toBeNull();
  });
});

describe("what a gateway event is about", () => {
  const object = (o: string, id: string, paymentIntent: string | null = null, paymentId: string | null = null) => ({ id, object: o, paymentIntent, paymentId });
  it("Stripe: disputes, refunds, PaymentIntents and their charges", () => {
    expect(stripeSubject("charge.dispute.funds_withdrawn", object("dispute", "dp_1"))).toEqual({ kind: "dispute", reference: "dp_1" });
    expect(stripeSubject("refund.failed", object("refund", "re_1"))).toEqual({ kind: "refund", reference: "re_1" });
    expect(stripeSubject("charge.refund.updated", object("refund", "re_1"))).toEqual({ kind: "refund", reference: "re_1" });
    expect(stripeSubject("payment_intent.succeeded", object("payment_intent", "pi_1", null, "pay_1"))).toEqual({ kind: "payment", reference: "pi_1", paymentId: "pay_1" });
    expect(stripeSubject("charge.captured", object("charge", "ch_1", "pi_1"))).toEqual({ kind: "payment", reference: "pi_1" });
    expect(stripeSubject("charge.dispute.created", object("charge", "ch_1"))).toEqual({ kind: "none" });
    expect(stripeSubject("customer.created", object("customer", "cus_1"))).toEqual({ kind: "none" });
  });

  it("PayPal: disputes, refunds, captures and authorizations", () => {
    expect(paypalSubject("CUSTOMER.DISPUTE.RESOLVED", { dispute_id: "PP-D-1" })).toEqual({ kind: "dispute", reference: "PP-D-1" });
    expect(paypalSubject("PAYMENT.CAPTURE.REFUNDED", { id: "R1" })).toEqual({ kind: "refund", reference: "R1" });
    expect(paypalSubject("PAYMENT.CAPTURE.COMPLETED", { id: "C1" })).toEqual({ kind: "payment", reference: "C1" });
    expect(paypalSubject("PAYMENT.AUTHORIZATION.VOIDED", { id: "A1" })).toEqual({ kind: "payment", reference: "A1" });
    // The order a Checkout payment waits on: its look-up is made due at once.
    expect(paypalSubject("CHECKOUT.ORDER.APPROVED", { id: "5O190127TN364715T" })).toEqual({ kind: "payment", reference: "5O190127TN364715T" });
    expect(paypalSubject("PAYMENT.CAPTURE.REVERSED", { id: "R2" })).toEqual({ kind: "none" });
    expect(paypalSubject("CUSTOMER.DISPUTE.CREATED", {})).toEqual({ kind: "none" });
  });
});
