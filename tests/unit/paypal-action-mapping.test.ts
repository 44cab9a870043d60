import { describe, expect, test } from "bun:test";
import type { Order } from "@paypal/paypal-server-sdk";
import {
  isAwaitingCapture,
  mapActionOrder,
  mapCancelOrder,
  mapContinuedOrder,
  mapCreatedOrder,
  mapErrorResponse,
  mapLookupOrder,
  payerActionUrl,
  payerViewOf,
} from "../../modules/gateways/paypal/paypal-mapping";

const target = { paymentId: "pay_1", currency: "USD", value: "19.99", capture: true };
const unit = { customId: "pay_1", amount: { currencyCode: "USD", value: "19.99" } };
const wallet = { accountId: "PAYER1", emailAddress: "buyer@example.com" };

/** An order of pay_1 (19.99 USD) paid with PayPal (or `card`), in `status`. */
function order(status: string, extra: Partial<Order> & { captureStatus?: string; card?: boolean } = {}): Order {
  const { captureStatus, card, ...rest } = extra;
  return {
    id: "ORDER1",
    status,
    paymentSource: card === true ? { card: { lastDigits: "3155", brand: "VISA", expiry: "2034-12" } } : { paypal: status === "PAYER_ACTION_REQUIRED" ? {} : wallet },
    purchaseUnits: [{ ...unit, ...(captureStatus === undefined ? {} : { payments: { captures: [{ id: "CAP1", status: captureStatus }] } }) }],
    links: [
      { href: "https://api-m.paypal.com/v2/checkout/orders/ORDER1", rel: "self" },
      { href: "https://www.paypal.com/checkoutnow?token=ORDER1", rel: "payer-action" },
    ],
    ...rest,
  } as Order;
}

describe("paypal: orders that wait for their buyer", () => {
  test("the payer-action link (or an older order's approve link) and the payer PayPal shows", () => {
    expect(payerActionUrl(order("PAYER_ACTION_REQUIRED"))).toBe("https://www.paypal.com/checkoutnow?token=ORDER1");
    expect(payerActionUrl({ ...order("CREATED"), links: [{ href: "https://www.paypal.com/checkoutnow?token=O", rel: "approve" }] })).toBe("https://www.paypal.com/checkoutnow?token=O");
    expect(payerActionUrl({ ...order("CREATED"), links: [{ href: "javascript:alert(1)", rel: "payer-action" }] })).toBeNull();
    expect(payerViewOf(order("APPROVED"))).toEqual({ id: "PAYER1", email: "buyer@example.com" });
    expect(payerViewOf({ ...order("APPROVED"), paymentSource: { paypal: {} }, payer: { payerId: "P2", emailAddress: "p2@example.com" } })).toEqual({ id: "P2", email: "p2@example.com" });
    expect(payerViewOf({ ...order("APPROVED"), paymentSource: { paypal: { accountId: "P3" } } })).toEqual({ id: "P3", email: null });
    expect(payerViewOf(order("PAYER_ACTION_REQUIRED"))).toBeNull();
  });

  test("a created order waiting for its buyer is requires_action with a return URL, authentication_required without", () => {
    const request = { returnUrl: "https://shop.example/r", capture: true, withCard: false };
    expect(mapCreatedOrder(order("PAYER_ACTION_REQUIRED"), request)).toEqual({ kind: "requires_action", gatewayReference: "ORDER1", url: "https://www.paypal.com/checkoutnow?token=ORDER1" });
    expect(mapCreatedOrder(order("PAYER_ACTION_REQUIRED", { card: true }), request).kind).toBe("requires_action");
    // A PayPal Checkout order still CREATED waits too (never captured before approval).
    expect(mapCreatedOrder(order("CREATED"), request).kind).toBe("requires_action");
    expect(isAwaitingCapture(order("CREATED"))).toBe(false);
    expect(isAwaitingCapture(order("CREATED", { card: true }))).toBe(true);
    expect(mapCreatedOrder(order("PAYER_ACTION_REQUIRED", { card: true }), { ...request, returnUrl: null })).toMatchObject({ kind: "declined", code: "authentication_required", gatewayReference: "ORDER1" });
    expect(mapCreatedOrder({ ...order("PAYER_ACTION_REQUIRED"), links: [] }, request)).toMatchObject({ kind: "unknown", gatewayReference: "ORDER1" });
    expect(mapCreatedOrder(order("COMPLETED", { captureStatus: "COMPLETED" }), request)).toEqual({
      kind: "approved",
      gatewayReference: "CAP1",
      payer: { id: "PAYER1", email: "buyer@example.com" },
    });
  });

  test("checkAction: APPROVED is ready, COMPLETED approved (or failed), waiting pending, VOIDED failed, another payment's order unknown", () => {
    expect(mapActionOrder(order("APPROVED"), target)).toEqual({ kind: "ready" });
    expect(mapActionOrder(order("PAYER_ACTION_REQUIRED"), target)).toEqual({ kind: "pending" });
    expect(mapActionOrder(order("CREATED"), target)).toEqual({ kind: "pending" });
    expect(mapActionOrder(order("COMPLETED", { captureStatus: "COMPLETED" }), target)).toMatchObject({ kind: "approved", gatewayReference: "CAP1", payer: { id: "PAYER1" } });
    expect(mapActionOrder(order("COMPLETED", { captureStatus: "COMPLETED", card: true }), target)).toMatchObject({ kind: "approved", card: { last4: "3155", brand: "visa" } });
    expect(mapActionOrder(order("COMPLETED", { captureStatus: "DECLINED" }), target)).toMatchObject({ kind: "failed", code: "card_declined" });
    expect(mapActionOrder(order("COMPLETED", { captureStatus: "PENDING" }), target).kind).toBe("unknown");
    expect(mapActionOrder(order("VOIDED"), target)).toMatchObject({ kind: "failed", code: "authentication_failed" });
    expect(mapActionOrder(order("APPROVED"), { ...target, paymentId: "pay_2" }).kind).toBe("unknown");
    expect(mapActionOrder(order("APPROVED"), { ...target, value: "20.00" }).kind).toBe("unknown");
  });

  test("cancelAction: an order not captured is abandoned; a captured one is refused; a completed order whose capture was declined took nothing", () => {
    for (const status of ["CREATED", "PAYER_ACTION_REQUIRED", "APPROVED", "VOIDED"]) {
      expect(mapCancelOrder(order(status), target)).toEqual({ kind: "approved", gatewayReference: "ORDER1" });
    }
    expect(mapCancelOrder(order("COMPLETED", { captureStatus: "COMPLETED" }), target)).toMatchObject({ kind: "declined", code: "order_already_completed", gatewayReference: "ORDER1" });
    expect(mapCancelOrder(order("COMPLETED", { captureStatus: "PENDING" }), target).kind).toBe("declined");
    expect(mapCancelOrder(order("COMPLETED", { captureStatus: "DECLINED" }), target)).toEqual({ kind: "approved", gatewayReference: "ORDER1" });
    expect(mapCancelOrder(order("APPROVED"), { ...target, currency: "EUR" }).kind).toBe("unknown");
  });

  test("a continued order: APPROVED is captured now, COMPLETED was, waiting is transient, VOIDED failed", () => {
    expect(mapContinuedOrder(order("APPROVED"), target)).toBe("capture");
    expect(mapContinuedOrder(order("COMPLETED", { captureStatus: "COMPLETED" }), target)).toMatchObject({ kind: "approved", payer: { id: "PAYER1" } });
    // Not approved (yet): the payment waits again at the order's payer-action link, never failing for it.
    expect(mapContinuedOrder(order("PAYER_ACTION_REQUIRED"), target)).toEqual({
      kind: "requires_action",
      gatewayReference: "ORDER1",
      url: "https://www.paypal.com/checkoutnow?token=ORDER1",
    });
    expect(mapContinuedOrder(order("PAYER_ACTION_REQUIRED", { links: [] }), target)).toMatchObject({ kind: "transient", reason: expect.stringMatching(/^paypal_order_not_approved/) });
    expect(mapContinuedOrder(order("VOIDED"), target)).toMatchObject({ kind: "declined", code: "authentication_failed" });
    expect(mapContinuedOrder(order("APPROVED"), { ...target, paymentId: "pay_2" })).toMatchObject({ kind: "unknown" });
  });

  test("lookups: an order waiting for its buyer is requires_action (never 'not charged': the buyer may still pay); a card order without a return URL was declined", () => {
    const waiting = { kind: "requires_action", gatewayReference: "ORDER1", url: "https://www.paypal.com/checkoutnow?token=ORDER1" };
    expect<unknown>(mapLookupOrder(order("PAYER_ACTION_REQUIRED"), target)).toEqual(waiting);
    expect<unknown>(mapLookupOrder(order("PAYER_ACTION_REQUIRED", { card: true }), { ...target, waitsForPayer: true })).toEqual(waiting);
    expect(mapLookupOrder({ ...order("PAYER_ACTION_REQUIRED"), links: [] }, target)).toMatchObject({ kind: "unknown", reason: expect.stringMatching(/^paypal_order_awaiting_payer/) });
    expect(mapLookupOrder(order("PAYER_ACTION_REQUIRED", { card: true }), target)).toMatchObject({ kind: "declined", code: "authentication_required" });
    expect(mapLookupOrder(order("APPROVED"), target).kind).toBe("unknown");
    expect(mapLookupOrder(order("COMPLETED", { captureStatus: "COMPLETED" }), target)).toEqual({ kind: "approved", gatewayReference: "CAP1", payer: { id: "PAYER1", email: "buyer@example.com" } });
    // A plain card charge's lookup answers no card view (intake showed the card).
    expect(mapLookupOrder(order("COMPLETED", { captureStatus: "COMPLETED", card: true }), target)).toEqual({ kind: "approved", gatewayReference: "CAP1" });
  });

  test("capture errors: ORDER_NOT_APPROVED keeps waiting; a refused PayPal funding source is payment_method_declined, a refused card card_declined", () => {
    const envelope = (issue: string) => ({ name: "UNPROCESSABLE_ENTITY", details: [{ issue, description: "why" }], debug_id: "d1" });
    expect(mapErrorResponse(422, envelope("ORDER_NOT_APPROVED"), "paypal")).toEqual({ kind: "transient", reason: "paypal_order_not_approved: the buyer has not approved the order (debug_id d1)" });
    expect(mapErrorResponse(422, envelope("INSTRUMENT_DECLINED"), "paypal")).toEqual({ kind: "declined", code: "payment_method_declined", message: "INSTRUMENT_DECLINED: why", gatewayReference: null });
    expect(mapErrorResponse(422, envelope("INSTRUMENT_DECLINED"), "card")).toMatchObject({ kind: "declined", code: "card_declined" });
    expect(mapErrorResponse(422, envelope("ORDER_ALREADY_CAPTURED"), "paypal").kind).toBe("unknown");
    expect(mapErrorResponse(422, envelope("ORDER_ALREADY_AUTHORIZED"), "paypal").kind).toBe("unknown");
  });
});
