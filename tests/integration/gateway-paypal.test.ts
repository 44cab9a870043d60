import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createPaypalGateway } from "../../modules/gateways/paypal";
import type { ChargeRequest, Gateway } from "../../modules/gateways/port";
import { mapErrorResponse, mapOrder, mapPaypalError, mapProcessorResponse } from "../../modules/gateways/paypal/paypal-mapping";
import type { Order } from "@paypal/paypal-server-sdk";
import { startFakePaypal, type FakePaypal } from "../support/fake-paypal";
import { continued } from "../support/paypal-checkout";
import {
  actionRequest,
  type ConformanceHarness,
  TEST_CARDS,
  captureRequest,
  chargeRequest,
  lookupRequest,
  paymentMethodChargeRequest,
  refundRequest,
  runGatewayConformance,
  voidRequest,
} from "../support/gateway-conformance";

const TIMEOUT_MS = 300;

/**
 * The PayPal adapter as the worker drives it for a payment that waits for its customer: PayPal
 * does not charge an order its buyer approved (or whose 3-D Secure was completed) until paystream
 * captures it, so once the customer completed, the worker's continued charge (checkAction `ready`,
 * then a charge with `continues`) is part of "completed" here.
 */
function withWorker(gateway: Gateway) {
  /** The charge of each order waiting for its customer, by order id. */
  const waiting = new Map<string, ChargeRequest>();
  const driven: Gateway = {
    ...gateway,
    async charge(request) {
      const outcome = await gateway.charge(request);
      if (outcome.kind === "requires_action") waiting.set(outcome.gatewayReference, request);
      return outcome;
    },
  };
  async function continueOrder(orderId: string): Promise<void> {
    const charge = waiting.get(orderId);
    if (charge === undefined) throw new Error(`no charge waits on order ${orderId}`);
    expect(await gateway.checkAction(actionRequest(charge, orderId))).toEqual({ kind: "ready" });
    expect((await gateway.charge(continued(charge, orderId, charge.attempt + 1))).kind).toBe("approved");
  }
  return { gateway: driven, continueOrder };
}

/** The fakes behind each conformance harness, so that its customer can act on them. */
const fakes = new WeakMap<ConformanceHarness, FakePaypal & { continueOrder(orderId: string): Promise<void> }>();

/**
 * The customer at the fake's 3-D Secure page completes authentication (the order becomes APPROVED)
 * and the worker captures it; "fail": PayPal voids the order, as after a failed authentication.
 */
const authenticate = async (harness: ConformanceHarness, action: { gatewayReference: string; url: string }, result: "complete" | "fail") => {
  const fake = fakes.get(harness);
  if (fake === undefined) throw new Error("not a PayPal harness");
  if (result === "fail") {
    fake.voidOrder(action.gatewayReference);
    return;
  }
  const done = await fetch(new URL("/webapps/helios", action.url), { method: "POST", redirect: "manual", body: new URLSearchParams({ token: action.gatewayReference, action: "approve" }) });
  expect(done.status).toBe(303);
  await fake.continueOrder(action.gatewayReference);
};

for (const captureOnCreate of [true, false]) {
  const harness = async (): Promise<ConformanceHarness> => {
    // Cards reach PayPal as payment_source.card: only an account with card processing takes them.
    const fake = await startFakePaypal({ captureOnCreate, cardProcessing: true });
    const { gateway, continueOrder } = withWorker(
      createPaypalGateway({
        clientId: fake.clientId,
        clientSecret: fake.clientSecret,
        environment: "sandbox",
        apiBase: fake.url,
        timeoutMs: TIMEOUT_MS,
      }),
    );
    const built: ConformanceHarness = {
      gateway,
      chargesFor: (paymentId) => fake.chargesFor(paymentId),
      ledgerFor: (paymentId) => fake.ledgerFor(paymentId),
      failNext: (n, fault) => fake.failNext(n, fault),
      secrets: [fake.clientSecret],
      // Cards the buyer vaulted earlier, paid with as payment_source.card.vault_id.
      paymentMethods: { approved: fake.vaultCard(TEST_CARDS.approved), declined: fake.vaultCard(TEST_CARDS.cardDeclined) },
      stop: () => fake.stop(),
    };
    fakes.set(built, { ...fake, continueOrder });
    return built;
  };
  const name = captureOnCreate ? "paypal (captured on create)" : "paypal (create, then capture)";
  runGatewayConformance(name, harness, { unknownPaymentMethod: false, authenticate });
}

describe("paypal adapter against the fake PayPal API", () => {
  let fake: FakePaypal;
  const start = async (options: { captureOnCreate?: boolean; cardProcessing?: boolean } = {}) => {
    fake = await startFakePaypal({ cardProcessing: true, ...options });
  };
  afterEach(async () => {
    await fake.stop();
  });

  /** An OAuth token from the fake, for calling its Orders API directly. */
  const accessToken = async () =>
    (await (
      await fetch(`${fake.url}/v1/oauth2/token`, {
        method: "POST",
        headers: { Authorization: `Basic ${btoa(`${fake.clientId}:${fake.clientSecret}`)}`, "Content-Type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials",
      })
    ).json()) as { access_token: string };

  const gateway = (overrides: { clientSecret?: string } = {}) =>
    createPaypalGateway({
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      environment: "sandbox",
      apiBase: fake.url,
      timeoutMs: TIMEOUT_MS,
      ...overrides,
    });

  describe("captured on create", () => {
    beforeEach(() => start());

    test("a look-up after a lost answer replays the create without the CVC (dropped when the reconciler took the payment): PayPal answers the stored order, charged once", async () => {
      const request = chargeRequest(TEST_CARDS.approved);
      // The create and its replay within the charge both reach PayPal, which keeps the order; both answers are lost.
      fake.failNext(2, "timeout-after-commit");
      expect((await gateway().charge(request)).kind).toBe("unknown");
      const withoutCvc = { ...request, card: { ...request.card!, cvc: null } } as ChargeRequest;
      const found = await gateway().lookup(lookupRequest(request, { replay: () => withoutCvc }));
      expect(found).toEqual({ kind: "approved", gatewayReference: expect.any(String) });
      expect(fake.chargesFor(request.paymentId)).toBe(1);
      const creates = fake.requests.filter((r) => r.path === "/v2/checkout/orders");
      expect(creates.map((r) => r.paypalRequestId)).toEqual([request.idempotencyKey, request.idempotencyKey, request.idempotencyKey]);
      // The look-up's CVC-less create was answered from what PayPal stored for the key.
      expect(creates.at(-1)).toMatchObject({ replayed: true, status: 201 });
    });

    test("one order per payment: amount, ids, description and card, keyed by the payment's PayPal-Request-Id", async () => {
      const request = chargeRequest(TEST_CARDS.approved, { description: "x".repeat(200) });
      const outcome = await gateway().charge(request);
      const [order, ...others] = fake.ordersFor(request.paymentId);
      expect(others).toEqual([]);
      expect(order).toMatchObject({
        status: "COMPLETED",
        payment_source: { card: { last_digits: "4242", expiry: "2034-12", name: "Ada Lovelace" } },
        purchase_units: [
          {
            amount: { currency_code: "USD", value: "19.99" },
            custom_id: request.paymentId,
            invoice_id: request.paymentId,
            description: "x".repeat(127),
            payments: { captures: [{ status: "COMPLETED" }] },
          },
        ],
      });
      const captureId = (order?.purchase_units as [{ payments: { captures: [{ id: string }] } }])[0].payments.captures[0].id;
      expect(outcome).toEqual({ kind: "approved", gatewayReference: captureId });
      expect(fake.requests.map((r) => [r.path, r.paypalRequestId])).toEqual([
        ["/v1/oauth2/token", null],
        ["/v2/checkout/orders", request.idempotencyKey],
      ]);
    });

    test("amounts reach PayPal in its units: no decimals for JPY, HUF and TWD, two for the others", async () => {
      const cases: [currency: string, amount: number, value: string][] = [
        ["JPY", 500, "500"],
        ["HUF", 150000, "1500"],
        ["TWD", 80000, "800"],
        ["USD", 1999, "19.99"],
        ["EUR", 5, "0.05"],
      ];
      for (const [currency, amount, value] of cases) {
        const request = chargeRequest(TEST_CARDS.approved, { currency, amount });
        expect((await gateway().charge(request)).kind).toBe("approved");
        expect(fake.ordersFor(request.paymentId)[0]).toMatchObject({ purchase_units: [{ amount: { currency_code: currency, value } }] });
      }
    });

    test("an amount or currency PayPal cannot charge exactly is declined before anything is sent", async () => {
      const fraction = await gateway().charge(chargeRequest(TEST_CARDS.approved, { currency: "HUF", amount: 1050 }));
      const currency = await gateway().charge(chargeRequest(TEST_CARDS.approved, { currency: "KWD", amount: 1230 }));
      expect(fraction).toMatchObject({ kind: "declined", code: "amount_not_supported_by_gateway", gatewayReference: null });
      expect(currency).toMatchObject({ kind: "declined", code: "currency_not_supported_by_gateway", gatewayReference: null });
      expect(fake.requests).toEqual([]);
    });

    test("the fake answers amounts PayPal cannot take as PayPal does", async () => {
      const token = await accessToken();
      const issue = async (currency_code: string, value: string) => {
        const res = await fetch(`${fake.url}/v2/checkout/orders`, {
          method: "POST",
          headers: { Authorization: `Bearer ${token.access_token}`, "Content-Type": "application/json", "PayPal-Request-Id": crypto.randomUUID() },
          body: JSON.stringify({
            intent: "CAPTURE",
            purchase_units: [{ amount: { currency_code, value } }],
            payment_source: { card: { number: TEST_CARDS.approved, expiry: "2034-12", security_code: "123" } },
          }),
        });
        const body = (await res.json()) as { details?: { issue: string }[] };
        return [res.status, body.details?.[0]?.issue ?? null];
      };
      expect(await issue("JPY", "500.00")).toEqual([422, "DECIMALS_NOT_SUPPORTED"]);
      expect(await issue("HUF", "10.50")).toEqual([422, "DECIMALS_NOT_SUPPORTED"]);
      expect(await issue("KWD", "1.230")).toEqual([422, "CURRENCY_NOT_SUPPORTED"]);
      expect(await issue("USD", "1.999")).toEqual([422, "DECIMAL_PRECISION"]);
      expect(await issue("JPY", "500")).toEqual([201, null]);
    });

    test("a processor 'retry later' decline is transient", async () => {
      const outcome = await gateway().charge(chargeRequest(TEST_CARDS.processingError));
      expect(outcome).toEqual({ kind: "transient", reason: "paypal_processor_retry: 9100" });
    });

    test("one OAuth token serves many charges", async () => {
      const paypal = gateway();
      for (let i = 0; i < 3; i += 1) expect((await paypal.charge(chargeRequest())).kind).toBe("approved");
      expect(fake.requests.filter((r) => r.path === "/v1/oauth2/token")).toHaveLength(1);
    });

    test("wrong client credentials are transient and no order is attempted", async () => {
      const outcome = await gateway({ clientSecret: "wrong" }).charge(chargeRequest());
      expect(outcome).toEqual({ kind: "transient", reason: "gateway_authentication_failed: HTTP 401" });
      expect(fake.requests.map((r) => r.path)).toEqual(["/v1/oauth2/token"]);
    });

    test("a failed token request does not break later charges", async () => {
      const paypal = gateway();
      fake.failNext(1, "http500", "token");
      expect(await paypal.charge(chargeRequest())).toMatchObject({ kind: "transient" });
      expect(await paypal.charge(chargeRequest())).toMatchObject({ kind: "approved" });
    });

    test("a refused token is transient and replaced on the next charge", async () => {
      const paypal = gateway();
      expect((await paypal.charge(chargeRequest())).kind).toBe("approved");
      fake.revokeTokens();
      expect(await paypal.charge(chargeRequest())).toEqual({ kind: "transient", reason: expect.stringMatching(/^gateway_authentication_failed: HTTP 401/) });
      expect((await paypal.charge(chargeRequest())).kind).toBe("approved");
      expect(fake.requests.filter((r) => r.path === "/v1/oauth2/token")).toHaveLength(2);
    });

    test("an unreachable API is transient (nothing was sent)", async () => {
      const paypal = gateway();
      await fake.stop();
      expect(await paypal.charge(chargeRequest())).toEqual({ kind: "transient", reason: "paypal_unreachable: ECONNREFUSED" });
    });

    test("a second order for an already captured payment is refused by invoice id and stays unknown", async () => {
      const request = chargeRequest();
      expect((await gateway().charge(request)).kind).toBe("approved");
      // As if the PayPal-Request-Id had expired: PayPal's invoice-id check still stops a second charge.
      const outcome = await gateway().charge({ ...request, idempotencyKey: "charge-with-an-expired-key" });
      expect(outcome).toMatchObject({ kind: "unknown", reason: expect.stringMatching(/^paypal_duplicate_invoice_id/) });
      expect(fake.chargesFor(request.paymentId)).toBe(1);
    });
  });

  describe("an account without card processing (no Advanced Credit and Debit Card Payments)", () => {
    beforeEach(() => start({ cardProcessing: false }));

    test("a card payment is a configuration error, never a decline, logged at error level without the card", async () => {
      const logged: Array<{ fields: Record<string, unknown>; message: string }> = [];
      const log = { error: (fields: Record<string, unknown>, message: string) => logged.push({ fields, message }) };
      const paypal = createPaypalGateway({ clientId: fake.clientId, clientSecret: fake.clientSecret, environment: "sandbox", apiBase: fake.url, timeoutMs: TIMEOUT_MS, log });
      const request = chargeRequest(TEST_CARDS.approved);
      const outcome = await paypal.charge(request);
      expect(outcome).toEqual({
        kind: "declined",
        code: "gateway_configuration_error",
        message: expect.stringMatching(/^PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING: Payee account is not setup to be able to process card payments/),
        gatewayReference: null,
      });
      expect(fake.chargesFor(request.paymentId)).toBe(0);
      expect(logged).toEqual([
        {
          fields: expect.objectContaining({ gateway: "paypal", paymentId: request.paymentId, operation: "charge", code: "gateway_configuration_error" }),
          message: expect.any(String),
        },
      ]);
      expect(JSON.stringify(logged)).not.toContain(TEST_CARDS.approved);
    });

    test("a vaulted card (payment_source.card.vault_id) needs card processing too: a configuration error, nothing charged", async () => {
      const paypal = createPaypalGateway({ clientId: fake.clientId, clientSecret: fake.clientSecret, environment: "sandbox", apiBase: fake.url, timeoutMs: TIMEOUT_MS });
      const request = paymentMethodChargeRequest(fake.vaultCard(TEST_CARDS.approved));
      expect(await paypal.charge(request)).toMatchObject({ kind: "declined", code: "gateway_configuration_error", gatewayReference: null });
      expect(fake.chargesFor(request.paymentId)).toBe(0);
    });

    test("the fake answers a card order with PayPal's 422 PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING envelope", async () => {
      const token = await accessToken();
      const res = await fetch(`${fake.url}/v2/checkout/orders`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token.access_token}`, "Content-Type": "application/json", "PayPal-Request-Id": crypto.randomUUID() },
        body: JSON.stringify({
          intent: "CAPTURE",
          purchase_units: [{ amount: { currency_code: "USD", value: "10.00" } }],
          payment_source: { card: { number: TEST_CARDS.approved, expiry: "2034-12", security_code: "123" } },
        }),
      });
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({
        name: "UNPROCESSABLE_ENTITY",
        message: "The requested action could not be performed, semantically incorrect, or failed business validation.",
        details: [{ issue: "PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING", description: "Payee account is not setup to be able to process card payments. Please contact PayPal customer support." }],
        debug_id: res.headers.get("paypal-debug-id"),
        links: [{ href: "https://developer.paypal.com/api/rest/reference/orders/v2/errors/#payee_not_enabled_for_card_processing", rel: "information_link", method: "GET" }],
      });
    });
  });

  describe("create, then capture", () => {
    beforeEach(() => start({ captureOnCreate: false }));

    test("captures with its own PayPal-Request-Id derived from the payment's key", async () => {
      const request = chargeRequest();
      expect((await gateway().charge(request)).kind).toBe("approved");
      const [, create, capture] = fake.requests;
      expect(create).toMatchObject({ path: "/v2/checkout/orders", paypalRequestId: request.idempotencyKey });
      expect(capture).toMatchObject({ path: expect.stringMatching(/\/capture$/), paypalRequestId: `${request.idempotencyKey}-capture` });
    });

    test("a capture whose answer is lost is recovered in the same call by replaying both keys", async () => {
      const request = chargeRequest();
      fake.failNext(1, "timeout-after-commit", "capture");
      expect(await gateway().charge(request)).toMatchObject({ kind: "approved" });
      expect(fake.requests.slice(1).map((r) => [r.path.endsWith("/capture") ? "capture" : "create", r.replayed])).toEqual([
        ["create", false],
        ["capture", false],
        ["create", true],
        ["capture", true],
      ]);
      expect(fake.chargesFor(request.paymentId)).toBe(1);
    });

    test("an authorization, its capture, a refund and a void each go under their own PayPal-Request-Id", async () => {
      const paypal = gateway();
      const charge = chargeRequest(TEST_CARDS.approved, { capture: false });
      const authorized = await paypal.charge(charge);
      if (authorized.kind !== "approved") throw new Error("not authorized");
      const capture = captureRequest(charge, authorized.gatewayReference, { amount: 1000 });
      const captured = await paypal.capture(capture);
      if (captured.kind !== "approved") throw new Error("not captured");
      // A refund acts on the capture, not on the authorization.
      expect(captured.gatewayReference).not.toBe(authorized.gatewayReference);
      const refund = refundRequest(charge, captured.gatewayReference, 250, 1000);
      expect((await paypal.refund(refund)).kind).toBe("approved");
      const other = chargeRequest(TEST_CARDS.approved, { capture: false });
      const held = await paypal.charge(other);
      if (held.kind !== "approved") throw new Error("not authorized");
      const voided = voidRequest(other, held.gatewayReference);
      expect(await paypal.voidAuthorization(voided)).toEqual({ kind: "approved", gatewayReference: held.gatewayReference });

      const order = fake.ordersFor(charge.paymentId)[0];
      expect(order).toMatchObject({ intent: "AUTHORIZE", status: "COMPLETED" });
      expect(fake.requests.slice(1).map((r) => [r.path.replace(/[A-Z0-9]{17}/g, ":id"), r.paypalRequestId])).toEqual([
        ["/v2/checkout/orders", charge.idempotencyKey],
        ["/v2/checkout/orders/:id/authorize", `${charge.idempotencyKey}-authorize`],
        ["/v2/payments/authorizations/:id/capture", capture.idempotencyKey],
        ["/v2/payments/captures/:id/refund", refund.idempotencyKey],
        ["/v2/checkout/orders", other.idempotencyKey],
        ["/v2/checkout/orders/:id/authorize", `${other.idempotencyKey}-authorize`],
        ["/v2/payments/authorizations/:id/void", voided.idempotencyKey],
      ]);
      expect(fake.ledgerFor(charge.paymentId)).toEqual({ captures: [1000], voids: 0, refunds: [250] });
      expect(fake.ledgerFor(other.paymentId)).toEqual({ captures: [], voids: 1, refunds: [] });
    });
  });
});

describe("paypal mapping", () => {
  test("processor response codes", () => {
    const code = (responseCode: string | undefined) => mapProcessorResponse(responseCode, "CAP1");
    expect(code("5120")).toMatchObject({ kind: "declined", code: "insufficient_funds", gatewayReference: "CAP1" });
    expect(code("5400")).toMatchObject({ code: "expired_card" });
    expect(code("00N7")).toMatchObject({ code: "incorrect_cvc" });
    expect(code("5110")).toMatchObject({ code: "incorrect_cvc" });
    expect(code("9520")).toMatchObject({ code: "lost_card" });
    expect(code("9500")).toMatchObject({ code: "fraudulent" });
    expect(code("5650")).toMatchObject({ code: "authentication_required" });
    expect(code("0500")).toMatchObject({ code: "card_declined" });
    expect(code(undefined)).toMatchObject({ code: "card_declined" });
    expect(code("9100")).toEqual({ kind: "transient", reason: "paypal_processor_retry: 9100" });
  });

  test("orders", () => {
    const completed = (capture: Record<string, unknown> | undefined): Order =>
      ({ id: "ORDER1", status: "COMPLETED", purchaseUnits: [{ payments: capture === undefined ? {} : { captures: [capture] } }] }) as Order;
    expect(mapOrder(completed({ id: "CAP1", status: "COMPLETED" }))).toEqual({ kind: "approved", gatewayReference: "CAP1" });
    expect(mapOrder(completed({ id: "CAP1", status: "DECLINED", processorResponse: { responseCode: "5120" } }))).toMatchObject({ code: "insufficient_funds" });
    expect(mapOrder(completed({ id: "CAP1", status: "FAILED" }))).toMatchObject({ kind: "declined", code: "card_declined" });
    expect(mapOrder(completed({ id: "CAP1", status: "PENDING" }))).toMatchObject({ kind: "unknown" });
    expect(mapOrder(completed(undefined))).toMatchObject({ kind: "unknown", reason: "paypal_capture_missing: ORDER1" });
    expect(mapOrder({ id: "ORDER1", status: "PAYER_ACTION_REQUIRED" } as Order)).toMatchObject({ kind: "declined", code: "authentication_required" });
    expect(mapOrder({ id: "ORDER1", status: "VOIDED" } as Order)).toMatchObject({ kind: "declined", code: "payment_canceled" });
    expect(mapOrder({ id: "ORDER1", status: "APPROVED" } as Order)).toMatchObject({ kind: "unknown" });
    expect(mapOrder({} as Order).kind).toBe("unknown");
  });

  test("error responses", () => {
    const envelope = (issue: string, description = "why") => ({ name: "UNPROCESSABLE_ENTITY", details: [{ issue, description }], debug_id: "d1" });
    expect(mapErrorResponse(422, envelope("INSTRUMENT_DECLINED"))).toMatchObject({ kind: "declined", code: "card_declined" });
    expect(mapErrorResponse(422, envelope("TRANSACTION_REFUSED"))).toMatchObject({ kind: "declined", code: "card_declined" });
    expect(mapErrorResponse(422, envelope("CARD_EXPIRED"))).toMatchObject({ kind: "declined", code: "expired_card" });
    expect(mapErrorResponse(400, envelope("INVALID_SECURITY_CODE_LENGTH"))).toMatchObject({ kind: "declined", code: "incorrect_cvc" });
    expect(mapErrorResponse(422, envelope("PAYER_ACTION_REQUIRED"))).toMatchObject({ kind: "declined", code: "authentication_required" });
    expect(mapErrorResponse(422, envelope("ORDER_ALREADY_CAPTURED"))).toMatchObject({ kind: "unknown" });
    // The account cannot do what was asked: no card is at fault, nothing was charged.
    for (const issue of ["PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING", "NOT_ENABLED_FOR_CARD_PROCESSING", "AUTH_CAPTURE_NOT_ENABLED"]) {
      expect(mapErrorResponse(422, envelope(issue, "not enabled"))).toEqual({
        kind: "declined",
        code: "gateway_configuration_error",
        message: `${issue}: not enabled (debug_id d1)`,
        gatewayReference: null,
      });
    }
    expect(mapErrorResponse(400, envelope("INVALID_PARAMETER_VALUE", "card 4111111111111111 is invalid"))).toEqual({
      kind: "declined",
      code: "gateway_invalid_request",
      message: "UNPROCESSABLE_ENTITY: INVALID_PARAMETER_VALUE: card [redacted] is invalid",
      gatewayReference: null,
    });
    expect(mapErrorResponse(404, undefined)).toMatchObject({ kind: "declined", code: "gateway_invalid_request", message: "HTTP 404" });
    expect(mapErrorResponse(429, {})).toEqual({ kind: "transient", reason: "paypal_rate_limited" });
    // PayPal may have processed the request before a 5xx: never "nothing happened".
    expect(mapErrorResponse(503, { debug_id: "d2" })).toEqual({ kind: "unknown", reason: "paypal_server_error: HTTP 503 (debug_id d2)" });
    for (const status of [500, 502, 504]) expect(mapErrorResponse(status, {}).kind).toBe("unknown");
    expect(mapErrorResponse(409, {}).kind).toBe("transient");
    expect(mapErrorResponse(401, {}).kind).toBe("transient");
    expect(mapErrorResponse(403, {}).kind).toBe("transient");
  });

  test("errors without an HTTP answer", () => {
    expect(mapPaypalError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" }))).toEqual({ kind: "transient", reason: "paypal_unreachable: ECONNREFUSED" });
    expect(mapPaypalError(Object.assign(new Error("timeout"), { code: "ECONNABORTED" }))).toEqual({ kind: "unknown", reason: "paypal_no_answer: ECONNABORTED" });
    expect(mapPaypalError(Object.assign(new Error("hang up"), { code: "ECONNRESET" }))).toMatchObject({ kind: "unknown" });
    expect(mapPaypalError(new Error("Could not parse body as JSON."))).toEqual({ kind: "unknown", reason: "paypal_unexpected_response" });
    expect(mapPaypalError("nonsense").kind).toBe("unknown");
  });
});
