import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { verifyWebhookSignature } from "../../modules/webhooks";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { productionEnv, type ServiceProcess, startService, TEST_LIVE_KEY } from "../support/service-process";

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
    expect(await (await call("/v1/webhook-endpoint")).json()).toEqual({ url, createdAt: endpoint.createdAt });
    expect((await call("/v1/webhook-endpoint", { key: OTHER_KEY })).status).toBe(404);

    const spec = (await (await fetch(`${service.url}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(spec.paths["/v1/webhook-endpoint"] ?? {}).sort()).toEqual(["delete", "get", "put"]);
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

describe("webhook endpoints in production (NODE_ENV=production)", () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService({
      role: "api",
      env: { ...productionEnv(), DATABASE_URL: "pglite://memory" },
    });
  });
  afterAll(async () => {
    await service.stop();
  });

  it("refuses a loopback endpoint URL with 422", async () => {
    const res = await fetch(`${service.url}/v1/webhook-endpoint`, {
      method: "PUT",
      headers: { authorization: `Bearer ${TEST_LIVE_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ url: "http://127.0.0.1:8080/hooks" }),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: { field: string; code: string; message: string }[] }).errors).toEqual([
      { field: "url", code: "loopback_not_allowed", message: expect.any(String) },
    ]);
  });
});
