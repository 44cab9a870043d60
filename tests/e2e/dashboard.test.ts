import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { CARDS, client, paymentBody } from "../support/payments";
import { ROOT, type ServiceProcess, startService } from "../support/service-process";

const SCREENSHOT = join(ROOT, "tests/artifacts/dashboard.png");

/** A key of the production shape, so the test can look for it in everything the program wrote. */
const API_KEY = `sk_live_${randomBytes(24).toString("hex")}`;

const text = (page: Page, testId: string) => page.getByTestId(testId).first().innerText();

/** Opens the dashboard the way a person does: the form, the key typed once, the POST, the redirect. */
async function signInThroughForm(page: Page, baseUrl: string, key = API_KEY) {
  const form = await page.goto(`${baseUrl}/dashboard`);
  expect(form?.status()).toBe(401);
  await page.locator('input[name="key"]').fill(key);
  const [signedIn] = await Promise.all([
    page.waitForResponse((response) => response.url().endsWith("/dashboard/sign-in")),
    page.locator('button[type="submit"]').click(),
  ]);
  return signedIn;
}

const waitUntilLive = (page: Page) => page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 10_000 });

/** Waits until every element named by its data-testid shows the expected text. */
async function waitForTexts(page: Page, expected: Record<string, string>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (id) => [id, await text(page, id)])));
    if (Object.entries(expected).every(([id, value]) => seen[id] === value)) return;
    if (Date.now() > deadline) expect(seen).toEqual(expected);
    await Bun.sleep(100);
  }
}

describe("the live dashboard in headless Chromium (the real program, --role=all)", () => {
  let service: ServiceProcess;
  let browser: Browser;

  beforeAll(async () => {
    [service, browser] = await Promise.all([
      startService({
        role: "all",
        env: {
          DATABASE_URL: "pglite://memory",
          SIMULATOR_LATENCY_MS: "20",
          RATE_LIMIT_RPS: "0",
          API_KEYS: `local:${API_KEY}`,
          // Every line the program can write about a request, so "the key is in no log line" means something.
          LOG_LEVEL: "trace",
        },
      }),
      chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  }, 30_000);

  it("shows payments made while it is open: live counts, the recent list with failure codes, the failure breakdown", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, locale: "en-US", timezoneId: "UTC" });
    const signedIn = await signInThroughForm(page, service.url);
    expect(signedIn.status()).toBe(303);
    // From here on (the form's own 401 is behind us) the page must run without a single error.
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    await waitUntilLive(page);
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe("/dashboard");
    expect(await text(page, "count-COMPLETED")).toBe("0");
    expect(await text(page, "merchant")).toBe("merchant local");

    const api = client(service.url, API_KEY);
    const good = [CARDS.visa, CARDS.mastercard, CARDS.amex, CARDS.visa, CARDS.mastercard];
    const declined = [CARDS.declined, CARDS.insufficientFunds];
    const created = await Promise.all(
      [...good, ...declined].map(async (card, i) => {
        const body = i === 1 ? paymentBody(card, { amount: 500, currency: "JPY" }) : paymentBody(card);
        const res = await api.post(body);
        expect(res.status).toBe(202);
        return { cardNumber: card, id: ((await res.json()) as { id: string }).id };
      }),
    );

    await waitForTexts(page, { "count-COMPLETED": "5", "count-FAILED": "2", "count-PENDING": "0", "count-PROCESSING": "0" }, 20_000);

    // The recent list follows on the same snapshot: every id, with its status and failure code.
    const rows = page.getByTestId("payment-row");
    expect(await rows.count()).toBe(7);
    for (const { id, cardNumber } of created) {
      const row = page.locator(`[data-payment-id="${id}"]`);
      expect(await row.getByTestId("payment-id").innerText()).toBe(id);
      const failureCode =
        cardNumber === CARDS.declined ? "card_declined" : cardNumber === CARDS.insufficientFunds ? "insufficient_funds" : "–";
      expect(await row.getByTestId("payment-failure-code").innerText()).toBe(failureCode);
      expect(await row.getByTestId("payment-status").innerText()).toBe(failureCode === "–" ? "COMPLETED" : "FAILED");
    }
    // Amounts in the currency's own decimals: 1999 USD is $19.99, 500 JPY is ¥500.
    expect(await page.locator(`[data-payment-id="${created[0]!.id}"]`).getByTestId("payment-amount").innerText()).toBe("$19.99");
    expect(await page.locator(`[data-payment-id="${created[1]!.id}"]`).getByTestId("payment-amount").innerText()).toBe("¥500");

    const codes = await page.getByTestId("failure-code").evaluateAll((items) =>
      items.map((item) => `${item.getAttribute("data-code")}:${item.textContent?.replace(/\D/g, "")}`).sort(),
    );
    expect(codes).toEqual(["card_declined:1", "insufficient_funds:1"]);
    expect(await text(page, "backlog-waiting")).toBe("0");
    expect(await page.locator('[data-testid="chart-throughput"] rect').count()).toBeGreaterThan(0);

    const html = await page.content();
    for (const card of new Set([...good, ...declined])) expect(html).not.toContain(card);
    expect(html).not.toContain(API_KEY);
    expect(errors).toEqual([]);

    // Let the latency chart and the ages settle on a later snapshot before the picture is taken.
    await page.waitForTimeout(1_200);
    mkdirSync(join(ROOT, "tests/artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  it("signs in by POSTing the key once: the key is in no URL, no page and no log line; the cookie is HttpOnly, SameSite=Strict, expiring", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(`${request.method()} ${request.url()}`));

    // A key in the address authenticates nothing: the form again, and no cookie.
    const withKeyInUrl = await page.goto(`${service.url}/dashboard?key=${API_KEY}`);
    expect(withKeyInUrl?.status()).toBe(401);
    expect(await context.cookies()).toEqual([]);

    // A wrong key: the form back with an error, the field empty.
    await page.locator('input[name="key"]').fill("sk_wrong_key_for_this_service_0000");
    await Promise.all([page.waitForResponse((r) => r.url().endsWith("/dashboard/sign-in")), page.locator('button[type="submit"]').click()]);
    expect(await page.getByTestId("sign-in-error").innerText()).toBe("That API key is not valid.");
    expect(await page.locator('input[name="key"]').inputValue()).toBe("");
    expect(await context.cookies()).toEqual([]);

    const signedIn = await signInThroughForm(page, service.url);
    expect(signedIn.request().method()).toBe("POST");
    expect(signedIn.request().postData()).toBe(`key=${API_KEY}`);
    await waitUntilLive(page);

    const [cookie, ...others] = await context.cookies();
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({ name: "paystream_dashboard", path: "/dashboard", httpOnly: true, sameSite: "Strict", secure: false });
    // A session cookie of the browser would have expires -1; this one expires on its own, in hours.
    const hoursLeft = (cookie!.expires * 1000 - Date.now()) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(7.9);
    expect(hoursLeft).toBeLessThanOrEqual(8);
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await page.evaluate("document.cookie")).toBe("");

    // The POST body carried the key once; no URL the browser asked for did.
    expect(requested.filter((r) => r.includes(API_KEY))).toEqual([`GET ${service.url}/dashboard?key=${API_KEY}`]);
    expect(requested.filter((r) => r.startsWith("POST "))).toHaveLength(2);
    expect(requested).toContain(`GET ${service.url}/dashboard/events`);
    expect(await page.content()).not.toContain(API_KEY);
    expect(service.output()).not.toContain(API_KEY);
    await context.close();
  });

  it("signs out with the page's button: the session ends on the server, and this tab and every other one show the form", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInThroughForm(page, service.url);
    await waitUntilLive(page);
    const otherTab = await context.newPage();
    expect((await otherTab.goto(`${service.url}/dashboard`))?.status()).toBe(200);
    await waitUntilLive(otherTab);
    const [cookie] = await context.cookies();
    const sessionCookie = `${cookie!.name}=${cookie!.value}`;

    await Promise.all([page.waitForURL(/\/dashboard$/), page.getByTestId("sign-out").click()]);
    await page.locator('input[name="key"]').waitFor();
    expect(await context.cookies()).toEqual([]);
    // The other tab's stream was ended by the sign-out; on reconnecting it learns why and shows the form.
    await otherTab.locator('input[name="key"]').waitFor({ timeout: 10_000 });
    // The old cookie, replayed by hand, is worth nothing now.
    const replayed = await fetch(`${service.url}/dashboard/events`, { headers: { cookie: sessionCookie } });
    expect(replayed.status).toBe(401);
    await context.close();
  });

  it("does not hold up shutdown: SIGTERM ends the open event streams and the program exits at once", async () => {
    const page = await browser.newPage();
    await signInThroughForm(page, service.url);
    await waitUntilLive(page);
    const began = performance.now();
    expect(await service.stop("SIGTERM")).toBe(0);
    expect(performance.now() - began).toBeLessThan(5_000);
    await page.locator('[data-testid="connection-status"]:not([data-state="live"])').waitFor({ timeout: 10_000 });
    await page.close();
  });
});
