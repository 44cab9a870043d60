import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import postgres from "postgres";
import { createPaystreamClient, type PaystreamClient } from "../../clients/typescript";
import { createPostgresDatabase } from "../support/db";
import { CARDS, paymentBody } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

/**
 * Captures, cancels and refunds over HTTP (docs/CONTRACT.md §8), against the real program in the api role
 * on PostgreSQL. With no worker running, a payment stays where the API put it; the states only a
 * worker reaches (AUTHORIZED, COMPLETED, FAILED) are set in the database, as the worker's guarded
 * updates would leave them. What the worker then does with a capture, void or refund is its own
 * tests' business: these pin the API's answers and what it writes.
 */

const KEY = "sk_test_local";
const OTHER_KEY = "sk_test_other_merchant";
const UNKNOWN_PAYMENT = "pay_00000000000000000000000000";

interface Problem {
  status: number;
  code: string;
  detail: string;
  title: string;
  errors?: { field: string; code: string; message: string }[];
}

describe("captures, cancels and refunds over HTTP (the api role on PostgreSQL)", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let service: ServiceProcess;
  let sql: postgres.Sql;
  let api: PaystreamClient;
  let other: PaystreamClient;

  /** A raw request, for bodies and headers the typed client will not send. */
  const call = (method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; key?: string } = {}) =>
    fetch(`${service.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.key ?? KEY}`,
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  const problemOf = async (response: Response, status: number): Promise<Problem> => {
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toStartWith("application/problem+json");
    return (await response.json()) as Problem;
  };

  const create = async (overrides: Record<string, unknown> = {}) => {
    const { data, response } = await api.POST("/v1/payments", { body: paymentBody(CARDS.visa, overrides) as never });
    expect(response.status).toBe(202);
    return data!;
  };
  /** Where the worker leaves an authorization: AUTHORIZED, with its expiry. */
  const authorized = async (amount = 1999) => {
    const payment = await create({ capture: false, amount });
    await sql`update payments set status = 'AUTHORIZED', attempts = 1, authorization_expires_at = now() + interval '7 days', updated_at = now() where id = ${payment.id}`;
    return payment.id;
  };
  /** Where the worker leaves a charge (or a capture of `captured`): COMPLETED. */
  const completed = async (amount = 1999, captured = amount) => {
    const payment = await create({ amount });
    await sql`update payments set status = 'COMPLETED', attempts = 1, amount_captured = ${captured}, completed_at = now(), updated_at = now() where id = ${payment.id}`;
    return payment.id;
  };
  const failed = async () => {
    const payment = await create();
    await sql`update payments set status = 'FAILED', attempts = 1, failure_code = 'card_declined', completed_at = now(), updated_at = now() where id = ${payment.id}`;
    return payment.id;
  };
  const row = async (id: string) => {
    const [payment] = await sql`select status, operation, capture_amount, cancellation_reason, amount_refunded from payments where id = ${id}`;
    return payment!;
  };
  const messagesFor = async (id: string) => (await sql`select payload from outbox where payment_id = ${id}`).map((m) => m.payload as Record<string, string>);

  const capture = (id: string, body?: { amount?: number }, client = api) =>
    client.POST("/v1/payments/{id}/capture", { params: { path: { id } }, ...(body ? { body } : {}) });
  const cancel = (id: string, body?: { reason?: "duplicate" | "fraudulent" | "requested_by_customer" | "abandoned" }, client = api) =>
    client.POST("/v1/payments/{id}/cancel", { params: { path: { id } }, ...(body ? { body } : {}) });
  const refund = (id: string, body?: { amount?: number; reason?: "duplicate" | "fraudulent" | "requested_by_customer"; metadata?: Record<string, string> }, key?: string, client = api) =>
    client.POST("/v1/payments/{id}/refunds", {
      params: { path: { id }, header: key ? { "Idempotency-Key": key } : {} },
      ...(body ? { body } : {}),
    });

  beforeAll(async () => {
    database = await createPostgresDatabase();
    service = await startService({
      role: "api",
      env: {
        DATABASE_URL: database.url,
        API_KEYS: `local:${KEY},other:${OTHER_KEY}`,
        RATE_LIMIT_RPS: "0",
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
        DB_POOL_SIZE: "30",
      },
    });
    sql = postgres(database.url, { max: 4, onnotice: () => {} });
    api = createPaystreamClient({ baseUrl: service.url, apiKey: KEY });
    other = createPaystreamClient({ baseUrl: service.url, apiKey: OTHER_KEY });
  }, 60_000);
  afterAll(async () => {
    await sql?.end();
    await service?.stop();
    await database?.drop();
  }, 30_000);

  describe("POST /v1/payments with capture", () => {
    it("creates an authorize-only payment with capture: false, and an automatic charge by default", async () => {
      const manual = await create({ capture: false });
      expect(manual).toMatchObject({ status: "PENDING", captureMethod: "manual", amountCaptured: 0, amountRefunded: 0 });
      expect((await row(manual.id)).operation).toBe("authorize");
      for (const capture of [undefined, true, null]) {
        const automatic = await create(capture === undefined ? {} : { capture });
        expect(automatic.captureMethod).toBe("automatic");
        expect((await row(automatic.id)).operation).toBe("charge");
      }
    });

    it("answers 422 to a capture flag that is not a boolean, with the other invalid fields", async () => {
      const problem = await problemOf(await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa, { capture: "false", amount: 0 }) }), 422);
      expect(problem.errors?.map((e) => `${e.field}:${e.code}`).sort()).toEqual(["amount:amount_too_small", "capture:invalid_type"]);
    });

    it("holds an Idempotency-Key to the capture flag too: the same body with another flag is 409", async () => {
      const key = `capture-flag-${Date.now()}`;
      expect((await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa, { capture: false }), headers: { "idempotency-key": key } })).status).toBe(202);
      expect((await problemOf(await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa), headers: { "idempotency-key": key } }), 409)).code).toBe(
        "idempotency_key_reused",
      );
    });
  });

  describe("POST /v1/payments/{id}/capture", () => {
    it("captures part of an AUTHORIZED payment: 202 PROCESSING with Location, the capture amount and the worker's message written", async () => {
      const id = await authorized();
      const { data, response } = await capture(id, { amount: 1500 });
      expect(response.status).toBe(202);
      expect(response.headers.get("location")).toBe(`/v1/payments/${id}`);
      expect(data).toMatchObject({ id, status: "PROCESSING", captureMethod: "manual", amountCaptured: 0, authorizationExpiresAt: null });
      expect(await row(id)).toMatchObject({ status: "PROCESSING", operation: "capture", capture_amount: 1500 });
      expect(await messagesFor(id)).toHaveLength(2);
      expect((await api.GET("/v1/payments/{id}", { params: { path: { id } } })).data?.status).toBe("PROCESSING");
    });

    it("captures the whole authorization when no amount (or no body at all) is sent", async () => {
      for (const body of [undefined, {}]) {
        const id = await authorized(2500);
        expect((await capture(id, body)).response.status).toBe(202);
        expect(await row(id)).toMatchObject({ operation: "capture", capture_amount: 2500 });
      }
      const id = await authorized(2500);
      expect((await call("POST", `/v1/payments/${id}/capture`, { body: { amount: null } })).status).toBe(202);
    });

    it("answers 409 invalid_state, naming the status, to a capture of a payment that is not AUTHORIZED", async () => {
      const capturing = await authorized();
      expect((await capture(capturing)).response.status).toBe(202);
      const cases: [string, string][] = [
        [(await create({ capture: false })).id, "PENDING"],
        [capturing, "PROCESSING"],
        [await completed(), "COMPLETED"],
        [await failed(), "FAILED"],
      ];
      for (const [id, status] of cases) {
        const { error, response } = await capture(id, { amount: 100 });
        expect(response.status).toBe(409);
        expect(error).toMatchObject({ code: "invalid_state", detail: `Payment ${id} is ${status}: only an AUTHORIZED payment can be captured` });
      }
      expect(await messagesFor(capturing)).toHaveLength(2);
    });

    it("answers 422 to amounts that are not integers from 1 to the authorized amount and to unknown fields, moving nothing", async () => {
      const id = await authorized(1999);
      const cases: [unknown, string[]][] = [
        [{ amount: 2000 }, ["amount:amount_exceeds_authorized"]],
        [{ amount: 0 }, ["amount:amount_too_small"]],
        [{ amount: -5 }, ["amount:amount_too_small"]],
        [{ amount: 10.5 }, ["amount:amount_not_integer"]],
        [{ amount: "500" }, ["amount:invalid_type"]],
        [{ amount: 1e12 }, ["amount:amount_too_large"]],
        [{ amount: 500, currency: "USD" }, ["currency:unknown_field"]],
        [[500], [":invalid_type"]],
        ["500", [":invalid_type"]],
      ];
      for (const [body, fields] of cases) {
        const problem = await problemOf(await call("POST", `/v1/payments/${id}/capture`, { body }), 422);
        expect({ body, fields: problem.errors?.map((e) => `${e.field}:${e.code}`) }).toEqual({ body, fields });
      }
      expect((await row(id)).status).toBe("AUTHORIZED");
    });

    it("answers 400 to a body that is not JSON, and 404 as GET does for unknown, malformed and other merchants' ids", async () => {
      const id = await authorized();
      expect((await problemOf(await call("POST", `/v1/payments/${id}/capture`, { headers: { "content-type": "text/plain" }, body: "x" }), 400)).code).toBe(
        "unsupported_media_type",
      );
      expect((await problemOf(await fetch(`${service.url}/v1/payments/${id}/capture`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: "{" }), 400)).code).toBe(
        "malformed_request",
      );
      for (const path of [`/v1/payments/${UNKNOWN_PAYMENT}`, "/v1/payments/re_00000000000000000000000000", "/v1/payments/x"]) {
        const expected = await problemOf(await call("GET", path), 404);
        for (const action of ["capture", "cancel"]) expect(await problemOf(await call("POST", `${path}/${action}`), 404)).toEqual({ ...expected, requestId: expect.any(String) } as never);
      }
      expect((await capture(id, undefined, other)).response.status).toBe(404);
      expect((await cancel(id, undefined, other)).response.status).toBe(404);
      expect((await row(id)).status).toBe("AUTHORIZED");
    });

    it("replays a retried capture with the same Idempotency-Key after the payment moved on: 202 with Idempotent-Replayed, one capture moved", async () => {
      const id = await authorized();
      const key = `capture-retry-${Date.now()}`;
      const keyed = (paymentId: string, body: { amount: number }) =>
        api.POST("/v1/payments/{id}/capture", { params: { path: { id: paymentId }, header: { "Idempotency-Key": key } }, body });
      const first = await keyed(id, { amount: 1500 });
      expect(first.response.status).toBe(202);
      expect(first.response.headers.get("idempotent-replayed")).toBeNull();
      await sql`update payments set status = 'COMPLETED', amount_captured = 1500, completed_at = now(), updated_at = now() where id = ${id}`;

      const again = await keyed(id, { amount: 1500 });
      expect(again.response.status).toBe(202);
      expect(again.response.headers.get("idempotent-replayed")).toBe("true");
      expect(again.response.headers.get("location")).toBe(`/v1/payments/${id}`);
      expect(again.data?.id).toBe(id);
      expect((await keyed(id, { amount: 1000 })).error).toMatchObject({ status: 409, code: "idempotency_key_reused" });
      expect((await keyed(await authorized(), { amount: 1500 })).error).toMatchObject({ status: 409, code: "idempotency_key_reused" });
      expect(await messagesFor(id)).toHaveLength(2);
      // A key the contract refuses is 422 before anything is read or moved.
      const badKey = await call("POST", `/v1/payments/${id}/cancel`, { headers: { "idempotency-key": "x".repeat(256) } });
      expect((await problemOf(badKey, 422)).errors?.map((e) => e.field)).toEqual(["Idempotency-Key"]);
    });
  });

  describe("POST /v1/payments/{id}/cancel", () => {
    it("cancels a PENDING payment at once: CANCELED with its reason, its card deleted, its payment.canceled event recorded", async () => {
      expect((await call("PUT", "/v1/webhook-endpoint", { body: { url: "http://127.0.0.1:9/hooks" } })).status).toBe(200);
      const payment = await create();
      expect((await sql`select count(*)::int as n from card_secrets where payment_id = ${payment.id}`)[0]!.n).toBe(1);
      const { data, response } = await cancel(payment.id, { reason: "requested_by_customer" });
      expect(response.status).toBe(202);
      expect(response.headers.get("location")).toBe(`/v1/payments/${payment.id}`);
      expect(data).toMatchObject({ status: "CANCELED", cancellationReason: "requested_by_customer", canceledAt: expect.any(String), completedAt: expect.any(String) });
      expect((await sql`select count(*)::int as n from card_secrets where payment_id = ${payment.id}`)[0]!.n).toBe(0);
      const events = await api.GET("/v1/webhook-events", { params: { query: { paymentId: payment.id } } });
      expect(events.data?.data.map((e) => e.type)).toEqual(["payment.canceled"]);
      expect((await cancel(payment.id)).error).toMatchObject({ code: "invalid_state", detail: `Payment ${payment.id} is CANCELED: only a PENDING or an AUTHORIZED payment can be canceled` });
      expect((await capture(payment.id)).response.status).toBe(409);
      expect((await api.DELETE("/v1/webhook-endpoint")).response.status).toBe(204);
      expect(await (await fetch(`${service.url}/metrics`)).text()).toMatch(/paystream_payments_final_total\{status="CANCELED",failure_code=""\} [1-9]/);
    });

    it("hands an AUTHORIZED payment to the worker to be voided: 202 PROCESSING, operation void, with or without a reason", async () => {
      for (const reason of [undefined, "fraudulent"] as const) {
        const id = await authorized();
        const { data, response } = await cancel(id, reason ? { reason } : undefined);
        expect(response.status).toBe(202);
        expect(data).toMatchObject({ status: "PROCESSING", canceledAt: null });
        expect(await row(id)).toMatchObject({ status: "PROCESSING", operation: "void", cancellation_reason: reason ?? null });
        expect(await messagesFor(id)).toHaveLength(2);
        expect((await capture(id)).response.status).toBe(409);
      }
    });

    it("answers 409 to a cancel of a PROCESSING, COMPLETED or FAILED payment, and 422 to a reason that is not a merchant's", async () => {
      const voiding = await authorized();
      expect((await cancel(voiding)).response.status).toBe(202);
      for (const [id, status] of [[voiding, "PROCESSING"], [await completed(), "COMPLETED"], [await failed(), "FAILED"]] as const) {
        const problem = await problemOf(await call("POST", `/v1/payments/${id}/cancel`), 409);
        expect(problem).toMatchObject({ code: "invalid_state", detail: expect.stringContaining(` is ${status}:`) });
      }
      const pending = await create();
      for (const body of [{ reason: "expired" }, { reason: "DUPLICATE" }, { reason: 1 }, { why: "duplicate" }]) {
        const problem = await problemOf(await call("POST", `/v1/payments/${pending.id}/cancel`, { body }), 422);
        expect(problem.errors).toHaveLength(1);
      }
      expect((await row(pending.id)).status).toBe("PENDING");
    });

    it("answers 202 CANCELED or 409, never a 5xx, when a worker claims the PENDING payment at the same moment, and agrees with the database", async () => {
      const ids = await Promise.all(Array.from({ length: 30 }, async () => (await create()).id));
      const outcomes = await Promise.all(
        ids.map(async (id) => {
          const [answer, claimed] = await Promise.all([
            call("POST", `/v1/payments/${id}/cancel`),
            // A worker's claim: PENDING → PROCESSING, guarded as the status machine guards it.
            sql`update payments set status = 'PROCESSING', attempts = attempts + 1, lease_expires_at = now() + interval '1 minute' where id = ${id} and status = 'PENDING' returning id`,
          ]);
          const body = (await answer.json()) as { status?: string; code?: string };
          return { id, http: answer.status, body, claimed: claimed.length === 1, stored: (await row(id)).status };
        }),
      );
      for (const outcome of outcomes) {
        if (outcome.http === 202) expect(outcome).toMatchObject({ body: { status: "CANCELED" }, claimed: false, stored: "CANCELED" });
        else expect(outcome).toMatchObject({ http: 409, body: { code: "invalid_state" }, claimed: true, stored: "PROCESSING" });
      }
    });
  });

  describe("refunds", () => {
    it("refunds a COMPLETED payment: 202 PENDING refund with Location, readable by id and in the payment's list, its amount reserved", async () => {
      const id = await completed(1999);
      const { data: created, response } = await refund(id, { amount: 500, reason: "requested_by_customer", metadata: { ticket: "T-1" } });
      expect(response.status).toBe(202);
      expect(created).toMatchObject({ paymentId: id, amount: 500, currency: "USD", status: "PENDING", reason: "requested_by_customer", metadata: { ticket: "T-1" } });
      expect(created!.id).toMatch(/^re_[0-9a-z]{26}$/);
      expect(response.headers.get("location")).toBe(`/v1/refunds/${created!.id}`);
      expect((await api.GET("/v1/refunds/{id}", { params: { path: { id: created!.id } } })).data).toEqual(created!);
      expect((await api.GET("/v1/payments/{id}/refunds", { params: { path: { id } } })).data).toEqual({ data: [created!], hasMore: false });
      expect((await api.GET("/v1/payments/{id}", { params: { path: { id } } })).data).toMatchObject({ amountCaptured: 1999, amountRefunded: 500 });
      expect((await messagesFor(id)).filter((m) => m.refundId === created!.id)).toHaveLength(1);
    });

    it("refunds everything still refundable when no amount (or no body) is sent; then 409 refund_exceeds_captured says nothing is left", async () => {
      const id = await completed(1999, 1500);
      expect((await refund(id, { amount: 1600 })).error).toMatchObject({
        code: "refund_exceeds_captured",
        detail: expect.stringContaining("1500 (minor units) of the captured amount are still refundable"),
      });
      expect((await refund(id, { amount: 400 })).response.status).toBe(202);
      const rest = await refund(id);
      expect(rest.data?.amount).toBe(1100);
      const none = await refund(id);
      expect(none.response.status).toBe(409);
      expect(none.error).toMatchObject({ code: "refund_exceeds_captured", detail: expect.stringContaining(" 0 (minor units)") });
    });

    it("answers 409 invalid_state to refunds of payments that are not COMPLETED", async () => {
      const voiding = await authorized();
      await cancel(voiding);
      const canceled = (await create()).id;
      await cancel(canceled);
      for (const [id, status] of [[(await create()).id, "PENDING"], [await authorized(), "AUTHORIZED"], [voiding, "PROCESSING"], [await failed(), "FAILED"], [canceled, "CANCELED"]] as const) {
        const { error, response } = await refund(id, { amount: 100 });
        expect(response.status).toBe(409);
        expect(error).toMatchObject({ code: "invalid_state", detail: `Payment ${id} is ${status}: only a COMPLETED payment can be refunded` });
      }
    });

    it("answers 422 naming every invalid field at once, creating nothing", async () => {
      const id = await completed();
      const body = { amount: 0, reason: "bored", metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"])), note: "x" };
      const problem = await problemOf(await call("POST", `/v1/payments/${id}/refunds`, { body }), 422);
      expect(problem.title).toBe("Invalid refund request");
      expect(problem.errors?.map((e) => `${e.field}:${e.code}`).sort()).toEqual(["amount:amount_too_small", "metadata:too_many_keys", "note:unknown_field", "reason:invalid_value"]);
      for (const bad of [{ amount: 1.5 }, { metadata: { k: 1 } }, { metadata: { "": "v" } }, { reason: null, amount: "1" }, [], null]) {
        expect((await call("POST", `/v1/payments/${id}/refunds`, { body: bad })).status).toBe(422);
      }
      expect((await api.GET("/v1/payments/{id}/refunds", { params: { path: { id } } })).data?.data).toEqual([]);
    });

    it("Idempotency-Key: the same key and body answer the same refund and create nothing; another body or payment is 409", async () => {
      const id = await completed();
      const key = `refund-${Date.now()}`;
      const first = await refund(id, { amount: 300 }, key);
      const again = await refund(id, { amount: 300 }, key);
      expect([first.response.status, again.response.status]).toEqual([202, 202]);
      expect(again.response.headers.get("idempotent-replayed")).toBe("true");
      expect(again.data?.id).toBe(first.data!.id);
      expect((await refund(id, { amount: 301 }, key)).error?.code).toBe("idempotency_key_reused");
      expect((await refund(await completed(), { amount: 300 }, key)).error?.code).toBe("idempotency_key_reused");
      expect((await api.GET("/v1/payments/{id}/refunds", { params: { path: { id } } })).data?.data.map((r) => r.id)).toEqual([first.data!.id]);
      // Keys are the merchant's own: another merchant's same key refunds (a payment of its own) afresh.
      const theirs = (await other.POST("/v1/payments", { body: paymentBody() as never })).data!.id;
      await sql`update payments set status = 'COMPLETED', attempts = 1, amount_captured = amount, completed_at = now() where id = ${theirs}`;
      expect((await refund(theirs, { amount: 300 }, key, other)).response.headers.get("idempotent-replayed")).toBeNull();
    });

    it("keeps refund keys and payment keys apart: one key names a payment on one route and a refund on the other", async () => {
      const key = `shared-${Date.now()}`;
      const payment = await call("POST", "/v1/payments", { body: paymentBody(), headers: { "idempotency-key": key } });
      expect(payment.status).toBe(202);
      const paymentId = ((await payment.json()) as { id: string }).id;
      const id = await completed();
      const created = await refund(id, { amount: 100 }, key);
      expect(created.response.status).toBe(202);
      expect(created.response.headers.get("idempotent-replayed")).toBeNull();
      const replayedPayment = await call("POST", "/v1/payments", { body: paymentBody(), headers: { "idempotency-key": key } });
      expect(replayedPayment.headers.get("idempotent-replayed")).toBe("true");
      expect(((await replayedPayment.json()) as { id: string }).id).toBe(paymentId);
      expect((await refund(id, { amount: 100 }, key)).data?.id).toBe(created.data!.id);
    });

    it("creates one refund for 20 concurrent requests with one key, answering each with it", async () => {
      const id = await completed();
      const key = `concurrent-${Date.now()}`;
      const answers = await Promise.all(Array.from({ length: 20 }, () => refund(id, { amount: 700 }, key)));
      expect(answers.map((a) => a.response.status)).toEqual(Array(20).fill(202));
      expect(new Set(answers.map((a) => a.data?.id)).size).toBe(1);
      expect((await row(id)).amount_refunded).toBe(700);
    });

    it("never refunds more than was captured under 50 concurrent requests: what is created fits, the rest is 409 refund_exceeds_captured, no 5xx", async () => {
      const id = await completed(1999);
      const answers = await Promise.all(Array.from({ length: 50 }, () => call("POST", `/v1/payments/${id}/refunds`, { body: { amount: 100 } })));
      const statuses = answers.map((a) => a.status);
      const bodies = (await Promise.all(answers.map((a) => a.json()))) as { amount?: number; code?: string }[];
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect(statuses.filter((s) => s === 202)).toHaveLength(19);
      expect(bodies.filter((b) => b.code === "refund_exceeds_captured")).toHaveLength(31);
      const [sum] = await sql`select coalesce(sum(amount), 0)::int as total, count(*)::int as n from refunds where payment_id = ${id}`;
      expect(sum).toEqual({ total: 1900, n: 19 });
      expect((await row(id)).amount_refunded).toBe(1900);
    });

    it("lists a payment's refunds newest first with cursor paging; invalid limits and cursors are 422", async () => {
      const id = await completed();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await refund(id, { amount: 10 })).data!.id);
      const page1 = await api.GET("/v1/payments/{id}/refunds", { params: { path: { id }, query: { limit: 2 } } });
      expect(page1.data?.data.map((r) => r.id)).toEqual([ids[2]!, ids[1]!]);
      expect(page1.data?.hasMore).toBe(true);
      const page2 = await api.GET("/v1/payments/{id}/refunds", { params: { path: { id }, query: { limit: 2, startingAfter: ids[1] } } });
      expect(page2.data).toEqual({ data: [expect.objectContaining({ id: ids[0] })], hasMore: false });
      for (const query of ["limit=0", "limit=101", `startingAfter=${id}`, "status=PENDING"]) {
        expect((await problemOf(await call("GET", `/v1/payments/${id}/refunds?${query}`), 422)).code).toBe("validation");
      }
    });

    it("answers 404 as GET does for refunds of an unknown or another merchant's payment, and for a refund that is not the merchant's", async () => {
      const id = await completed();
      const created = (await refund(id, { amount: 10 })).data!;
      expect((await refund(id, { amount: 10 }, undefined, other)).error?.code).toBe("not_found");
      expect((await other.GET("/v1/payments/{id}/refunds", { params: { path: { id } } })).response.status).toBe(404);
      expect((await other.GET("/v1/refunds/{id}", { params: { path: { id: created.id } } })).response.status).toBe(404);
      expect((await refund(UNKNOWN_PAYMENT, { amount: 10 })).response.status).toBe(404);
      expect((await problemOf(await call("GET", "/v1/refunds/re_00000000000000000000000000"), 404)).detail).toBe("No refund re_00000000000000000000000000");
      expect((await problemOf(await call("GET", `/v1/refunds/${id}`), 404)).detail).toBe("No refund with this id");
      expect((await row(id)).amount_refunded).toBe(10);
    });
  });
});
