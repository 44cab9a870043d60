/**
 * "Pay with PayPal" (PayPal Checkout) through the PayPal adapter against the fake PayPal API, on an
 * ordinary business account (no card processing): the order waits for the buyer's approval at
 * PayPal (requires_action), checkAction follows it, the continued charge captures (or authorizes)
 * it once, cancelAction abandons it, and lookups read it by its id without any card.
 */

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createPaypalGateway } from "../../modules/gateways/paypal";
import type { ChargeRequest, Gateway } from "../../modules/gateways/port";
import { FAKE_PAYPAL_PAYERS, type FakePaypal, type Json, startFakePaypal } from "../support/fake-paypal";
import { actionRequest, captureRequest, lookupRequest, voidRequest } from "../support/gateway-conformance";
import { CANCEL_URL, checkoutRequest, continued, orderLookup, RETURN_URL } from "../support/paypal-checkout";

const TIMEOUT_MS = 300;

describe("PayPal Checkout (payment_source.paypal) on an ordinary business account", () => {
  let fake: FakePaypal;
  let gateway: Gateway;
  const infos: Array<{ fields: Record<string, unknown>; message: string }> = [];

  beforeEach(async () => {
    // No Advanced Credit and Debit Card Payments: PayPal Checkout works on every business account.
    fake = await startFakePaypal({ cardProcessing: false });
    infos.length = 0;
    gateway = createPaypalGateway({
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      environment: "sandbox",
      apiBase: fake.url,
      timeoutMs: TIMEOUT_MS,
      log: { error: () => {}, info: (fields, message) => infos.push({ fields, message }) },
    });
  });
  afterEach(async () => {
    await fake.stop();
  });

  /** A created Checkout order waiting for the buyer: its id and payer-action URL. */
  async function waiting(charge: ChargeRequest): Promise<{ orderId: string; url: string }> {
    const outcome = await gateway.charge(charge);
    if (outcome.kind !== "requires_action") throw new Error(`not waiting for the buyer: ${JSON.stringify(outcome)}`);
    return { orderId: outcome.gatewayReference, url: outcome.url };
  }

  const capturesOf = (orderId: string) => fake.requests.filter((r) => r.path === `/v2/checkout/orders/${orderId}/capture` || r.path === `/v2/checkout/orders/${orderId}/authorize`);

  test("creates one order paid with payment_source.paypal and its experience context, and waits for the buyer at PayPal's payer-action link", async () => {
    const charge = checkoutRequest();
    const outcome = await gateway.charge(charge);
    const [order, ...others] = fake.ordersFor(charge.paymentId);
    expect(others).toEqual([]);
    expect(outcome).toEqual({ kind: "requires_action", gatewayReference: order?.id as string, url: `${fake.url}/checkoutnow?token=${order?.id as string}` });
    expect(order).toMatchObject({ status: "PAYER_ACTION_REQUIRED", intent: "CAPTURE", payment_source: { paypal: {} } });
    const create = fake.requests.find((r) => r.path === "/v2/checkout/orders");
    expect(create?.paypalRequestId).toBe(charge.idempotencyKey);
    expect(create?.body).toMatchObject({
      intent: "CAPTURE",
      purchase_units: [{ amount: { currency_code: "USD", value: "19.99" }, custom_id: charge.paymentId, invoice_id: charge.paymentId }],
      payment_source: { paypal: { experience_context: { return_url: RETURN_URL, cancel_url: CANCEL_URL, user_action: "PAY_NOW" } } },
    });
    expect((create?.body as Json).payment_source).not.toHaveProperty("card");
    // Sent again (a retry), the same request id answers the same order: never a second one.
    expect(await gateway.charge({ ...charge, attempt: 2 })).toEqual(outcome);
    expect(fake.ordersFor(charge.paymentId)).toHaveLength(1);
    expect(fake.chargesFor(charge.paymentId)).toBe(0);
  });

  test("cancel_url defaults to the return URL; without a return URL nothing is sent and the payment cannot wait: authentication_required", async () => {
    const charge = checkoutRequest({ cancelUrl: null });
    await waiting(charge);
    expect(fake.requests.find((r) => r.path === "/v2/checkout/orders")?.body).toMatchObject({
      payment_source: { paypal: { experience_context: { return_url: RETURN_URL, cancel_url: RETURN_URL } } },
    });
    const before = fake.requests.length;
    expect(await gateway.charge(checkoutRequest({ returnUrl: null }))).toMatchObject({ kind: "declined", code: "authentication_required", gatewayReference: null });
    expect(fake.requests.length).toBe(before);
  });

  test("the buyer approves at PayPal's page and is sent back to the return URL; the continued charge captures once and shows the payer", async () => {
    const charge = checkoutRequest();
    const { orderId, url } = await waiting(charge);
    expect(await gateway.checkAction(actionRequest(charge, orderId))).toEqual({ kind: "pending" });

    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("19.99 USD");
    expect(html).toContain(`name="token" value="${orderId}"`);
    const approve = await fetch(`${fake.url}/checkoutnow`, {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams({ token: orderId, payer: "funded", action: "approve" }),
    });
    expect(approve.status).toBe(303);
    const back = new URL(approve.headers.get("location") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe("https://shop.example/paypal/return");
    expect(Object.fromEntries(back.searchParams)).toEqual({ cart: "7", token: orderId, PayerID: FAKE_PAYPAL_PAYERS.funded.payerId });

    expect(await gateway.checkAction(actionRequest(charge, orderId))).toEqual({ kind: "ready" });
    const payer = { id: FAKE_PAYPAL_PAYERS.funded.payerId, email: FAKE_PAYPAL_PAYERS.funded.email };
    const outcome = await gateway.charge(continued(charge, orderId));
    const captureId = ((fake.order(orderId)?.purchase_units as [{ payments: { captures: [{ id: string }] } }])[0]).payments.captures[0].id;
    expect(outcome).toEqual({ kind: "approved", gatewayReference: captureId, payer });
    expect(capturesOf(orderId).map((r) => r.paypalRequestId)).toEqual([`${charge.idempotencyKey}-capture`]);
    // Retried (a lost acknowledgement), the payment is answered from the order: one capture only.
    expect(await gateway.charge(continued(charge, orderId, 3))).toEqual(outcome);
    expect(fake.chargesFor(charge.paymentId)).toBe(1);
    expect<unknown>(await gateway.checkAction(actionRequest(charge, orderId))).toEqual(outcome);
    expect<unknown>(await gateway.lookup(orderLookup(charge, orderId))).toEqual(outcome);
  });

  test("with capture: false the approved order is authorized once; the authorization is then captured or voided as for any hold", async () => {
    const charge = checkoutRequest({ capture: false });
    const { orderId } = await waiting(charge);
    expect(fake.ordersFor(charge.paymentId)[0]).toMatchObject({ intent: "AUTHORIZE" });
    fake.approve(orderId);
    const authorized = await gateway.charge(continued(charge, orderId));
    expect(authorized).toMatchObject({ kind: "approved", payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId } });
    if (authorized.kind !== "approved") return;
    expect(capturesOf(orderId).map((r) => [r.path.split("/").pop(), r.paypalRequestId])).toEqual([["authorize", `${charge.idempotencyKey}-authorize`]]);
    expect(fake.chargesFor(charge.paymentId)).toBe(0);
    expect(await gateway.checkAction(actionRequest(charge, orderId))).toMatchObject({ kind: "approved", gatewayReference: authorized.gatewayReference });
    expect((await gateway.capture(captureRequest(charge, authorized.gatewayReference))).kind).toBe("approved");
    expect(fake.ledgerFor(charge.paymentId)).toEqual({ captures: [charge.amount], voids: 0, refunds: [] });

    const held = checkoutRequest({ capture: false });
    const other = await waiting(held);
    fake.approve(other.orderId);
    const hold = await gateway.charge(continued(held, other.orderId));
    if (hold.kind !== "approved") throw new Error("not authorized");
    expect((await gateway.voidAuthorization(voidRequest(held, hold.gatewayReference))).kind).toBe("approved");
    expect(fake.ledgerFor(held.paymentId)).toEqual({ captures: [], voids: 1, refunds: [] });
  });

  test("nothing is captured before the buyer approves: the continued charge waits again at the order's payer-action link (ORDER_NOT_APPROVED in effect) and sends no capture", async () => {
    const charge = checkoutRequest();
    const { orderId, url } = await waiting(charge);
    expect(await gateway.charge(continued(charge, orderId))).toEqual({ kind: "requires_action", gatewayReference: orderId, url });
    expect(capturesOf(orderId)).toEqual([]);
    expect(fake.chargesFor(charge.paymentId)).toBe(0);
  });

  test("a buyer whose funding source PayPal refuses at capture: declined payment_method_declined, nothing captured", async () => {
    const charge = checkoutRequest();
    const { orderId } = await waiting(charge);
    fake.approve(orderId, "fundingFails");
    expect(await gateway.charge(continued(charge, orderId))).toMatchObject({ kind: "declined", code: "payment_method_declined", message: expect.stringMatching(/^INSTRUMENT_DECLINED/) });
    expect(fake.chargesFor(charge.paymentId)).toBe(0);
  });

  test("a capture whose answer is lost is read back from the order, never sent again under a new request id", async () => {
    const charge = checkoutRequest();
    const { orderId } = await waiting(charge);
    fake.approve(orderId);
    fake.failNext(1, "timeout-after-commit", "capture");
    expect(await gateway.charge(continued(charge, orderId))).toMatchObject({ kind: "approved", payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId } });
    expect(fake.chargesFor(charge.paymentId)).toBe(1);
    expect(capturesOf(orderId).map((r) => r.paypalRequestId)).toEqual([`${charge.idempotencyKey}-capture`]);
  });

  test("a capture still unanswered is unknown with the order id; the lookup (no card) captures only under the same request id, once", async () => {
    const charge = checkoutRequest();
    const { orderId } = await waiting(charge);
    fake.approve(orderId);
    // Every capture times out, and the first never reached PayPal's books either (the socket is cut before processing).
    fake.failNext(Number.POSITIVE_INFINITY, "connection-reset", "capture");
    const outcome = await gateway.charge(continued(charge, orderId));
    expect(outcome).toMatchObject({ kind: "unknown", gatewayReference: orderId });
    expect(fake.chargesFor(charge.paymentId)).toBe(0);
    fake.failNext(0, "connection-reset");
    const found = await gateway.lookup(orderLookup(charge, orderId));
    expect(found).toMatchObject({ kind: "approved", payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId, email: FAKE_PAYPAL_PAYERS.funded.email } });
    expect(await gateway.lookup(orderLookup(charge, orderId))).toEqual(found);
    expect(fake.chargesFor(charge.paymentId)).toBe(1);
    expect(new Set(capturesOf(orderId).map((r) => r.paypalRequestId))).toEqual(new Set([`${charge.idempotencyKey}-capture`]));
  });

  test("a continued charge under another key (as if PayPal forgot the request id) reads the existing capture instead of capturing again", async () => {
    const charge = checkoutRequest();
    const { orderId } = await waiting(charge);
    fake.approve(orderId);
    const first = await gateway.charge(continued(charge, orderId));
    expect(first.kind).toBe("approved");
    expect(await gateway.charge({ ...continued(charge, orderId), idempotencyKey: "another-key" })).toEqual(first);
    expect(capturesOf(orderId)).toHaveLength(1);
    expect(fake.chargesFor(charge.paymentId)).toBe(1);
  });

  test("lookups by order id need no card: a waiting order is requires_action (the buyer may still pay), and so is a create whose answer was lost", async () => {
    const charge = checkoutRequest();
    const { orderId, url } = await waiting(charge);
    expect(await gateway.lookup(orderLookup(charge, orderId))).toEqual({ kind: "requires_action", gatewayReference: orderId, url });
    // The create's answer lost: the reconciler replays the Checkout charge (no card in it) under its request id.
    const lost = checkoutRequest();
    fake.failNext(Number.POSITIVE_INFINITY, "timeout-after-commit", "create");
    expect((await gateway.charge(lost)).kind).toBe("unknown");
    fake.failNext(0, "timeout-after-commit");
    const found = await gateway.lookup(lookupRequest(lost));
    expect(found).toMatchObject({ kind: "requires_action", gatewayReference: fake.ordersFor(lost.paymentId)[0]?.id });
    expect<unknown>(await gateway.charge({ ...lost, attempt: 2 })).toEqual(found);
    expect(fake.ordersFor(lost.paymentId)).toHaveLength(1);
  });

  test("checkAction: VOIDED fails authentication_failed; an order PayPal no longer shows expired; an unreachable or failing PayPal is unknown", async () => {
    const charge = checkoutRequest();
    const { orderId } = await waiting(charge);
    for (const fault of ["http500", "malformed", "connection-reset", "http429"] as const) {
      fake.failNext(1, fault);
      expect((await gateway.checkAction(actionRequest(charge, orderId))).kind).toBe("unknown");
    }
    fake.voidOrder(orderId);
    expect(await gateway.checkAction(actionRequest(charge, orderId))).toMatchObject({ kind: "failed", code: "authentication_failed" });
    expect(await gateway.charge(continued(charge, orderId))).toMatchObject({ kind: "declined", code: "authentication_failed" });
    expect(await gateway.checkAction(actionRequest(charge, "NOSUCHORDER000000"))).toMatchObject({ kind: "failed", code: "authentication_expired" });
    // An order of another payment or amount is never taken for this one.
    expect((await gateway.checkAction({ ...actionRequest(charge, orderId), amount: charge.amount + 1 })).kind).toBe("unknown");
    await fake.stop();
    expect((await gateway.checkAction(actionRequest(charge, orderId))).kind).toBe("unknown");
  });

  test("cancelAction abandons an order not captured (PayPal cannot delete it), says so at info, and refuses one already captured", async () => {
    const waitingCharge = checkoutRequest();
    const open = await waiting(waitingCharge);
    expect(await gateway.cancelAction(actionRequest(waitingCharge, open.orderId))).toEqual({ kind: "approved", gatewayReference: open.orderId });
    expect(infos).toEqual([
      {
        fields: { gateway: "paypal", paymentId: waitingCharge.paymentId, orderId: open.orderId, orderStatus: "PAYER_ACTION_REQUIRED" },
        message: expect.stringMatching(/never capture/),
      },
    ]);
    // Approved by the buyer but not captured by paystream: still abandoned, and nothing was sent but reads.
    const approvedCharge = checkoutRequest();
    const approved = await waiting(approvedCharge);
    fake.approve(approved.orderId);
    expect(await gateway.cancelAction(actionRequest(approvedCharge, approved.orderId))).toEqual({ kind: "approved", gatewayReference: approved.orderId });
    expect(capturesOf(approved.orderId)).toEqual([]);
    expect(fake.chargesFor(approvedCharge.paymentId)).toBe(0);

    const paidCharge = checkoutRequest();
    const paid = await waiting(paidCharge);
    fake.approve(paid.orderId);
    expect((await gateway.charge(continued(paidCharge, paid.orderId))).kind).toBe("approved");
    expect(await gateway.cancelAction(actionRequest(paidCharge, paid.orderId))).toMatchObject({ kind: "declined", code: "order_already_completed", gatewayReference: paid.orderId });

    fake.failNext(1, "http500");
    expect((await gateway.cancelAction(actionRequest(waitingCharge, open.orderId))).kind).toBe("unknown");
    await fake.stop();
    // Unreachable: nothing can be said of the order (a reused socket's reset is unknown, a refused connection transient).
    expect(["transient", "unknown"]).toContain((await gateway.cancelAction(actionRequest(waitingCharge, open.orderId))).kind);
  });
});

test("a capture answer that shows the purchase unit without its ids or amount (as PayPal's examples) still settles the payment, and its lookup", async () => {
  const fake = await startFakePaypal({ leanStepAnswers: true });
  try {
    const gateway = createPaypalGateway({ clientId: fake.clientId, clientSecret: fake.clientSecret, environment: "sandbox", apiBase: fake.url, timeoutMs: TIMEOUT_MS });
    const charge = checkoutRequest();
    const created = await gateway.charge(charge);
    if (created.kind !== "requires_action") throw new Error(JSON.stringify(created));
    fake.approve(created.gatewayReference);
    const paid = await gateway.charge(continued(charge, created.gatewayReference));
    expect(paid).toMatchObject({ kind: "approved", payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId } });
    expect(fake.requests.filter((r) => r.path.endsWith("/capture")).map((r) => r.status)).toEqual([201]);
    expect(fake.requests.filter((r) => r.path.endsWith(`/orders/${created.gatewayReference}`))).toHaveLength(1);

    // The reconciler's lookup whose capture replay is answered the same lean way.
    const other = checkoutRequest();
    const waiting = await gateway.charge(other);
    if (waiting.kind !== "requires_action") throw new Error(JSON.stringify(waiting));
    fake.approve(waiting.gatewayReference);
    expect(await gateway.lookup(orderLookup(other, waiting.gatewayReference))).toMatchObject({ kind: "approved", payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId } });
    expect(fake.chargesFor(other.paymentId)).toBe(1);
  } finally {
    await fake.stop();
  }
});

describe("the fake PayPal's Checkout orders answer as PayPal does", () => {
  let fake: FakePaypal;
  let token: string;
  beforeEach(async () => {
    fake = await startFakePaypal();
    const res = await fetch(`${fake.url}/v1/oauth2/token`, {
      method: "POST",
      headers: { Authorization: `Basic ${btoa(`${fake.clientId}:${fake.clientSecret}`)}`, "Content-Type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
    token = ((await res.json()) as { access_token: string }).access_token;
  });
  afterEach(async () => {
    await fake.stop();
  });

  const call = async (path: string, requestId: string | null, body?: unknown) => {
    const res = await fetch(`${fake.url}${path}`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token}`,
        "Content-Type": "application/json",
        Prefer: "return=representation",
        ...(requestId === null ? {} : { "PayPal-Request-Id": requestId }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Json & { details?: [{ issue: string }] };
    return { status: res.status, json, issue: json.details?.[0]?.issue ?? null };
  };
  const create = async () =>
    (
      await call("/v2/checkout/orders", crypto.randomUUID(), {
        intent: "CAPTURE",
        purchase_units: [{ amount: { currency_code: "EUR", value: "5.00" }, custom_id: "pay_fake" }],
        payment_source: { paypal: { experience_context: { return_url: RETURN_URL, cancel_url: CANCEL_URL, user_action: "PAY_NOW" } } },
      })
    ).json as Json & { id: string };

  test("capture before approval: 422 ORDER_NOT_APPROVED; after: once per request id, a second request id is ORDER_ALREADY_CAPTURED", async () => {
    const order = await create();
    expect(order).toMatchObject({ status: "PAYER_ACTION_REQUIRED", links: expect.arrayContaining([{ href: `${fake.url}/checkoutnow?token=${order.id}`, rel: "payer-action", method: "GET" }]) });
    expect(await call(`/v2/checkout/orders/${order.id}/capture`, "cap-1")).toMatchObject({ status: 422, issue: "ORDER_NOT_APPROVED" });
    const approved = await fetch(`${fake.url}/_test/orders/${order.id}/approve`, { method: "POST", body: "{}" });
    expect(((await approved.json()) as Json).status).toBe("APPROVED");
    const first = await call(`/v2/checkout/orders/${order.id}/capture`, "cap-2");
    expect(first).toMatchObject({
      status: 201,
      json: {
        status: "COMPLETED",
        payer: { payer_id: FAKE_PAYPAL_PAYERS.funded.payerId, email_address: FAKE_PAYPAL_PAYERS.funded.email },
        payment_source: { paypal: { account_id: FAKE_PAYPAL_PAYERS.funded.payerId, email_address: FAKE_PAYPAL_PAYERS.funded.email } },
        purchase_units: [{ payments: { captures: [{ status: "COMPLETED" }] } }],
      },
    });
    expect(await call(`/v2/checkout/orders/${order.id}/capture`, "cap-2")).toEqual(first);
    expect(await call(`/v2/checkout/orders/${order.id}/capture`, "cap-3")).toMatchObject({ status: 422, issue: "ORDER_ALREADY_CAPTURED" });
    expect(fake.chargesFor("pay_fake")).toBe(1);
  });

  test("the approval page's Cancel sends the buyer to cancel_url and leaves the order waiting; a payer whose funding fails is INSTRUMENT_DECLINED", async () => {
    const order = await create();
    const cancel = await fetch(`${fake.url}/checkoutnow`, { method: "POST", redirect: "manual", body: new URLSearchParams({ token: order.id, action: "cancel" }) });
    expect(cancel.status).toBe(303);
    expect(cancel.headers.get("location")).toBe(`${CANCEL_URL}?token=${order.id}`);
    expect(fake.order(order.id)).toMatchObject({ status: "PAYER_ACTION_REQUIRED" });
    fake.approve(order.id, "fundingFails");
    expect(await call(`/v2/checkout/orders/${order.id}/capture`, "cap-1")).toMatchObject({ status: 422, issue: "INSTRUMENT_DECLINED" });
    expect(fake.order(order.id)).toMatchObject({ status: "APPROVED" });
    // Once captured or voided, the page no longer offers the order.
    fake.voidOrder(order.id);
    expect((await fetch(`${fake.url}/checkoutnow?token=${order.id}`)).status).toBe(409);
  });
});
