import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type Browser, chromium } from "playwright-core";
import { FAKE_PAYPAL_PAYERS, type FakePaypal, startFakePaypal } from "../support/fake-paypal";
import type { OperationLedger } from "../support/gateway-conformance";
import { authenticateAtFakeStripe, startFakeStripe } from "../support/fake-stripe";
import { CARDS, client, paymentBody, paymentMethodBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

/** How long a payment waits for its customer in the GATEWAY=stripe run (ACTION_TTL_MS). */
const STRIPE_ACTION_TTL_MS = 6_000;
/** The card whose issuer asks for 3-D Secure (Stripe's 4000 0025 0000 3155; the PayPal fake answers it PAYER_ACTION_REQUIRED). */
const CARDS_3DS_REQUIRED = "4000002500003155";

/** On a shared, loaded machine a start (migrations on PGlite) can take longer than startService's default. */
const START_TIMEOUT_MS = 90_000;

interface Fake {
  url: string;
  chargesFor(paymentId: string): number;
  /** The amount the gateway's API received for a payment, in the gateway's own units. */
  amountSent(paymentId: string): unknown;
  /** What the gateway did after the authorization: captures, voids and refunds, by its own records. */
  ledgerFor(paymentId: string): OperationLedger;
  /** Stripe: the statuses of the payment's PaymentIntents. */
  intentStatuses?(paymentId: string): string[];
  stop(): Promise<void>;
}

/** An amount in ISO minor units and what the gateway must receive (docs/CONTRACT.md §6), or the 422 it gets at intake. */
interface UnitCases {
  sent: { currency: string; amount: number; gatewayAmount: unknown };
  refused: { currency: string; amount: number; field: string; code: string }[];
}

/** POSTs to one of a payment's routes (capture, cancel, refunds) as the merchant. */
const actOn = (url: string, path: string, body: unknown = {}) =>
  fetch(`${url}/v1/payments/${path}`, {
    method: "POST",
    headers: { authorization: "Bearer sk_test_local", "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/**
 * Runs `test` with headless Chromium and a shop on loopback that records where browsers land (the
 * customer's returnUrl), both stopped afterwards.
 */
async function inBrowserWithShop(test: (browser: Browser, shop: { origin: string; arrivals: URL[] }) => Promise<void>): Promise<void> {
  const arrivals: URL[] = [];
  const shop = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request) {
      arrivals.push(new URL(request.url));
      return new Response("<!doctype html><title>Back at the shop</title>", { headers: { "content-type": "text/html" } });
    },
  });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  try {
    await test(browser, { origin: `http://127.0.0.1:${shop.port}`, arrivals });
  } finally {
    await browser.close();
    await shop.stop(true);
  }
}

/** Polls a payment or refund until its status is one of `statuses`. */
async function waitForStatusOf(url: string, path: string, statuses: string[]): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const view = (await (await fetch(`${url}/v1/${path}`, { headers: { authorization: "Bearer sk_test_local" } })).json()) as Record<string, unknown>;
    if (statuses.includes(String(view.status)) || Date.now() > deadline) return view;
    await Bun.sleep(50);
  }
}

const cases: {
  gateway: "stripe" | "paypal";
  units: UnitCases;
  start: () => Promise<{ fake: Fake; env: Record<string, string>; secrets: string[] }>;
}[] = [
  {
    gateway: "stripe",
    units: {
      // ISK has no decimals in ISO 4217; Stripe takes it with two that are always 00.
      sent: { currency: "ISK", amount: 500, gatewayAmount: 50000 },
      refused: [
        { currency: "MGA", amount: 1050, field: "amount", code: "amount_not_supported_by_gateway" },
        { currency: "KWD", amount: 5124, field: "amount", code: "amount_not_supported_by_gateway" },
        { currency: "IQD", amount: 1000, field: "currency", code: "currency_not_supported_by_gateway" },
      ],
    },
    // An ordinary Stripe test account (no raw card data APIs) and the default STRIPE_RAW_CARD_DATA=false.
    start: async () => {
      const fake = await startFakeStripe();
      return {
        fake: {
          ...fake,
          amountSent: (paymentId) => fake.intentsFor(paymentId)[0]?.amount,
          intentStatuses: (paymentId) => fake.intentsFor(paymentId).map((intent) => intent.status),
          ledgerFor(paymentId) {
            const authorizations = fake.intentsFor(paymentId).filter((intent) => intent.capture_method === "manual");
            return {
              captures: authorizations.filter((intent) => intent.status === "succeeded").map((intent) => Number(intent.amount_received)),
              voids: authorizations.filter((intent) => intent.status === "canceled").length,
              refunds: fake.refundsFor(paymentId).filter((refund) => refund.status === "succeeded").map((refund) => refund.amount),
            };
          },
        },
        // Payments waiting for their customer are looked up within a second, and expire after
        // STRIPE_ACTION_TTL_MS, here (3-D Secure cases).
        env: {
          GATEWAY: "stripe",
          STRIPE_SECRET_KEY: fake.secretKey,
          STRIPE_API_BASE: fake.url,
          ACTION_CHECK_FIRST_MS: "300",
          RECONCILE_INTERVAL_MS: "200",
          ACTION_TTL_MS: String(STRIPE_ACTION_TTL_MS),
        },
        secrets: [fake.secretKey],
      };
    },
  },
  {
    gateway: "paypal",
    units: {
      // HUF has two decimals in ISO 4217; PayPal takes it without any.
      sent: { currency: "HUF", amount: 150000, gatewayAmount: "1500" },
      refused: [
        { currency: "HUF", amount: 1050, field: "amount", code: "amount_not_supported_by_gateway" },
        { currency: "KRW", amount: 12000, field: "currency", code: "currency_not_supported_by_gateway" },
      ],
    },
    start: async () => {
      // Cards reach PayPal as payment_source.card: only an account with card processing takes them.
      const fake = await startFakePaypal({ cardProcessing: true });
      const amountSent = (paymentId: string) => {
        const [order] = fake.ordersFor(paymentId) as { purchase_units: { amount: { value: string } }[] }[];
        return order?.purchase_units[0]?.amount.value;
      };
      return {
        fake: { ...fake, amountSent, ledgerFor: (paymentId) => fake.ledgerFor(paymentId) },
        env: { GATEWAY: "paypal", PAYPAL_CLIENT_ID: fake.clientId, PAYPAL_CLIENT_SECRET: fake.clientSecret, PAYPAL_API_BASE: fake.url },
        secrets: [fake.clientSecret],
      };
    },
  },
];

for (const { gateway, units, start } of cases) {
  describe(`the real program with GATEWAY=${gateway} against a local fake of its API`, () => {
    let fake: Fake;
    let secrets: string[];
    let service: ServiceProcess;

    beforeAll(async () => {
      const started = await start();
      fake = started.fake;
      secrets = started.secrets;
      service = await startService({ role: "all", env: { DATABASE_URL: "pglite://memory", GATEWAY_TIMEOUT_MS: "2000", ...started.env }, timeoutMs: START_TIMEOUT_MS });
    });
    afterAll(async () => {
      await service?.stop();
      await fake?.stop();
    });

    it("takes a good card from POST to COMPLETED with the gateway's reference, charged once", async () => {
      const res = await client(service.url).post(paymentBody(CARDS.visa));
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const final = await waitForFinal(service.url, [id]);
      expect(final.get(id)?.status).toBe("COMPLETED");
      const view = (await (await client(service.url).get(id)).json()) as { gateway: string; gatewayReference: string };
      expect(view.gateway).toBe(gateway);
      expect(view.gatewayReference).toBeTruthy();
      expect(fake.chargesFor(id)).toBe(1);
    });

    it("takes declined cards to FAILED with the mapped code", async () => {
      const expected: [string, string][] = [
        [CARDS.declined, "card_declined"],
        [CARDS.insufficientFunds, "insufficient_funds"],
      ];
      const ids = new Map<string, string>();
      for (const [card, code] of expected) {
        const { id } = (await (await client(service.url).post(paymentBody(card))).json()) as { id: string };
        ids.set(id, code);
      }
      const final = await waitForFinal(service.url, [...ids.keys()]);
      for (const [id, code] of ids) {
        expect(final.get(id)).toMatchObject({ status: "FAILED", failureCode: code });
        expect(fake.chargesFor(id)).toBe(0);
      }
    });

    it("charges a currency whose units differ from ISO 4217 in the gateway's own units", async () => {
      const { currency, amount, gatewayAmount } = units.sent;
      const res = await client(service.url).post(paymentBody(CARDS.visa, { currency, amount }));
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const final = await waitForFinal(service.url, [id]);
      expect(final.get(id)).toMatchObject({ status: "COMPLETED", amount, currency });
      expect(fake.amountSent(id)).toBe(gatewayAmount);
    });

    it("answers 422 at intake for an amount or currency the gateway cannot charge exactly, with the other errors", async () => {
      for (const { currency, amount, field, code } of units.refused) {
        const res = await client(service.url).post(paymentBody(CARDS.visa, { currency, amount }));
        expect(res.status).toBe(422);
        const problem = (await res.json()) as { errors: { field: string; code: string }[] };
        expect(problem.errors.map((e) => `${e.field}:${e.code}`)).toEqual([`${field}:${code}`]);
      }
      const [first] = units.refused;
      const withOthers = await client(service.url).post(paymentBody("4242424242424241", { currency: first?.currency, amount: first?.amount }));
      const problem = (await withOthers.json()) as { errors: { field: string; code: string }[] };
      expect(problem.errors.map((e) => `${e.field}:${e.code}`).sort()).toEqual([`${first?.field}:${first?.code}`, "card.number:luhn_check_failed"].sort());
    });

    const act = (path: string, body?: unknown) => actOn(service.url, path, body);
    const waitForStatus = (path: string, statuses: string[]) => waitForStatusOf(service.url, path, statuses);

    it("authorizes with capture: false, captures part of it, and refunds in two parts up to what was captured, each once at the gateway", async () => {
      const { id } = (await (await client(service.url).post(paymentBody(CARDS.visa, { capture: false }))).json()) as { id: string };
      expect(await waitForStatus(`payments/${id}`, ["AUTHORIZED", "FAILED"])).toMatchObject({ status: "AUTHORIZED", captureMethod: "manual", amountCaptured: 0 });
      expect(fake.ledgerFor(id)).toEqual({ captures: [], voids: 0, refunds: [] });

      expect((await act(`${id}/capture`, { amount: 1500 })).status).toBe(202);
      expect(await waitForStatus(`payments/${id}`, ["COMPLETED", "AUTHORIZED"])).toMatchObject({ status: "COMPLETED", amountCaptured: 1500 });

      const first = (await (await act(`${id}/refunds`, { amount: 1000 })).json()) as { id: string };
      expect(await waitForStatus(`refunds/${first.id}`, ["SUCCEEDED", "FAILED"])).toMatchObject({ status: "SUCCEEDED", amount: 1000 });
      // More than the 500 left is refused by us, before any gateway sees it.
      const over = await act(`${id}/refunds`, { amount: 501 });
      expect(over.status).toBe(409);
      expect(((await over.json()) as { code: string }).code).toBe("refund_exceeds_captured");
      const rest = (await (await act(`${id}/refunds`)).json()) as { id: string; amount: number };
      expect(rest.amount).toBe(500);
      expect(await waitForStatus(`refunds/${rest.id}`, ["SUCCEEDED", "FAILED"])).toMatchObject({ status: "SUCCEEDED" });

      expect(await waitForStatus(`payments/${id}`, ["COMPLETED"])).toMatchObject({ amountCaptured: 1500, amountRefunded: 1500 });
      expect(fake.ledgerFor(id)).toEqual({ captures: [1500], voids: 0, refunds: [1000, 500] });
    });

    it("cancels an authorization by voiding it at the gateway, and refunds a charge captured at once", async () => {
      const { id } = (await (await client(service.url).post(paymentBody(CARDS.visa, { capture: false }))).json()) as { id: string };
      expect(await waitForStatus(`payments/${id}`, ["AUTHORIZED", "FAILED"])).toMatchObject({ status: "AUTHORIZED" });
      expect((await act(`${id}/cancel`, { reason: "abandoned" })).status).toBe(202);
      expect(await waitForStatus(`payments/${id}`, ["CANCELED", "AUTHORIZED"])).toMatchObject({ status: "CANCELED", cancellationReason: "abandoned" });
      expect(fake.ledgerFor(id)).toEqual({ captures: [], voids: 1, refunds: [] });

      const charged = (await (await client(service.url).post(paymentBody(CARDS.visa))).json()) as { id: string };
      expect(await waitForStatus(`payments/${charged.id}`, ["COMPLETED", "FAILED"])).toMatchObject({ status: "COMPLETED", amountCaptured: 1999 });
      const refund = (await (await act(`${charged.id}/refunds`, { reason: "requested_by_customer" })).json()) as { id: string };
      expect(await waitForStatus(`refunds/${refund.id}`, ["SUCCEEDED", "FAILED"])).toMatchObject({ status: "SUCCEEDED", amount: 1999 });
      expect(fake.ledgerFor(charged.id).refunds).toEqual([1999]);
    });

    it.skipIf(gateway !== "stripe")("completes README's curl body (card 4242 4242 4242 4242) with a test key against an ordinary Stripe account", async () => {
      const readme = await Bun.file(`${import.meta.dir}/../../README.md`).text();
      const body = /curl -s -X POST localhost:3000\/v1\/payments \\[\s\S]*?-d '([^']*)'/.exec(readme)?.[1];
      expect(body).toContain('"number":"4242 4242 4242 4242"');
      const res = await client(service.url).post(JSON.parse(body ?? "null"));
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      expect((await waitForFinal(service.url, [id])).get(id)?.status).toBe("COMPLETED");
      expect(fake.chargesFor(id)).toBe(1);
    });

    it.skipIf(gateway !== "stripe")("answers 422 card_data_not_accepted at intake for a card that is not one of Stripe's test cards", async () => {
      const res = await client(service.url).post(paymentBody("4111111111111111"));
      expect(res.status).toBe(422);
      const problem = (await res.json()) as { errors: { field: string; code: string; message: string }[] };
      expect(problem.errors).toEqual([{ field: "card", code: "card_data_not_accepted", message: expect.stringContaining("paymentMethod") }]);
    });

    it.skipIf(gateway !== "stripe")("pays with a test PaymentMethod (pm_card_visa) on an ordinary account: COMPLETED with Stripe's card view; a declined one fails with its code", async () => {
      const paid = (await (await client(service.url).post(paymentMethodBody("pm_card_visa"))).json()) as { id: string; card: unknown; paymentMethod: string };
      expect(paid).toMatchObject({ card: null, paymentMethod: "pm_card_visa" });
      const completed = await waitForStatus(`payments/${paid.id}`, ["COMPLETED", "FAILED"]);
      expect(completed).toMatchObject({ status: "COMPLETED", paymentMethod: "pm_card_visa", card: { brand: "visa", last4: "4242", fingerprint: expect.any(String) } });
      expect(fake.chargesFor(paid.id)).toBe(1);
      const refund = (await (await act(`${paid.id}/refunds`, { amount: 999 })).json()) as { id: string };
      expect(await waitForStatus(`refunds/${refund.id}`, ["SUCCEEDED", "FAILED"])).toMatchObject({ status: "SUCCEEDED" });

      const declined = (await (await client(service.url).post(paymentMethodBody("pm_card_chargeDeclinedInsufficientFunds"))).json()) as { id: string };
      expect((await waitForFinal(service.url, [declined.id])).get(declined.id)).toMatchObject({ status: "FAILED", failureCode: "insufficient_funds" });
      const unknown = (await (await client(service.url).post(paymentMethodBody("pm_1NoSuchPaymentMethod"))).json()) as { id: string };
      expect((await waitForFinal(service.url, [unknown.id])).get(unknown.id)).toMatchObject({ status: "FAILED", failureCode: "payment_method_not_found" });
    });

    describe.skipIf(gateway !== "stripe")("3-D Secure at Stripe (docs/CONTRACT.md §9)", () => {
      // Loopback http is a valid returnUrl outside production; the customer's browser is not followed there.
      const returnUrl = "http://127.0.0.1:9/shop/done?order=7";
      type Waiting = { id: string; status: string; gatewayReference: string | null; nextAction: { type: string; url: string } | null };

      /** A payment that needs 3-D Secure, created with a returnUrl, once it waits for its customer. */
      async function waitingPayment(body: Record<string, unknown>): Promise<Waiting> {
        const res = await client(service.url).post({ ...body, returnUrl });
        expect(res.status).toBe(202);
        const { id } = (await res.json()) as { id: string };
        return (await waitForStatus(`payments/${id}`, ["REQUIRES_ACTION", "FAILED", "COMPLETED"])) as Waiting;
      }

      it("a test PaymentMethod that needs authentication waits in REQUIRES_ACTION at Stripe's page; completed there, it is COMPLETED and charged once", async () => {
        const waiting = await waitingPayment(paymentMethodBody("pm_card_threeDSecure2Required"));
        // Read before toMatchObject: Bun's toMatchObject writes its asymmetric matchers into the object it checks.
        const page = waiting.nextAction?.url ?? "";
        expect(waiting).toMatchObject({ status: "REQUIRES_ACTION", nextAction: { type: "redirect", url: expect.stringContaining(`${fake.url}/3d_secure_2/hosted?payment_intent=pi_`) } });
        expect(fake.chargesFor(waiting.id)).toBe(0);

        const back = new URL(await authenticateAtFakeStripe(page, "complete"));
        expect(`${back.origin}${back.pathname}`).toBe("http://127.0.0.1:9/shop/done");
        expect(back.searchParams.get("redirect_status")).toBe("succeeded");
        expect(await waitForStatus(`payments/${waiting.id}`, ["COMPLETED", "FAILED"])).toMatchObject({
          status: "COMPLETED",
          nextAction: null,
          amountCaptured: 1999,
          failureCode: null,
          card: { brand: "visa", last4: "3220" },
        });
        expect(fake.chargesFor(waiting.id)).toBe(1);
      });

      it("in a browser (Chromium), the customer presses Complete on Stripe's page and lands back at the shop; the payment is COMPLETED", async () => {
        await inBrowserWithShop(async (browser, shop) => {
          const res = await client(service.url).post(paymentBody("4000000000003220", { returnUrl: `${shop.origin}/done` }));
          const { id } = (await res.json()) as { id: string };
          const waiting = (await waitForStatus(`payments/${id}`, ["REQUIRES_ACTION", "FAILED", "COMPLETED"])) as Waiting;
          expect(waiting.status).toBe("REQUIRES_ACTION");
          const page = await browser.newPage();
          await page.goto(waiting.nextAction?.url ?? "");
          expect(await page.locator("#amount").innerText()).toBe("19.99 USD");
          await Promise.all([page.waitForURL(`${shop.origin}/done?**`), page.locator("#complete").click()]);
          expect(new URL(page.url()).searchParams.get("redirect_status")).toBe("succeeded");
          // The shop learns which PaymentIntent came back (the browser also asks the shop for its favicon).
          expect(shop.arrivals.filter((url) => url.pathname === "/done").map((url) => url.searchParams.get("payment_intent"))).toEqual([waiting.gatewayReference]);
          expect(await waitForStatus(`payments/${id}`, ["COMPLETED", "FAILED"])).toMatchObject({ status: "COMPLETED", amountCaptured: 1999 });
          expect(fake.chargesFor(id)).toBe(1);
        });
      }, 30_000);

      it("a test card the customer fails to authenticate ends FAILED authentication_failed, charging nothing", async () => {
        const waiting = await waitingPayment(paymentBody("4000002760003184"));
        expect(waiting.status).toBe("REQUIRES_ACTION");
        await authenticateAtFakeStripe(waiting.nextAction?.url ?? "", "fail");
        expect(await waitForStatus(`payments/${waiting.id}`, ["FAILED", "COMPLETED"])).toMatchObject({ status: "FAILED", failureCode: "authentication_failed", nextAction: null });
        expect(fake.chargesFor(waiting.id)).toBe(0);
      });

      it("a merchant cancel of a waiting payment cancels the PaymentIntent at Stripe: CANCELED, and the customer's page no longer takes it", async () => {
        const waiting = await waitingPayment(paymentBody("4000000000003220"));
        const page = waiting.nextAction?.url ?? "";
        expect(waiting.status).toBe("REQUIRES_ACTION");
        expect((await act(`${waiting.id}/cancel`, { reason: "requested_by_customer" })).status).toBe(202);
        expect(await waitForStatus(`payments/${waiting.id}`, ["CANCELED", "FAILED", "COMPLETED"])).toMatchObject({ status: "CANCELED", cancellationReason: "requested_by_customer" });
        expect(fake.intentStatuses?.(waiting.id)).toEqual(["canceled"]);
        await expect(authenticateAtFakeStripe(page, "complete")).rejects.toThrow(/answered 409/);
        expect(fake.chargesFor(waiting.id)).toBe(0);
      });

      it("a payment nobody authenticates within ACTION_TTL_MS ends FAILED authentication_expired, its PaymentIntent canceled at Stripe first", async () => {
        const waiting = await waitingPayment(paymentMethodBody("pm_card_authenticationRequired"));
        expect(waiting.status).toBe("REQUIRES_ACTION");
        // waitForStatus waits up to 30 s, well past the TTL.
        expect(await waitForStatus(`payments/${waiting.id}`, ["FAILED", "COMPLETED", "CANCELED"])).toMatchObject({ status: "FAILED", failureCode: "authentication_expired" });
        expect(fake.intentStatuses?.(waiting.id)).toEqual(["canceled"]);
        expect(fake.chargesFor(waiting.id)).toBe(0);
      }, STRIPE_ACTION_TTL_MS + 30_000);

      it("without a returnUrl, a card that needs authentication ends FAILED authentication_required at once, and nothing waits at Stripe", async () => {
        const { id } = (await (await client(service.url).post(paymentBody("4000000000003220"))).json()) as { id: string };
        expect((await waitForFinal(service.url, [id])).get(id)).toMatchObject({ status: "FAILED", failureCode: "authentication_required" });
        expect(fake.chargesFor(id)).toBe(0);
      });
    });

    it.skipIf(gateway !== "paypal")("a card whose issuer asks for 3-D Secure waits at PayPal's page with a returnUrl, then is captured once the cardholder completed it", async () => {
      const returnUrl = "https://shop.example/3ds/return";
      const { id } = (await (await client(service.url).post(paymentBody(CARDS_3DS_REQUIRED, { returnUrl }))).json()) as { id: string };
      const waiting = (await waitForStatus(`payments/${id}`, ["REQUIRES_ACTION", "FAILED", "COMPLETED"])) as { status: string; nextAction: { url: string } | null };
      const url = new URL(waiting.nextAction?.url ?? "http://invalid/");
      expect(waiting.status).toBe("REQUIRES_ACTION");
      expect(`${url.origin}${url.pathname}`).toBe(`${fake.url}/webapps/helios`);
      const done = await fetch(new URL("/webapps/helios", url), { method: "POST", redirect: "manual", body: new URLSearchParams({ token: url.searchParams.get("cart_id") ?? "", action: "approve" }) });
      expect(done.headers.get("location")?.startsWith(returnUrl)).toBe(true);
      expect(await waitForStatus(`payments/${id}`, ["COMPLETED", "FAILED"])).toMatchObject({ status: "COMPLETED", card: { last4: "3155" }, nextAction: null });
      expect(fake.chargesFor(id)).toBe(1);
      // Without a returnUrl the same card cannot wait: FAILED authentication_required, nothing charged.
      const direct = (await (await client(service.url).post(paymentBody(CARDS_3DS_REQUIRED))).json()) as { id: string };
      expect((await waitForFinal(service.url, [direct.id])).get(direct.id)).toMatchObject({ status: "FAILED", failureCode: "authentication_required" });
      expect(fake.chargesFor(direct.id)).toBe(0);
    });

    it("never logs the card number or the gateway secret", () => {
      const logs = service.output();
      for (const secret of [...secrets, CARDS.visa, CARDS.declined]) expect(logs).not.toContain(secret);
    });
  });
}

describe("the real program with the simulator: payments paid with a payment method", () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    service = await startService({ role: "all", env: { DATABASE_URL: "pglite://memory" }, timeoutMs: START_TIMEOUT_MS });
  });
  afterAll(async () => {
    await service?.stop();
  });
  const act = (path: string, body?: unknown) => actOn(service.url, path, body);
  const waitForStatus = (path: string, statuses: string[]) => waitForStatusOf(service.url, path, statuses);

  it("completes pm_card_visa with the card view the simulator answers, and refunds it", async () => {
    const res = await client(service.url).post(paymentMethodBody("pm_card_visa"));
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { id: string };
    expect(accepted).toMatchObject({ status: "PENDING", card: null, paymentMethod: "pm_card_visa" });
    const completed = await waitForStatus(`payments/${accepted.id}`, ["COMPLETED", "FAILED"]);
    expect(completed).toMatchObject({
      status: "COMPLETED",
      paymentMethod: "pm_card_visa",
      card: { brand: "visa", last4: "4242", expMonth: expect.any(Number), expYear: expect.any(Number), fingerprint: expect.any(String) },
    });
    const refund = (await (await act(`${accepted.id}/refunds`)).json()) as { id: string };
    expect(await waitForStatus(`refunds/${refund.id}`, ["SUCCEEDED", "FAILED"])).toMatchObject({ status: "SUCCEEDED", amount: 1999 });
  });

  it("authorizes pm_card_mastercard with capture: false and captures it", async () => {
    const { id } = (await (await client(service.url).post(paymentMethodBody("pm_card_mastercard", { capture: false }))).json()) as { id: string };
    expect(await waitForStatus(`payments/${id}`, ["AUTHORIZED", "FAILED"])).toMatchObject({ status: "AUTHORIZED", card: { brand: "mastercard", last4: "4444" } });
    expect((await act(`${id}/capture`)).status).toBe(202);
    expect(await waitForStatus(`payments/${id}`, ["COMPLETED", "AUTHORIZED"])).toMatchObject({ status: "COMPLETED", amountCaptured: 1999, card: { last4: "4444" } });
  });

  it("fails a declined test PaymentMethod with its card's code, and an unknown id with payment_method_not_found, card view null", async () => {
    const ids = new Map<string, string>();
    for (const [paymentMethod, code] of [
      ["pm_card_chargeDeclined", "card_declined"],
      ["pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"],
      ["pm_card_doesNotExist", "payment_method_not_found"],
    ] as const) {
      const { id } = (await (await client(service.url).post(paymentMethodBody(paymentMethod))).json()) as { id: string };
      ids.set(id, code);
    }
    const final = await waitForFinal(service.url, [...ids.keys()]);
    for (const [id, code] of ids) {
      expect(final.get(id)).toMatchObject({ status: "FAILED", failureCode: code });
      expect(((await (await client(service.url).get(id)).json()) as { card: unknown }).card).toBeNull();
    }
  });

  it("answers 422 for both a card and a paymentMethod, and for neither", async () => {
    const both = await client(service.url).post(paymentBody(CARDS.visa, { paymentMethod: "pm_card_visa" }));
    expect(both.status).toBe(422);
    expect(((await both.json()) as { errors: { field: string; code: string }[] }).errors).toEqual([expect.objectContaining({ field: "paymentMethod", code: "payment_method_conflict" })]);
    const { paymentMethod: _pm, ...neither } = paymentMethodBody("pm_card_visa");
    const none = await client(service.url).post(neither);
    expect(none.status).toBe(422);
    expect(((await none.json()) as { errors: { field: string; code: string }[] }).errors).toEqual([expect.objectContaining({ field: "card", code: "payment_source_required" })]);
  });
});

/** PayPal Checkout (docs/CONTRACT.md §12) on an ordinary PayPal business account: no card processing needed. */
describe("the real program with GATEWAY=paypal: PayPal Checkout against a local fake of PayPal", () => {
  const RETURN = "https://shop.example/paypal/return";
  const CANCEL = "https://shop.example/paypal/cancel";
  let fake: FakePaypal;
  let service: ServiceProcess;

  beforeAll(async () => {
    fake = await startFakePaypal();
    service = await startService({
      role: "all",
      env: {
        DATABASE_URL: "pglite://memory",
        GATEWAY_TIMEOUT_MS: "2000",
        GATEWAY: "paypal",
        PAYPAL_CLIENT_ID: fake.clientId,
        PAYPAL_CLIENT_SECRET: fake.clientSecret,
        PAYPAL_API_BASE: fake.url,
        // Ask PayPal about waiting payments soon and often, so that a buyer's approval is seen within the test.
        ACTION_CHECK_FIRST_MS: "100",
        ACTION_CHECK_MAX_MS: "1000",
      },
      timeoutMs: START_TIMEOUT_MS,
    });
  });
  afterAll(async () => {
    await service?.stop();
    await fake?.stop();
  });
  const act = (path: string, body?: unknown) => actOn(service.url, path, body);
  const waitForStatus = (path: string, statuses: string[]) => waitForStatusOf(service.url, path, statuses);

  /** A Checkout payment waiting for its buyer: its id and the PayPal page its nextAction names. */
  async function waitingPayment(overrides: Record<string, unknown> = {}): Promise<{ id: string; url: string; orderId: string }> {
    const res = await client(service.url).post(paymentMethodBody("paypal", { returnUrl: RETURN, cancelUrl: CANCEL, ...overrides }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const view = (await waitForStatus(`payments/${id}`, ["REQUIRES_ACTION", "FAILED", "COMPLETED"])) as { status: string; nextAction: { type: string; url: string } | null };
    const url = view.nextAction?.url ?? "";
    expect(view).toMatchObject({ status: "REQUIRES_ACTION", paymentMethod: "paypal", card: null, payer: null, nextAction: { type: "redirect" } });
    expect(url.startsWith(`${fake.url}/checkoutnow?token=`)).toBe(true);
    return { id, url, orderId: new URL(url).searchParams.get("token") ?? "" };
  }

  /** The buyer at PayPal's approval page: logs in and presses Pay Now (or Cancel); PayPal redirects them. */
  async function buyer(url: string, action: "approve" | "cancel"): Promise<URL> {
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const token = new URL(url).searchParams.get("token") ?? "";
    expect(await page.text()).toContain(`value="${token}"`);
    const res = await fetch(new URL("/checkoutnow", url), { method: "POST", redirect: "manual", body: new URLSearchParams({ token, action, payer: "funded" }) });
    expect(res.status).toBe(303);
    return new URL(res.headers.get("location") ?? "");
  }

  const orderCaptures = (orderId: string) => fake.requests.filter((r) => r.path === `/v2/checkout/orders/${orderId}/capture` || r.path === `/v2/checkout/orders/${orderId}/authorize`);

  it("waits in REQUIRES_ACTION at PayPal's approval link, then, once the buyer approved, captures once: COMPLETED with the PayPal payer", async () => {
    const { id, url, orderId } = await waitingPayment();
    expect(fake.chargesFor(id)).toBe(0);
    const back = await buyer(url, "approve");
    expect(`${back.origin}${back.pathname}`).toBe(RETURN);
    expect(back.searchParams.get("token")).toBe(orderId);
    const completed = await waitForStatus(`payments/${id}`, ["COMPLETED", "FAILED"]);
    expect(completed).toMatchObject({
      status: "COMPLETED",
      paymentMethod: "paypal",
      card: null,
      nextAction: null,
      payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId, email: FAKE_PAYPAL_PAYERS.funded.email },
      amountCaptured: 1999,
    });
    expect(fake.chargesFor(id)).toBe(1);
    expect(orderCaptures(orderId).map((r) => r.paypalRequestId)).toEqual([expect.stringMatching(/-capture$/)]);
    // The merchant refunds it as any payment.
    const refund = (await (await act(`${id}/refunds`, { amount: 500 })).json()) as { id: string };
    expect(await waitForStatus(`refunds/${refund.id}`, ["SUCCEEDED", "FAILED"])).toMatchObject({ status: "SUCCEEDED" });
    expect(fake.ledgerFor(id).refunds).toEqual([500]);
  });

  it("in a browser (Chromium), the buyer presses Pay Now at PayPal's page and lands back at the shop with the order's token; the payment is COMPLETED", async () => {
    await inBrowserWithShop(async (browser, shop) => {
      const { id, url, orderId } = await waitingPayment({ returnUrl: `${shop.origin}/paid`, cancelUrl: `${shop.origin}/canceled` });
      const page = await browser.newPage();
      await page.goto(url);
      await page.locator("#payer").selectOption("funded");
      await Promise.all([page.waitForURL(`${shop.origin}/paid?**`), page.locator("#pay-now").click()]);
      const back = new URL(page.url());
      expect([back.searchParams.get("token"), back.searchParams.get("PayerID")]).toEqual([orderId, FAKE_PAYPAL_PAYERS.funded.payerId]);
      expect(shop.arrivals.filter((arrival) => arrival.pathname === "/paid")).toHaveLength(1);
      expect(await waitForStatus(`payments/${id}`, ["COMPLETED", "FAILED"])).toMatchObject({ status: "COMPLETED", payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId } });
      expect(fake.chargesFor(id)).toBe(1);
    });
  }, 30_000);

  it("with capture: false the approved order is authorized (AUTHORIZED, with its payer), then captured by the merchant", async () => {
    const { id, url, orderId } = await waitingPayment({ capture: false });
    await buyer(url, "approve");
    expect(await waitForStatus(`payments/${id}`, ["AUTHORIZED", "FAILED"])).toMatchObject({ status: "AUTHORIZED", payer: { id: FAKE_PAYPAL_PAYERS.funded.payerId } });
    expect(fake.chargesFor(id)).toBe(0);
    expect((await act(`${id}/capture`)).status).toBe(202);
    expect(await waitForStatus(`payments/${id}`, ["COMPLETED", "AUTHORIZED"])).toMatchObject({ status: "COMPLETED", amountCaptured: 1999 });
    expect(fake.ledgerFor(id)).toEqual({ captures: [1999], voids: 0, refunds: [] });
    expect(orderCaptures(orderId).map((r) => r.path.split("/").pop())).toEqual(["authorize"]);
  });

  it("a payment its buyer never approved is CANCELED by the merchant; an approval arriving later is never captured", async () => {
    const { id, url, orderId } = await waitingPayment();
    expect((await act(`${id}/cancel`, { reason: "abandoned" })).status).toBe(202);
    expect(await waitForStatus(`payments/${id}`, ["CANCELED", "FAILED", "COMPLETED"])).toMatchObject({ status: "CANCELED" });
    // PayPal cannot delete the order: the buyer can still approve it there.
    await buyer(url, "approve");
    expect(fake.order(orderId)).toMatchObject({ status: "APPROVED" });
    await Bun.sleep(2_500);
    expect(await waitForStatus(`payments/${id}`, ["CANCELED"])).toMatchObject({ status: "CANCELED" });
    expect(orderCaptures(orderId)).toEqual([]);
    expect(fake.chargesFor(id)).toBe(0);
    expect(service.output()).toMatch(/never capture/);
    expect(service.output()).not.toContain(fake.clientSecret);
  });
});

describe("the real program with GATEWAY=paypal: a PayPal Checkout payment nobody approves in time", () => {
  let fake: FakePaypal;
  let service: ServiceProcess;
  beforeAll(async () => {
    fake = await startFakePaypal();
    const env = { GATEWAY: "paypal", PAYPAL_CLIENT_ID: fake.clientId, PAYPAL_CLIENT_SECRET: fake.clientSecret, PAYPAL_API_BASE: fake.url };
    service = await startService({
      role: "all",
      env: { DATABASE_URL: "pglite://memory", GATEWAY_TIMEOUT_MS: "2000", ACTION_TTL_MS: "2000", ACTION_CHECK_FIRST_MS: "100", ACTION_CHECK_MAX_MS: "1000", ...env },
      timeoutMs: START_TIMEOUT_MS,
    });
  });
  afterAll(async () => {
    await service?.stop();
    await fake?.stop();
  });

  it("ends FAILED authentication_expired after ACTION_TTL_MS, and an approval arriving later is never captured", async () => {
    const res = await client(service.url).post(paymentMethodBody("paypal", { returnUrl: "https://shop.example/paypal/return" }));
    const { id } = (await res.json()) as { id: string };
    const waiting = (await waitForStatusOf(service.url, `payments/${id}`, ["REQUIRES_ACTION", "FAILED"])) as { status: string; nextAction: { url: string } | null };
    expect(waiting.status).toBe("REQUIRES_ACTION");
    const orderId = new URL(waiting.nextAction?.url ?? "http://invalid/").searchParams.get("token") ?? "";
    expect(await waitForStatusOf(service.url, `payments/${id}`, ["FAILED", "COMPLETED", "CANCELED"])).toMatchObject({ status: "FAILED", failureCode: "authentication_expired" });
    fake.approve(orderId);
    await Bun.sleep(2_500);
    expect(((await (await client(service.url).get(id)).json()) as { status: string }).status).toBe("FAILED");
    expect(fake.requests.filter((r) => r.path.startsWith(`/v2/checkout/orders/${orderId}/`))).toEqual([]);
    expect(fake.chargesFor(id)).toBe(0);
    expect(service.output()).toMatch(/never capture/);
  }, 30_000);
});

/** Accounts that cannot take what paystream sends them: each payment ends FAILED, never as a card decline. */
const misconfigured: { name: string; gateway: string; start: () => Promise<{ fake: { chargesFor(paymentId: string): number; stop(): Promise<void> }; env: Record<string, string> }> }[] = [
  {
    name: "STRIPE_RAW_CARD_DATA=true against a Stripe account without raw card data APIs",
    gateway: "stripe",
    start: async () => {
      const fake = await startFakeStripe();
      return { fake, env: { GATEWAY: "stripe", STRIPE_SECRET_KEY: fake.secretKey, STRIPE_API_BASE: fake.url, STRIPE_RAW_CARD_DATA: "true" } };
    },
  },
  {
    name: "GATEWAY=paypal against a PayPal account without card processing",
    gateway: "paypal",
    start: async () => {
      const fake = await startFakePaypal();
      return { fake, env: { GATEWAY: "paypal", PAYPAL_CLIENT_ID: fake.clientId, PAYPAL_CLIENT_SECRET: fake.clientSecret, PAYPAL_API_BASE: fake.url } };
    },
  },
];

/** The value of the configuration-error counter for `gateway` in /metrics, once it is `expected` (the worker counts just after it records). */
async function configurationErrorsCounted(url: string, gateway: string, expected: number): Promise<number | null> {
  const pattern = new RegExp(`^paystream_gateway_configuration_errors_total\\{gateway="${gateway}"\\} (\\d+)$`, "m");
  let counted: number | null = null;
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await Bun.sleep(50)) {
    const match = pattern.exec(await (await fetch(`${url}/metrics`)).text());
    counted = match ? Number(match[1]) : null;
    if (counted === expected) break;
  }
  return counted;
}

for (const { name, gateway, start } of misconfigured) {
  describe(`the real program with ${name}`, () => {
    let fake: { chargesFor(paymentId: string): number; stop(): Promise<void> };
    let service: ServiceProcess;
    beforeAll(async () => {
      const started = await start();
      fake = started.fake;
      service = await startService({ role: "all", env: { DATABASE_URL: "pglite://memory", GATEWAY_TIMEOUT_MS: "2000", ...started.env }, timeoutMs: START_TIMEOUT_MS });
    });
    afterAll(async () => {
      await service?.stop();
      await fake?.stop();
    });

    it("ends the payment FAILED gateway_configuration_error, charges nothing, and logs the gateway's message at error level without the card", async () => {
      const { id } = (await (await client(service.url).post(paymentBody(CARDS.visa))).json()) as { id: string };
      expect((await waitForFinal(service.url, [id])).get(id)).toMatchObject({ status: "FAILED", failureCode: "gateway_configuration_error" });
      expect(fake.chargesFor(id)).toBe(0);
      const lines = service.output().split("\n").filter((line) => line.includes("gateway_configuration_error") && line.includes(id));
      expect(lines.some((line) => (JSON.parse(line) as { level: unknown }).level === "error")).toBe(true);
      expect(service.output()).not.toContain(CARDS.visa);
    });

    it("counts each such payment in paystream_gateway_configuration_errors_total, labelled by gateway", async () => {
      const before = (await configurationErrorsCounted(service.url, gateway, 1)) ?? 0;
      const { id } = (await (await client(service.url).post(paymentBody(CARDS.visa))).json()) as { id: string };
      expect((await waitForFinal(service.url, [id])).get(id)).toMatchObject({ status: "FAILED", failureCode: "gateway_configuration_error" });
      expect(await configurationErrorsCounted(service.url, gateway, before + 1)).toBe(before + 1);
    });
  });
}
