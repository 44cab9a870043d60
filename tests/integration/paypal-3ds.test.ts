/**
 * Card payments with 3-D Secure on PayPal (an account with Advanced Credit and Debit Card
 * Payments): a card sent with a return URL asks for SCA_WHEN_REQUIRED; an order PayPal answers
 * PAYER_ACTION_REQUIRED waits for the cardholder at its payer-action link, and once they complete
 * it (APPROVED) the continued charge captures or authorizes it once. Without a return URL, the
 * issuer's request for 3-D Secure is a decline.
 */

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createPaypalGateway } from "../../modules/gateways/paypal";
import type { ChargeRequest, Gateway } from "../../modules/gateways/port";
import { type FakePaypal, type Json, startFakePaypal } from "../support/fake-paypal";
import { actionRequest, chargeRequest, lookupRequest, TEST_CARDS } from "../support/gateway-conformance";
import { CANCEL_URL, continued, orderLookup, RETURN_URL } from "../support/paypal-checkout";

const TIMEOUT_MS = 300;

/** A card charge that can wait for its cardholder: it has a return URL. */
const cardWithReturn = (card: string, overrides: Partial<Pick<ChargeRequest, "capture">> = {}) =>
  chargeRequest(card, { returnUrl: RETURN_URL, cancelUrl: CANCEL_URL, ...overrides });

describe("PayPal card payments with 3-D Secure", () => {
  let fake: FakePaypal;
  let gateway: Gateway;
  const start = async (cardProcessing: boolean) => {
    fake = await startFakePaypal({ cardProcessing });
    gateway = createPaypalGateway({ clientId: fake.clientId, clientSecret: fake.clientSecret, environment: "sandbox", apiBase: fake.url, timeoutMs: TIMEOUT_MS });
  };
  afterEach(async () => {
    await fake.stop();
  });

  describe("an account with card processing", () => {
    beforeEach(() => start(true));

    test("a card sent with a return URL asks for SCA_WHEN_REQUIRED; one its issuer does not challenge is charged at once", async () => {
      const charge = cardWithReturn(TEST_CARDS.approved);
      expect(await gateway.charge(charge)).toEqual({ kind: "approved", gatewayReference: expect.any(String) });
      expect(fake.requests.find((r) => r.path === "/v2/checkout/orders")?.body).toMatchObject({
        payment_source: {
          card: {
            expiry: "2034-12",
            attributes: { verification: { method: "SCA_WHEN_REQUIRED" } },
            experience_context: { return_url: RETURN_URL, cancel_url: CANCEL_URL },
          },
        },
      });
      expect(fake.chargesFor(charge.paymentId)).toBe(1);
    });

    test("a card without a return URL is sent without verification, and the issuer's 3-D Secure is declined authentication_required", async () => {
      const charge = chargeRequest(TEST_CARDS.authenticationRequired, { returnUrl: null, cancelUrl: null });
      expect(await gateway.charge(charge)).toMatchObject({ kind: "declined", code: "authentication_required" });
      const card = (fake.requests.find((r) => r.path === "/v2/checkout/orders")?.body as { payment_source: { card: Json } }).payment_source.card;
      expect(card).not.toHaveProperty("attributes");
      expect(card).not.toHaveProperty("experience_context");
      expect(fake.chargesFor(charge.paymentId)).toBe(0);
    });

    test("the issuer's 3-D Secure waits for the cardholder; once completed, the continued charge captures once and shows the card", async () => {
      const charge = cardWithReturn(TEST_CARDS.authenticationRequired);
      const outcome = await gateway.charge(charge);
      const orderId = fake.ordersFor(charge.paymentId)[0]?.id as string;
      expect(outcome).toEqual({ kind: "requires_action", gatewayReference: orderId, url: `${fake.url}/webapps/helios?action=verify&flow=3ds&cart_id=${orderId}` });
      expect(await gateway.checkAction(actionRequest(charge, orderId))).toEqual({ kind: "pending" });
      // The card is gone once the payment waits: the continued charge, lookups and checks never send it.
      expect<unknown>(await gateway.lookup(orderLookup(charge, orderId))).toEqual(outcome);

      const page = await fetch(outcome.kind === "requires_action" ? outcome.url : "");
      expect(await page.text()).toContain("card ending 3155");
      const done = await fetch(`${fake.url}/webapps/helios`, { method: "POST", redirect: "manual", body: new URLSearchParams({ token: orderId, action: "approve" }) });
      expect(done.status).toBe(303);
      expect(done.headers.get("location")).toBe(`${RETURN_URL}&token=${orderId}`);

      expect(await gateway.checkAction(actionRequest(charge, orderId))).toEqual({ kind: "ready" });
      const card = { brand: "visa", last4: "3155", expMonth: 12, expYear: 2034, fingerprint: null };
      const approved = await gateway.charge(continued(charge, orderId));
      expect(approved).toEqual({ kind: "approved", gatewayReference: expect.any(String), card });
      expect(await gateway.charge(continued(charge, orderId, 3))).toEqual(approved);
      expect(fake.chargesFor(charge.paymentId)).toBe(1);
      expect(fake.order(orderId)).toMatchObject({ payment_source: { card: { authentication_result: { liability_shift: "POSSIBLE" } } } });
      const steps = fake.requests.filter((r) => r.path.startsWith(`/v2/checkout/orders/${orderId}/`));
      expect(steps.map((r) => r.paypalRequestId)).toEqual([`${charge.idempotencyKey}-capture`]);
      expect(await gateway.lookup(orderLookup(charge, orderId))).toMatchObject({ kind: "approved", gatewayReference: (approved as { gatewayReference: string }).gatewayReference });
    });

    test("with capture: false the authenticated order is authorized", async () => {
      const charge = cardWithReturn(TEST_CARDS.authenticationRequired, { capture: false });
      const outcome = await gateway.charge(charge);
      if (outcome.kind !== "requires_action") throw new Error(JSON.stringify(outcome));
      fake.approve(outcome.gatewayReference);
      expect(await gateway.charge(continued(charge, outcome.gatewayReference))).toMatchObject({ kind: "approved", card: { last4: "3155" } });
      expect(fake.order(outcome.gatewayReference)).toMatchObject({ purchase_units: [{ payments: { authorizations: [{ status: "CREATED" }] } }] });
      expect(fake.chargesFor(charge.paymentId)).toBe(0);
    });

    test("a lost create answer: the lookup replays the charge and finds it waiting for the cardholder (requires_action); without a return URL, the decline", async () => {
      const charge = cardWithReturn(TEST_CARDS.authenticationRequired);
      fake.failNext(Number.POSITIVE_INFINITY, "timeout-after-commit", "create");
      expect((await gateway.charge(charge)).kind).toBe("unknown");
      fake.failNext(0, "timeout-after-commit");
      const orderId = fake.ordersFor(charge.paymentId)[0]?.id as string;
    expect(await gateway.lookup(lookupRequest(charge))).toEqual({ kind: "requires_action", gatewayReference: orderId, url: expect.stringContaining(`cart_id=${orderId}`) });

      const direct = chargeRequest(TEST_CARDS.authenticationRequired, { returnUrl: null, cancelUrl: null });
      fake.failNext(Number.POSITIVE_INFINITY, "timeout-after-commit", "create");
      expect((await gateway.charge(direct)).kind).toBe("unknown");
      fake.failNext(0, "timeout-after-commit");
      expect(await gateway.lookup(lookupRequest(direct))).toMatchObject({ kind: "declined", code: "authentication_required" });
      const directOrder = fake.ordersFor(direct.paymentId)[0]?.id as string;
      expect(await gateway.lookup(lookupRequest(direct, { gatewayReference: directOrder }))).toMatchObject({ kind: "declined", code: "authentication_required" });
    });

    test("the cardholder who cancels is sent to cancel_url; the order keeps waiting, and a void by PayPal fails it", async () => {
      const charge = cardWithReturn(TEST_CARDS.authenticationRequired);
      const outcome = await gateway.charge(charge);
      if (outcome.kind !== "requires_action") throw new Error(JSON.stringify(outcome));
      const orderId = outcome.gatewayReference;
      const cancel = await fetch(`${fake.url}/webapps/helios`, { method: "POST", redirect: "manual", body: new URLSearchParams({ token: orderId, action: "cancel" }) });
      expect(cancel.headers.get("location")).toBe(`${CANCEL_URL}?token=${orderId}`);
      expect(await gateway.checkAction(actionRequest(charge, orderId))).toEqual({ kind: "pending" });
      expect(await gateway.cancelAction(actionRequest(charge, orderId))).toEqual({ kind: "approved", gatewayReference: orderId });
      fake.voidOrder(orderId);
      expect(await gateway.checkAction(actionRequest(charge, orderId))).toMatchObject({ kind: "failed", code: "authentication_failed" });
    });
  });

  test("an account without card processing refuses the card with a return URL too: gateway_configuration_error", async () => {
    await start(false);
    const charge = cardWithReturn(TEST_CARDS.authenticationRequired);
    expect(await gateway.charge(charge)).toMatchObject({ kind: "declined", code: "gateway_configuration_error", gatewayReference: null });
    expect(fake.ordersFor(charge.paymentId)).toEqual([]);
  });
});
