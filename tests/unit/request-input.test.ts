import { describe, expect, it } from "bun:test";
import { idempotencyKeyOf, pathIdOf, Problem, QueryParameters } from "../../modules/http";
import { newPaymentId, PAYMENT_ID, timeOrderedIdKind } from "../../modules/payments";
import { EVENT_ID } from "../../modules/webhooks";

const problemOf = (run: () => unknown): Problem => {
  try {
    run();
  } catch (error) {
    if (error instanceof Problem) return error;
    throw error;
  }
  throw new Error("expected a Problem");
};

const request = (query: string, headers: Record<string, string> = {}) => new Request(`http://localhost/v1/x${query}`, { headers });

describe("id kinds: one definition of what each id looks like", () => {
  it("matches the ids the kind makes, and nothing of another kind or shape", () => {
    const id = newPaymentId();
    expect(PAYMENT_ID.matches(id)).toBe(true);
    expect(EVENT_ID.matches(EVENT_ID.next())).toBe(true);
    expect(EVENT_ID.matches(id)).toBe(false);
    for (const text of [`${id}\u0000`, id.toUpperCase(), `${id.slice(0, -1)}u`, `${id}0`, id.slice(0, -1), `${id.slice(0, 10)}\ud800${id.slice(11)}`, "x".repeat(1_000_000)])
      expect(PAYMENT_ID.matches(text)).toBe(false);
  });

  it("refuses prefixes that would make a pattern of something else", () => {
    expect(() => timeOrderedIdKind("a.*")).toThrow();
    expect(() => timeOrderedIdKind("")).toThrow();
  });
});

describe("path ids", () => {
  it("gives back an id of the route's kind and answers anything else 404 without repeating it", () => {
    const id = newPaymentId();
    expect(pathIdOf(id, PAYMENT_ID, "payment")).toBe(id);
    for (const text of [undefined, "\u0000", "pay_\u0000", EVENT_ID.next()]) {
      const problem = problemOf(() => pathIdOf(text, PAYMENT_ID, "payment"));
      expect(problem.status).toBe(404);
      expect(problem.detail).toBe("No payment with this id");
    }
  });
});

describe("query parameters", () => {
  const read = (query: string) => {
    const params = new QueryParameters(request(query), ["status", "limit", "startingAfter"]);
    const value = { status: params.oneOf("status", ["PENDING", "FAILED"] as const), limit: params.limit(), startingAfter: params.id("startingAfter", PAYMENT_ID) };
    params.finish();
    return value;
  };
  const errorsOf = (query: string) => (problemOf(() => read(query)).options.errors ?? []).map((e) => `${e.field}:${e.code}`);

  it("reads documented parameters: statuses in any case, limits in plain digits, ids of the right kind", () => {
    const id = newPaymentId();
    expect(read("")).toEqual({ status: undefined, limit: 20, startingAfter: undefined });
    expect(read(`?status=failed&limit=100&startingAfter=${id}`)).toEqual({ status: "FAILED", limit: 100, startingAfter: id });
  });

  it("refuses limits that are not plain integers from 1 to 100", () => {
    for (const limit of ["0", "101", "-1", "1.5", "1e2", "0x10", "+5", "%205", "", "%00", "99999999999999999999", "%EF%BC%95"])
      expect(errorsOf(`?limit=${limit}`)).toEqual(["limit:invalid_value"]);
  });

  it("reports unknown and repeated parameters and every invalid value at once, each once", () => {
    expect(errorsOf("?limit=1&limit=2&limit=3&status=%00&stauts=FAILED&startingAfter=pay_%00&x=1&x=2").sort()).toEqual(
      ["limit:repeated_parameter", "startingAfter:invalid_value", "status:invalid_value", "stauts:unknown_parameter", "x:unknown_parameter"].sort(),
    );
  });

  it("does not repeat parameter names it cannot show safely, and caps the list", () => {
    expect(errorsOf("?%00=1&%E2%80%AE=2")).toEqual(["query:unknown_parameter"]);
    expect(errorsOf(`?${Array.from({ length: 500 }, (_, i) => `p${i}=1`).join("&")}`)).toHaveLength(10);
  });
});

describe("Idempotency-Key", () => {
  it("takes 1 to 255 printable ASCII characters", () => {
    expect(idempotencyKeyOf(request(""))).toBeUndefined();
    expect(idempotencyKeyOf(request("", { "idempotency-key": "order 1001 / retry ~2" }))).toBe("order 1001 / retry ~2");
    expect(idempotencyKeyOf(request("", { "idempotency-key": "k".repeat(255) }))).toHaveLength(255);
  });

  it("answers 422 naming the header for other lengths and characters", () => {
    for (const [key, code] of [["k".repeat(256), "invalid_length"], ["", "invalid_length"], ["clé", "invalid_characters"], ["\xff", "invalid_characters"]] as const) {
      const problem = problemOf(() => idempotencyKeyOf(request("", { "idempotency-key": key })));
      expect(problem.status).toBe(422);
      expect(problem.options.errors?.map((e) => `${e.field}:${e.code}`)).toEqual([`Idempotency-Key:${code}`]);
    }
  });
});
