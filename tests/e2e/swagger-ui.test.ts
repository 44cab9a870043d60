import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { ROOT, type ServiceProcess, startService } from "../support/service-process";

const SCREENSHOT = join(ROOT, "tests/artifacts/swagger-ui.png");

interface Document {
  paths: Record<string, Record<string, unknown>>;
}

/**
 * Swagger UI as a user without internet sees it: the compiled binary, run from an empty directory
 * (so every asset must come from inside it), opened in headless Chromium with every request to any
 * other origin aborted.
 */
describe("Swagger UI at /docs, served by the compiled binary with no other origin reachable", () => {
  let workDir: string;
  let service: ServiceProcess;
  let browser: Browser;
  let document: Document;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "paystream-docs-"));
    const binary = join(workDir, "paystream");
    const build = Bun.spawnSync(["bash", "scripts/build.sh", binary], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`build failed:\n${build.stdout.toString()}${build.stderr.toString()}`);
    [service, browser] = await Promise.all([
      startService({ role: "api", command: [binary], env: { HOME: workDir, DATABASE_URL: "pglite://memory" }, timeoutMs: 60_000 }),
      chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      }),
    ]);
    document = (await (await fetch(`${service.url}/docs/json`)).json()) as Document;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }, 30_000);

  /** A page whose requests to any origin but the service's are aborted and recorded. */
  async function isolatedPage(): Promise<{ page: Page; blocked: string[]; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const blocked: string[] = [];
    const problems: string[] = [];
    const origin = new URL(service.url).origin;
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("data:") || new URL(url).origin === origin) return route.continue();
      blocked.push(url);
      return route.abort("blockedbyclient");
    });
    page.on("pageerror", (error) => problems.push(error.message));
    // Content-Security-Policy violations are reported as console errors.
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    return { page, blocked, problems };
  }

  it("renders every documented operation, loading nothing from anywhere else, under a self-only CSP", async () => {
    const { page, blocked, problems } = await isolatedPage();
    const response = await page.goto(`${service.url}/docs`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:|'unsafe-inline'|'unsafe-eval'|\*/);

    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.length).toBeGreaterThanOrEqual(11);
    await page.locator(".opblock").nth(operations.length - 1).waitFor({ timeout: 20_000 });
    expect(await page.locator(".opblock").count()).toBe(operations.length);
    const rendered = await page.locator(".opblock").evaluateAll((blocks) =>
      blocks.map((block) => {
        const method = block.querySelector(".opblock-summary-method")?.textContent ?? "";
        const path = block.querySelector(".opblock-summary-path")?.getAttribute("data-path") ?? "";
        return `${method} ${path}`;
      }),
    );
    expect(rendered.sort()).toEqual(operations.sort());
    expect(await page.locator(".info .title").innerText()).toContain("paystream");

    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
    mkdirSync(join(ROOT, "tests/artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  it("opens an operation with its schemas and runs it against this service (Try it out)", async () => {
    const { page, blocked, problems } = await isolatedPage();
    await page.goto(`${service.url}/docs#/Payments/createPayment`);
    const create = page.locator("#operations-Payments-createPayment");
    await create.locator(".opblock-body").waitFor({ timeout: 20_000 });
    // The request body's example and the 202 response's schema are rendered from the document.
    expect(await create.locator(".body-param__example").innerText()).toContain('"amount": 1999');
    expect(await create.locator(".responses-table").innerText()).toContain("202");

    const ready = page.locator("#operations-Operations-getReadiness");
    await ready.locator(".opblock-summary-control").click();
    await ready.locator(".try-out__btn").click();
    await ready.locator(".execute").click();
    const status = ready.locator(".live-responses-table tr.response .response-col_status").first();
    await status.waitFor({ timeout: 10_000 });
    expect(await status.innerText()).toBe("200");
    expect(await ready.locator(".live-responses-table .microlight").first().innerText()).toContain('"ready"');

    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });
});
