import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { runProgram, type ServiceProcess, startService } from "../support/service-process";

describe("the edges of the API: rate limits, headers, hostile bodies", () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService({ role: "all", env: { DATABASE_URL: "pglite://memory", RATE_LIMIT_RPS: "5" } });
  });
  afterAll(async () => {
    await service.stop();
  });

  it("answers 429 with Retry-After once a key exceeds RATE_LIMIT_RPS", async () => {
    const answers = await Promise.all(Array.from({ length: 15 }, () => client(service.url).list()));
    const limited = answers.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await limited[0]!.json()) as { code: string }).code).toBe("rate_limited");
    await Bun.sleep(1_100);
    expect((await client(service.url).list()).status).toBe(200);
  });

  it("sends security headers and a request id on every answer", async () => {
    const res = await fetch(`${service.url}/health/live`, { headers: { "x-request-id": "trace-edge-1" } });
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-request-id")).toBe("trace-edge-1");
  });

  it("answers 400, never 500, to JSON nested too deeply", async () => {
    let nested: unknown = "x";
    for (let i = 0; i < 50; i++) nested = { a: nested };
    await Bun.sleep(1_100);
    const res = await client(service.url).post({ ...paymentBody(), metadata: nested });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });

  it("answers 404 problem+json for unknown routes", async () => {
    const res = await fetch(`${service.url}/v2/nothing`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("card encryption key rotation", () => {
  it("opens card secrets sealed under a retired key after the active key changes", async () => {
    const dir = `/tmp/paystream-rotation-${process.pid}`;
    const oldKey = Buffer.alloc(32, 11).toString("base64");
    const newKey = Buffer.alloc(32, 12).toString("base64");
    // Accept a payment with the old key while no worker runs, so its card stays sealed under it.
    const api = await startService({ role: "api", env: { DATABASE_URL: `pglite://${dir}`, CARD_ENCRYPTION_KEY: oldKey } });
    const { id } = (await (await client(api.url).post(paymentBody(CARDS.visa))).json()) as { id: string };
    await api.stop();
    const rotated = await startService({
      role: "all",
      env: { DATABASE_URL: `pglite://${dir}`, CARD_ENCRYPTION_KEY: newKey, CARD_ENCRYPTION_KEYS_RETIRED: oldKey },
    });
    try {
      const final = await waitForFinal(rotated.url, [id]);
      expect(final.get(id)?.status).toBe("COMPLETED");
    } finally {
      await rotated.stop();
      await Bun.$`rm -rf ${dir}`.quiet();
    }
  });

  it("refuses to start in production without a card encryption key", async () => {
    const result = await runProgram(["--role=api"], { NODE_ENV: "production", API_KEYS: "m1:sk_live_12345678" });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("CARD_ENCRYPTION_KEY is required");
  });
});
