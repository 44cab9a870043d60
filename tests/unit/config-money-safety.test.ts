import { describe, expect, it } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config";

function refusal(env: Record<string, string>): string | undefined {
  try {
    loadConfig(env);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
}

// Outside production on purpose: a gateway credential without NODE_ENV is refused before these checks.
const stripe = { NODE_ENV: "development", GATEWAY: "stripe", STRIPE_SECRET_KEY: "sk_test_x" };
const paypal = { NODE_ENV: "development", GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "secret" };

describe("start-up refuses settings that could charge a card twice", () => {
  it("starts on the defaults with every gateway", () => {
    for (const gateway of [{}, stripe, paypal]) expect(refusal(gateway)).toBeUndefined();
  });

  it("refuses a lease that does not outlast one gateway operation (timeout × the calls one charge may make)", () => {
    const cases: [Record<string, string>, boolean][] = [
      // Stripe: create, replay, search = 3 calls.
      [{ ...stripe, GATEWAY_TIMEOUT_MS: "10000", LEASE_MS: "30000" }, false],
      [{ ...stripe, GATEWAY_TIMEOUT_MS: "10000", LEASE_MS: "30001" }, true],
      // PayPal: token, create, capture, twice = 6 calls.
      [{ ...paypal, GATEWAY_TIMEOUT_MS: "10000", LEASE_MS: "59000" }, false],
      [{ ...paypal, GATEWAY_TIMEOUT_MS: "10000", LEASE_MS: "61000" }, true],
      [{ ...paypal, GATEWAY_TIMEOUT_MS: "1000", LEASE_MS: "7000" }, true],
      // The simulator: its latency.
      [{ SIMULATOR_LATENCY_MS: "5000", LEASE_MS: "5000" }, false],
      [{ SIMULATOR_LATENCY_MS: "5000", LEASE_MS: "6000" }, true],
    ];
    for (const [env, starts] of cases) {
      const message = refusal(env);
      if (starts) expect({ env, message }).toEqual({ env, message: undefined });
      else {
        expect(message).toMatch(/^LEASE_MS must exceed the longest gateway operation/);
        expect(message).not.toContain("\n");
      }
    }
  });

  it("refuses a retry schedule longer than the gateway keeps idempotency keys", () => {
    // PayPal keeps a PayPal-Request-Id 6 hours; Stripe keeps keys 24 hours; the simulator forever.
    const long = { MAX_ATTEMPTS: "10", RETRY_BASE_MS: "3600000", RETRY_MAX_MS: "3600000" };
    expect(refusal({ ...paypal, ...long })).toMatch(/^MAX_ATTEMPTS, RETRY_BASE_MS and RETRY_MAX_MS make a retry schedule of up to \d+ min, longer than paypal keeps idempotency keys \(360 min\)/);
    expect(refusal({ ...stripe, ...long })).toBeUndefined();
    expect(refusal({ ...stripe, MAX_ATTEMPTS: "30", RETRY_BASE_MS: "3600000", RETRY_MAX_MS: "3600000" })).toMatch(/longer than stripe keeps idempotency keys \(1440 min\)/);
    expect(refusal({ MAX_ATTEMPTS: "100", RETRY_BASE_MS: "3600000", RETRY_MAX_MS: "86400000" })).toBeUndefined();
    // Lost messages count too: each gap may add a lease and the sweeper's delay.
    expect(refusal({ ...paypal, MAX_ATTEMPTS: "10", STUCK_AFTER_MS: "3600000" })).toMatch(/longer than paypal keeps/);
  });

  it("validates the reconciler's schedule", () => {
    const config = loadConfig({});
    expect(config.processing.reconcile).toEqual({ firstCheckMs: 30_000, maxIntervalMs: 86_400_000, pollIntervalMs: 5_000 });
    expect(config.processing.reconcile.firstCheckMs).toBeLessThanOrEqual(60_000);
    expect(refusal({ RECONCILE_FIRST_CHECK_MS: "60000", RECONCILE_MAX_INTERVAL_MS: "1000" })).toBe(
      "RECONCILE_MAX_INTERVAL_MS must be >= RECONCILE_FIRST_CHECK_MS",
    );
    expect(refusal({ RECONCILE_FIRST_CHECK_MS: "0" })).toMatch(/^RECONCILE_FIRST_CHECK_MS /);
    expect(refusal({ RECONCILE_MAX_INTERVAL_MS: String(8 * 86_400_000) })).toMatch(/^RECONCILE_MAX_INTERVAL_MS /);
  });
});
