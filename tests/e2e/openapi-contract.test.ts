import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import type { Subprocess } from "bun";
import postgres from "postgres";
import { CLIENT_DIR, clientFiles } from "../../scripts/client";
import { createPostgresDatabase, cutDatabase, openAdmin, restoreDatabase } from "../support/db";
import { CARDS, paymentBody } from "../support/payments";
import { freePort, ROOT, type ServiceProcess, startService } from "../support/service-process";

/**
 * The contract test: the e2e flows run through Stoplight Prism in proxy mode, which checks every
 * request and response against /docs/json. Any response that breaks the document fails the test;
 * so does a request the server accepts that the document refuses, or one the server rejects for
 * its shape that the document allows.
 */

interface Violation {
  location: string[];
  code: string | number;
  message: string;
}

interface Document {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
}

const KEY = "sk_test_contract_0123456789abcdef";
const LIMITED_KEY = "sk_test_contract_limited_0123456789";

describe("the API answers as /docs/json says (Stoplight Prism validation proxy, the real program on PostgreSQL)", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let service: ServiceProcess;
  let prism: Subprocess;
  let prismUrl: string;
  let prismOutput = "";
  let document: Document;
  const receiver = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });

  beforeAll(async () => {
    database = await createPostgresDatabase();
    service = await startService({
      role: "all",
      env: {
        DATABASE_URL: database.url,
        API_KEYS: `contract:${KEY},limited:${LIMITED_KEY}`,
        RATE_LIMIT_RPS: "50",
        WEBHOOK_RETRY_BASE_MS: "100",
        // The receiver is a local server.
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
      },
    });
    document = (await (await fetch(`${service.url}/docs/json`)).json()) as Document;
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(document as object, "openapi.json");
    const port = await freePort();
    prismUrl = `http://127.0.0.1:${port}`;
    prism = Bun.spawn(
      [join(ROOT, "node_modules/.bin/prism"), "proxy", `${service.url}/docs/json`, service.url, "--host", "127.0.0.1", "--port", String(port)],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    void (async () => {
      for await (const chunk of prism.stdout as ReadableStream<Uint8Array>) prismOutput += new TextDecoder().decode(chunk);
    })();
    const deadline = Date.now() + 60_000;
    while (!(await fetch(`${prismUrl}/health/live`).then((r) => r.ok, () => false))) {
      if (prism.exitCode !== null || Date.now() > deadline) throw new Error(`prism did not start:\n${prismOutput}`);
      await Bun.sleep(200);
    }
  }, 120_000);

  afterAll(async () => {
    prism?.kill();
    await prism?.exited;
    await service?.stop();
    receiver.stop(true);
    await database?.drop();
  }, 30_000);

  /**
   * One request through Prism. The response must match the document; the request must match it
   * exactly when `requestConforms` (the server's own verdict on its shape) says so.
   */
  async function call(
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; headers?: Record<string, string>; key?: string | null; requestConforms?: boolean } = {},
  ): Promise<{ status: number; headers: Headers; json: any }> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key !== null) headers.authorization = `Bearer ${options.key ?? KEY}`;
    if (options.body !== undefined || options.raw !== undefined) headers["content-type"] ??= "application/json";
    const started = performance.now();
    const res = await fetch(`${prismUrl}${path}`, {
      method,
      headers,
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    const violations = JSON.parse(res.headers.get("sl-violations") ?? "[]") as Violation[];
    const text = await res.text();
    // An answer Prism made itself says why it could not forward (and how long it tried): keep that in the message.
    const fromPrism = res.headers.get("x-request-id") === null ? ` after ${Math.round(performance.now() - started)} ms, Prism said: ${text.slice(0, 500)}` : "";
    const where = `${method} ${path} → ${res.status}${fromPrism}`;
    expect({ where, responseViolations: violations.filter((v) => v.location[0] === "response") }).toEqual({ where, responseViolations: [] });
    const requestViolations = violations.filter((v) => v.location[0] === "request");
    if (options.requestConforms ?? true) expect({ where, requestViolations }).toEqual({ where, requestViolations: [] });
    else expect({ where, documentAllowedWhatServerRefused: requestViolations.length === 0 }).toEqual({ where, documentAllowedWhatServerRefused: false });
    // Prism answers by itself when it cannot forward; every answer here must come from the service.
    expect({ where, requestId: res.headers.get("x-request-id") !== null }).toEqual({ where, requestId: true });
    return { status: res.status, headers: res.headers, json: text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
  }

  /**
   * For what Prism will not forward (text that is not JSON, which it answers itself): the request
   * goes straight to the service and the answer is checked against the document with ajv.
   */
  async function callDirect(method: string, path: string, template: string, init: RequestInit) {
    const res = await fetch(`${service.url}${path}`, { method, ...init });
    const type = (res.headers.get("content-type") ?? "").split(";")[0]!;
    const response = document.paths[template]?.[method.toLowerCase()]?.responses[String(res.status)] as
      | { content?: Record<string, unknown>; headers?: Record<string, { required?: boolean }> }
      | undefined;
    const where = `${method} ${path} → ${res.status} ${type}`;
    expect({ where, documented: response?.content?.[type] !== undefined }).toEqual({ where, documented: true });
    const pointer = ["paths", template, method.toLowerCase(), "responses", String(res.status), "content", type, "schema"]
      .map((part) => part.replaceAll("~", "~0").replaceAll("/", "~1"))
      .join("/");
    const validate = ajv.getSchema(`openapi.json#/${pointer}`)!;
    const body = await res.json();
    expect({ where, body, errors: validate(body) ? [] : validate.errors }).toEqual({ where, body, errors: [] });
    for (const [name, header] of Object.entries(response?.headers ?? {}))
      if (header.required) expect({ where, name, present: res.headers.has(name) }).toEqual({ where, name, present: true });
    return { status: res.status, json: body };
  }
  let ajv: Ajv2020;

  /** Waits until no worker has anything left to do with the payment: final, or resting AUTHORIZED. */
  async function waitForFinal(id: string) {
    for (let i = 0; i < 200; i++) {
      const { json } = await call("GET", `/v1/payments/${id}`);
      if (json.status !== "PENDING" && json.status !== "PROCESSING") return json;
      await Bun.sleep(100);
    }
    throw new Error(`payment ${id} did not become final`);
  }

  it("serves a valid OpenAPI 3.1 document (independent validator)", async () => {
    expect(document.openapi).toBe("3.1.0");
    const result = await new Validator().validate(document as unknown as Parameters<Validator["validate"]>[0]);
    expect(result).toEqual({ valid: true });
  });

  it("is the document the committed TypeScript client was generated from (npm run client regenerates it)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paystream-client-"));
    try {
      for (const [name, text] of Object.entries(await clientFiles(document))) {
        writeFileSync(join(dir, name), text);
        const drift = readFileSync(join(dir, name), "utf8") !== readFileSync(join(CLIENT_DIR, name), "utf8");
        expect({ file: `clients/typescript/${name}`, drift }).toEqual({ file: `clients/typescript/${name}`, drift: false });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("create, idempotent replay and conflicting replay", async () => {
    const created = await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa), headers: { "idempotency-key": "contract-1" } });
    expect(created.status).toBe(202);
    expect(created.headers.get("location")).toBe(`/v1/payments/${created.json.id}`);
    const replay = await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa), headers: { "idempotency-key": "contract-1" } });
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.json.id).toBe(created.json.id);
    const conflict = await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa, { amount: 5 }), headers: { "idempotency-key": "contract-1" } });
    expect(conflict.status).toBe(409);
    // Nulls, lower-case currencies and whitespace the validator accepts, the document allows.
    const lenient = await call("POST", "/v1/payments", {
      body: { ...paymentBody(CARDS.amex), currency: "eur", description: null, metadata: null, customer: { email: " jane@example.com ", name: " Jane ", reference: null } },
    });
    expect(lenient.status).toBe(202);
    expect(lenient.json.currency).toBe("EUR");
  });

  it("validation errors: the document refuses what the server refuses", async () => {
    const bodies: unknown[] = [
      { amount: 0, currency: "XYZ", card: { number: "4242 4242 4242 4241", expMonth: 13, expYear: 2030, cvc: "12" }, customer: { email: "x", name: "" } },
      { ...paymentBody(), unexpected: true },
      { ...paymentBody(), card: { ...paymentBody().card, pin: "0000" } },
      { ...paymentBody(), metadata: { ["k".repeat(41)]: "v" } },
      { ...paymentBody(), amount: "1999" },
      [paymentBody()],
    ];
    for (const body of bodies) {
      const res = await call("POST", "/v1/payments", { body, requestConforms: false });
      expect(res.status).toBe(422);
      expect(res.json.errors.length).toBeGreaterThan(0);
    }
    const badKey = await call("POST", "/v1/payments", { body: paymentBody(), headers: { "idempotency-key": "k".repeat(256) }, requestConforms: false });
    expect(badKey.status).toBe(422);
  });

  it("malformed bodies, wrong content types, oversized bodies and missing keys answer problem+json as documented", async () => {
    const json = { authorization: `Bearer ${KEY}`, "content-type": "application/json" };
    expect((await callDirect("POST", "/v1/payments", "/v1/payments", { headers: json, body: '{"amount": 12,' })).status).toBe(400);
    expect((await callDirect("POST", "/v1/payments", "/v1/payments", { headers: json, body: "[".repeat(20) + "]".repeat(20) })).status).toBe(400);
    expect((await callDirect("PUT", "/v1/webhook-endpoint", "/v1/webhook-endpoint", { headers: json, body: "{" })).status).toBe(400);
    expect((await call("POST", "/v1/payments", { raw: "amount=12", headers: { "content-type": "text/plain" }, requestConforms: false })).status).toBe(400);
    expect((await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa, { description: "x".repeat(70 * 1024) }), requestConforms: false })).status).toBe(413);
    expect((await call("GET", "/v1/payments", { key: null, requestConforms: false })).status).toBe(401);
    expect((await call("GET", "/v1/payments", { key: "sk_unknown", requestConforms: true })).status).toBe(401);
  });

  it("get and list with paging and filters; malformed cursors and limits are refused by both", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call("POST", "/v1/payments", { body: paymentBody(CARDS.declined) })).json.id);
    const final = await waitForFinal(ids[2]!);
    expect(final.status).toBe("FAILED");
    expect(final.failureCode).toBe("card_declined");

    const page1 = await call("GET", "/v1/payments?limit=2");
    expect(page1.status).toBe(200);
    expect(page1.json.hasMore).toBe(true);
    const page2 = await call("GET", `/v1/payments?limit=2&startingAfter=${page1.json.data[1].id}`);
    expect(page2.json.data[0].id < page1.json.data[1].id).toBe(true);
    expect((await call("GET", "/v1/payments?status=failed&limit=100")).json.data.every((p: { status: string }) => p.status === "FAILED")).toBe(true);

    expect((await call("GET", "/v1/payments?limit=0", { requestConforms: false })).status).toBe(422);
    expect((await call("GET", "/v1/payments?limit=101", { requestConforms: false })).status).toBe(422);
    expect((await call("GET", "/v1/payments?status=DONE", { requestConforms: false })).status).toBe(422);
    expect((await call("GET", "/v1/payments?startingAfter=not-a-cursor", { requestConforms: false })).status).toBe(422);
    expect((await call("GET", "/v1/payments/pay_00000000000000000000000000")).status).toBe(404);
  });

  it("webhooks: endpoint, events, deliveries, and their errors", async () => {
    expect((await call("GET", "/v1/webhook-endpoint")).status).toBe(404);
    expect((await call("POST", "/v1/webhook-endpoint/enable")).status).toBe(404);
    const put = await call("PUT", "/v1/webhook-endpoint", { body: { url: `http://127.0.0.1:${receiver.port}/hooks` } });
    expect(put.status).toBe(200);
    expect(put.json.secret).toMatch(/^whsec_/);
    expect((await call("GET", "/v1/webhook-endpoint")).status).toBe(200);
    expect((await call("POST", "/v1/webhook-endpoint/enable")).json).toMatchObject({ status: "enabled" });
    expect((await call("PUT", "/v1/webhook-endpoint", { body: { url: "ftp://example.com/x" }, requestConforms: false })).status).toBe(422);
    expect((await call("PUT", "/v1/webhook-endpoint", { body: { url: `http://127.0.0.1:${receiver.port}/${"x".repeat(2048)}` }, requestConforms: false })).status).toBe(422);
    // A link-local (cloud metadata) address is refused by the service alone: the document cannot know which hosts are private.
    expect((await call("PUT", "/v1/webhook-endpoint", { body: { url: "http://169.254.169.254/latest/meta-data" } })).status).toBe(422);
    expect((await call("PUT", "/v1/webhook-endpoint", { body: {}, requestConforms: false })).status).toBe(422);

    const id = (await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa) })).json.id as string;
    await waitForFinal(id);
    let events: any;
    for (let i = 0; i < 100; i++) {
      events = (await call("GET", `/v1/webhook-events?paymentId=${id}&limit=10`)).json;
      if (events.data[0]?.delivery.status === "delivered") break;
      await Bun.sleep(100);
    }
    expect(events.data[0].type).toBe("payment.completed");
    expect(events.data[0].delivery.status).toBe("delivered");
    const deliveries = await call("GET", `/v1/webhook-events/${events.data[0].id}/deliveries`);
    expect(deliveries.json.data[0].statusCode).toBe(200);
    expect((await call("GET", "/v1/webhook-events/evt_00000000000000000000000000/deliveries")).status).toBe(404);
    expect((await call("GET", "/v1/webhook-events?startingAfter=pay_00000000000000000000000000", { requestConforms: false })).status).toBe(422);

    expect((await call("DELETE", "/v1/webhook-endpoint")).status).toBe(204);
    expect((await call("DELETE", "/v1/webhook-endpoint")).status).toBe(404);
  });

  it("captures, cancels and refunds, and their problems", async () => {
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      // An authorization as the worker leaves it (set in the database: which worker runs is not this test's concern).
      const authorizedId = (await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa, { capture: false }) })).json.id as string;
      expect((await call("GET", `/v1/payments/${authorizedId}`)).json.captureMethod).toBe("manual");
      await waitForFinal(authorizedId);
      await sql`update payments set status = 'AUTHORIZED', amount_captured = 0, completed_at = null, authorization_expires_at = now() + interval '7 days' where id = ${authorizedId}`;
      expect((await call("POST", `/v1/payments/${authorizedId}/capture`, { body: { amount: 5000 } })).status).toBe(422);
      expect((await call("POST", `/v1/payments/${authorizedId}/capture`, { body: { amount: 0 }, requestConforms: false })).status).toBe(422);
      expect((await call("POST", `/v1/payments/${authorizedId}/capture`, { body: { amount: 1, extra: true }, requestConforms: false })).status).toBe(422);
      const captured = await call("POST", `/v1/payments/${authorizedId}/capture`, { body: { amount: 1500 } });
      expect(captured.status).toBe(202);
      expect(captured.json.status).toBe("PROCESSING");
      expect((await call("POST", `/v1/payments/${authorizedId}/capture`)).status).toBe(409);

      const voidedId = (await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa, { capture: false }) })).json.id as string;
      await waitForFinal(voidedId);
      await sql`update payments set status = 'AUTHORIZED', amount_captured = 0, completed_at = null, authorization_expires_at = now() + interval '7 days' where id = ${voidedId}`;
      expect((await call("POST", `/v1/payments/${voidedId}/cancel`, { body: { reason: "expired" }, requestConforms: false })).status).toBe(422);
      expect((await call("POST", `/v1/payments/${voidedId}/cancel`, { body: { reason: "abandoned" } })).json.status).toBe("PROCESSING");
      // A PENDING payment is canceled at once, unless the worker took it first (409): both as documented.
      const raced = await call("POST", `/v1/payments/${(await call("POST", "/v1/payments", { body: paymentBody() })).json.id}/cancel`);
      expect([202, 409]).toContain(raced.status);

      const paid = (await call("POST", "/v1/payments", { body: paymentBody(CARDS.visa) })).json.id as string;
      expect((await waitForFinal(paid)).amountCaptured).toBe(1999);
      const refund = await call("POST", `/v1/payments/${paid}/refunds`, { body: { amount: 500, reason: "duplicate", metadata: { ticket: "T-1" } }, headers: { "idempotency-key": "contract-refund-1" } });
      expect(refund.status).toBe(202);
      expect(refund.headers.get("location")).toBe(`/v1/refunds/${refund.json.id}`);
      const replay = await call("POST", `/v1/payments/${paid}/refunds`, { body: { amount: 500, reason: "duplicate", metadata: { ticket: "T-1" } }, headers: { "idempotency-key": "contract-refund-1" } });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect((await call("POST", `/v1/payments/${paid}/refunds`, { body: { amount: 501 }, headers: { "idempotency-key": "contract-refund-1" } })).status).toBe(409);
      expect((await call("POST", `/v1/payments/${paid}/refunds`, { body: { amount: 5000 } })).json.code).toBe("refund_exceeds_captured");
      expect((await call("POST", `/v1/payments/${paid}/refunds`, { body: { amount: 0, reason: "bored" }, requestConforms: false })).status).toBe(422);
      expect((await call("POST", `/v1/payments/${paid}/refunds`)).json.amount).toBe(1499);
      expect((await call("GET", `/v1/refunds/${refund.json.id}`)).json.paymentId).toBe(paid);
      const page = await call("GET", `/v1/payments/${paid}/refunds?limit=1`);
      expect(page.json.hasMore).toBe(true);
      expect((await call("GET", `/v1/payments/${paid}/refunds?limit=1&startingAfter=${page.json.data[0].id}`)).json.data[0].id).toBe(refund.json.id);
      expect((await call("GET", `/v1/payments/${paid}/refunds?startingAfter=${paid}`, { requestConforms: false })).status).toBe(422);
      expect((await call("GET", "/v1/refunds/re_00000000000000000000000000")).status).toBe(404);
      expect((await call("GET", "/v1/payments/pay_00000000000000000000000000/refunds")).status).toBe(404);

      const declined = (await call("POST", "/v1/payments", { body: paymentBody(CARDS.declined) })).json.id as string;
      await waitForFinal(declined);
      expect((await call("POST", `/v1/payments/${declined}/refunds`, { body: { amount: 1 } })).json.code).toBe("invalid_state");
      expect((await call("POST", `/v1/payments/${declined}/cancel`)).json.code).toBe("invalid_state");
    } finally {
      await sql.end();
    }
  });

  it("rate limiting answers 429 with Retry-After", async () => {
    // Prism forwards too slowly to empty a bucket of 50 a second: keep it empty directly while asking through Prism.
    const headers = { authorization: `Bearer ${LIMITED_KEY}` };
    let flooding = true;
    // The bucket starts full (one second's worth): Prism's requests begin once the flood itself is refused.
    let drained: () => void = () => {};
    const empty = new Promise<void>((resolve) => (drained = resolve));
    const flood = (async () => {
      while (flooding)
        await Promise.all(
          Array.from({ length: 20 }, () =>
            fetch(`${service.url}/v1/payments?limit=1`, { headers }).then((r) => {
              if (r.status === 429) drained();
              return r.arrayBuffer();
            }),
          ),
        );
    })();
    await Promise.race([empty, Bun.sleep(10_000)]);
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 20 && limited?.status !== 429; i++) limited = await call("GET", "/v1/payments?limit=1", { key: LIMITED_KEY });
    flooding = false;
    await flood;
    expect(limited?.status).toBe(429);
    expect(limited?.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  it("health and metrics", async () => {
    expect((await call("GET", "/health/live", { key: null })).json).toEqual({ status: "ok" });
    expect((await call("GET", "/health/ready", { key: null })).json).toEqual({ status: "ready" });
    expect((await call("GET", "/metrics", { key: null })).status).toBe(200);
  });

  it("a database outage answers 503 with Retry-After, as documented, and readiness recovers", async () => {
    const admin = openAdmin();
    try {
      await cutDatabase(admin, database.name);
      const ready = await call("GET", "/health/ready", { key: null });
      expect(ready.status).toBe(503);
      expect(ready.headers.get("retry-after")).toMatch(/^\d+$/);
      expect((await call("POST", "/v1/payments", { body: paymentBody() })).status).toBe(503);
      expect((await call("GET", "/v1/payments")).status).toBe(503);
    } finally {
      await restoreDatabase(admin, database.name);
      await admin.end();
    }
    const deadline = Date.now() + 15_000;
    while ((await fetch(`${service.url}/health/ready`)).status !== 200 && Date.now() < deadline) await Bun.sleep(200);
    expect((await call("GET", "/health/ready", { key: null })).status).toBe(200);
  });

  it("forwarded every flow to the service and logged no response violation", () => {
    const prismSaw = [...prismOutput.matchAll(/The upstream call to (\S+) has returned (\d{3})/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(prismSaw.length).toBeGreaterThan(30);
    expect(prismOutput).not.toContain("Violation: response");
  });
});
