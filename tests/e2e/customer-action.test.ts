import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type Browser, chromium } from "playwright-core";
import { openDatabase } from "../../src/db";
import { createPostgresDatabase } from "../support/db";
import { client, paymentBody, paymentMethodBody } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";
import { simulatorChargeCounts } from "../support/simulator";

/** How long a payment may wait for its customer in this run (ACTION_TTL_MS). */
const ACTION_TTL_MS = 6_000;
const THREE_D_SECURE_CARD = "4000000000003220";

type View = {
  id: string;
  paymentMethod: string | null;
  status: string;
  failureCode: string | null;
  nextAction: { type: string; url: string; expiresAt: string } | null;
  payer: { id: string; email: string | null } | null;
  card: { last4: string } | null;
  amountCaptured: number;
  cancellationReason: string | null;
};

/**
 * The merchant's shop: where the customer's browser comes back to after the simulator's page
 * (returnUrl, cancelUrl). It records each arrival, as a shop would look the payment up from it.
 */
function startShop() {
  const arrivals: URL[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request) {
      arrivals.push(new URL(request.url));
      return new Response("<!doctype html><title>Back at the shop</title><p id=back>Thank you</p>", { headers: { "content-type": "text/html" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, arrivals, stop: () => server.stop(true) };
}

describe("customer authentication and PayPal approval with the simulator (the real program, --role=all)", () => {
  let service: ServiceProcess;
  let browser: Browser;
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  const shop = startShop();
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    [service, browser] = await Promise.all([
      startService({
        role: "all",
        env: {
          DATABASE_URL: database.url,
          SIMULATOR_LATENCY_MS: "10",
          RATE_LIMIT_RPS: "0",
          ACTION_TTL_MS: String(ACTION_TTL_MS),
          ACTION_CHECK_FIRST_MS: "300",
          RECONCILE_INTERVAL_MS: "200",
          LOG_LEVEL: "debug",
        },
      }),
      chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] }),
    ]);
    api = client(service.url);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    shop.stop();
    await database?.drop();
  }, 30_000);

  async function create(body: Record<string, unknown>): Promise<View> {
    const response = await api.post(body);
    expect(response.status).toBe(202);
    return (await response.json()) as View;
  }

  async function view(id: string): Promise<View> {
    return (await (await api.get(id)).json()) as View;
  }

  async function waitFor(id: string, done: (payment: View) => boolean, timeoutMs = 15_000): Promise<View> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const payment = await view(id);
      if (done(payment)) return payment;
      if (Date.now() > deadline) throw new Error(`payment ${id} still ${JSON.stringify(payment)}`);
      await Bun.sleep(100);
    }
  }

  const waiting = (id: string) => waitFor(id, (p) => p.status === "REQUIRES_ACTION");

  async function charges(): Promise<Map<string, number>> {
    const ledger = openDatabase(database.url, 1);
    try {
      return await simulatorChargeCounts(ledger.db);
    } finally {
      await ledger.close();
    }
  }

  it("waits in REQUIRES_ACTION for a 3-D Secure card, and the customer completes it on the simulator's page in Chromium: COMPLETED, charged once, back at the returnUrl", async () => {
    const created = await create(paymentBody(THREE_D_SECURE_CARD, { returnUrl: `${shop.url}/done` }));
    const payment = await waiting(created.id);
    expect(payment.nextAction?.type).toBe("redirect");
    expect(payment.nextAction?.url.startsWith(`${service.url}/simulator/actions/`)).toBe(true);
    expect(Date.parse(payment.nextAction?.expiresAt ?? "")).toBeGreaterThan(Date.now());
    expect(payment.amountCaptured).toBe(0);

    const page = await browser.newPage();
    await page.goto(payment.nextAction?.url ?? "");
    expect(await page.locator("#amount").innerText()).toBe("19.99 USD");
    await Promise.all([page.waitForURL(`${shop.url}/done?**`), page.locator("#approve").click()]);
    expect(new URL(page.url()).searchParams.get("payment_id")).toBe(created.id);
    await page.close();

    const completed = await waitFor(created.id, (p) => p.status === "COMPLETED", 5_000);
    expect(completed).toMatchObject({ status: "COMPLETED", nextAction: null, amountCaptured: 1999, failureCode: null });
    expect((await charges()).get(created.id)).toBe(1);
  }, 30_000);

  it("fails the payment authentication_failed when the customer fails on the page, and charges nothing", async () => {
    const created = await create(paymentMethodBody("pm_card_threeDSecure2Required", { returnUrl: `${shop.url}/done` }));
    const payment = await waiting(created.id);
    const page = await browser.newPage();
    await page.goto(payment.nextAction?.url ?? "");
    await Promise.all([page.waitForURL(`${shop.url}/done?**`), page.locator("#fail").click()]);
    await page.close();
    const failed = await waitFor(created.id, (p) => p.status === "FAILED", 5_000);
    expect(failed.failureCode).toBe("authentication_failed");
    expect((await charges()).get(created.id)).toBeUndefined();
  }, 30_000);

  it("fails a 3-D Secure card sent without returnUrl with authentication_required", async () => {
    const created = await create(paymentBody(THREE_D_SECURE_CARD));
    const failed = await waitFor(created.id, (p) => p.status === "FAILED");
    expect(failed.failureCode).toBe("authentication_required");
  }, 20_000);

  it("cancels a waiting payment at the merchant's request: CANCELED, and the customer's page no longer takes it", async () => {
    const created = await create(paymentBody(THREE_D_SECURE_CARD, { returnUrl: `${shop.url}/done` }));
    const payment = await waiting(created.id);
    const cancel = await fetch(`${service.url}/v1/payments/${created.id}/cancel`, {
      method: "POST",
      headers: { authorization: "Bearer sk_test_local", "content-type": "application/json" },
      body: JSON.stringify({ reason: "abandoned" }),
    });
    expect(cancel.status).toBe(202);
    const canceled = await waitFor(created.id, (p) => p.status === "CANCELED", 5_000);
    expect(canceled.cancellationReason).toBe("abandoned");
    // The customer comes back too late: the page says so, and approving does nothing.
    const url = payment.nextAction?.url ?? "";
    expect(await (await fetch(url)).text()).toContain("no longer waits");
    expect((await fetch(`${url}/approve`, { method: "POST", redirect: "manual" })).status).toBe(404);
    expect((await view(created.id)).status).toBe("CANCELED");
    expect((await charges()).get(created.id)).toBeUndefined();
  }, 20_000);

  it("ends a payment nobody authenticated within ACTION_TTL_MS FAILED authentication_expired, canceled at the gateway first", async () => {
    const created = await create(paymentBody(THREE_D_SECURE_CARD, { returnUrl: `${shop.url}/done` }));
    const payment = await waiting(created.id);
    const expired = await waitFor(created.id, (p) => p.status === "FAILED", ACTION_TTL_MS + 10_000);
    expect(expired.failureCode).toBe("authentication_expired");
    // The simulator canceled its side first: a late approval finds nothing to approve.
    expect((await fetch(`${payment.nextAction?.url}/approve`, { method: "POST", redirect: "manual" })).status).toBe(404);
    expect((await charges()).get(created.id)).toBeUndefined();
  }, 30_000);

  it("takes a PayPal Checkout payment with capture: false: the buyer approves, it is AUTHORIZED with the payer, then captured once", async () => {
    const created = await create({ ...paymentMethodBody("paypal", { returnUrl: `${shop.url}/paid`, cancelUrl: `${shop.url}/cart` }), capture: false });
    expect(created.paymentMethod).toBe("paypal");
    const payment = await waiting(created.id);
    const page = await browser.newPage();
    await page.goto(payment.nextAction?.url ?? "");
    await Promise.all([page.waitForURL(`${shop.url}/paid?**`), page.locator("#approve").click()]);
    await page.close();
    const authorized = await waitFor(created.id, (p) => p.status === "AUTHORIZED", 5_000);
    expect(authorized.card).toBeNull();
    expect(authorized.payer?.id).toMatch(/^SIMPAYER/);
    const capture = await fetch(`${service.url}/v1/payments/${created.id}/capture`, {
      method: "POST",
      headers: { authorization: "Bearer sk_test_local", "content-type": "application/json" },
      body: "{}",
    });
    expect(capture.status).toBe(202);
    const completed = await waitFor(created.id, (p) => p.status === "COMPLETED", 5_000);
    expect(completed.amountCaptured).toBe(1999);
    expect((await charges()).get(created.id)).toBe(1);
  }, 30_000);

  it("sends a PayPal buyer who cancels to the cancelUrl and fails the payment authentication_failed", async () => {
    const created = await create(paymentMethodBody("paypal", { returnUrl: `${shop.url}/paid`, cancelUrl: `${shop.url}/cart` }));
    const payment = await waiting(created.id);
    const back = await fetch(`${payment.nextAction?.url}/fail`, { method: "POST", redirect: "manual" });
    expect(back.status).toBe(303);
    expect(back.headers.get("location")?.startsWith(`${shop.url}/cart?payment_id=${created.id}`)).toBe(true);
    const failed = await waitFor(created.id, (p) => p.status === "FAILED", 5_000);
    expect(failed.failureCode).toBe("authentication_failed");
    expect((await charges()).get(created.id)).toBeUndefined();
  }, 20_000);

  it("answers 422 for paypal without returnUrl, and for return URLs that are not https (or loopback http), not absolute, or carry credentials", async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [paymentMethodBody("paypal"), "returnUrl", "return_url_required"],
      [paymentBody(THREE_D_SECURE_CARD, { returnUrl: "http://shop.example.com/done" }), "returnUrl", "https_required"],
      [paymentBody(THREE_D_SECURE_CARD, { returnUrl: "javascript:alert(1)" }), "returnUrl", "invalid_url"],
      [paymentBody(THREE_D_SECURE_CARD, { returnUrl: "/relative/path" }), "returnUrl", "invalid_url"],
      [paymentBody(THREE_D_SECURE_CARD, { returnUrl: "https://user:secret@shop.example.com/done" }), "returnUrl", "invalid_url"],
      [paymentBody(THREE_D_SECURE_CARD, { returnUrl: `https://shop.example.com/${"a".repeat(2100)}` }), "returnUrl", "too_long"],
      [paymentBody(THREE_D_SECURE_CARD, { returnUrl: "https://shop.example.com/done", cancelUrl: 42 }), "cancelUrl", "invalid_type"],
    ];
    for (const [body, field, code] of cases) {
      const response = await api.post(body);
      expect(response.status).toBe(422);
      const problem = (await response.json()) as { errors: { field: string; code: string }[] };
      expect(problem.errors).toContainEqual(expect.objectContaining({ field, code }));
    }
  });

  it("never puts the card number in a log line, and links no page of the simulator to an unknown reference", async () => {
    expect(service.output()).not.toContain(THREE_D_SECURE_CARD);
    expect((await fetch(`${service.url}/simulator/actions/sim_000000000000000000000000`)).status).toBe(404);
    expect((await fetch(`${service.url}/simulator/actions/'%20or%201=1`)).status).toBe(404);
  });
});
