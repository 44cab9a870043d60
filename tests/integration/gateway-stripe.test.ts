import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import Stripe from "stripe";
import type { ChargeRequest } from "../../modules/gateways";
import { createStripeGateway } from "../../modules/gateways/stripe";
import { mapCardFailure, mapPaymentIntent, mapSearchResult, mapStripeError } from "../../modules/gateways/stripe/stripe-mapping";
import { STRIPE_TEST_PAYMENT_METHODS } from "../../modules/gateways/stripe/stripe-test-payment-methods";
import { authenticateAtFakeStripe, startFakeStripe, type FakeStripe } from "../support/fake-stripe";
import {
  actionRequest,
  type ConformanceHarness,
  paymentMethodChargeRequest,
  RETURN_URL,
  TEST_CARDS,
  captureRequest,
  chargeRequest,
  lookupRequest,
  refundRequest,
  runGatewayConformance,
  STRIPE_TEST_PAYMENT_METHOD_CASES,
} from "../support/gateway-conformance";

const TIMEOUT_MS = 300;

/** rawCardData: an account with raw card data APIs, and STRIPE_RAW_CARD_DATA=true; else an ordinary account. */
async function stripeHarness(rawCardData: boolean): Promise<ConformanceHarness> {
  const fake = await startFakeStripe({ rawCardData });
  return {
    gateway: createStripeGateway({ secretKey: fake.secretKey, apiBase: fake.url, timeoutMs: TIMEOUT_MS, searchLagMs: 0, rawCardData }),
    chargesFor: (paymentId) => fake.chargesFor(paymentId),
    ledgerFor(paymentId) {
      const authorizations = fake.intentsFor(paymentId).filter((intent) => intent.capture_method === "manual");
      return {
        captures: authorizations.filter((intent) => intent.status === "succeeded").map((intent) => Number(intent.amount_received)),
        voids: authorizations.filter((intent) => intent.status === "canceled").length,
        refunds: fake.refundsFor(paymentId).filter((refund) => refund.status === "succeeded" || refund.status === "pending").map((refund) => refund.amount),
      };
    },
    failNext: (n, fault) => fake.failNext(n, fault),
    secrets: [fake.secretKey],
    // A test-mode account holds Stripe's test PaymentMethods, with or without raw card data APIs.
    paymentMethods: STRIPE_TEST_PAYMENT_METHOD_CASES,
    stop: () => fake.stop(),
  };
}

/** The customer at the fake's 3-D Secure page: "Complete" or "Fail", as on Stripe's test page. */
const authenticate = async (_harness: ConformanceHarness, action: { url: string }, result: "complete" | "fail") => {
  await authenticateAtFakeStripe(action.url, result);
};

runGatewayConformance("stripe (ordinary account: test PaymentMethods)", () => stripeHarness(false), { anyCardNumber: false, authenticate });
runGatewayConformance("stripe (raw card data)", () => stripeHarness(true), { authenticate });

describe("stripe adapter against the fake Stripe API", () => {
  let fake: FakeStripe;
  beforeEach(async () => {
    fake = await startFakeStripe();
  });
  afterEach(async () => {
    await fake.stop();
  });

  const gateway = (overrides: { secretKey?: string; apiBase?: string; rawCardData?: boolean; log?: { error(fields: Record<string, unknown>, message: string): void } } = {}) =>
    createStripeGateway({ secretKey: fake.secretKey, apiBase: fake.url, timeoutMs: TIMEOUT_MS, rawCardData: false, ...overrides });

  describe("a 5xx Stripe keeps and replays for the idempotency key", () => {
    /** The reconciler's question, its last attempt `lastAttemptAgoMs` ago, with the card gone (no replay). */
    const lookupOf = (request: ReturnType<typeof chargeRequest>, lastAttemptAgoMs: number) => {
      const now = Date.now();
      return lookupRequest(request, {
        firstAttemptAt: new Date(now - lastAttemptAgoMs - 1_000),
        unknownSince: new Date(now - lastAttemptAgoMs - 1_000),
        lastAttemptAt: new Date(now - lastAttemptAgoMs),
        replay: () => null,
      });
    };

    test("stays unknown on every retry (never transient, never FAILED), and a lookup after the search lag settles it as not charged", async () => {
      const stripe = createStripeGateway({ secretKey: fake.secretKey, apiBase: fake.url, timeoutMs: TIMEOUT_MS, searchLagMs: 60_000, rawCardData: false });
      const request = chargeRequest();
      fake.storeServerErrorOnNextCreate(false);
      for (let attempt = 1; attempt <= 3; attempt++) expect((await stripe.charge({ ...request, attempt })).kind).toBe("unknown");
      expect(fake.requests.filter((r) => r.status === 500 && r.replayed).length).toBeGreaterThanOrEqual(3);
      // Within the search lag an empty search proves nothing.
      expect((await stripe.lookup(lookupOf(request, 1_000))).kind).toBe("unknown");
      expect(await stripe.lookup(lookupOf(request, 61_000))).toEqual({ kind: "not_charged", reason: "stripe_search_found_nothing" });
      expect(fake.chargesFor(request.paymentId)).toBe(0);
    });

    test("when Stripe charged before the 5xx, the adapter's own lookup finds the charge: approved, once", async () => {
      const stripe = createStripeGateway({ secretKey: fake.secretKey, apiBase: fake.url, timeoutMs: TIMEOUT_MS, searchLagMs: 60_000, rawCardData: false });
      const request = chargeRequest();
      fake.storeServerErrorOnNextCreate(true);
      expect(await stripe.charge(request)).toEqual({ kind: "approved", gatewayReference: expect.stringMatching(/^pi_/) });
      expect((await stripe.lookup(lookupOf(request, 61_000))).kind).toBe("approved");
      expect(fake.chargesFor(request.paymentId)).toBe(1);
    });

    test("a found PaymentIntent of another amount or currency is ignored, a retrieved one by id too", async () => {
      const stripe = createStripeGateway({ secretKey: fake.secretKey, apiBase: fake.url, timeoutMs: TIMEOUT_MS, searchLagMs: 0, rawCardData: false });
      const request = chargeRequest();
      const charged = await stripe.charge(request);
      expect(charged.kind).toBe("approved");
      const reference = charged.kind === "approved" ? charged.gatewayReference : null;
      for (const other of [{ amount: 2000 }, { currency: "EUR" }]) {
        expect((await stripe.lookup({ ...lookupOf(request, 61_000), ...other })).kind).toBe("unknown");
        expect((await stripe.lookup({ ...lookupOf(request, 61_000), ...other, gatewayReference: reference })).kind).toBe("unknown");
      }
      expect(await stripe.lookup({ ...lookupOf(request, 0), gatewayReference: reference })).toMatchObject({ kind: "approved", gatewayReference: reference ?? "" });
    });
  });

  test("creates and confirms one PaymentIntent with the card's test PaymentMethod, metadata and the payment's idempotency key", async () => {
    const request = chargeRequest();
    const outcome = await gateway().charge(request);
    expect(fake.paymentSources).toEqual(["pm_card_visa"]);
    expect(outcome).toEqual({ kind: "approved", gatewayReference: expect.stringMatching(/^pi_/) });
    expect(fake.requests).toEqual([
      { method: "POST", path: "/v1/payment_intents", idempotencyKey: request.idempotencyKey, fault: null, replayed: false, status: 200 },
    ]);

    const url = new URL(fake.url);
    const stripe = new Stripe(fake.secretKey, { host: url.hostname, port: url.port, protocol: "http" });
    const intent = await stripe.paymentIntents.retrieve(outcome.kind === "approved" ? outcome.gatewayReference : "");
    expect(intent).toMatchObject({
      amount: 1999,
      currency: "usd",
      status: "succeeded",
      description: request.description,
      receipt_email: request.customer.email,
      metadata: { paystream_payment_id: request.paymentId },
    });
  });

  test("amounts reach Stripe in its units, not ISO 4217's", async () => {
    // [currency, ISO minor units, Stripe amount]
    const cases: [string, number, number][] = [
      ["USD", 1999, 1999],
      ["JPY", 500, 500],
      ["MGA", 5000, 50], // ISO: 2 decimals; Stripe: zero-decimal
      ["ISK", 500, 50000], // ISO: 0 decimals; Stripe: two decimals, always 00
      ["UGX", 1000, 100000],
      ["KWD", 1230, 1230], // three decimals, last digit 0
      ["HUF", 1045, 1045], // two decimals for charges (zero-decimal for payouts only)
      ["TWD", 80045, 80045],
    ];
    for (const [currency, amount, stripeAmount] of cases) {
      const request = chargeRequest(TEST_CARDS.approved, { currency, amount });
      expect((await gateway().charge(request)).kind).toBe("approved");
      expect(fake.intentsFor(request.paymentId)).toEqual([expect.objectContaining({ amount: stripeAmount, currency: currency.toLowerCase() })]);
    }
  });

  test("an amount or currency Stripe cannot charge exactly is declined before anything is sent", async () => {
    const refused: [string, number, string][] = [
      ["MGA", 1050, "amount_not_supported_by_gateway"],
      ["KWD", 1235, "amount_not_supported_by_gateway"],
      ["IQD", 1000, "currency_not_supported_by_gateway"],
    ];
    for (const [currency, amount, code] of refused) {
      const outcome = await gateway().charge(chargeRequest(TEST_CARDS.approved, { currency, amount }));
      expect(outcome).toMatchObject({ kind: "declined", code, gatewayReference: null });
    }
    expect(fake.requests).toEqual([]);
  });

  test("the fake answers amounts Stripe cannot take as Stripe does", async () => {
    const create = async (currency: string, amount: number) => {
      const form = new URLSearchParams({ amount: String(amount), currency, confirm: "true", payment_method: "pm_card_visa" });
      const res = await fetch(`${fake.url}/v1/payment_intents`, {
        method: "POST",
        headers: { Authorization: `Bearer ${fake.secretKey}`, "Content-Type": "application/x-www-form-urlencoded" },
        body: form,
      });
      const body = (await res.json()) as { error?: { type: string; param: string } };
      return [res.status, body.error?.type ?? null, body.error?.param ?? null];
    };
    expect(await create("isk", 50050)).toEqual([400, "invalid_request_error", "amount"]);
    expect(await create("ugx", 150)).toEqual([400, "invalid_request_error", "amount"]);
    expect(await create("kwd", 1235)).toEqual([400, "invalid_request_error", "amount"]);
    expect(await create("iqd", 1000)).toEqual([400, "invalid_request_error", "currency"]);
    expect(await create("kwd", 1230)).toEqual([200, null, null]);
  });

  describe("an ordinary account (no raw card data APIs)", () => {
    const create = async (form: Record<string, string>) => {
      const res = await fetch(`${fake.url}/v1/payment_intents`, {
        method: "POST",
        headers: { Authorization: `Bearer ${fake.secretKey}`, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ amount: "1000", currency: "usd", confirm: "true", ...form }),
      });
      return { status: res.status, body: (await res.json()) as { error?: Record<string, unknown> } };
    };

    test("the fake refuses raw card numbers with Stripe's 400 invalid_request_error", async () => {
      const { status, body } = await create({ "payment_method_data[type]": "card", "payment_method_data[card][number]": TEST_CARDS.approved, "payment_method_data[card][cvc]": "123" });
      expect(status).toBe(400);
      expect(body).toEqual({
        error: {
          type: "invalid_request_error",
          message:
            "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest you use test tokens that map to the test card you are using, see https://stripe.com/docs/testing. To enable raw card data APIs in test mode, see https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis.",
          request_log_url: expect.stringMatching(/^https:\/\/dashboard\.stripe\.com\/test\/logs\/req_/),
        },
      });
    });

    test("the fake refuses a parameter the pinned API version does not document, and an unknown PaymentMethod", async () => {
      expect(await create({ payment_method: "pm_card_visa", payment_method_types: "card" })).toMatchObject({
        status: 400,
        body: { error: { type: "invalid_request_error", code: "parameter_unknown", param: "payment_method_types" } },
      });
      expect(await create({ payment_method: "pm_card_nonexistent" })).toMatchObject({ status: 400, body: { error: { code: "resource_missing", param: "payment_method" } } });
    });

    test("every test card number the adapter knows reaches Stripe as a PaymentMethod Stripe holds, with that card's outcome", async () => {
      const stripe = gateway();
      for (const [number, paymentMethod] of Object.entries(STRIPE_TEST_PAYMENT_METHODS)) {
        fake.requests.length = 0;
        fake.paymentSources.length = 0;
        const outcome = await stripe.charge(chargeRequest(number));
        expect(fake.paymentSources).toEqual([paymentMethod]);
        expect(fake.requests.every((r) => r.status !== 400)).toBe(true);
        expect(outcome.kind).not.toBe("unknown");
      }
      expect((await stripe.charge(chargeRequest(TEST_CARDS.insufficientFunds))).kind).toBe("declined");
    });

    test("STRIPE_RAW_CARD_DATA=true against it is a configuration error, never a decline, logged without the card", async () => {
      const logged: Array<{ fields: Record<string, unknown>; message: string }> = [];
      const log = { error: (fields: Record<string, unknown>, message: string) => logged.push({ fields, message }) };
      const request = chargeRequest(TEST_CARDS.approved);
      const outcome = await gateway({ rawCardData: true, log }).charge(request);
      expect(outcome).toEqual({
        kind: "declined",
        code: "gateway_configuration_error",
        message: expect.stringMatching(/^Sending credit card numbers directly to the Stripe API is generally unsafe/),
        gatewayReference: null,
      });
      expect(outcome).not.toMatchObject({ code: "gateway_invalid_request" });
      expect(fake.chargesFor(request.paymentId)).toBe(0);
      expect(logged).toEqual([
        { fields: expect.objectContaining({ gateway: "stripe", paymentId: request.paymentId, operation: "charge", code: "gateway_configuration_error" }), message: expect.any(String) },
      ]);
      expect(JSON.stringify(logged)).not.toContain(TEST_CARDS.approved);
    });

    test("a card with no test PaymentMethod is a configuration error, and nothing is sent", async () => {
      const outcome = await gateway().charge(chargeRequest(TEST_CARDS.captureRefused));
      expect(outcome).toMatchObject({ kind: "declined", code: "gateway_configuration_error", gatewayReference: null });
      const live = await gateway({ secretKey: "sk_live_x" }).charge(chargeRequest(TEST_CARDS.approved));
      expect(live).toMatchObject({ kind: "declined", code: "gateway_configuration_error", gatewayReference: null });
      expect(fake.requests).toEqual([]);
    });
  });

  test("a repeated charge is answered by Stripe's idempotent replay", async () => {
    const request = chargeRequest();
    await gateway().charge(request);
    await gateway().charge(request);
    expect(fake.requests.map((r) => r.replayed)).toEqual([false, true]);
  });

  test("processing_error is transient", async () => {
    const outcome = await gateway().charge(chargeRequest(TEST_CARDS.processingError));
    expect(outcome).toEqual({ kind: "transient", reason: "stripe_processing_error" });
  });

  test("a declined card keeps the PaymentIntent id as reference", async () => {
    const outcome = await gateway().charge(chargeRequest(TEST_CARDS.insufficientFunds));
    expect(outcome).toMatchObject({ kind: "declined", code: "insufficient_funds", gatewayReference: expect.stringMatching(/^pi_/) });
  });

  test("a rejected request (400) is declined as gateway_invalid_request", async () => {
    const outcome = await gateway().charge(chargeRequest(TEST_CARDS.approved, { amount: 0 }));
    expect(outcome).toMatchObject({ kind: "declined", code: "gateway_invalid_request", gatewayReference: null });
  });

  test("a wrong secret key is transient, not a decline", async () => {
    const outcome = await gateway({ secretKey: "sk_test_wrong" }).charge(chargeRequest());
    expect(outcome).toEqual({ kind: "transient", reason: expect.stringMatching(/^gateway_authentication_failed: HTTP 401/) });
  });

  test("an unreachable API is transient (nothing was sent)", async () => {
    await fake.stop();
    const outcome = await gateway().charge(chargeRequest());
    expect(outcome).toEqual({ kind: "transient", reason: "stripe_unreachable: ECONNREFUSED" });
  });

  test("when both the create and its replay go unanswered, the metadata search finds the charge", async () => {
    const request = chargeRequest();
    fake.failNext(2, "timeout-after-commit", "create");
    const outcome = await gateway().charge(request);
    expect(outcome).toEqual({ kind: "approved", gatewayReference: expect.stringMatching(/^pi_/) });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /v1/payment_intents",
      "POST /v1/payment_intents",
      "GET /v1/payment_intents/search",
    ]);
    expect(fake.chargesFor(request.paymentId)).toBe(1);
  });

  test("when the search finds nothing the outcome stays unknown, and no new key is ever used", async () => {
    const request = chargeRequest();
    // stripe-node retries a reset connection once by itself, so two creates take four resets.
    fake.failNext(4, "connection-reset", "create");
    const outcome = await gateway().charge(request);
    expect(outcome).toEqual({ kind: "unknown", reason: "stripe_no_answer: ECONNRESET" });
    expect(fake.chargesFor(request.paymentId)).toBe(0);
    expect(await gateway().charge({ ...request, attempt: 2 })).toMatchObject({ kind: "approved" });
    const keys = new Set(fake.requests.filter((r) => r.method === "POST").map((r) => r.idempotencyKey));
    expect([...keys]).toEqual([request.idempotencyKey]);
  });

  test("an authorization, its capture and a refund each carry their own idempotency key; the refund carries our ids", async () => {
    const stripe = gateway();
    const charge = chargeRequest(TEST_CARDS.approved, { capture: false });
    const authorized = await stripe.charge(charge);
    if (authorized.kind !== "approved") throw new Error("not authorized");
    const [intent] = fake.intentsFor(charge.paymentId);
    expect(intent).toMatchObject({ status: "requires_capture", capture_method: "manual", amount_capturable: charge.amount });
    const capture = captureRequest(charge, authorized.gatewayReference, { amount: 1500 });
    // The PaymentIntent stays the reference: refunds name it.
    expect(await stripe.capture(capture)).toEqual({ kind: "approved", gatewayReference: authorized.gatewayReference });
    const refund = refundRequest(charge, authorized.gatewayReference, 400, 1500);
    const refunded = await stripe.refund(refund);
    expect(refunded).toEqual({ kind: "approved", gatewayReference: expect.stringMatching(/^re_/) });
    expect(fake.refundsFor(charge.paymentId)).toEqual([
      expect.objectContaining({ amount: 400, reason: "requested_by_customer", metadata: { paystream_payment_id: charge.paymentId, paystream_refund_id: refund.refundId } }),
    ]);
    const posts = fake.requests.filter((r) => r.method === "POST").map((r) => [r.path, r.idempotencyKey]);
    expect(posts).toEqual([
      ["/v1/payment_intents", charge.idempotencyKey],
      [`/v1/payment_intents/${authorized.gatewayReference}/capture`, capture.idempotencyKey],
      ["/v1/refunds", refund.idempotencyKey],
    ]);
  });

  test("a refund whose answer was lost and whose replay failed too is found by the refund list", async () => {
    const stripe = gateway();
    const charge = chargeRequest();
    const charged = await stripe.charge(charge);
    if (charged.kind !== "approved") throw new Error("not charged");
    // The refund is made but its answer lost, and the replay's answer is lost too.
    fake.failNext(2, "timeout-after-commit", "refund");
    const refund = refundRequest(charge, charged.gatewayReference, charge.amount);
    const outcome = await stripe.refund(refund);
    const [made, ...others] = fake.refundsFor(charge.paymentId);
    expect(others).toEqual([]);
    expect(made).toMatchObject({ status: "succeeded", amount: charge.amount });
    // The adapter's own lookup found it: one refund, never a second one under a new key.
    expect(outcome).toEqual({ kind: "approved", gatewayReference: made?.id ?? "" });
    expect(fake.requests.filter((r) => r.path === "/v1/refunds").map((r) => [r.method, r.fault, r.idempotencyKey])).toEqual([
      ["POST", "timeout-after-commit", refund.idempotencyKey],
      ["POST", "timeout-after-commit", refund.idempotencyKey],
      ["GET", null, null],
    ]);
  });
});

describe("stripe 3-D Secure against the fake Stripe API", () => {
  let fake: FakeStripe;
  beforeEach(async () => {
    fake = await startFakeStripe();
  });
  afterEach(async () => {
    await fake.stop();
  });
  const gateway = () => createStripeGateway({ secretKey: fake.secretKey, apiBase: fake.url, timeoutMs: TIMEOUT_MS, searchLagMs: 0, rawCardData: false });
  const api = async (method: string, path: string, form?: Record<string, string>) => {
    const res = await fetch(`${fake.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${fake.secretKey}`, "Content-Type": "application/x-www-form-urlencoded" },
      ...(form === undefined ? {} : { body: new URLSearchParams(form) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: Record<string, unknown> } };
  };
  /** The charge that continues `request`'s PaymentIntent after its customer acted (PaymentSource `continues`). */
  const continuing = (request: ChargeRequest, reference: string): ChargeRequest => {
    const { card: _card, paymentMethod: _paymentMethod, wallet: _wallet, continues: _continues, ...fields } = request;
    return { ...fields, continues: reference };
  };
  const create = (form: Record<string, string>) => api("POST", "/v1/payment_intents", { amount: "1000", currency: "usd", confirm: "true", payment_method: "pm_card_threeDSecure2Required", ...form });

  async function waiting(request = chargeRequest(TEST_CARDS.authenticationRequired, { returnUrl: RETURN_URL })) {
    const outcome = await gateway().charge(request);
    if (outcome.kind !== "requires_action") throw new Error(`expected requires_action, got ${JSON.stringify(outcome)}`);
    return { request, outcome };
  }

  test("the fake answers 3-D Secure as Stripe does: a redirect with return_url, a use_stripe_sdk action without, a 402 with error_on_requires_action", async () => {
    const redirected = await create({ return_url: RETURN_URL });
    expect(redirected).toMatchObject({
      status: 200,
      body: { status: "requires_action", next_action: { type: "redirect_to_url", redirect_to_url: { url: expect.stringMatching(/\/3d_secure_2\/hosted\?payment_intent=pi_/), return_url: RETURN_URL } } },
    });
    expect(await create({})).toMatchObject({ status: 200, body: { status: "requires_action", next_action: { type: "use_stripe_sdk" } } });
    expect(await create({ error_on_requires_action: "true", return_url: RETURN_URL })).toMatchObject({
      status: 402,
      body: { error: { type: "card_error", code: "authentication_required", decline_code: "authentication_required", payment_intent: { status: "requires_payment_method" } } },
    });
    expect(await create({ return_url: "not a url" })).toMatchObject({ status: 400, body: { error: { code: "url_invalid", param: "return_url" } } });
  });

  test("the charge sends the payment's returnUrl and rests at requires_action; without one Stripe is told not to wait", async () => {
    const { request, outcome } = await waiting();
    expect(outcome).toEqual({ kind: "requires_action", gatewayReference: expect.stringMatching(/^pi_/), url: expect.stringContaining(`${fake.url}/3d_secure_2/hosted?`) });
    expect(fake.intentsFor(request.paymentId)).toEqual([expect.objectContaining({ status: "requires_action", next_action: expect.objectContaining({ redirect_to_url: expect.objectContaining({ return_url: RETURN_URL }) }) })]);

    const direct = chargeRequest(TEST_CARDS.authenticationRequired);
    expect(await gateway().charge(direct)).toEqual({
      kind: "declined",
      code: "authentication_required",
      message: "Your card was declined. This transaction requires authentication.",
      gatewayReference: expect.stringMatching(/^pi_/),
    });
    // error_on_requires_action: the attempt failed at once, nothing waits for a customer nobody can send.
    expect(fake.intentsFor(direct.paymentId)).toEqual([expect.objectContaining({ status: "requires_payment_method", next_action: null })]);
  });

  test("a create whose answer was lost is replayed under its key: the stored requires_action, one PaymentIntent", async () => {
    const request = chargeRequest(TEST_CARDS.authenticationRequired, { returnUrl: RETURN_URL });
    fake.failNext(1, "timeout-after-commit", "create");
    const outcome = await gateway().charge(request);
    expect(outcome).toMatchObject({ kind: "requires_action", gatewayReference: expect.stringMatching(/^pi_/) });
    expect(fake.requests.map((r) => r.replayed)).toEqual([false, true]);
    expect(fake.intentsFor(request.paymentId)).toHaveLength(1);
  });

  test("when the create and its replay both go unanswered, the search finds the PaymentIntent waiting: requires_action with its URL", async () => {
    const request = chargeRequest(TEST_CARDS.authenticationRequired, { returnUrl: RETURN_URL });
    fake.failNext(2, "timeout-after-commit", "create");
    const outcome = await gateway().charge(request);
    const [intent] = fake.intentsFor(request.paymentId);
    expect(outcome).toEqual({ kind: "requires_action", gatewayReference: intent?.id ?? "", url: expect.stringContaining("/3d_secure_2/hosted?") });
    expect(fake.requests.map((r) => r.path)).toEqual(["/v1/payment_intents", "/v1/payment_intents", "/v1/payment_intents/search"]);
  });

  test("the authentication page offers Complete and Fail, sends the customer back to the returnUrl, and acts once", async () => {
    const { outcome } = await waiting();
    const page = await fetch(outcome.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<button[^>]*value="complete"[^>]*>Complete<\/button>.*<button[^>]*value="fail"[^>]*>Fail<\/button>/s);
    const back = new URL(await authenticateAtFakeStripe(outcome.url, "complete"));
    expect(`${back.origin}${back.pathname}`).toBe("https://shop.example/paystream/return");
    expect(Object.fromEntries(back.searchParams)).toEqual({
      order: "42",
      payment_intent: outcome.gatewayReference,
      payment_intent_client_secret: expect.stringMatching(/_secret_/),
      redirect_status: "succeeded",
    });
    await expect(authenticateAtFakeStripe(outcome.url, "fail")).rejects.toThrow(/answered 409/);
    const forged = new URL(outcome.url);
    forged.searchParams.set("payment_intent_client_secret", "pi_x_secret_wrong");
    expect((await fetch(forged)).status).toBe(404);
  });

  test("a test PaymentMethod that needs authentication waits, and once completed checkAction answers the card behind it", async () => {
    for (const [paymentMethod, last4] of [
      ["pm_card_threeDSecure2Required", "3220"],
      ["pm_card_authenticationRequired", "3184"],
    ] as const) {
      const { request, outcome } = await waiting(paymentMethodChargeRequest(paymentMethod, { returnUrl: RETURN_URL }));
      expect(await gateway().checkAction(actionRequest(request, outcome.gatewayReference))).toEqual({ kind: "pending" });
      await authenticateAtFakeStripe(outcome.url, "complete");
      expect(await gateway().checkAction(actionRequest(request, outcome.gatewayReference))).toEqual({
        kind: "approved",
        gatewayReference: outcome.gatewayReference,
        card: { brand: "visa", last4, expMonth: 12, expYear: expect.any(Number), fingerprint: expect.any(String) },
      });
      expect(fake.chargesFor(request.paymentId)).toBe(1);
    }
  });

  test("a charge that continues the PaymentIntent retrieves it and sends nothing again", async () => {
    const { request, outcome } = await waiting(paymentMethodChargeRequest("pm_card_threeDSecure2Required", { returnUrl: RETURN_URL }));
    const continued: ChargeRequest = { ...continuing(request, outcome.gatewayReference), attempt: 2 };
    expect(await gateway().charge(continued)).toEqual(outcome);
    await authenticateAtFakeStripe(outcome.url, "complete");
    expect(await gateway().charge(continued)).toMatchObject({ kind: "approved", gatewayReference: outcome.gatewayReference, card: { last4: "3220" } });
    expect(await gateway().charge({ ...continued, paymentId: "pay_other" })).toMatchObject({ kind: "unknown" });
    expect(fake.requests.filter((r) => r.method === "POST" && r.path === "/v1/payment_intents")).toHaveLength(1);
    expect(fake.chargesFor(request.paymentId)).toBe(1);

    const failed = await waiting();
    await authenticateAtFakeStripe(failed.outcome.url, "fail");
    expect(await gateway().charge(continuing(failed.request, failed.outcome.gatewayReference))).toMatchObject({ kind: "declined", code: "authentication_failed" });
  });

  test("cancelAction cancels under the payment's own cancel key, abandoned; a canceled PaymentIntent then fails authentication_failed", async () => {
    const { request, outcome } = await waiting();
    expect(await gateway().cancelAction(actionRequest(request, outcome.gatewayReference))).toEqual({ kind: "approved", gatewayReference: outcome.gatewayReference });
    expect(fake.requests.at(-1)).toMatchObject({ path: `/v1/payment_intents/${outcome.gatewayReference}/cancel`, idempotencyKey: `${request.idempotencyKey}-cancel-action` });
    expect(fake.intentsFor(request.paymentId)).toEqual([expect.objectContaining({ status: "canceled", cancellation_reason: "abandoned" })]);
    expect(await gateway().checkAction(actionRequest(request, outcome.gatewayReference))).toMatchObject({ kind: "failed", code: "authentication_failed" });
    await expect(authenticateAtFakeStripe(outcome.url, "complete")).rejects.toThrow(/answered 409/);
  });

  test("cancelAction of an authorization the customer completed releases the hold: approved, nothing captured", async () => {
    const { request, outcome } = await waiting(chargeRequest(TEST_CARDS.authenticationRequired, { returnUrl: RETURN_URL, capture: false }));
    await authenticateAtFakeStripe(outcome.url, "complete");
    expect(fake.intentsFor(request.paymentId)).toEqual([expect.objectContaining({ status: "requires_capture" })]);
    expect(await gateway().cancelAction(actionRequest(request, outcome.gatewayReference))).toEqual({ kind: "approved", gatewayReference: outcome.gatewayReference });
    expect(fake.intentsFor(request.paymentId)).toEqual([expect.objectContaining({ status: "canceled", amount_capturable: 0, amount_received: 0 })]);
  });

  test("the fake's cancel takes only documented parameters and reasons", async () => {
    const { outcome } = await waiting();
    const path = `/v1/payment_intents/${outcome.gatewayReference}/cancel`;
    expect(await api("POST", path, { reason: "abandoned" })).toMatchObject({ status: 400, body: { error: { code: "parameter_unknown", param: "reason" } } });
    expect(await api("POST", path, { cancellation_reason: "expired" })).toMatchObject({ status: 400, body: { error: { param: "cancellation_reason" } } });
    expect(await api("POST", path, { cancellation_reason: "abandoned" })).toMatchObject({ status: 200, body: { status: "canceled" } });
  });
});

describe("stripe mapping", () => {
  const intent = (status: string, extra: Record<string, unknown> = {}) => ({ id: "pi_1", object: "payment_intent", status, ...extra });
  const error = <T>(Type: new (raw: Record<string, unknown>) => T, raw: Record<string, unknown>): T => new Type(raw);

  test("PaymentIntent statuses", () => {
    expect(mapPaymentIntent(intent("succeeded"))).toEqual({ kind: "approved", gatewayReference: "pi_1" });
    expect(mapPaymentIntent(intent("requires_action"))).toMatchObject({ kind: "declined", code: "authentication_required" });
    expect(mapPaymentIntent(intent("requires_source_action"))).toMatchObject({ kind: "declined", code: "authentication_required" });
    expect(mapPaymentIntent(intent("processing"))).toEqual({ kind: "unknown", reason: "stripe_payment_processing: pi_1", gatewayReference: "pi_1" });
    expect(mapPaymentIntent(intent("requires_payment_method", { last_payment_error: { code: "card_declined", decline_code: "do_not_honor", message: "Declined" } }))).toEqual({
      kind: "declined",
      code: "do_not_honor",
      message: "Declined",
      gatewayReference: "pi_1",
    });
    expect(mapPaymentIntent(intent("requires_payment_method"))).toMatchObject({ kind: "declined", code: "card_declined" });
    expect(mapPaymentIntent(intent("canceled"))).toMatchObject({ kind: "declined", code: "payment_canceled" });
    expect(mapPaymentIntent(intent("requires_capture"))).toMatchObject({ kind: "unknown" });
  });

  test("a 2xx body that is not a PaymentIntent is unknown: the request took effect", () => {
    for (const body of [null, "text", [], {}, { id: "pi_1" }, { status: "succeeded" }, { id: 5, status: "succeeded" }]) {
      expect(mapPaymentIntent(body).kind).toBe("unknown");
    }
  });

  test("card failures prefer decline_code, generic_decline becomes card_declined", () => {
    expect(mapCardFailure({ code: "card_declined", decline_code: "generic_decline" }, null)).toMatchObject({ code: "card_declined" });
    expect(mapCardFailure({ code: "card_declined", decline_code: "stolen_card" }, null)).toMatchObject({ code: "stolen_card" });
    expect(mapCardFailure({ code: "expired_card" }, null)).toMatchObject({ code: "expired_card" });
    expect(mapCardFailure({ code: "card_declined", decline_code: "authentication_required" }, null)).toMatchObject({ code: "authentication_required" });
    expect(mapCardFailure({ code: "processing_error" }, null)).toEqual({ kind: "transient", reason: "stripe_processing_error" });
    expect(mapCardFailure({ code: "card_declined", message: "card 4242424242424242 declined" }, null)).toMatchObject({ message: "card [redacted] declined" });
  });

  test("SDK errors", () => {
    const { errors } = Stripe;
    expect(mapStripeError(error(errors.StripeCardError, { code: "card_declined", decline_code: "insufficient_funds", payment_intent: { id: "pi_9" } }))).toMatchObject({
      kind: "declined",
      code: "insufficient_funds",
      gatewayReference: "pi_9",
    });
    expect(mapStripeError(error(errors.StripeRateLimitError, { statusCode: 429, requestId: "req_1" }))).toEqual({ kind: "transient", reason: "stripe_rate_limited: HTTP 429 req_1" });
    expect(mapStripeError(error(errors.StripeRateLimitError, { statusCode: 429, code: "lock_timeout" }))).toEqual({ kind: "transient", reason: "stripe_lock_timeout: HTTP 429" });
    expect(mapStripeError(error(errors.StripeInvalidRequestError, { statusCode: 400, code: "lock_timeout" })).kind).toBe("transient");
    expect(mapStripeError(error(errors.StripeAPIError, { statusCode: 409, type: "idempotency_error", code: "idempotency_key_in_use" }))).toMatchObject({
      kind: "transient",
      reason: expect.stringMatching(/^stripe_idempotency_key_in_use/),
    });
    expect(mapStripeError(error(errors.StripeIdempotencyError, { statusCode: 400, type: "idempotency_error" }))).toMatchObject({ kind: "unknown" });
    // Stripe may have charged before a 5xx, and replays the stored 5xx for the same key.
    for (const statusCode of [500, 502, 503, 504]) expect(mapStripeError(error(errors.StripeAPIError, { statusCode })).kind).toBe("unknown");
    expect(mapStripeError(error(errors.StripeAPIError, { message: "Invalid JSON received from the Stripe API" })).kind).toBe("unknown");
    expect(mapStripeError(error(errors.StripeAuthenticationError, { statusCode: 401 })).kind).toBe("transient");
    expect(mapStripeError(error(errors.StripePermissionError, { statusCode: 403 })).kind).toBe("transient");
    expect(mapStripeError(error(errors.StripeInvalidRequestError, { statusCode: 400, message: "bad" }))).toEqual({
      kind: "declined",
      code: "gateway_invalid_request",
      message: "bad",
      gatewayReference: null,
    });
    expect(mapStripeError(error(errors.StripeConnectionError, { detail: { code: "ECONNREFUSED" } }))).toEqual({ kind: "transient", reason: "stripe_unreachable: ECONNREFUSED" });
    expect(mapStripeError(error(errors.StripeConnectionError, { detail: { code: "ETIMEDOUT" } }))).toEqual({ kind: "unknown", reason: "stripe_no_answer: ETIMEDOUT" });
    expect(mapStripeError(new TypeError("boom")).kind).toBe("unknown");
    expect(mapStripeError(undefined).kind).toBe("unknown");
  });

  test("search results: a success wins, nothing found tells nothing", () => {
    expect(mapSearchResult([])).toBeNull();
    expect(mapSearchResult([{ nonsense: true }])).toBeNull();
    expect(mapSearchResult([intent("requires_payment_method"), { ...intent("succeeded"), id: "pi_2" }])).toEqual({ kind: "approved", gatewayReference: "pi_2" });
    expect(mapSearchResult([intent("requires_payment_method")])).toMatchObject({ kind: "declined" });
  });
});
