import { describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { ConfigError, gatewayTestMode, loadConfig } from "../../src/config";
import { announceGatewayMode } from "../../src/context";
import { createLogger } from "../../src/logger";
import { parseArgs } from "../../src/main";
import { createMetrics } from "../../src/metrics";

const key = Buffer.alloc(32, 3).toString("base64");

/** The error loadConfig throws for `env`, or undefined when it accepts it. */
function configErrorOf(env: Record<string, string>): unknown {
  try {
    loadConfig(env);
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Values generated the way the README says (openssl rand), fixed so that failures reproduce. */
const STRONG_CARD_KEY = "QW9I73KYfMxfiqUfAqhCTu9VGCjBQqJ5EZzGmDQOkLo=";
const STRONG_RETIRED_KEY = "qdgyBaVkNZ/YXAB3swTaYxp9w5+GxSnCt6Fooko41nI=";
const STRONG_SECRET = "sk_live_b106f21c1baad37ca79f9f5ac7d0a5f2fed5cea0";
const OTHER_STRONG_SECRET = "4zLrfxhp1n_AIvfi38Zsh6D-dToukgBJOOnM";
/** A production environment that starts; each test below spoils one thing. */
const PRODUCTION: Record<string, string> = {
  NODE_ENV: "production",
  GATEWAY: "stripe",
  STRIPE_SECRET_KEY: "sk_live_gateway",
  API_KEYS: `m1:${STRONG_SECRET},m2:${OTHER_STRONG_SECRET}`,
  CARD_ENCRYPTION_KEY: STRONG_CARD_KEY,
};

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe("configuration", () => {
  it("has embedded defaults: PGlite, the postgres queue, the simulator", () => {
    const config = loadConfig({});
    expect(config.database.url).toBe("pglite://./.data/pglite");
    expect(config.broker).toEqual({ kind: "postgres" });
    expect(config.gateway).toEqual({ kind: "simulator", latencyMs: 50, transientFailureRate: 0 });
    expect(config.http).toEqual({ port: 3000, host: "127.0.0.1" });
    expect(config.trustProxy).toBe(false);
    expect(config.ops).toEqual({ port: undefined, host: "127.0.0.1", metricsToken: undefined, publicMetrics: true });
    expect(config.authFailures).toEqual({ limit: 20, windowMs: 60_000 });
    expect(config.processing.concurrency).toBe(64);
    expect(config.processing.maxAttempts).toBe(5);
    expect(config.processing.authorizationTtlMs).toBe(7 * 86_400_000);
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
    [{ CARD_ENCRYPTION_KEY: "c2hvcnQ=" }, /^CARD_ENCRYPTION_KEY .*\(value not shown\)$/],
    [{ GATEWAY: "stripe" }, /^STRIPE_SECRET_KEY is required when GATEWAY=stripe/],
    [{ NODE_ENV: "development", GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id" }, /^PAYPAL_CLIENT_SECRET is required/],
    [{ NODE_ENV: "production", CARD_ENCRYPTION_KEY: key }, /^API_KEYS is required when NODE_ENV=production/],
    [{ NODE_ENV: "production", API_KEYS: "m1:secret_1234" }, /^CARD_ENCRYPTION_KEY is required when NODE_ENV=production/],
    [{ RETRY_BASE_MS: "1000", RETRY_MAX_MS: "10" }, /^RETRY_MAX_MS must be >= RETRY_BASE_MS/],
    [{ AUTHORIZATION_TTL_MS: "0" }, /^AUTHORIZATION_TTL_MS /],
    [{ AUTHORIZATION_TTL_MS: String(31 * 86_400_000) }, /^AUTHORIZATION_TTL_MS /],
    [{ SHUTDOWN_GRACE_MS: "999" }, /^SHUTDOWN_GRACE_MS .*1000/],
    [{ SHUTDOWN_GRACE_MS: "2.5s" }, /^SHUTDOWN_GRACE_MS must be a number/],
    [{ SHUTDOWN_GRACE_MS: String(3_600_001) }, /^SHUTDOWN_GRACE_MS .*3600000/],
    // Shorter than the gateways' 3 days of redeliveries would let a redelivery find no record.
    [{ GATEWAY_EVENT_RETENTION_MS: String(3 * 86_400_000) }, /^GATEWAY_EVENT_RETENTION_MS .*345600000/],
  ];
  const secretsNeverEchoed: [Record<string, string>, string][] = [
    [{ DATABASE_URL: "mysql://u:s3cretpw@h/db" }, "s3cretpw"],
    [{ DATABASE_URL: "postgres//u:s3cretpw@h/db" }, "s3cretpw"],
    [{ KAFKA_BROKERS: "u:s3cretpw@k1" }, "s3cretpw"],
    [{ STRIPE_API_BASE: "ftp://u:s3cretpw@h" }, "s3cretpw"],
    [{ PAYPAL_API_BASE: "paypal//u:s3cretpw@h" }, "s3cretpw"],
    [{ API_KEYS: "m1:s3cretpw_but no colon pair," }, "s3cretpw"],
    [{ METRICS_TOKEN: "s3cretpw with spaces" }, "s3cretpw"],
    [{ CARD_ENCRYPTION_KEY: "s3cretpwAAAA" }, "s3cretpw"],
    [{ CARD_ENCRYPTION_KEYS_RETIRED: "s3cretpwAAAA" }, "s3cretpw"],
  ];
  for (const [env, secret] of secretsNeverEchoed) {
    it(`names what is wrong with ${Object.keys(env)[0]} without echoing its secret`, () => {
      const error = configErrorOf(env);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toStartWith(Object.keys(env)[0]!);
      expect((error as Error).message).not.toContain(secret);
    });
  }

  it("keeps the user and host of a bad DATABASE_URL in its error, masking the password", () => {
    expect(() => loadConfig({ DATABASE_URL: "mysql://payments:s3cretpw@db.internal/x" })).toThrow(/mysql:\/\/payments:\*\*\*@db\.internal\/x/);
  });

  for (const [env, message] of rejects) {
    it(`rejects ${JSON.stringify(env)} with one line naming the setting`, () => {
      const error = configErrorOf(env);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("\n");
    });
  }

  it("never echoes a secret value in a configuration error", () => {
    expect(refusal({ API_KEYS: "m1:short" })).not.toContain("short");
    expect(refusal({ METRICS_TOKEN: "has space" })).not.toContain("space");
    const weak = "sk_live_" + "q".repeat(30);
    expect(refusal({ ...PRODUCTION, API_KEYS: `m1:${weak}` })).not.toContain(weak);
    expect(refusal({ ...PRODUCTION, METRICS_TOKEN: weak })).not.toContain(weak);
    expect(refusal({ ...PRODUCTION, CARD_ENCRYPTION_KEY: key })).not.toContain(key);
  });

  it("takes SHUTDOWN_GRACE_MS (default 25 s), shorter than a gateway operation too: calls still in flight at its end go to the reconciler (README)", () => {
    expect(loadConfig({}).shutdownGraceMs).toBe(25_000);
    expect(loadConfig({ SHUTDOWN_GRACE_MS: "4000" }).shutdownGraceMs).toBe(4_000);
    // Stripe's longest operation is 3 × GATEWAY_TIMEOUT_MS = 30 s: a shorter grace is allowed, not refused.
    const stripe = loadConfig({ ...PRODUCTION, SHUTDOWN_GRACE_MS: "5000" });
    expect(stripe.shutdownGraceMs).toBeLessThan(stripe.processing.operationMs);
    expect(loadConfig({ SIMULATOR_LATENCY_MS: "8000", SHUTDOWN_GRACE_MS: "3000" }).shutdownGraceMs).toBe(3_000);
  });

  it("keeps gateway-event records GATEWAY_EVENT_RETENTION_MS, 35 days unless set (README)", () => {
    expect(loadConfig({}).gatewayEventRetentionMs).toBe(35 * 86_400_000);
    expect(loadConfig({ GATEWAY_EVENT_RETENTION_MS: String(7 * 86_400_000) }).gatewayEventRetentionMs).toBe(7 * 86_400_000);
  });

  it("parses API keys into merchant/secret pairs", () => {
    expect(loadConfig({ NODE_ENV: "development", API_KEYS: "m1:sk_live_aaaaaaaa,m2:sk_live_bbbbbbbb" }).apiKeys).toEqual([
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

describe("fail-closed start-up in production (NODE_ENV=production)", () => {
  it("starts with a real gateway, long random API keys and a random card key", () => {
    const config = loadConfig(PRODUCTION);
    expect(config.env).toBe("production");
    expect(config.gateway.kind).toBe("stripe");
    expect(config.http.host).toBe("0.0.0.0");
    expect(config.ops.publicMetrics).toBe(false);
    const paypal = loadConfig({ ...PRODUCTION, GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "s", PAYPAL_ENVIRONMENT: "production" });
    expect(paypal.gateway.kind).toBe("paypal");
    expect(loadConfig({ ...PRODUCTION, CARD_ENCRYPTION_KEYS_RETIRED: STRONG_RETIRED_KEY }).retiredCardEncryptionKeys).toEqual([STRONG_RETIRED_KEY]);
  });

  it("accepts every key and secret generated as the README says (openssl rand)", () => {
    for (let i = 0; i < 100; i++) {
      const env = {
        ...PRODUCTION,
        API_KEYS: `m1:${randomBytes(24).toString("hex")},m2:sk_live_${randomBytes(24).toString("base64url")},m3:${randomBytes(16).toString("hex")}`,
        CARD_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
        CARD_ENCRYPTION_KEYS_RETIRED: randomBytes(32).toString("base64"),
        METRICS_TOKEN: randomBytes(24).toString("hex"),
      };
      expect(() => loadConfig(env)).not.toThrow();
    }
  });

  it("refuses to run without GATEWAY, or with the simulator, which charges nothing", () => {
    const { GATEWAY: _, ...withoutGateway } = PRODUCTION;
    expect(refusal(withoutGateway)).toMatch(/^GATEWAY is required when NODE_ENV=production/);
    expect(refusal({ ...withoutGateway, GATEWAY: "" })).toMatch(/^GATEWAY is required when NODE_ENV=production/);
    expect(refusal({ ...PRODUCTION, GATEWAY: "simulator" })).toMatch(/^GATEWAY=simulator is refused when NODE_ENV=production/);
    expect(refusal({ ...PRODUCTION, GATEWAY: "SIMULATOR" })).toMatch(/^GATEWAY must be one of/);
  });

  it("refuses PayPal's sandbox by default: the environment must be chosen explicitly", () => {
    const paypal = { ...PRODUCTION, GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "s" };
    expect(refusal(paypal)).toMatch(/^PAYPAL_ENVIRONMENT is required when NODE_ENV=production/);
    expect(loadConfig({ ...paypal, PAYPAL_ENVIRONMENT: "sandbox" }).gateway).toMatchObject({ environment: "sandbox" });
  });

  it("takes https gateway base URLs only, naming the setting and masking a password in the URL", () => {
    for (const key of ["STRIPE_API_BASE", "PAYPAL_API_BASE"]) {
      const message = refusal({ ...PRODUCTION, [key]: "http://user:s3cretpw@stripe-proxy.internal:8080" });
      expect(message).toBe(`${key} must be an https:// URL when NODE_ENV=production (got "http://user:***@stripe-proxy.internal:8080")`);
      expect(message).not.toContain("s3cretpw");
      expect(refusal({ ...PRODUCTION, [key]: "http://127.0.0.1:12111" })).toStartWith(`${key} must be an https:// URL`);
    }
    expect(loadConfig({ ...PRODUCTION, STRIPE_API_BASE: "https://127.0.0.1:12111" }).gateway).toMatchObject({ apiBase: "https://127.0.0.1:12111" });
    const paypal = { ...PRODUCTION, GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "s", PAYPAL_ENVIRONMENT: "production" };
    expect(loadConfig({ ...paypal, PAYPAL_API_BASE: "https://paypal-proxy.internal" }).gateway).toMatchObject({ apiBase: "https://paypal-proxy.internal" });
    // Outside production a local fake may be plain http.
    expect(loadConfig({ NODE_ENV: "development", GATEWAY: "stripe", STRIPE_SECRET_KEY: "sk_test_x", STRIPE_API_BASE: "http://127.0.0.1:12111" }).gateway).toMatchObject({ apiBase: "http://127.0.0.1:12111" });
  });

  it("tells a test-mode gateway (Stripe test keys, PayPal sandbox) from one that charges", () => {
    const paypal = { ...PRODUCTION, GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "s" };
    const cases: [Record<string, string>, boolean][] = [
      [{ ...PRODUCTION, STRIPE_SECRET_KEY: "sk_test_51Hx" }, true],
      [{ ...PRODUCTION, STRIPE_SECRET_KEY: "rk_test_51Hx" }, true],
      [{ ...PRODUCTION, STRIPE_SECRET_KEY: "sk_live_51Hx" }, false],
      [{ ...PRODUCTION, STRIPE_SECRET_KEY: "rk_live_51Hx" }, false],
      [{ ...paypal, PAYPAL_ENVIRONMENT: "sandbox" }, true],
      [{ ...paypal, PAYPAL_ENVIRONMENT: "production" }, false],
      [{}, true],
    ];
    for (const [env, testMode] of cases) expect({ env, testMode: gatewayTestMode(loadConfig(env).gateway) }).toEqual({ env, testMode });
  });

  it("logs a test-mode gateway at error level at start and sets paystream_gateway_test_mode to 1; 0 and no line for a live key", async () => {
    const started = async (env: Record<string, string>) => {
      let out = "";
      const sink = new Writable({
        write(chunk, _enc, done) {
          out += chunk.toString();
          done();
        },
      });
      const metrics = createMetrics();
      announceGatewayMode(loadConfig(env), createLogger("info", sink), metrics);
      await Bun.sleep(10);
      return { lines: out.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>), metrics: await metrics.render() };
    };
    const test = await started({ ...PRODUCTION, STRIPE_SECRET_KEY: "sk_test_51Hx" });
    expect(test.lines).toHaveLength(1);
    expect(test.lines[0]).toMatchObject({ level: "error", gateway: "stripe", msg: "gateway in test mode: nothing is really charged" });
    expect(test.metrics).toContain('paystream_gateway_test_mode{gateway="stripe"} 1');
    const sandbox = await started({ ...PRODUCTION, GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "s", PAYPAL_ENVIRONMENT: "sandbox" });
    expect(sandbox.lines[0]).toMatchObject({ level: "error", gateway: "paypal" });
    expect(sandbox.metrics).toContain('paystream_gateway_test_mode{gateway="paypal"} 1');
    const live = await started(PRODUCTION);
    expect(live.lines).toEqual([]);
    expect(live.metrics).toContain('paystream_gateway_test_mode{gateway="stripe"} 0');
    // Outside production a test key is the normal case: the gauge says so, the log does not shout.
    const development = await started({ NODE_ENV: "development", GATEWAY: "stripe", STRIPE_SECRET_KEY: "sk_test_51Hx" });
    expect(development.lines).toEqual([]);
    expect(development.metrics).toContain('paystream_gateway_test_mode{gateway="stripe"} 1');
  });

  it("refuses a production NODE_ENV spelled any other way rather than running as development", () => {
    for (const spelling of ["prod", "Production", "PRODUCTION", "production "]) expect(refusal({ ...PRODUCTION, NODE_ENV: spelling })).toMatch(/^NODE_ENV must be one of/);
  });

  it("refuses API keys shorter than 32 characters", () => {
    for (const secret of ["sk_live_12345678", "sk_live_shop_0123456789", "Zt4#pQ9!vL2@xR7$kM5%nB8^wC3&yD1", randomBytes(15).toString("hex")])
      expect(refusal({ ...PRODUCTION, API_KEYS: `m1:${STRONG_SECRET},weak:${secret}` })).toMatch(/^API_KEYS: the secret of merchant "weak" must have at least 32 characters/);
  });

  it("refuses the development key, alone or among others", () => {
    for (const keys of ["local:sk_test_local", `m1:${STRONG_SECRET},local:sk_test_local`, `shop:sk_test_local`])
      expect(refusal({ ...PRODUCTION, API_KEYS: keys })).toMatch(/^API_KEYS: the secret of merchant "\w+" is the public development key/);
  });

  it("refuses long API keys that are not random: runs, repeated blocks, progressions, little variety", () => {
    const weak = [
      "a".repeat(32),
      "sk_live_" + "a".repeat(24),
      "sk_test_local" + "x".repeat(19),
      "sk_test_localsk_test_localsk_test_local",
      "passwordpasswordpasswordpassword1",
      "sk_live_abcabcabcabcabcabcabcabc",
      "0123456789".repeat(4),
      "abcdefghijklmnopqrstuvwxyz012345",
      "sk_live_0123456789abcdef01234567",
      "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcc",
      "abababababababababababababababab",
    ];
    for (const secret of weak) {
      expect(secret.length).toBeGreaterThanOrEqual(32);
      expect(refusal({ ...PRODUCTION, API_KEYS: `m1:${secret}` })).toMatch(/^API_KEYS: the secret of merchant "m1" does not look random: it /);
    }
  });

  it("refuses a card encryption key that is not 32 random-looking bytes", () => {
    const keys: [string, Buffer, RegExp][] = [
      ["all zero", Buffer.alloc(32), /repeats a 1-byte block/],
      ["all one value", Buffer.alloc(32, 7), /repeats a 1-byte block/],
      ["0xff", Buffer.alloc(32, 0xff), /repeats a 1-byte block/],
      ["two values alternating", Buffer.from("ab".repeat(16)), /repeats a 2-byte block/],
      ["random 8 bytes four times", Buffer.from("9f3c1e7a2b84d605".repeat(4), "hex"), /repeats a 8-byte block/],
      ["random 16 bytes twice", Buffer.from("c1f05a9e3b7d2468ac13e5f79b0d8246".repeat(2), "hex"), /repeats a 16-byte block/],
      ["0,1,2,…,31", Buffer.from(Array.from({ length: 32 }, (_, i) => i)), /progression/],
      ["descending by 3", Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - 3 * i)), /progression/],
      ["half random, half zero", Buffer.concat([Buffer.from("c1f05a9e3b7d2468ac13e5f79b0d8246", "hex"), Buffer.alloc(16)]), /too little variety/],
      ["ten byte values", Buffer.from(Array.from({ length: 32 }, (_, i) => [3, 141, 59, 26, 53, 58, 97, 93, 238, 46][(i * 7 + (i >> 2)) % 10] as number)), /distinct byte values|too little variety|repeats/],
      ["a password in base64", Buffer.from("correct-horse-battery-staple-123"), /printable text/],
      ["hex text in base64", Buffer.from("0f1e2d3c4b5a69788796a5b4c3d2e1f0"), /printable text|progression|repeats/],
    ];
    for (const [why, bytes, reason] of keys) {
      expect({ why, length: bytes.length }).toEqual({ why, length: 32 });
      const message = refusal({ ...PRODUCTION, CARD_ENCRYPTION_KEY: bytes.toString("base64") });
      expect({ why, message }).toEqual({ why, message: expect.stringMatching(/^CARD_ENCRYPTION_KEY does not look random: it /) });
      expect({ why, message }).toEqual({ why, message: expect.stringMatching(reason) });
    }
  });

  it("refuses a weak retired card key, naming which one", () => {
    expect(refusal({ ...PRODUCTION, CARD_ENCRYPTION_KEYS_RETIRED: `${STRONG_RETIRED_KEY},${Buffer.alloc(32).toString("base64")}` })).toMatch(
      /^CARD_ENCRYPTION_KEYS_RETIRED \(key 2\) does not look random/,
    );
    expect(refusal({ ...PRODUCTION, CARD_ENCRYPTION_KEYS_RETIRED: Buffer.alloc(32, 1).toString("base64") })).toMatch(
      /^CARD_ENCRYPTION_KEYS_RETIRED \(key 1\) does not look random/,
    );
  });

  it("holds METRICS_TOKEN to the API keys' standard and keeps it apart from them", () => {
    expect(refusal({ ...PRODUCTION, METRICS_TOKEN: "metrics-token" })).toMatch(/^METRICS_TOKEN must have at least 32 characters/);
    expect(refusal({ ...PRODUCTION, METRICS_TOKEN: "m".repeat(40) })).toMatch(/^METRICS_TOKEN does not look random/);
    expect(refusal({ ...PRODUCTION, METRICS_TOKEN: STRONG_SECRET })).toMatch(/^METRICS_TOKEN must differ from every API key/);
    expect(loadConfig({ ...PRODUCTION, METRICS_TOKEN: randomBytes(24).toString("hex") }).ops.metricsToken).toHaveLength(48);
  });
});

describe("fail-closed start-up without NODE_ENV (docs/CONTRACT.md §11)", () => {
  const SECRET = "sk_live_c2f1e0d9b8a7f6e5d4c3b2a1f0e9d8c7";
  const signs: [string, Record<string, string>][] = [
    ["API_KEYS", { API_KEYS: `m1:${SECRET}` }],
    ["STRIPE_SECRET_KEY", { GATEWAY: "stripe", STRIPE_SECRET_KEY: SECRET }],
    ["PAYPAL_CLIENT_ID", { PAYPAL_CLIENT_ID: "client-id-1" }],
    ["PAYPAL_CLIENT_SECRET", { PAYPAL_CLIENT_SECRET: SECRET }],
    ["HOST (not a loopback address)", { HOST: "0.0.0.0" }],
    ["HOST (not a loopback address)", { HOST: "10.0.0.5" }],
    ["OPS_HOST (not a loopback address)", { OPS_HOST: "::" }],
  ];

  it("refuses settings only a deployment has, naming NODE_ENV and the setting but never its value", () => {
    for (const [sign, env] of signs) {
      const message = refusal(env);
      expect({ sign, message }).toEqual({
        sign,
        message: `NODE_ENV is not set, yet ${sign} is set as for a deployment: set NODE_ENV=production (or NODE_ENV=development to run as development on purpose)`,
      });
      expect(message).not.toContain(SECRET);
      // An empty NODE_ENV is no choice either.
      expect(refusal({ NODE_ENV: "", ...env })).toStartWith("NODE_ENV is not set");
    }
    expect(refusal({ API_KEYS: `m1:${SECRET}`, HOST: "0.0.0.0", GATEWAY: "stripe", STRIPE_SECRET_KEY: SECRET })).toStartWith(
      "NODE_ENV is not set, yet API_KEYS, STRIPE_SECRET_KEY, HOST (not a loopback address) are set",
    );
  });

  it("still starts as development when nothing says deployment, or when NODE_ENV says development on purpose", () => {
    expect(loadConfig({}).env).toBe("development");
    expect(loadConfig({ HOST: "127.0.0.1", OPS_HOST: "::1", OPS_PORT: "9090" }).env).toBe("development");
    // An empty credential (docker compose's `${VAR:-}`) is an unset one.
    expect(loadConfig({ STRIPE_SECRET_KEY: "", PAYPAL_CLIENT_ID: "", PAYPAL_CLIENT_SECRET: "" }).env).toBe("development");
    for (const nodeEnv of ["development", "test"] as const)
      for (const [sign, env] of signs) {
        const withKeys = { NODE_ENV: nodeEnv, API_KEYS: `m1:${SECRET}`, ...env };
        expect({ nodeEnv, sign, env: loadConfig(withKeys).env }).toEqual({ nodeEnv, sign, env: nodeEnv });
      }
  });
});

describe("the development key stays on this machine (outside production)", () => {
  it("listens on 127.0.0.1 by default when no API_KEYS are set, and on 0.0.0.0 once they are", () => {
    expect(loadConfig({}).http.host).toBe("127.0.0.1");
    expect(loadConfig({ NODE_ENV: "test" }).http.host).toBe("127.0.0.1");
    expect(loadConfig({ NODE_ENV: "development", API_KEYS: "m1:sk_dev_merchant_1" }).http.host).toBe("0.0.0.0");
  });

  it("accepts loopback hosts with the development key", () => {
    for (const host of ["127.0.0.1", "127.0.0.53", "localhost", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"])
      expect(loadConfig({ HOST: host }).http.host).toBe(host);
  });

  it("refuses any other HOST while the development key is accepted, implicitly or listed in API_KEYS", () => {
    for (const host of ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "172.17.0.1", "203.0.113.9", "fe80::1", "2001:db8::1", "::ffff:10.0.0.1", "example.com", "localhost.example.com"]) {
      const development = { NODE_ENV: "development" };
      expect(refusal({ ...development, HOST: host })).toMatch(new RegExp(`^HOST=${host.replace(/[.*+?^$()|[\]\\]/g, "\\$&")} is not a loopback address: the public development key sk_test_local`));
      expect(refusal({ ...development, HOST: host, API_KEYS: "local:sk_test_local,m2:sk_dev_other_1" })).toMatch(/^HOST=.* is not a loopback address/);
      expect(refusal({ ...development, HOST: "127.0.0.1", OPS_HOST: host })).toMatch(/^OPS_HOST=.* is not a loopback address/);
    }
  });

  it("listens where it is told once API_KEYS replace the development key", () => {
    expect(loadConfig({ NODE_ENV: "development", HOST: "0.0.0.0", API_KEYS: "m1:sk_dev_merchant_1" }).http.host).toBe("0.0.0.0");
  });

  it("keeps the operators' listener on loopback unless OPS_HOST says otherwise, whatever HOST is", () => {
    expect(loadConfig({ ...PRODUCTION, HOST: "0.0.0.0", OPS_PORT: "9090" }).ops).toMatchObject({ port: 9090, host: "127.0.0.1" });
    expect(loadConfig({ ...PRODUCTION, OPS_PORT: "9090" }).http.host).toBe("0.0.0.0");
    expect(loadConfig({ ...PRODUCTION, OPS_PORT: "9090", OPS_HOST: "0.0.0.0" }).ops.host).toBe("0.0.0.0");
    expect(loadConfig({}).ops.host).toBe("127.0.0.1");
  });

  it("puts the operators' port elsewhere than the API's", () => {
    expect(refusal({ PORT: "4000", OPS_PORT: "4000" })).toMatch(/^OPS_PORT must differ from PORT/);
    expect(loadConfig({ OPS_PORT: "9090", OPS_HOST: "127.0.0.2" }).ops).toMatchObject({ port: 9090, host: "127.0.0.2" });
  });

  it("validates the failed-authentication throttle and proxy settings", () => {
    expect(loadConfig({ AUTH_FAILURE_LIMIT: "5", AUTH_FAILURE_WINDOW_MS: "2000", TRUST_PROXY: "true" })).toMatchObject({
      authFailures: { limit: 5, windowMs: 2000 },
      trustProxy: true,
    });
    expect(loadConfig({ AUTH_FAILURE_LIMIT: "0" }).authFailures.limit).toBe(0);
    expect(refusal({ AUTH_FAILURE_LIMIT: "-1" })).toMatch(/^AUTH_FAILURE_LIMIT /);
    expect(refusal({ AUTH_FAILURE_LIMIT: "many" })).toMatch(/^AUTH_FAILURE_LIMIT must be a number/);
    expect(refusal({ AUTH_FAILURE_WINDOW_MS: "10" })).toMatch(/^AUTH_FAILURE_WINDOW_MS /);
    expect(refusal({ TRUST_PROXY: "2" })).toMatch(/^TRUST_PROXY must be true or false/);
  });

  it("counts trusted proxy hops: TRUST_PROXY=true is one, TRUSTED_PROXY_HOPS any number, and the two must agree", () => {
    const hops = (env: Record<string, string>) => {
      const { trustProxy, trustedProxyHops } = loadConfig(env);
      return { trustProxy, trustedProxyHops };
    };
    expect(hops({})).toEqual({ trustProxy: false, trustedProxyHops: 0 });
    expect(hops({ TRUST_PROXY: "true" })).toEqual({ trustProxy: true, trustedProxyHops: 1 });
    expect(hops({ TRUST_PROXY: "false" })).toEqual({ trustProxy: false, trustedProxyHops: 0 });
    expect(hops({ TRUSTED_PROXY_HOPS: "2" })).toEqual({ trustProxy: true, trustedProxyHops: 2 });
    expect(hops({ TRUSTED_PROXY_HOPS: "0" })).toEqual({ trustProxy: false, trustedProxyHops: 0 });
    expect(hops({ TRUST_PROXY: "true", TRUSTED_PROXY_HOPS: "3" })).toEqual({ trustProxy: true, trustedProxyHops: 3 });
    expect(hops({ TRUST_PROXY: "false", TRUSTED_PROXY_HOPS: "0" })).toEqual({ trustProxy: false, trustedProxyHops: 0 });
    expect(refusal({ TRUST_PROXY: "false", TRUSTED_PROXY_HOPS: "2" })).toMatch(/^TRUST_PROXY=false contradicts TRUSTED_PROXY_HOPS=2/);
    expect(refusal({ TRUST_PROXY: "true", TRUSTED_PROXY_HOPS: "0" })).toMatch(/^TRUST_PROXY=true contradicts TRUSTED_PROXY_HOPS=0/);
    expect(refusal({ TRUSTED_PROXY_HOPS: "-1" })).toMatch(/^TRUSTED_PROXY_HOPS /);
    expect(refusal({ TRUSTED_PROXY_HOPS: "17" })).toMatch(/^TRUSTED_PROXY_HOPS /);
    expect(refusal({ TRUSTED_PROXY_HOPS: "two" })).toMatch(/^TRUSTED_PROXY_HOPS must be a number/);
  });

  it("sends Stripe raw card data only when STRIPE_RAW_CARD_DATA says so (default false)", () => {
    const stripe = { NODE_ENV: "development", GATEWAY: "stripe", STRIPE_SECRET_KEY: "sk_test_x" };
    expect(loadConfig(stripe).gateway).toMatchObject({ kind: "stripe", rawCardData: false });
    expect(loadConfig({ ...stripe, STRIPE_RAW_CARD_DATA: "true" }).gateway).toMatchObject({ kind: "stripe", rawCardData: true });
    expect(refusal({ ...stripe, STRIPE_RAW_CARD_DATA: "sometimes" })).toMatch(/^STRIPE_RAW_CARD_DATA must be true or false/);
  });
});

describe("the gateways' webhook settings (docs/CONTRACT.md §10)", () => {
  it("takes STRIPE_WEBHOOK_SECRET and PAYPAL_WEBHOOK_ID for their gateway", () => {
    const stripe = loadConfig({ ...PRODUCTION, STRIPE_WEBHOOK_SECRET: "whsec_abc123" });
    expect(stripe.gateway).toMatchObject({ kind: "stripe", webhookSecret: "whsec_abc123" });
    expect(stripe.warnings).toEqual([]);
    const paypal = loadConfig({
      ...PRODUCTION,
      GATEWAY: "paypal",
      PAYPAL_CLIENT_ID: "id",
      PAYPAL_CLIENT_SECRET: "s",
      PAYPAL_ENVIRONMENT: "production",
      PAYPAL_WEBHOOK_ID: "1JE4291016473214C",
    });
    expect(paypal.gateway).toMatchObject({ kind: "paypal", webhookId: "1JE4291016473214C" });
    expect(paypal.warnings).toEqual([]);
  });

  it("refuses a malformed one at start, without showing the secret", () => {
    const message = refusal({ ...PRODUCTION, STRIPE_WEBHOOK_SECRET: "not-a-signing-secret" });
    expect(message).toMatch(/^STRIPE_WEBHOOK_SECRET does not have the expected format/);
    expect(message).not.toContain("not-a-signing-secret");
    expect(refusal({ ...PRODUCTION, PAYPAL_WEBHOOK_ID: "has spaces" })).toMatch(/^PAYPAL_WEBHOOK_ID/);
  });

  it("warns in production when the configured gateway's webhook setting is missing, and only then", () => {
    expect(loadConfig(PRODUCTION).warnings).toEqual([expect.stringMatching(/^STRIPE_WEBHOOK_SECRET is not set: Stripe's events/)]);
    const paypal = loadConfig({ ...PRODUCTION, GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "s", PAYPAL_ENVIRONMENT: "production" });
    expect(paypal.warnings).toEqual([expect.stringMatching(/^PAYPAL_WEBHOOK_ID is not set: PayPal's events/)]);
    expect(loadConfig({ NODE_ENV: "development", GATEWAY: "stripe", STRIPE_SECRET_KEY: "sk_test_x" }).warnings).toEqual([]);
  });
});
