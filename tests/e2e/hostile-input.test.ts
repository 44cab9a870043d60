import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { errorLogLines } from "../../scripts/fuzz-surface";
import { createPostgresDatabase } from "../support/db";
import { paymentBody, waitForFinal } from "../support/payments";
import { type RawOutcome, sendRaw } from "../support/raw-http";
import { type ServiceProcess, startService } from "../support/service-process";

/**
 * Hostile input on every route of the real program, on real PostgreSQL (which refuses NUL and
 * unpaired surrogates, so anything that reached a query unchecked would surface as a 500):
 * path ids, query parameters and headers. Each answer must be below 500, problem+json with the
 * contract's status, and nothing may be logged at error level.
 */

const KEY = "sk_test_local";
const AUTH = `Bearer ${KEY}`;
const ID_BODY = "01jd6z2k8m3q4r5s6t7v8w9x0y";

/** Routes that take a path id, with a well-formed id of another kind and (for POSTs) a valid body. */
const ID_ROUTES: { route: string; method?: string; body?: string; path: (id: string) => string; noun: string; otherKind: string }[] = [
  { route: "GET /v1/payments/{id}", path: (id: string) => `/v1/payments/${id}`, noun: "payment", otherKind: `evt_${ID_BODY}` },
  {
    route: "GET /v1/webhook-events/{id}/deliveries",
    path: (id: string) => `/v1/webhook-events/${id}/deliveries`,
    noun: "webhook event",
    otherKind: `pay_${ID_BODY}`,
  },
  { route: "POST /v1/payments/{id}/capture", method: "POST", body: '{"amount":100}', path: (id: string) => `/v1/payments/${id}/capture`, noun: "payment", otherKind: `re_${ID_BODY}` },
  { route: "POST /v1/payments/{id}/cancel", method: "POST", body: '{"reason":"duplicate"}', path: (id: string) => `/v1/payments/${id}/cancel`, noun: "payment", otherKind: `re_${ID_BODY}` },
  { route: "POST /v1/payments/{id}/refunds", method: "POST", body: '{"amount":100}', path: (id: string) => `/v1/payments/${id}/refunds`, noun: "payment", otherKind: `re_${ID_BODY}` },
  { route: "GET /v1/payments/{id}/refunds", path: (id: string) => `/v1/payments/${id}/refunds`, noun: "payment", otherKind: `re_${ID_BODY}` },
  { route: "GET /v1/refunds/{id}", path: (id: string) => `/v1/refunds/${id}`, noun: "refund", otherKind: `pay_${ID_BODY}` },
];

/** A well-formed id of the route's own kind (`otherKind` names another). */
const ownIdOf = (noun: string) => ({ payment: `pay_${ID_BODY}`, refund: `re_${ID_BODY}`, "webhook event": `evt_${ID_BODY}` })[noun]!;

/** Path ids, as sent (percent-encoded), that no id can be. */
const HOSTILE_IDS = [
  "%00",
  `pay_${ID_BODY.slice(0, 25)}%00`,
  `evt_%00${ID_BODY.slice(1)}`,
  "%C0%80",
  "%E0%80%80",
  "%ED%A0%80",
  `pay_${ID_BODY.slice(0, 24)}%ED%BF%BF`,
  "%F4%90%80%80",
  "%FF%FE",
  "%E2%80%AE%00",
  "%EF%BB%BF",
  "%0D%0ASet-Cookie:%20x",
  "%25",
  "%",
  "%ZZ",
  "'%20or%201%3D1--",
  "..%2F..%2Fmetrics",
  "x".repeat(5_000),
  "%00".repeat(2_000),
  `PAY_${ID_BODY.toUpperCase()}`,
  `pay_${ID_BODY.slice(0, 25)}u`,
  `pay_${ID_BODY}0`,
];

/** Every /v1 route and the query parameters it takes. */
const API_ROUTES: { method: string; path: string; params: string[]; body?: string }[] = [
  { method: "POST", path: "/v1/payments", params: [], body: JSON.stringify(paymentBody()) },
  { method: "GET", path: `/v1/payments/pay_${ID_BODY}`, params: [] },
  { method: "GET", path: "/v1/payments", params: ["status", "limit", "startingAfter"] },
  { method: "POST", path: `/v1/payments/pay_${ID_BODY}/capture`, params: [], body: '{"amount":100}' },
  { method: "POST", path: `/v1/payments/pay_${ID_BODY}/cancel`, params: [], body: "{}" },
  { method: "POST", path: `/v1/payments/pay_${ID_BODY}/refunds`, params: [], body: '{"amount":100}' },
  { method: "GET", path: `/v1/payments/pay_${ID_BODY}/refunds`, params: ["limit", "startingAfter"] },
  { method: "GET", path: `/v1/refunds/re_${ID_BODY}`, params: [] },
  { method: "PUT", path: "/v1/webhook-endpoint", params: [], body: '{"url":1}' },
  { method: "GET", path: "/v1/webhook-endpoint", params: [] },
  { method: "POST", path: "/v1/webhook-endpoint/enable", params: [] },
  { method: "DELETE", path: "/v1/webhook-endpoint", params: [] },
  { method: "GET", path: "/v1/webhook-events", params: ["paymentId", "limit", "startingAfter"] },
  { method: "GET", path: `/v1/webhook-events/evt_${ID_BODY}/deliveries`, params: [] },
];

/** Values, as sent, that neither a limit, a status nor an id can have. */
const HOSTILE_VALUES = ["%00", "1%00", "%ED%A0%80", "%C0%80", "%FF", "", "-1", "0", "1.5", "1e2", "0x10", "%205", "%2B5", "99999999999999999999", "NaN", "%EF%BC%95", "x".repeat(3_000)];

const isProblem = async (response: Response, status: number) => {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toStartWith("application/problem+json");
  const body = (await response.json()) as { status: number; code: string; errors?: { field: string; code: string; message: string }[]; detail: string };
  expect(body.status).toBe(response.status);
  return body;
};

describe("hostile input on every route of the real program (PostgreSQL)", () => {
  let service: ServiceProcess;
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let port: number;
  let paymentId = "";
  /** The payment above, charged by the worker: refunds need it COMPLETED. */
  let completedPayment: Promise<unknown>;

  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: AUTH, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body,
    });

  /** Sends bytes fetch refuses to send; the answer, whoever gave it, must be below 500. */
  const raw = async (method: string, target: string, headers: [string, string | Uint8Array][], body?: string): Promise<RawOutcome> => {
    const bytes = body === undefined ? undefined : Buffer.from(body);
    const outcome = await sendRaw(port, {
      method,
      target,
      headers: bytes ? [...headers, ["Content-Length", String(bytes.length)]] : headers,
      body: bytes,
    });
    expect(outcome.kind).toBe("answer");
    if (outcome.kind === "answer") expect(outcome.response.status).toBeLessThan(500);
    return outcome;
  };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    service = await startService({
      role: "all",
      // Many wrong keys come from this one client on purpose: the failed-authentication throttle
      // (tests/e2e/ops-security.test.ts) would otherwise answer 429 to everything after them.
      env: { DATABASE_URL: database.url, API_KEYS: `local:${KEY},other:sk_test_other_merchant`, RATE_LIMIT_RPS: "0", AUTH_FAILURE_LIMIT: "0" },
    });
    port = Number(new URL(service.url).port);
    paymentId = ((await (await call("POST", "/v1/payments", {}, JSON.stringify(paymentBody()))).json()) as { id: string }).id;
    completedPayment = waitForFinal(service.url, [paymentId], { apiKey: KEY });
  });
  afterAll(async () => {
    await service?.stop();
    await database?.drop();
  });

  describe("path ids", () => {
    for (const { route, method = "GET", body, path, noun, otherKind } of ID_ROUTES) {
      it(`${route}: 404 problem+json for ids that cannot be one (NUL, overlong UTF-8, surrogates, huge, near misses), without echoing them`, async () => {
        for (const id of HOSTILE_IDS) {
          const problem = await isProblem(await call(method, path(id), {}, body), 404);
          expect({ id: id.slice(0, 40), code: problem.code }).toEqual({ id: id.slice(0, 40), code: "not_found" });
          expect(problem.detail).toBe(`No ${noun} with this id`);
        }
      });

      it(`${route}: 404 for a well-formed id of another kind, and for an unknown one of its own`, async () => {
        await isProblem(await call(method, path(otherKind), {}, body), 404);
        const own = ownIdOf(noun);
        expect((await isProblem(await call(method, path(own), {}, body), 404)).detail).toBe(`No ${noun} ${own}`);
      });

      it(`${route}: unencoded bytes in the path (UTF-8, Latin-1) are 404 too`, async () => {
        for (const bytes of ["pay_\xc3\xa9", "\xff\xfe", "pay_\xed\xa0\x80", "\xc0\x80"]) {
          const outcome = await raw(method, path(bytes), [["Authorization", AUTH], ...(body ? ([["Content-Type", "application/json"]] as [string, string][]) : [])], body);
          if (outcome.kind === "answer") expect(outcome.response.status).toBe(404);
        }
      });
    }

    it("GET /v1/payments/{id} still finds a real payment", async () => {
      expect((await call("GET", `/v1/payments/${paymentId}`)).status).toBe(200);
    });
  });

  describe("query parameters", () => {
    for (const { method, path, params, body } of API_ROUTES) {
      it(`${method} ${path.replace(/(pay|evt|re)_\w+/, "{id}")}: 422 for unknown, repeated and unreadable parameters`, async () => {
        const queries = ["%00=1", "unknown=1", "key=sk_test_local", "%ED%A0%80=%ED%A0%80", "a[]=1", `${"p".repeat(3_000)}=1`];
        for (const name of params) queries.push(`${name}[]=1`, `${name}=${ID_BODY}&${name}=${ID_BODY}`, ...HOSTILE_VALUES.map((v) => `${name}=${v}`));
        for (const query of queries) {
          const problem = await isProblem(await call(method, `${path}?${query}`, {}, body), 422);
          expect({ query: query.slice(0, 60), code: problem.code }).toEqual({ query: query.slice(0, 60), code: "validation" });
          expect(problem.errors?.length).toBeGreaterThan(0);
        }
      });
    }

    it("names each bad parameter once, with codes for unknown, repeated and invalid ones", async () => {
      const problem = await isProblem(await call("GET", "/v1/payments?limit=1&limit=2&status=%00&stauts=FAILED&startingAfter=pay_%00"), 422);
      expect(problem.errors?.map((e) => `${e.field}:${e.code}`).sort()).toEqual(
        ["limit:repeated_parameter", "startingAfter:invalid_value", "status:invalid_value", "stauts:unknown_parameter"].sort(),
      );
    });

    it("accepts the documented parameters, statuses in any case, and a real payment as the cursor", async () => {
      for (const query of ["status=pending&limit=100", "limit=1", `startingAfter=${paymentId}`, "status=COMPLETED"])
        expect((await call("GET", `/v1/payments?${query}`)).status).toBe(200);
      expect((await call("GET", `/v1/webhook-events?paymentId=${paymentId}&limit=5`)).status).toBe(200);
    });
  });

  describe("headers", () => {
    it("answers 401 on every /v1 route to keys with bytes outside ASCII, long keys and wrong schemes", async () => {
      for (const { method, path, body } of API_ROUTES) {
        for (const authorization of [`Bearer ${KEY}\xff`, "Bearer \xe9\xe8", "Bearer sk_test_local sk_test_local", `Bearer ${"k".repeat(5_000)}`, KEY, "Basic c2s6"])
          await isProblem(await call(method, path, { authorization }, body), 401);
      }
    });

    it("never answers 5xx to control characters, NUL or non-Latin-1 in a key (refused by the HTTP parser, or 401)", async () => {
      for (const { method, path, body } of API_ROUTES) {
        const values: (string | Uint8Array)[] = [`Bearer sk_\x00test`, `Bearer sk_\x01test`, `Bearer ${KEY}\x7f`, "Bearer \x1b[31m", Buffer.from(`Bearer ${KEY}€`), Buffer.from("Bearer ключ")];
        for (const value of values) {
          const outcome = await raw(method, path, [["Authorization", value], ["Content-Type", "application/json"]], body);
          if (outcome.kind === "answer" && outcome.response.headers.has("x-request-id")) expect(outcome.response.status).toBe(401);
        }
      }
    });

    it("answers 422 to an Idempotency-Key that is not 1-255 printable ASCII characters, on both routes that take one", async () => {
      const cases: [string, string][] = [
        ["clé-\xe9", "invalid_characters"],
        ["\xff\xfe", "invalid_characters"],
        ["k".repeat(256), "invalid_length"],
        ["", "invalid_length"],
      ];
      const routes = [
        { path: "/v1/payments", body: JSON.stringify(paymentBody()) },
        { path: `/v1/payments/${paymentId}/refunds`, body: '{"amount":1}' },
      ];
      for (const { path, body } of routes) {
        for (const [key, code] of cases) {
          const problem = await isProblem(await call("POST", path, { "idempotency-key": key }, body), 422);
          expect(problem.errors).toEqual([{ field: "Idempotency-Key", code, message: expect.any(String) }]);
        }
        const utf8 = await raw("POST", path, [["Authorization", AUTH], ["Content-Type", "application/json"], ["Idempotency-Key", Buffer.from("ключ-1")]], body);
        if (utf8.kind === "answer") expect(utf8.response.status).toBe(422);
        for (const key of ["a\x00b", "a\x01b", "a\rb"]) await raw("POST", path, [["Authorization", AUTH], ["Content-Type", "application/json"], ["Idempotency-Key", key]], body);
      }
      expect((await call("POST", "/v1/payments", { "idempotency-key": "order 1001 / retry ~2" }, routes[0]!.body)).status).toBe(202);
      await completedPayment;
      expect((await call("POST", `/v1/payments/${paymentId}/refunds`, { "idempotency-key": "refund 1 / retry ~2" }, routes[1]!.body)).status).toBe(202);
    });

    it("answers 400 to content types that are not JSON on the routes that take a body", async () => {
      for (const { method, path, body } of API_ROUTES.filter((r) => r.body)) {
        for (const type of ["text/plain", "application/jsonx", "multipart/form-data", "application/json,text/plain", "\xff/\xfe", `application/json-${"x".repeat(2_000)}`])
          expect((await isProblem(await call(method, path, { "content-type": type }, body), 400)).code).toBe("unsupported_media_type");
        await raw(method, path, [["Authorization", AUTH], ["Content-Type", "application/json\x00"]], body);
      }
    });

    it("never echoes a hostile X-Request-Id; a safe one comes back as sent", async () => {
      for (const id of ["<script>alert(1)</script>", "a b", "\xe9t\xe9", "x".repeat(129), "' or 1=1--", "trace\\1"]) {
        const response = await call("GET", "/v1/payments", { "x-request-id": id });
        expect(response.status).toBe(200);
        expect(response.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
      }
      for (const id of ["a\x01b", "a\x00b"]) await raw("GET", "/v1/payments", [["Authorization", AUTH], ["X-Request-Id", id]]);
      expect((await call("GET", "/v1/payments", { "x-request-id": "trace-42.a:b" })).headers.get("x-request-id")).toBe("trace-42.a:b");
    });

    it("answers a body cut short by the client (Content-Length longer than what came) without a 5xx or an error log", async () => {
      const outcome = await sendRaw(port, {
        method: "POST",
        target: "/v1/payments",
        headers: [["Authorization", AUTH], ["Content-Type", "application/json"], ["Content-Length", "500"]],
        body: Buffer.from('{"amount":'),
        endAfterBody: true,
        timeoutMs: 2_000,
      });
      if (outcome.kind === "answer") expect(outcome.response.status).toBeLessThan(500);
      for (const cl of ["12abc", "-1"]) await raw("POST", "/v1/payments", [["Authorization", AUTH], ["Content-Type", "application/json"], ["Content-Length", cl]]);
    });
  });

  describe("bodies of captures, cancels and refunds", () => {
    it("answers 422, never a 5xx, to text PostgreSQL cannot store and to numbers no amount can be, on a real payment", async () => {
      await completedPayment;
      const bodies = [
        '{"metadata":{"k":"a\\u0000b"}}',
        '{"metadata":{"k":"\\ud800"}}',
        '{"metadata":{"\\u0000":"v"}}',
        '{"metadata":{"__proto__":"v"}}',
        '{"reason":"duplicate\\u0000"}',
        '{"amount":1e308}',
        '{"amount":-0.5}',
        '{"amount":99999999999999999999}',
        '{"amount":"1; drop table payments"}',
        '{"amount":{"$gt":0}}',
      ];
      for (const path of [`/v1/payments/${paymentId}/refunds`, `/v1/payments/${paymentId}/capture`, `/v1/payments/${paymentId}/cancel`]) {
        for (const body of bodies) {
          const response = await call("POST", path, {}, body);
          expect({ path, body, status: response.status }).toEqual({ path, body, status: 422 });
          expect((await response.json()) as { code: string }).toMatchObject({ code: "validation" });
        }
        expect((await isProblem(await call("POST", path, {}, `${"[".repeat(20)}${"]".repeat(20)}`), 400)).code).toBe("malformed_request");
      }
    });
  });

  describe("pages outside /v1", () => {
    it("answers the dashboard and its event stream below 500 whatever the key in the query", async () => {
      for (const key of ["%00", "%E2%82%AC", "a%0D%0Ab", "%ED%A0%80", "x".repeat(3_000)]) {
        for (const path of ["/dashboard", "/dashboard/events"]) {
          const response = await fetch(`${service.url}${path}?key=${key}`);
          expect(response.status).toBe(401);
          await response.body?.cancel();
        }
      }
    });

    it("answers health, metrics and docs below 500 with hostile queries and headers", async () => {
      for (const path of ["/health/live", "/health/ready", "/metrics", "/docs/json"]) {
        const response = await fetch(`${service.url}${path}?%00=%ED%A0%80&limit=-1`, { headers: { "x-request-id": "\xff", cookie: "a=\xff" } });
        expect(response.status).toBeLessThan(500);
        await response.body?.cancel();
      }
    });
  });

  it("logged nothing at error level for any of it", async () => {
    await Bun.sleep(200);
    expect(errorLogLines(service.output())).toEqual([]);
  });
});
