import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createPaystreamClient, type PaymentRequest, type PaystreamClient } from "../../clients/typescript";
import { CARDS, EXPECTED, paymentBody, waitForFinal } from "../support/payments";
import { runProgram, type ServiceProcess, startService } from "../support/service-process";

/** The typed client of clients/typescript, generated from the API document, is how these tests talk to the API. */
describe("the real program over HTTP (embedded defaults: PGlite + postgres queue + simulator)", () => {
  let service: ServiceProcess;
  let api: PaystreamClient;
  const create = (body: PaymentRequest, idempotencyKey?: string, client = api) =>
    client.POST("/v1/payments", { body, params: { header: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} } });

  beforeAll(async () => {
    service = await startService({
      role: "all",
      env: {
        DATABASE_URL: "pglite://memory",
        API_KEYS: "local:sk_test_local,other:sk_test_other_merchant",
        RATE_LIMIT_RPS: "0",
      },
    });
    api = createPaystreamClient({ baseUrl: service.url, apiKey: "sk_test_local" });
  });
  afterAll(async () => {
    await service.stop();
  });

  it("answers 202 PENDING with a Location header, without waiting for the gateway", async () => {
    const { data: payment, response } = await create(paymentBody(CARDS.visa));
    expect(response.status).toBe(202);
    if (!payment) throw new Error("no payment");
    expect(payment.status).toBe("PENDING");
    expect(response.headers.get("location")).toBe(`/v1/payments/${payment.id}`);
    expect(payment.id).toMatch(/^pay_[0-9a-z]{26}$/);
    expect(payment.card).toEqual({ brand: "visa", last4: "4242", expMonth: 12, expYear: 2030, fingerprint: expect.any(String) });
    expect(payment.amount).toBe(1999);
    expect(payment.currency).toBe("USD");
    expect(payment.completedAt).toBeNull();
    expect(JSON.stringify(payment)).not.toContain(CARDS.visa);
    expect(JSON.stringify(payment)).not.toContain('"123"');
  });

  it("takes every simulator test card to its contract outcome", async () => {
    const ids = new Map<string, string>();
    for (const card of Object.keys(EXPECTED)) {
      const { data, response } = await create(paymentBody(card));
      expect(response.status).toBe(202);
      ids.set(data!.id, card);
    }
    const final = await waitForFinal(service.url, [...ids.keys()], { timeoutMs: 30_000 });
    for (const [id, card] of ids) {
      const view = final.get(id);
      expect({ card, status: view?.status, failureCode: view?.failureCode }).toEqual({ card, ...EXPECTED[card]! });
    }
    const retried = [...ids].find(([, card]) => card === CARDS.processingError)![0];
    expect(final.get(retried)?.attempts).toBe(5);
  });

  it("answers 422 with every invalid field at once, as problem+json", async () => {
    const { error: problem, response } = await create({
      amount: 0,
      currency: "XYZ",
      card: { number: "4242 4242 4242 4241", expMonth: 13, expYear: 2030, cvc: "12" },
      customer: { email: "not-an-email", name: "" },
    });
    expect(response.status).toBe(422);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    if (!problem) throw new Error("no problem");
    expect(problem.type).toBe("/errors/validation");
    expect(problem.status).toBe(422);
    const fields = (problem.errors ?? []).map((e) => `${e.field}:${e.code}`).sort();
    expect(fields).toEqual(
      [
        "amount:amount_too_small",
        "currency:currency_unsupported",
        "card.number:luhn_check_failed",
        "card.expMonth:invalid_exp_month",
        "card.cvc:invalid_cvc",
        "customer.email:invalid_email",
        "customer.name:invalid_length",
      ].sort(),
    );
    // Not even the last digits of the refused number (the random request id aside, which may hold any digits).
    const { requestId, ...rest } = problem as typeof problem & { requestId?: string };
    expect(requestId).toMatch(/^req_[0-9a-f]{32}$/);
    expect(JSON.stringify(rest)).not.toContain("4241");
    expect(JSON.stringify(problem)).not.toContain("4242424242424241");
  });

  it("answers 400 to malformed JSON and to a wrong content type", async () => {
    const bad = await fetch(`${service.url}/v1/payments`, {
      method: "POST",
      headers: { authorization: "Bearer sk_test_local", "content-type": "application/json" },
      body: '{"amount": 12,',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("malformed_request");
    const form = await fetch(`${service.url}/v1/payments`, {
      method: "POST",
      headers: { authorization: "Bearer sk_test_local", "content-type": "application/x-www-form-urlencoded" },
      body: "amount=12",
    });
    expect(form.status).toBe(400);
  });

  it("answers 413 to a body over 64 KiB", async () => {
    const { error, response } = await create(paymentBody(CARDS.visa, { description: "x".repeat(70 * 1024) }));
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(error?.code).toBe("payload_too_large");
  });

  it("answers 401 without a key or with an unknown one", async () => {
    expect((await fetch(`${service.url}/v1/payments`)).status).toBe(401);
    const stranger = createPaystreamClient({ baseUrl: service.url, apiKey: "sk_wrong_key_123" });
    expect((await stranger.GET("/v1/payments")).response.status).toBe(401);
    const { error, response } = await create(paymentBody(), undefined, stranger);
    expect(response.status).toBe(401);
    expect(error?.code).toBe("unauthorized");
  });

  it("answers 404 for an unknown id and for another merchant's payment, never 403", async () => {
    const { data: created } = await create(paymentBody());
    const unknown = await api.GET("/v1/payments/{id}", { params: { path: { id: "pay_00000000000000000000000000" } } });
    expect(unknown.response.status).toBe(404);
    expect(unknown.error?.code).toBe("not_found");
    const other = createPaystreamClient({ baseUrl: service.url, apiKey: "sk_test_other_merchant" });
    expect((await other.GET("/v1/payments/{id}", { params: { path: { id: created!.id } } })).response.status).toBe(404);
    const { data: list } = await other.GET("/v1/payments");
    expect(list!.data.map((p) => p.id)).not.toContain(created!.id);
  });

  it("Idempotency-Key: same body → same payment and status; different body → 409", async () => {
    const key = `order-${Date.now()}`;
    const first = await create(paymentBody(), key);
    const second = await create(paymentBody(), key);
    expect(first.response.status).toBe(202);
    expect(second.response.status).toBe(202);
    expect(second.response.headers.get("idempotent-replayed")).toBe("true");
    expect(second.data!.id).toBe(first.data!.id);
    const conflict = await create(paymentBody(CARDS.visa, { amount: 1 }), key);
    expect(conflict.response.status).toBe(409);
    expect(conflict.error?.code).toBe("idempotency_key_reused");
    // The same key from another merchant is that merchant's own key.
    const other = createPaystreamClient({ baseUrl: service.url, apiKey: "sk_test_other_merchant" });
    expect((await create(paymentBody(), key, other)).response.status).toBe(202);
  });

  it("lists newest first with cursor pagination and a status filter", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create(paymentBody())).data!.id);
    const { data: page1 } = await api.GET("/v1/payments", { params: { query: { limit: 2 } } });
    expect(page1!.data.map((p) => p.id)).toEqual([ids[4]!, ids[3]!]);
    expect(page1!.hasMore).toBe(true);
    const { data: page2 } = await api.GET("/v1/payments", { params: { query: { limit: 2, startingAfter: ids[3] } } });
    expect(page2!.data.map((p) => p.id)).toEqual([ids[2]!, ids[1]!]);
    await waitForFinal(service.url, ids);
    const { data: completed } = await api.GET("/v1/payments", { params: { query: { status: "COMPLETED", limit: 100 } } });
    expect(completed!.data.length).toBeGreaterThanOrEqual(5);
    expect(completed!.data.every((p) => p.status === "COMPLETED")).toBe(true);
    expect((await api.GET("/v1/payments", { params: { query: { limit: 0 } } })).response.status).toBe(422);
    const done = await api.GET("/v1/payments", { params: { query: { status: "DONE" } } });
    expect(done.response.status).toBe(422);
    expect(done.error?.errors?.map((e) => e.field)).toEqual(["status"]);
  });

  it("refunds a completed payment in parts up to what was captured, and lists the refunds newest first", async () => {
    const { data: created } = await create(paymentBody(CARDS.visa));
    const final = await waitForFinal(service.url, [created!.id]);
    expect(final.get(created!.id)?.status).toBe("COMPLETED");
    const path = { params: { path: { id: created!.id } } };
    const first = await api.POST("/v1/payments/{id}/refunds", { ...path, body: { amount: 999, reason: "requested_by_customer" } });
    expect(first.response.status).toBe(202);
    expect(first.data).toMatchObject({ amount: 999, currency: "USD", status: "PENDING", paymentId: created!.id });
    const rest = await api.POST("/v1/payments/{id}/refunds", path);
    expect(rest.data?.amount).toBe(1000);
    const more = await api.POST("/v1/payments/{id}/refunds", { ...path, body: { amount: 1 } });
    expect(more.response.status).toBe(409);
    expect(more.error?.code).toBe("refund_exceeds_captured");
    const { data: list } = await api.GET("/v1/payments/{id}/refunds", path);
    expect(list?.data.map((r) => r.id)).toEqual([rest.data!.id, first.data!.id]);
    expect((await api.GET("/v1/payments/{id}", path)).data).toMatchObject({ amountCaptured: 1999, amountRefunded: 1999 });
    // A completed payment can no longer be captured or canceled.
    expect((await api.POST("/v1/payments/{id}/capture", path)).error?.code).toBe("invalid_state");
    expect((await api.POST("/v1/payments/{id}/cancel", path)).error?.code).toBe("invalid_state");
  });

  it("takes capture: false as an authorization to capture later (captureMethod manual)", async () => {
    const { data, response } = await create({ ...paymentBody(CARDS.visa), capture: false });
    expect(response.status).toBe(202);
    expect(data).toMatchObject({ status: "PENDING", captureMethod: "manual", amountCaptured: 0 });
    const invalid = await create({ ...paymentBody(CARDS.visa), capture: "no" as never });
    expect(invalid.error?.errors).toEqual([{ field: "capture", code: "invalid_type", message: "must be a boolean" }]);
  });

  it("serves health, metrics, Swagger UI and an OpenAPI document of the payments API", async () => {
    expect((await api.GET("/health/live")).data).toEqual({ status: "ok" });
    expect((await api.GET("/health/ready")).data).toEqual({ status: "ready" });
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toContain("paystream_payments_created_total");
    expect(metrics).not.toContain(CARDS.visa);
    const ui = await fetch(`${service.url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain("swagger");
    const spec = (await (await fetch(`${service.url}/docs/json`)).json()) as { openapi: string; paths: Record<string, any> };
    expect(spec.openapi).toBe("3.1.0");
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        "/v1/payments",
        "/v1/payments/{id}",
        "/v1/payments/{id}/capture",
        "/v1/payments/{id}/cancel",
        "/v1/payments/{id}/refunds",
        "/v1/refunds/{id}",
      ]),
    );
    expect(spec.paths["/v1/payments"].post.requestBody.content["application/json"].example.amount).toBe(1999);
    expect(spec.paths["/v1/payments"].post.responses["202"]).toBeDefined();
  });

  it("never writes a card number or CVC to its logs", () => {
    const logs = service.output();
    for (const card of Object.values(CARDS)) expect(logs).not.toContain(card);
    expect(logs).not.toMatch(/"cvc":"\d{3,4}"/);
  });
});

describe("the command line", () => {
  it("exits non-zero at once with one line naming a bad setting", async () => {
    const result = await runProgram(["--role=all"], { PORT: "99999" });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("PORT");
  });

  it("rejects an unknown role and an unknown flag", async () => {
    const role = await runProgram(["--role=admin"]);
    expect(role.code).not.toBe(0);
    expect(role.stderr).toContain('unknown role "admin"');
    const flag = await runProgram(["--fast"]);
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toContain('unknown argument "--fast"');
  });

  it("migrate applies the migrations and exits 0", async () => {
    const result = await runProgram(["migrate"], { DATABASE_URL: "pglite://memory", LOG_LEVEL: "info" });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("migrations applied");
  });
});
