import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { CARDS, client, paymentBody } from "../support/payments";
import { ROOT, type ServiceProcess, startService } from "../support/service-process";

const SCREENSHOT = join(ROOT, "tests/artifacts/dashboard.png");

const text = (page: Page, testId: string) => page.getByTestId(testId).first().innerText();

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
        env: { DATABASE_URL: "pglite://memory", SIMULATOR_LATENCY_MS: "20", RATE_LIMIT_RPS: "0" },
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
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });

    const response = await page.goto(`${service.url}/dashboard?key=sk_test_local`);
    expect(response?.status()).toBe(200);
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 10_000 });
    expect(await text(page, "count-COMPLETED")).toBe("0");
    expect(await text(page, "merchant")).toBe("merchant local");

    const api = client(service.url);
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
    expect(errors).toEqual([]);

    // Let the latency chart and the ages settle on a later snapshot before the picture is taken.
    await page.waitForTimeout(1_200);
    mkdirSync(join(ROOT, "tests/artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  it("asks for the API key, with 401, when opened without a valid one", async () => {
    const page = await browser.newPage();
    const response = await page.goto(`${service.url}/dashboard?key=sk_wrong`);
    expect(response?.status()).toBe(401);
    await page.locator('input[name="key"]').fill("sk_test_local");
    await Promise.all([page.waitForURL(/\/dashboard\?key=sk_test_local$/), page.locator('button[type="submit"]').click()]);
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 10_000 });
    await page.close();
  });

  it("does not hold up shutdown: SIGTERM ends the open event streams and the program exits at once", async () => {
    const page = await browser.newPage();
    await page.goto(`${service.url}/dashboard?key=sk_test_local`);
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor({ timeout: 10_000 });
    const began = performance.now();
    expect(await service.stop("SIGTERM")).toBe(0);
    expect(performance.now() - began).toBeLessThan(5_000);
    await page.locator('[data-testid="connection-status"]:not([data-state="live"])').waitFor({ timeout: 10_000 });
    await page.close();
  });
});
