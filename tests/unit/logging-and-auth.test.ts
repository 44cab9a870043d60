import { describe, expect, it } from "bun:test";
import { Writable } from "node:stream";
import { ApiKeyAuthenticator, FailedAuthThrottle, RateLimiter } from "../../modules/auth";
import { clientOf, createMerchantGuard, Problem, rememberPeer } from "../../modules/http";
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
    // Quoted: the CVC is a JSON string; a bare 987 may be the clock's milliseconds or the pid.
    expect(out).not.toContain('"987"');
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

describe("failed-authentication throttle", () => {
  it("refuses a client after `limit` failures, for as long as its bucket needs to drain", () => {
    let now = 0;
    const throttle = new FailedAuthThrottle({ limit: 5, windowMs: 60_000 }, { now: () => now });
    for (let i = 0; i < 5; i++) {
      expect(throttle.retryAfterSeconds("198.51.100.7")).toBe(0);
      throttle.recordFailure("198.51.100.7");
    }
    // One failure drains every 12 s: that is how long until the next attempt.
    expect(throttle.retryAfterSeconds("198.51.100.7")).toBe(12);
    expect(throttle.retryAfterSeconds("198.51.100.8")).toBe(0);
    now += 6_000;
    expect(throttle.retryAfterSeconds("198.51.100.7")).toBe(6);
    now += 6_000;
    expect(throttle.retryAfterSeconds("198.51.100.7")).toBe(0);
    throttle.recordFailure("198.51.100.7");
    expect(throttle.retryAfterSeconds("198.51.100.7")).toBe(12);
  });

  it("forgets a client that stopped failing for a whole window", () => {
    let now = 0;
    const throttle = new FailedAuthThrottle({ limit: 3, windowMs: 10_000 }, { now: () => now });
    for (let i = 0; i < 3; i++) throttle.recordFailure("c");
    expect(throttle.retryAfterSeconds("c")).toBeGreaterThan(0);
    now += 10_000;
    for (let i = 0; i < 3; i++) {
      expect(throttle.retryAfterSeconds("c")).toBe(0);
      throttle.recordFailure("c");
    }
    expect(throttle.retryAfterSeconds("c")).toBeGreaterThan(0);
  });

  it("reports a client reaching the limit once per window, not once per guess", () => {
    let now = 0;
    const reported: string[] = [];
    const throttle = new FailedAuthThrottle({ limit: 4, windowMs: 8_000 }, { now: () => now, onThrottled: (client) => reported.push(client) });
    for (let i = 0; i < 3; i++) {
      throttle.recordFailure("a");
      now += 10; // a little drains between guesses: the report must not wait for a bucket exactly full
    }
    expect(reported).toEqual([]);
    throttle.recordFailure("a");
    expect(reported).toEqual(["a"]);
    expect(throttle.retryAfterSeconds("a")).toBeGreaterThan(0);
    // A steady guesser refills the bucket every 2 s; it is reported again only a window later.
    for (let t = 0; t < 3; t++) {
      now += 2_000;
      throttle.recordFailure("a");
    }
    expect(reported).toEqual(["a"]);
    now += 2_000;
    throttle.recordFailure("a");
    expect(reported).toEqual(["a", "a"]);
  });

  it("is off at a limit of 0", () => {
    const throttle = new FailedAuthThrottle({ limit: 0, windowMs: 60_000 });
    for (let i = 0; i < 1_000; i++) throttle.recordFailure("c");
    expect(throttle.retryAfterSeconds("c")).toBe(0);
  });

  it("keeps at most its cap of clients, dropping the coldest first", () => {
    let now = 0;
    const throttle = new FailedAuthThrottle({ limit: 2, windowMs: 60_000 }, { now: () => now, maxClients: 100 });
    throttle.recordFailure("hot");
    throttle.recordFailure("hot");
    for (let i = 0; i < 1_000; i++) {
      now += 1;
      throttle.recordFailure(`cold-${i}`);
      if (i % 50 === 0) throttle.recordFailure("hot");
    }
    expect(throttle.size).toBeLessThanOrEqual(100);
    expect(throttle.retryAfterSeconds("hot")).toBeGreaterThan(0);
  });
});

describe("client address of a request", () => {
  const request = (headers: Record<string, string> = {}) => new Request("http://paystream.test/v1/payments", { headers });
  const seen = (peer: string | undefined, hops = 0, headers: Record<string, string> = {}) => {
    const r = request(headers);
    rememberPeer(r, () => peer, hops);
    return clientOf(r);
  };

  it("is the peer address, with IPv4-mapped IPv6 as IPv4 and IPv6 grouped by /64", () => {
    expect(seen("203.0.113.9")).toBe("203.0.113.9");
    expect(seen("::ffff:203.0.113.9")).toBe("203.0.113.9");
    expect(seen("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:1:2::/64");
    expect(seen("2001:db8:1:2::1")).toBe(seen("2001:db8:1:2:ffff::9"));
    expect(seen("2001:db8:1:3::1")).not.toBe(seen("2001:db8:1:2::1"));
    expect(seen("::1")).toBe("::/64");
  });

  it("ignores X-Forwarded-For unless proxies are trusted, and then takes the entry the outermost trusted proxy added", () => {
    const forwarded = { "x-forwarded-for": "6.6.6.6, 198.51.100.20, 10.0.0.2" };
    expect(seen("10.0.0.1", 0, forwarded)).toBe("10.0.0.1");
    expect(seen("10.0.0.1", 1, forwarded)).toBe("10.0.0.2");
    expect(seen("10.0.0.1", 2, forwarded)).toBe("198.51.100.20");
    // Fewer entries than trusted hops: the leftmost is as far as the chain goes.
    expect(seen("10.0.0.1", 5, { "x-forwarded-for": "198.51.100.20" })).toBe("198.51.100.20");
    // A forged non-address in the trusted position falls back to the peer.
    expect(seen("10.0.0.1", 1, { "x-forwarded-for": "198.51.100.20, not-an-ip" })).toBe("10.0.0.1");
    expect(seen("10.0.0.1", 1)).toBe("10.0.0.1");
  });

  it("counts TRUSTED_PROXY_HOPS proxies from the right, ignoring whatever the client put to their left", () => {
    // client 198.51.100.20 → CDN edge 192.0.2.7 → load balancer 10.0.0.2 → the service (peer 10.0.0.2).
    const throughCdnAndLb = { "x-forwarded-for": "198.51.100.20, 192.0.2.7" };
    expect(seen("10.0.0.2", 2, throughCdnAndLb)).toBe("198.51.100.20");
    // One hop trusted: the client is the CDN edge, which every client of that edge shares.
    expect(seen("10.0.0.2", 1, throughCdnAndLb)).toBe("192.0.2.7");
    // Entries the client sent itself stand left of the trusted ones, whatever they claim.
    for (const spoofed of ["6.6.6.6", "6.6.6.6, 7.7.7.7", "not-an-ip, 127.0.0.1", "::1"])
      expect({ spoofed, client: seen("10.0.0.2", 2, { "x-forwarded-for": `${spoofed}, 198.51.100.20, 192.0.2.7` }) }).toEqual({ spoofed, client: "198.51.100.20" });
    // Three hops: one more proxy layer, one more entry.
    expect(seen("10.0.0.3", 3, { "x-forwarded-for": "6.6.6.6, 198.51.100.20, 192.0.2.7, 10.0.0.2" })).toBe("198.51.100.20");
    // Entries with the client's port, as some proxies write them.
    expect(seen("10.0.0.2", 2, { "x-forwarded-for": "198.51.100.20:51234, 192.0.2.7:443" })).toBe("198.51.100.20");
    expect(seen("10.0.0.2", 2, { "x-forwarded-for": "[2001:db8:1:2::9]:51234, 192.0.2.7" })).toBe("2001:db8:1:2::/64");
  });

  it("is one shared 'unknown' client for a request the server did not accept itself", () => {
    expect(clientOf(request())).toBe("unknown");
    expect(seen(undefined)).toBe("unknown");
  });
});

describe("merchant guard with the failed-authentication throttle", () => {
  const KEY = "sk_live_guarded_0123456789abcdefXYZ";
  const from = (address: string, authorization?: string) => {
    const r = new Request("http://paystream.test/v1/payments", { headers: authorization === undefined ? {} : { authorization } });
    rememberPeer(r, () => address, 0);
    return r;
  };
  const outcome = (guard: (r: Request) => unknown, r: Request) => {
    try {
      guard(r);
      return { status: 200 };
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      return { status: error.status, retryAfter: error.toResponse().headers.get("retry-after") };
    }
  };
  const guarded = () =>
    createMerchantGuard(new ApiKeyAuthenticator([{ merchantId: "m1", secret: KEY }]), new RateLimiter(0), new FailedAuthThrottle({ limit: 10, windowMs: 60_000 }));

  it("answers 429 with Retry-After to hundreds of wrong keys from one client, after the limit", () => {
    const guard = guarded();
    const statuses = Array.from({ length: 300 }, (_, i) => outcome(guard, from("198.51.100.1", `Bearer sk_guess_${i}`)));
    expect(statuses.slice(0, 10).every((s) => s.status === 401)).toBe(true);
    expect(statuses.slice(10).every((s) => s.status === 429 && Number(s.retryAfter) >= 1)).toBe(true);
  });

  it("no longer checks the key of a throttled client, so a right guess is not revealed", () => {
    const guard = guarded();
    for (let i = 0; i < 10; i++) outcome(guard, from("198.51.100.2", `Bearer wrong_${i}`));
    expect(outcome(guard, from("198.51.100.2", `Bearer ${KEY}`)).status).toBe(429);
  });

  it("still serves the right key from another client", () => {
    const guard = guarded();
    for (let i = 0; i < 50; i++) outcome(guard, from("198.51.100.3", `Bearer wrong_${i}`));
    expect(outcome(guard, from("198.51.100.4", `Bearer ${KEY}`))).toEqual({ status: 200 });
  });

  it("counts malformed credentials, but not requests that carry none", () => {
    const guard = guarded();
    for (let i = 0; i < 100; i++) expect(outcome(guard, from("198.51.100.5")).status).toBe(401);
    expect(outcome(guard, from("198.51.100.5", `Bearer ${KEY}`)).status).toBe(200);
    for (const header of ["", "Basic abc", "Bearer", `Token ${KEY}`, "Bearer a b", "x".repeat(5_000)]) outcome(guard, from("198.51.100.6", header));
    for (let i = 0; i < 4; i++) outcome(guard, from("198.51.100.6", "Bearer nope"));
    expect(outcome(guard, from("198.51.100.6", `Bearer ${KEY}`)).status).toBe(429);
  });

  it("looks up who the client is once per keyed request, and never with the throttle off", () => {
    let lookups = 0;
    const counted = (address: string, authorization: string) => {
      const r = new Request("http://paystream.test/v1/payments", { headers: { authorization } });
      rememberPeer(r, () => (lookups++, address), 0);
      return r;
    };
    const off = createMerchantGuard(new ApiKeyAuthenticator([{ merchantId: "m1", secret: KEY }]), new RateLimiter(0), new FailedAuthThrottle({ limit: 0, windowMs: 60_000 }));
    for (let i = 0; i < 5; i++) expect(off(counted("198.51.100.9", `Bearer ${KEY}`))).toEqual({ id: "m1" });
    expect(outcome(off, counted("198.51.100.9", "Bearer wrong"))).toMatchObject({ status: 401 });
    expect(lookups).toBe(0);
    // On: a success is remembered against its client, a failure counted against it; once.
    const on = guarded();
    for (let i = 0; i < 5; i++) expect(on(counted("198.51.100.9", `Bearer ${KEY}`))).toEqual({ id: "m1" });
    expect(lookups).toBe(5);
    expect(outcome(on, counted("198.51.100.10", "Bearer wrong"))).toMatchObject({ status: 401 });
    expect(lookups).toBe(6);
    expect(on(counted("198.51.100.9", `Bearer ${KEY}`))).toEqual({ id: "m1" });
    expect(lookups).toBe(7);
  });

  it("keeps serving a key that authenticated from a throttled client within the window, and refuses new keys from it", () => {
    let now = 0;
    const OTHER = "sk_live_other_merchant_9876543210zyx";
    const guard = createMerchantGuard(
      new ApiKeyAuthenticator([{ merchantId: "m1", secret: KEY }, { merchantId: "m2", secret: OTHER }]),
      new RateLimiter(0),
      new FailedAuthThrottle({ limit: 10, windowMs: 60_000 }, { now: () => now }),
    );
    const shared = "198.51.100.11";
    // A merchant behind a shared address uses its key; then a guesser on the same address starts.
    expect(outcome(guard, from(shared, `Bearer ${KEY}`))).toEqual({ status: 200 });
    now += 30_000;
    const guesses = Array.from({ length: 50 }, (_, i) => outcome(guard, from(shared, `Bearer sk_guess_${i}`)).status);
    expect(guesses.slice(10).every((status) => status === 429)).toBe(true);
    // The merchant's key keeps working there, each use renewing it, for as long as the guessing goes on...
    for (let round = 0; round < 12; round++) {
      now += 25_000;
      for (let i = 0; i < 10; i++) outcome(guard, from(shared, `Bearer sk_guess_more_${round}_${i}`));
      expect({ round, key: outcome(guard, from(shared, `Bearer ${KEY}`)).status }).toEqual({ round, key: 200 });
      expect(outcome(guard, from(shared, `Bearer sk_guess_again_${round}`)).status).toBe(429);
    }
    // ...while a key not proven from that address is refused unchecked, valid or not (no right guess revealed),
    expect(outcome(guard, from(shared, `Bearer ${OTHER}`)).status).toBe(429);
    // a key proven from one address does not open another throttled one,
    for (let i = 0; i < 20; i++) outcome(guard, from("198.51.100.12", `Bearer sk_guess_${i}`));
    expect(outcome(guard, from("198.51.100.12", `Bearer ${KEY}`)).status).toBe(429);
    // and a key not used there for a whole window is no longer proven.
    now += 61_000;
    for (let i = 0; i < 20; i++) outcome(guard, from(shared, `Bearer sk_guess_late_${i}`));
    expect(outcome(guard, from(shared, `Bearer ${KEY}`)).status).toBe(429);
  });

  it("counts a key handed over in place of the header against the request's client", () => {
    const guard = guarded();
    for (let i = 0; i < 10; i++) expect(() => guard(from("198.51.100.7"), `Bearer form_guess_${i}`)).toThrow(Problem);
    expect(outcome((r) => guard(r, `Bearer ${KEY}`), from("198.51.100.7")).status).toBe(429);
    expect(guard(from("198.51.100.8"), `Bearer ${KEY}`)).toEqual({ id: "m1" });
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
