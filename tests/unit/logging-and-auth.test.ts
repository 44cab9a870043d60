import { describe, expect, it } from "bun:test";
import { Writable } from "node:stream";
import { ApiKeyAuthenticator, RateLimiter } from "../../modules/auth";
import { createLogger, maskCardNumbers } from "../../src/logger";

describe("log redaction", () => {
  it("masks Luhn-valid card numbers anywhere in a line, with or without separators", () => {
    expect(maskCardNumbers("card 4242424242424242 failed")).toBe("card [card …4242] failed");
    expect(maskCardNumbers("card 4242-4242-4242-4242 failed")).toBe("card [card …4242] failed");
    expect(maskCardNumbers("amex 3782 822463 10005")).toBe("amex [card …0005]");
  });

  it("leaves numbers that are not card numbers alone", () => {
    expect(maskCardNumbers("took 1234567890123 ns")).toBe("took 1234567890123 ns");
    expect(maskCardNumbers("amount 1999")).toBe("amount 1999");
  });

  it("redacts card fields and the authorization header in structured logs", async () => {
    let out = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = createLogger("info", sink);
    logger.info({ card: { number: "4000000000000002", cvc: "987" }, headers: { authorization: "Bearer sk_test_local" } }, "x");
    logger.error({ err: new Error("gateway said 4000000000000002 is bad") }, "y");
    await Bun.sleep(10);
    expect(out).not.toContain("4000000000000002");
    expect(out).not.toContain("987");
    expect(out).not.toContain("sk_test_local");
  });
});

describe("API keys", () => {
  const auth = new ApiKeyAuthenticator([
    { merchantId: "m1", secret: "sk_one_aaaaaaaa" },
    { merchantId: "m2", secret: "sk_two_bbbbbbbb" },
  ]);

  it("maps a Bearer secret to its merchant", () => {
    expect(auth.authenticate("Bearer sk_one_aaaaaaaa")).toEqual({ id: "m1" });
    expect(auth.authenticate("bearer sk_two_bbbbbbbb")).toEqual({ id: "m2" });
  });

  it("rejects missing, malformed and unknown keys", () => {
    for (const header of [undefined, null, "", "sk_one_aaaaaaaa", "Basic abc", "Bearer ", "Bearer sk_one_aaaaaaa", "Bearer sk_one_aaaaaaaa extra"])
      expect(auth.authenticate(header)).toBeUndefined();
  });
});

describe("rate limiter", () => {
  it("allows a burst of one second's worth, then asks to retry after a second", () => {
    let now = 0;
    const limiter = new RateLimiter(5, () => now);
    for (let i = 0; i < 5; i++) expect(limiter.take("k")).toBe(0);
    expect(limiter.take("k")).toBe(1);
    expect(limiter.take("other")).toBe(0);
    now += 1000;
    expect(limiter.take("k")).toBe(0);
  });

  it("is off at 0 requests per second", () => {
    const limiter = new RateLimiter(0);
    for (let i = 0; i < 10_000; i++) expect(limiter.take("k")).toBe(0);
  });
});

describe("query error logging", () => {
  it("keeps a failed statement's parameters (customer data) out of the log", async () => {
    let out = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const error = Object.assign(new Error("Failed query: insert into payments … params: jane@example.com,Jane Doe"), {
      query: "insert into payments (customer_email) values ($1)",
      params: ["jane@example.com", "Jane Doe"],
      cause: Object.assign(new Error("connection terminated"), { code: "57P01" }),
    });
    createLogger("info", sink).error({ err: error }, "write failed");
    await Bun.sleep(10);
    expect(out).toContain("insert into payments");
    expect(out).toContain("57P01");
    expect(out).not.toContain("jane@example.com");
    expect(out).not.toContain("Jane Doe");
  });
});
