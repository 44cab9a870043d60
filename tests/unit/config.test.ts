import { describe, expect, it } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config";
import { parseArgs } from "../../src/main";

const key = Buffer.alloc(32, 3).toString("base64");

describe("configuration", () => {
  it("has embedded defaults: PGlite, the postgres queue, the simulator", () => {
    const config = loadConfig({});
    expect(config.database.url).toBe("pglite://./.data/pglite");
    expect(config.broker).toEqual({ kind: "postgres" });
    expect(config.gateway).toEqual({ kind: "simulator", latencyMs: 50, transientFailureRate: 0 });
    expect(config.http).toEqual({ port: 3000, host: "0.0.0.0" });
    expect(config.processing.concurrency).toBe(64);
    expect(config.processing.maxAttempts).toBe(5);
    expect(config.rateLimitRps).toBe(1000);
    expect(config.apiKeys).toBeUndefined();
  });

  it("converts and validates typed values", () => {
    const config = loadConfig({ PORT: "8080", MIGRATE: "false", BROKER: "kafka", KAFKA_BROKERS: "a:1,b:2", SIMULATOR_TRANSIENT_FAILURE_RATE: "0.25" });
    expect(config.http.port).toBe(8080);
    expect(config.database.migrate).toBe(false);
    expect(config.broker).toEqual({ kind: "kafka", brokers: ["a:1", "b:2"], topicPrefix: "payments", partitions: 6 });
    expect(config.gateway).toMatchObject({ transientFailureRate: 0.25 });
  });

  const rejects: [Record<string, string>, RegExp][] = [
    [{ PORT: "70000" }, /^PORT .*65535/],
    [{ PORT: "http" }, /^PORT must be a number/],
    [{ WORKER_CONCURRENCY: "1.5" }, /^WORKER_CONCURRENCY must be a whole number/],
    [{ BROKER: "rabbit" }, /^BROKER must be one of postgres, kafka/],
    [{ GATEWAY: "adyen" }, /^GATEWAY must be one of simulator, stripe, paypal/],
    [{ DATABASE_URL: "mysql://x" }, /^DATABASE_URL /],
    [{ MIGRATE: "maybe" }, /^MIGRATE must be true or false/],
    [{ SIMULATOR_TRANSIENT_FAILURE_RATE: "2" }, /^SIMULATOR_TRANSIENT_FAILURE_RATE /],
    [{ API_KEYS: "nocolon" }, /^API_KEYS /],
    [{ CARD_ENCRYPTION_KEY: "c2hvcnQ=" }, /^CARD_ENCRYPTION_KEY .*\(hidden\)/],
    [{ GATEWAY: "stripe" }, /^STRIPE_SECRET_KEY is required when GATEWAY=stripe/],
    [{ GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id" }, /^PAYPAL_CLIENT_SECRET is required/],
    [{ NODE_ENV: "production", CARD_ENCRYPTION_KEY: key }, /^API_KEYS is required when NODE_ENV=production/],
    [{ NODE_ENV: "production", API_KEYS: "m1:secret_1234" }, /^CARD_ENCRYPTION_KEY is required when NODE_ENV=production/],
    [{ RETRY_BASE_MS: "1000", RETRY_MAX_MS: "10" }, /^RETRY_MAX_MS must be >= RETRY_BASE_MS/],
  ];
  for (const [env, message] of rejects) {
    it(`rejects ${JSON.stringify(env)} with one line naming the setting`, () => {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("\n");
    });
  }

  it("never echoes a secret value in a configuration error", () => {
    try {
      loadConfig({ API_KEYS: "m1:short" });
    } catch (e) {
      expect((e as Error).message).not.toContain("short");
    }
  });

  it("parses API keys into merchant/secret pairs", () => {
    expect(loadConfig({ API_KEYS: "m1:sk_live_aaaaaaaa,m2:sk_live_bbbbbbbb" }).apiKeys).toEqual([
      { merchantId: "m1", secret: "sk_live_aaaaaaaa" },
      { merchantId: "m2", secret: "sk_live_bbbbbbbb" },
    ]);
  });
});

describe("command line", () => {
  it("defaults to --role=all and knows migrate", () => {
    expect(parseArgs([])).toEqual({ kind: "run", role: "all" });
    expect(parseArgs(["--role=worker"])).toEqual({ kind: "run", role: "worker" });
    expect(parseArgs(["migrate"])).toEqual({ kind: "migrate" });
    expect(parseArgs(["healthcheck"])).toEqual({ kind: "healthcheck" });
  });

  it("rejects unknown roles and flags", () => {
    expect(() => parseArgs(["--role=admin"])).toThrow(/unknown role "admin"/);
    expect(() => parseArgs(["--verbose"])).toThrow(/unknown argument "--verbose"/);
  });
});
