import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyWebhookSignature } from "../../modules/webhooks";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

const OTHER_KEY = "sk_test_other_merchant";

interface Received {
  eventId: string | null;
  type: string | null;
  body: string;
  signatureOk: boolean;
  answered: number;
}

describe("webhooks through the real program (register over HTTP, pay, receive, read the log)", () => {
  let service: ServiceProcess;
  let receiver: ReturnType<typeof Bun.serve>;
  const received: Received[] = [];
  let secret = "";

  const call = (path: string, init: RequestInit & { key?: string } = {}) =>
    fetch(`${service.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${init.key ?? "sk_test_local"}`, "content-type": "application/json", ...init.headers },
    });

  beforeAll(async () => {
    receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(request) {
        const body = await request.text();
        // The merchant's first delivery fails: the event must come again, from the retry.
        const answered = received.length === 0 ? 500 : 200;
        received.push({
          eventId: request.headers.get("paystream-event-id"),
          type: request.headers.get("paystream-event-type"),
          body,
          signatureOk: verifyWebhookSignature(body, request.headers.get("paystream-signature"), secret).ok,
          answered,
        });
        return new Response(null, { status: answered });
      },
    });
    service = await startService({
      role: "all",
      env: {
        DATABASE_URL: "pglite://memory",
        API_KEYS: `local:sk_test_local,other:${OTHER_KEY}`,
        RATE_LIMIT_RPS: "0",
        WEBHOOK_RETRY_BASE_MS: "200",
        // The receiver is on this host.
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
      },
    });
  });
  afterAll(async () => {
    await service.stop();
    receiver.stop(true);
  });

  it("registers the endpoint over HTTP, shows the secret once, and documents the routes in OpenAPI", async () => {
    const url = `http://127.0.0.1:${receiver.port}/paystream/hooks`;
    const res = await call("/v1/webhook-endpoint", { method: "PUT", body: JSON.stringify({ url }) });
    expect(res.status).toBe(200);
    const endpoint = (await res.json()) as { url: string; secret: string; createdAt: string };
    expect(endpoint).toEqual({ url, secret: expect.stringMatching(/^whsec_/), createdAt: expect.any(String) });
    secret = endpoint.secret;
    expect(await (await call("/v1/webhook-endpoint")).json()).toEqual({
      url,
      createdAt: endpoint.createdAt,
      status: "enabled",
      failingSince: null,
      disabledAt: null,
      disabledReason: null,
    });
    expect((await call("/v1/webhook-endpoint", { key: OTHER_KEY })).status).toBe(404);

    const spec = (await (await fetch(`${service.url}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(spec.paths["/v1/webhook-endpoint"] ?? {}).sort()).toEqual(["delete", "get", "put"]);
    expect(spec.paths["/v1/webhook-endpoint/enable"]?.post).toBeDefined();
    expect(spec.paths["/v1/webhook-events"]?.get).toBeDefined();
    expect(spec.paths["/v1/webhook-events/{id}/deliveries"]?.get).toBeDefined();
  });

  it("sends a correctly signed payment.completed and payment.failed for final payments, retrying a failed delivery", async () => {
    const api = client(service.url);
    const completed = ((await (await api.post(paymentBody(CARDS.visa))).json()) as { id: string }).id;
    const failed = ((await (await api.post(paymentBody(CARDS.declined))).json()) as { id: string }).id;
    await waitForFinal(service.url, [completed, failed]);

    const deadline = Date.now() + 15_000;
    const accepted = () => received.filter((r) => r.answered === 200);
    while (accepted().length < 2 && Date.now() < deadline) await Bun.sleep(50);
    expect(accepted()).toHaveLength(2);
    expect(received.every((r) => r.signatureOk)).toBe(true);
    // The one failed delivery came again under the same event id.
    expect(received).toHaveLength(3);
    expect(received[0]!.eventId).not.toBeNull();
    expect(received.filter((r) => r.eventId === received[0]!.eventId)).toHaveLength(2);

    for (const [paymentId, type] of [
      [completed, "payment.completed"],
      [failed, "payment.failed"],
    ] as const) {
      const delivery = accepted().find((r) => r.type === type);
      const event = JSON.parse(delivery!.body) as { id: string; type: string; createdAt: string; data: { payment: Record<string, unknown> } };
      expect(event.id).toBe(delivery!.eventId!);
      expect(event.type).toBe(type);
      // The event carries the payment exactly as the API shows it.
      expect(event.data.payment).toEqual((await (await api.get(paymentId)).json()) as Record<string, unknown>);
      expect(event.createdAt).toBe(event.data.payment.completedAt as string);
    }
  }, 30_000);

  it("shows the events with their delivery state and each event's delivery log, to its merchant only", async () => {
    const list = (await (await call("/v1/webhook-events")).json()) as {
      data: { id: string; type: string; paymentId: string; delivery: { status: string; attempts: number } }[];
      hasMore: boolean;
    };
    expect(list.data.map((e) => e.type).sort()).toEqual(["payment.completed", "payment.failed"]);
    // Newest first: event ids are time-ordered.
    expect(list.data.map((e) => e.id)).toEqual(list.data.map((e) => e.id).sort().reverse());
    expect(list.data.every((e) => e.delivery.status === "delivered")).toBe(true);

    const retried = list.data.find((e) => e.id === received[0]!.eventId)!;
    expect(retried.delivery.attempts).toBe(2);
    const byPayment = (await (await call(`/v1/webhook-events?paymentId=${retried.paymentId}`)).json()) as { data: { id: string }[] };
    expect(byPayment.data.map((e) => e.id)).toEqual([retried.id]);

    const log = await call(`/v1/webhook-events/${retried.id}/deliveries`);
    expect(log.status).toBe(200);
    const attempts = ((await log.json()) as { data: { attempt: number; statusCode: number | null; error: string | null; durationMs: number }[] }).data;
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, null],
      [2, 200, null],
    ]);
    expect(attempts.every((a) => a.durationMs >= 0)).toBe(true);

    const foreign = await call(`/v1/webhook-events/${retried.id}/deliveries`, { key: OTHER_KEY });
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get("content-type")).toBe("application/problem+json");
  });

  it("DELETE stops the events: 204, and later payments send nothing", async () => {
    expect((await call("/v1/webhook-endpoint", { method: "DELETE" })).status).toBe(204);
    const api = client(service.url);
    const id = ((await (await api.post(paymentBody(CARDS.visa))).json()) as { id: string }).id;
    await waitForFinal(service.url, [id]);
    const seen = received.length;
    await Bun.sleep(1_000);
    expect(received).toHaveLength(seen);
    const list = (await (await call("/v1/webhook-events")).json()) as { data: unknown[] };
    expect(list.data).toHaveLength(2);
  });

  it("shuts down cleanly on SIGTERM with the dispatcher running", async () => {
    expect(await service.stop()).toBe(0);
  });
});

describe("webhook endpoints on this host, through the real program with private networks not allowed (the default)", () => {
  let dir: string;
  let receiver: ReturnType<typeof Bun.serve>;
  const received: string[] = [];
  const keys = { a: "sk_test_ssrf_merchant_a", b: "sk_test_ssrf_merchant_b", c: "sk_test_ssrf_merchant_c" };
  const env = () => ({
    DATABASE_URL: `pglite://${join(dir, "pglite")}`,
    API_KEYS: `a:${keys.a},b:${keys.b},c:${keys.c}`,
    RATE_LIMIT_RPS: "0",
    WEBHOOK_RETRY_BASE_MS: "200",
  });
  const put = (base: string, key: string, url: string) =>
    fetch(`${base}/v1/webhook-endpoint`, {
      method: "PUT",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ url }),
    });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "paystream-ssrf-"));
    receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        received.push(request.url);
        // What an internal service might answer: none of it may reach the merchant.
        return new Response("internal: redis at 10.1.2.3 refused AUTH", { status: 503 });
      },
    });
  });
  afterAll(() => {
    receiver.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses loopback endpoint URLs at registration", async () => {
    const service = await startService({ role: "api", env: env() });
    try {
      for (const url of [`http://localhost:${receiver.port}/hooks`, `http://localhost.:${receiver.port}/hooks`, `http://127.1:${receiver.port}/hooks`]) {
        const res = await put(service.url, keys.a, url);
        expect({ url, status: res.status, errors: ((await res.json()) as { errors: { code: string }[] }).errors.map((e) => e.code) }).toEqual({
          url,
          status: 422,
          errors: ["loopback_not_allowed"],
        });
      }
    } finally {
      await service.stop();
    }
  });

  it("sends nothing to an endpoint on loopback registered while it was allowed, and shows the merchant only destination_blocked", async () => {
    // Registered while WEBHOOK_ALLOW_PRIVATE_NETWORKS=true; the switch is then turned off: every delivery checks again.
    const lenient = await startService({ role: "api", env: { ...env(), WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true" } });
    const endpoints = {
      a: `http://localhost:${receiver.port}/hooks`,
      b: `http://localhost.:${receiver.port}/hooks`,
      c: `http://[::ffff:127.0.0.1]:${receiver.port}/hooks`,
    };
    try {
      for (const [merchant, url] of Object.entries(endpoints)) expect((await put(lenient.url, keys[merchant as keyof typeof keys], url)).status).toBe(200);
    } finally {
      await lenient.stop();
    }

    const service = await startService({ role: "all", env: env() });
    try {
      for (const key of Object.values(keys)) {
        const api = client(service.url, key);
        const id = ((await (await api.post(paymentBody(CARDS.visa))).json()) as { id: string }).id;
        await waitForFinal(service.url, [id], { apiKey: key });
      }
      type Events = { data: { id: string; delivery: { attempts: number; lastStatusCode: number | null; lastError: string | null } }[] };
      const eventsOf = async (key: string) =>
        (await (await fetch(`${service.url}/v1/webhook-events`, { headers: { authorization: `Bearer ${key}` } })).json()) as Events;
      const deadline = Date.now() + 15_000;
      const attempted = async () => (await Promise.all(Object.values(keys).map(eventsOf))).every((e) => (e.data[0]?.delivery.attempts ?? 0) >= 2);
      while (!(await attempted()) && Date.now() < deadline) await Bun.sleep(100);

      expect(received).toEqual([]);
      for (const key of Object.values(keys)) {
        const [event] = (await eventsOf(key)).data;
        expect(event!.delivery.attempts).toBeGreaterThanOrEqual(2);
        expect(event!.delivery).toMatchObject({ lastStatusCode: null, lastError: "destination_blocked" });
        const log = (await (
          await fetch(`${service.url}/v1/webhook-events/${event!.id}/deliveries`, { headers: { authorization: `Bearer ${key}` } })
        ).json()) as { data: { statusCode: number | null; error: string | null }[] };
        expect(log.data.map((a) => [a.statusCode, a.error])).toEqual(log.data.map(() => [null, "destination_blocked"]));
        for (const detail of ["redis", "10.1.2.3", "503", "ECONN"]) expect(JSON.stringify(log)).not.toContain(detail);
      }
    } finally {
      await service.stop();
    }
  }, 60_000);
});

describe("webhook endpoints in production (NODE_ENV=production)", () => {
  let service: ServiceProcess;
  // As a production deployment would be configured (strong key, random card key, a real gateway).
  const apiKey = `sk_live_${randomBytes(24).toString("hex")}`;
  const liveEnv = {
    NODE_ENV: "production",
    DATABASE_URL: "pglite://memory",
    API_KEYS: `shop:${apiKey}`,
    CARD_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    GATEWAY: "stripe",
    STRIPE_SECRET_KEY: "sk_test_not_used_by_the_api_role",
  };

  beforeAll(async () => {
    service = await startService({ role: "api", env: liveEnv });
  });
  afterAll(async () => {
    await service.stop();
  });

  const put = (url: string) =>
    fetch(`${service.url}/v1/webhook-endpoint`, {
      method: "PUT",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ url }),
    });

  it("takes only https endpoint URLs, on public hosts", async () => {
    const cases: [string, string | number][] = [
      ["http://shop.example.com/hooks", "https_required"],
      ["http://127.0.0.1:8080/hooks", "https_required"],
      ["https://127.0.0.1:8080/hooks", "loopback_not_allowed"],
      ["https://localhost./hooks", "loopback_not_allowed"],
      ["https://[::ffff:7f00:1]/hooks", "loopback_not_allowed"],
      ["https://169.254.169.254/latest/meta-data", "private_address_not_allowed"],
      ["https://metadata.google.internal/computeMetadata/v1/", "private_address_not_allowed"],
      ["https://[64:ff9b::a9fe:a9fe]/latest/meta-data", "private_address_not_allowed"],
      ["https://shop.example.com/hooks", 200],
    ];
    for (const [url, expected] of cases) {
      const res = await put(url);
      const body = (await res.json()) as { errors?: { field: string; code: string }[] };
      expect({ url, outcome: res.status === 200 ? 200 : body.errors?.map((e) => `${e.field}:${e.code}`).join() }).toEqual({
        url,
        outcome: typeof expected === "number" ? expected : `url:${expected}`,
      });
    }
  });

  it("refuses to start with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, naming the setting", async () => {
    const started = startService({ role: "api", env: { ...liveEnv, WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true" } });
    await expect(started).rejects.toThrow(/WEBHOOK_ALLOW_PRIVATE_NETWORKS must not be true when NODE_ENV=production/);
  });
});
