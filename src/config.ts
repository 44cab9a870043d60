/**
 * Configuration: read from the environment once, validated with typebox, passed down.
 * Nothing below src/ reads process.env.
 */
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import Type, { type Static, type TLiteral, type TUnion } from "typebox";
import Value from "typebox/value";
import { GATEWAY_LIMITS } from "../modules/gateways";
import { maskCredentials } from "../modules/runtime";
import { weaknessOfKey, weaknessOfSecret } from "./secret-strength";

const OneOf = <const T extends string[]>(values: T, defaultValue: T[number]) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { default: defaultValue, oneOfValues: values },
  ) as unknown as TUnion<{ [K in keyof T]: TLiteral<T[K]> }>;

const Int = (min: number, max: number, defaultValue: number) =>
  Type.Integer({ minimum: min, maximum: max, default: defaultValue });

/** Printable ASCII without the space: what an HTTP header can carry verbatim. */
const VISIBLE_ASCII = "[\\x21-\\x7e]";
/** `merchantId:secret`; the secret is visible ASCII without `,` and `:`, which separate the pairs. */
const API_KEY_PAIR = "[A-Za-z0-9_-]{1,64}:[\\x21-\\x2b\\x2d-\\x39\\x3b-\\x7e]{8,256}";

const EnvSchema = Type.Object({
  NODE_ENV: OneOf(["development", "test", "production"], "development"),
  PORT: Int(0, 65535, 3000),
  // No schema default: it depends on whether the development key is accepted (see loadConfig).
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  OPS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  OPS_HOST: Type.Optional(Type.String({ minLength: 1 })),
  METRICS_TOKEN: Type.Optional(Type.String({ pattern: `^${VISIBLE_ASCII}{1,512}$` })),
  TRUST_PROXY: Type.Boolean({ default: false }),
  // No schema default: TRUST_PROXY=true means one hop (see loadConfig).
  TRUSTED_PROXY_HOPS: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
  DATABASE_URL: Type.String({ pattern: "^(postgres|postgresql|pglite)://", default: "pglite://./.data/pglite" }),
  DB_POOL_SIZE: Int(1, 200, 20),
  MIGRATE: Type.Boolean({ default: true }),
  BROKER: OneOf(["postgres", "kafka"], "postgres"),
  KAFKA_BROKERS: Type.String({ pattern: "^[^,\\s]+:\\d+(,[^,\\s]+:\\d+)*$", default: "127.0.0.1:9092" }),
  KAFKA_TOPIC_PREFIX: Type.String({ pattern: "^[A-Za-z0-9._-]{1,200}$", default: "payments" }),
  KAFKA_PARTITIONS: Int(1, 1000, 6),
  GATEWAY: OneOf(["simulator", "stripe", "paypal"], "simulator"),
  GATEWAY_TIMEOUT_MS: Int(100, 120_000, 10_000),
  STRIPE_SECRET_KEY: Type.Optional(Type.String({ minLength: 1 })),
  STRIPE_API_BASE: Type.Optional(Type.String({ pattern: "^https?://" })),
  STRIPE_RAW_CARD_DATA: Type.Boolean({ default: false }),
  STRIPE_WEBHOOK_SECRET: Type.Optional(Type.String({ pattern: "^whsec_[\\x21-\\x7e]{1,256}$" })),
  PAYPAL_WEBHOOK_ID: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9-]{1,64}$" })),
  PAYPAL_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  PAYPAL_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  PAYPAL_ENVIRONMENT: OneOf(["sandbox", "production"], "sandbox"),
  PAYPAL_API_BASE: Type.Optional(Type.String({ pattern: "^https?://" })),
  SIMULATOR_LATENCY_MS: Int(0, 60_000, 50),
  SIMULATOR_TRANSIENT_FAILURE_RATE: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
  WORKER_CONCURRENCY: Int(1, 10_000, 64),
  MAX_ATTEMPTS: Int(1, 100, 5),
  RETRY_BASE_MS: Int(1, 3_600_000, 500),
  RETRY_MAX_MS: Int(1, 86_400_000, 60_000),
  LEASE_MS: Int(1_000, 3_600_000, 90_000),
  SWEEP_INTERVAL_MS: Int(100, 3_600_000, 5_000),
  RECONCILE_FIRST_CHECK_MS: Int(100, 3_600_000, 30_000),
  RECONCILE_MAX_INTERVAL_MS: Int(1_000, 7 * 86_400_000, 86_400_000),
  RECONCILE_INTERVAL_MS: Int(100, 3_600_000, 5_000),
  STRIPE_SEARCH_LAG_MS: Int(0, 86_400_000, 3_600_000),
  STUCK_AFTER_MS: Int(1_000, 86_400_000, 60_000),
  SHUTDOWN_GRACE_MS: Int(1_000, 3_600_000, 25_000),
  // At least 4 days: both gateways retry an event's delivery for up to 3 days (README, "Gateway events").
  GATEWAY_EVENT_RETENTION_MS: Int(4 * 86_400_000, 3650 * 86_400_000, 35 * 86_400_000),
  AUTHORIZATION_TTL_MS: Int(1_000, 30 * 86_400_000, 7 * 86_400_000),
  ACTION_TTL_MS: Int(1_000, 86_400_000, 3_600_000),
  ACTION_CHECK_FIRST_MS: Int(100, 10_000, 5_000),
  ACTION_CHECK_MAX_MS: Int(1_000, 300_000, 300_000),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: "^https?://[^/?#@\\s]+/?$" })),
  WEBHOOK_TIMEOUT_MS: Int(100, 120_000, 10_000),
  WEBHOOK_MAX_AGE_MS: Int(1_000, 30 * 86_400_000, 86_400_000),
  WEBHOOK_RETRY_BASE_MS: Int(1, 3_600_000, 30_000),
  WEBHOOK_CONCURRENCY: Int(1, 10_000, 16),
  WEBHOOK_MERCHANT_CONCURRENCY: Int(1, 1_000, 4),
  WEBHOOK_DISABLE_AFTER_MS: Int(1_000, 365 * 86_400_000, 3 * 86_400_000),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: Type.Boolean({ default: false }),
  API_KEYS: Type.Optional(Type.String({ pattern: `^${API_KEY_PAIR}(,${API_KEY_PAIR})*$` })),
  CARD_ENCRYPTION_KEY: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9+/]{43}=$" })),
  CARD_ENCRYPTION_KEYS_RETIRED: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9+/]{43}=(,[A-Za-z0-9+/]{43}=)*$" })),
  RATE_LIMIT_RPS: Int(0, 10_000_000, 1000),
  AUTH_FAILURE_LIMIT: Int(0, 1_000_000, 20),
  AUTH_FAILURE_WINDOW_MS: Int(1_000, 86_400_000, 60_000),
  LOG_LEVEL: OneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info"),
});

type Env = Static<typeof EnvSchema>;

/** Every environment variable paystream reads; deployment files are checked against this list. */
export const ENV_VARIABLES: readonly string[] = Object.keys(EnvSchema.properties);

export type Role = "api" | "worker" | "all";

type ApiKeyPair = { merchantId: string; secret: string };

export interface Config {
  env: Env["NODE_ENV"];
  http: { port: number; host: string };
  /** A reverse proxy in front sets X-Forwarded-For / -Proto; without one those headers are the client's to forge. */
  trustProxy: boolean;
  /** How many reverse proxies in front append to X-Forwarded-For (0: none is trusted); trustProxy is this above 0. */
  trustedProxyHops: number;
  /**
   * A second listener for operators: every role serves /health and /metrics on `port` when set.
   * `metricsToken`, when set, is required as `Authorization: Bearer` wherever /metrics is served.
   * `publicMetrics`: whether the API port serves /metrics without a token (outside production only).
   */
  ops: { port: number | undefined; host: string; metricsToken: string | undefined; publicMetrics: boolean };
  database: { url: string; poolSize: number; migrate: boolean };
  broker:
    | { kind: "postgres" }
    | { kind: "kafka"; brokers: string[]; topicPrefix: string; partitions: number };
  gateway:
    | { kind: "simulator"; latencyMs: number; transientFailureRate: number }
    | {
        kind: "stripe";
        secretKey: string;
        apiBase: string | undefined;
        timeoutMs: number;
        searchLagMs: number;
        rawCardData: boolean;
        /** STRIPE_WEBHOOK_SECRET: the signing secret of the endpoint registered at Stripe; without it Stripe events are not taken (docs/CONTRACT.md §10). */
        webhookSecret: string | undefined;
      }
    | {
        kind: "paypal";
        clientId: string;
        clientSecret: string;
        environment: "sandbox" | "production";
        apiBase: string | undefined;
        timeoutMs: number;
        /** PAYPAL_WEBHOOK_ID: the id PayPal gave the registered webhook; without it PayPal events are not taken (docs/CONTRACT.md §10). */
        webhookId: string | undefined;
      };
  /** What the start logs as warnings: settings that are allowed but leave something out. */
  warnings: string[];
  processing: {
    concurrency: number;
    maxAttempts: number;
    retryBaseMs: number;
    retryMaxMs: number;
    leaseMs: number;
    /** The longest one gateway operation may take (every call it may make, each up to its timeout): the part of a lease the call itself needs. */
    operationMs: number;
    sweepIntervalMs: number;
    stuckAfterMs: number;
    reconcile: { firstCheckMs: number; maxIntervalMs: number; pollIntervalMs: number };
    /** How long an authorization (`capture: false`) holds before the worker voids it (docs/CONTRACT.md §8). */
    authorizationTtlMs: number;
    /**
     * Payments waiting for their customer (REQUIRES_ACTION, docs/CONTRACT.md §9): how long they may
     * wait, and their gateway look-ups (the first after `firstCheckMs`, doubling to `maxIntervalMs`).
     */
    customerAction: { ttlMs: number; firstCheckMs: number; maxIntervalMs: number };
  };
  /**
   * Where browsers reach this service (PUBLIC_URL): the simulator's own authentication and
   * approval pages are linked from it (outside production). Unset: the API's own address once it
   * listens (http://127.0.0.1:PORT for a worker on its own).
   */
  publicUrl: string | undefined;
  webhooks: {
    timeoutMs: number;
    maxAgeMs: number;
    retryBaseMs: number;
    /** Attempts in flight per worker, and per merchant across all workers (one while its endpoint fails). */
    concurrency: number;
    merchantConcurrency: number;
    /** An endpoint whose every attempt failed for this long is disabled until its merchant enables it again. */
    disableAfterMs: number;
    /** Production: https endpoints only. Private networks: development and tests only (WEBHOOK_ALLOW_PRIVATE_NETWORKS). */
    destinations: { requireHttps: boolean; allowPrivateNetworks: boolean };
  };
  /**
   * SHUTDOWN_GRACE_MS: how long a process has from SIGTERM (or SIGINT) to exit; past it, it exits 1.
   * A worker gives back at once what it holds and has not sent to the gateway, and hands calls still
   * at the gateway near the end to the reconciler as unknown outcomes (README, "Stopping a worker").
   */
  shutdownGraceMs: number;
  /** GATEWAY_EVENT_RETENTION_MS: how long the record of a handled gateway event is kept; a worker deletes older ones (README, "Gateway events"). */
  gatewayEventRetentionMs: number;
  /** Parsed `merchantId:secret` pairs; undefined means "use the development key". */
  apiKeys: ApiKeyPair[] | undefined;
  /** base64 of 32 bytes; undefined means "use the development key file". */
  cardEncryptionKey: string | undefined;
  /** Older keys, still used to open card secrets sealed before a rotation. */
  retiredCardEncryptionKeys: string[];
  rateLimitRps: number;
  /** At most `limit` failed API-key authentications per client per `windowMs` (0 = no limit). */
  authFailures: { limit: number; windowMs: number };
  logLevel: Env["LOG_LEVEL"];
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const BOOLEAN_WORDS: Record<string, boolean> = { true: true, "1": true, yes: true, false: false, "0": false, no: false };

/** Environment strings → typed values, keeping what cannot be converted so validation can name it. */
function coerce(raw: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(EnvSchema.properties) as unknown as [string, Record<string, unknown>][]) {
    const value = raw[key];
    if (value === undefined || value === "") continue;
    const type = schema.type;
    if (type === "integer" || type === "number") out[key] = value.trim() === "" ? value : Number(value);
    else if (type === "boolean") out[key] = BOOLEAN_WORDS[value.toLowerCase()] ?? value;
    else out[key] = value;
  }
  return out;
}

function describeProblem(key: string, schema: Record<string, unknown>, value: unknown, message: string): string {
  // Secret-valued settings are never echoed; any other may be a URL with a password in it.
  if (/SECRET|KEY|TOKEN|PASSWORD/.test(key))
    return `${key} ${typeof schema.pattern === "string" ? "does not have the expected format" : message} (value not shown)`;
  const shown = maskCredentials(JSON.stringify(value));
  if (Array.isArray(schema.oneOfValues)) return `${key} must be one of ${schema.oneOfValues.join(", ")} (got ${shown})`;
  if (schema.type === "boolean") return `${key} must be true or false (got ${shown})`;
  if (schema.type === "integer" && typeof value === "number" && !Number.isInteger(value))
    return `${key} must be a whole number (got ${shown})`;
  if ((schema.type === "integer" || schema.type === "number") && typeof value !== "number")
    return `${key} must be a number (got ${shown})`;
  if (typeof value === "number" && Number.isNaN(value)) return `${key} must be a number`;
  return `${key} ${message} (got ${shown})`;
}

function requireSetting(value: string | undefined, key: string, why: string): string {
  if (value === undefined) throw new ConfigError(`${key} is required ${why}`);
  return value;
}

/** The longest a charge attempt may take: every call it may make, each up to its timeout. */
function worstCaseOperationMs(env: Env, gateway: Config["gateway"]): number {
  return gateway.kind === "simulator" ? gateway.latencyMs : env.GATEWAY_TIMEOUT_MS * GATEWAY_LIMITS[gateway.kind].callsPerOperation;
}

/**
 * Settings that would let a card be charged twice are refused at start (docs/CONTRACT.md §6): a lease
 * shorter than one gateway operation lets a second worker start the same charge while the first
 * is still waiting, and a retry schedule longer than the gateway keeps idempotency keys lets a
 * late retry run as a new charge.
 */
function checkMoneySafety(env: Env, gateway: Config["gateway"]): void {
  const operationMs = worstCaseOperationMs(env, gateway);
  if (env.LEASE_MS <= operationMs)
    throw new ConfigError(
      `LEASE_MS must exceed the longest gateway operation (${operationMs} ms = GATEWAY_TIMEOUT_MS × ${gateway.kind === "simulator" ? "1" : GATEWAY_LIMITS[gateway.kind].callsPerOperation} calls for ${gateway.kind}) (got ${env.LEASE_MS})`,
    );
  // Each gap between attempts: the back-off, plus a lease that ran out, plus the sweeper finding
  // a lost message.
  let spanMs = env.MAX_ATTEMPTS * operationMs;
  for (let attempt = 1; attempt < env.MAX_ATTEMPTS; attempt++)
    spanMs += Math.min(env.RETRY_MAX_MS, env.RETRY_BASE_MS * 2 ** (attempt - 1)) + env.LEASE_MS + env.STUCK_AFTER_MS + env.SWEEP_INTERVAL_MS;
  const windowMs = GATEWAY_LIMITS[gateway.kind].idempotencyWindowMs;
  if (spanMs >= windowMs)
    throw new ConfigError(
      `MAX_ATTEMPTS, RETRY_BASE_MS and RETRY_MAX_MS make a retry schedule of up to ${Math.round(spanMs / 60_000)} min, longer than ${gateway.kind} keeps idempotency keys (${Math.round(windowMs / 60_000)} min)`,
    );
  if (env.RECONCILE_MAX_INTERVAL_MS < env.RECONCILE_FIRST_CHECK_MS)
    throw new ConfigError("RECONCILE_MAX_INTERVAL_MS must be >= RECONCILE_FIRST_CHECK_MS");
}

/** The key `npm start` accepts when API_KEYS is not set; it is public, so it is refused in production and off loopback. */
export const DEV_API_KEY = { merchantId: "local", secret: "sk_test_local" } as const;

/** Loopback only: `localhost`, 127.0.0.0/8, ::1 and its IPv4-mapped forms. A host name other than localhost may resolve anywhere. */
function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  if (name === "localhost" || name === "localhost.") return true;
  if (isIP(name) === 0) return false;
  // process(): an IPv4-mapped IPv6 address becomes the IPv4 address it carries.
  return ipaddr.process(name.replace(/%.*$/, "")).range() === "loopback";
}

/** A production secret must be long and look random; the message never shows the value. */
function requireStrongSecret(secret: string, what: string): void {
  if (secret === DEV_API_KEY.secret) throw new ConfigError(`${what} is the public development key ${DEV_API_KEY.secret}`);
  if (secret.length < MIN_SECRET_LENGTH)
    throw new ConfigError(`${what} must have at least ${MIN_SECRET_LENGTH} characters (has ${secret.length}; e.g. openssl rand -hex 24)`);
  const weakness = weaknessOfSecret(secret);
  if (weakness) throw new ConfigError(`${what} does not look random: it ${weakness}`);
}

function requireRandomKey(base64: string, what: string): void {
  const weakness = weaknessOfKey(Buffer.from(base64, "base64"));
  if (weakness) throw new ConfigError(`${what} does not look random: it ${weakness}; generate one with openssl rand -base64 32`);
}

const MIN_SECRET_LENGTH = 32;

/**
 * Production fails closed: a setting that would charge nothing or leave a guessable secret stops
 * the start. `given` is the environment before schema defaults, to tell "set" from "defaulted".
 */
function refuseUnsafeProduction(env: Env, given: Record<string, unknown>, apiKeys: ApiKeyPair[], retiredKeys: string[]): void {
  if (given.GATEWAY === undefined) throw new ConfigError("GATEWAY is required when NODE_ENV=production (stripe or paypal)");
  if (env.GATEWAY === "simulator")
    throw new ConfigError("GATEWAY=simulator is refused when NODE_ENV=production: it charges nothing (use stripe or paypal)");
  if (env.GATEWAY === "paypal" && given.PAYPAL_ENVIRONMENT === undefined)
    throw new ConfigError("PAYPAL_ENVIRONMENT is required when NODE_ENV=production (production, or sandbox for a staging deployment)");
  for (const { merchantId, secret } of apiKeys) requireStrongSecret(secret, `API_KEYS: the secret of merchant "${merchantId}"`);
  if (env.METRICS_TOKEN) requireStrongSecret(env.METRICS_TOKEN, "METRICS_TOKEN");
  if (env.CARD_ENCRYPTION_KEY) requireRandomKey(env.CARD_ENCRYPTION_KEY, "CARD_ENCRYPTION_KEY");
  retiredKeys.forEach((key, i) => requireRandomKey(key, `CARD_ENCRYPTION_KEYS_RETIRED (key ${i + 1})`));
}

/** Settings only a deployment has: with any of them, an unset NODE_ENV was forgotten, not chosen. */
const DEPLOYMENT_SETTINGS = ["API_KEYS", "STRIPE_SECRET_KEY", "PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET"] as const;

/**
 * Without NODE_ENV the service runs as development: the simulator takes payments, `/metrics` is
 * public, webhooks may go to http. Next to merchants' keys, a gateway credential or a listener on
 * the network, that is a production start that forgot NODE_ENV, so it fails closed instead
 * (docs/CONTRACT.md §11). Development is still a choice: NODE_ENV=development says so. Only
 * setting names are shown, never values.
 */
function refuseDeploymentWithoutNodeEnv(given: Record<string, unknown>): void {
  if (given.NODE_ENV !== undefined) return;
  const signs: string[] = DEPLOYMENT_SETTINGS.filter((key) => given[key] !== undefined);
  for (const key of ["HOST", "OPS_HOST"] as const)
    if (typeof given[key] === "string" && !isLoopbackHost(given[key])) signs.push(`${key} (not a loopback address)`);
  if (signs.length > 0)
    throw new ConfigError(
      `NODE_ENV is not set, yet ${signs.join(", ")} ${signs.length === 1 ? "is" : "are"} set as for a deployment: set NODE_ENV=production (or NODE_ENV=development to run as development on purpose)`,
    );
}

/** Stripe's test-mode secret and restricted keys (docs.stripe.com/keys): they charge nothing. */
const STRIPE_TEST_KEY = /^(sk|rk)_test_/;

/**
 * Whether the configured gateway really charges: a Stripe test-mode key, PayPal's sandbox and the
 * simulator do not. Production allows the first two (a staging deployment) but says so at every
 * start and in the `paystream_gateway_test_mode` gauge (docs/CONTRACT.md §11).
 */
export function gatewayTestMode(gateway: Config["gateway"]): boolean {
  switch (gateway.kind) {
    case "simulator":
      return true;
    case "stripe":
      return STRIPE_TEST_KEY.test(gateway.secretKey);
    case "paypal":
      return gateway.environment === "sandbox";
  }
}

/**
 * Production talks to its gateway over TLS only: an http base URL would send the secret key and
 * card data in clear (docs/CONTRACT.md §11). Tests reach their local fakes over https with a test
 * CA that the process trusts through NODE_EXTRA_CA_CERTS (README, configuration).
 */
function requireHttpsGatewayBases(env: Env): void {
  for (const key of ["STRIPE_API_BASE", "PAYPAL_API_BASE"] as const) {
    const value = env[key];
    if (value !== undefined && !value.startsWith("https://"))
      throw new ConfigError(`${key} must be an https:// URL when NODE_ENV=production (got ${maskCredentials(JSON.stringify(value))})`);
  }
}

/** Validates the whole environment; throws ConfigError with one line naming the first bad setting. */
export function loadConfig(raw: Record<string, string | undefined>): Config {
  const given = coerce(raw);
  const candidate = Value.Default(EnvSchema, { ...given }) as Record<string, unknown>;
  for (const error of Value.Errors(EnvSchema, candidate)) {
    const key = error.instancePath.replace(/^\//, "").split("/")[0] ?? "";
    const schema = (EnvSchema.properties as unknown as Record<string, Record<string, unknown>>)[key] ?? {};
    const original = raw[key] ?? candidate[key];
    const value = typeof candidate[key] === "number" && Number.isNaN(candidate[key]) ? original : candidate[key];
    throw new ConfigError(describeProblem(key, schema, value, error.message));
  }
  const env = candidate as Env;
  const production = env.NODE_ENV === "production";
  refuseDeploymentWithoutNodeEnv(given);

  if (env.RETRY_MAX_MS < env.RETRY_BASE_MS) throw new ConfigError("RETRY_MAX_MS must be >= RETRY_BASE_MS");
  if (production && !env.API_KEYS) throw new ConfigError("API_KEYS is required when NODE_ENV=production");
  if (production && !env.CARD_ENCRYPTION_KEY)
    throw new ConfigError("CARD_ENCRYPTION_KEY is required when NODE_ENV=production");
  if (production && env.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    throw new ConfigError("WEBHOOK_ALLOW_PRIVATE_NETWORKS must not be true when NODE_ENV=production");
  if (production) requireHttpsGatewayBases(env);
  if (env.CARD_ENCRYPTION_KEY && Buffer.from(env.CARD_ENCRYPTION_KEY, "base64").length !== 32)
    throw new ConfigError("CARD_ENCRYPTION_KEY must be base64 of exactly 32 bytes");

  let gateway: Config["gateway"];
  if (env.GATEWAY === "stripe") {
    gateway = {
      kind: "stripe",
      secretKey: requireSetting(env.STRIPE_SECRET_KEY, "STRIPE_SECRET_KEY", "when GATEWAY=stripe"),
      apiBase: env.STRIPE_API_BASE,
      timeoutMs: env.GATEWAY_TIMEOUT_MS,
      searchLagMs: env.STRIPE_SEARCH_LAG_MS,
      rawCardData: env.STRIPE_RAW_CARD_DATA,
      webhookSecret: env.STRIPE_WEBHOOK_SECRET,
    };
  } else if (env.GATEWAY === "paypal") {
    gateway = {
      kind: "paypal",
      clientId: requireSetting(env.PAYPAL_CLIENT_ID, "PAYPAL_CLIENT_ID", "when GATEWAY=paypal"),
      clientSecret: requireSetting(env.PAYPAL_CLIENT_SECRET, "PAYPAL_CLIENT_SECRET", "when GATEWAY=paypal"),
      environment: env.PAYPAL_ENVIRONMENT,
      apiBase: env.PAYPAL_API_BASE,
      timeoutMs: env.GATEWAY_TIMEOUT_MS,
      webhookId: env.PAYPAL_WEBHOOK_ID,
    };
  } else {
    gateway = {
      kind: "simulator",
      latencyMs: env.SIMULATOR_LATENCY_MS,
      transientFailureRate: env.SIMULATOR_TRANSIENT_FAILURE_RATE,
    };
  }

  checkMoneySafety(env, gateway);
  const warnings: string[] = [];
  // Without the gateway's events, late refund failures and disputes are never heard of; unknown
  // outcomes are still settled by the reconciler. Allowed (a staging setup may not want them), never silent.
  if (production && gateway.kind === "stripe" && gateway.webhookSecret === undefined)
    warnings.push("STRIPE_WEBHOOK_SECRET is not set: Stripe's events (late refund failures, disputes) are refused; register the endpoint at Stripe and set its signing secret (README)");
  if (production && gateway.kind === "paypal" && gateway.webhookId === undefined)
    warnings.push("PAYPAL_WEBHOOK_ID is not set: PayPal's events (disputes, refund failures) are refused; register the webhook at PayPal and set its id (README)");

  const apiKeys = env.API_KEYS?.split(",").map((pair) => {
    const [merchantId = "", secret = ""] = pair.split(":");
    return { merchantId, secret };
  });
  if (apiKeys && new Set(apiKeys.map((k) => k.secret)).size !== apiKeys.length)
    throw new ConfigError("API_KEYS contains the same secret twice");
  if (env.METRICS_TOKEN && apiKeys?.some((k) => k.secret === env.METRICS_TOKEN))
    throw new ConfigError("METRICS_TOKEN must differ from every API key (it only reads metrics)");
  const retiredKeys = env.CARD_ENCRYPTION_KEYS_RETIRED?.split(",") ?? [];
  if (production) refuseUnsafeProduction(env, given, apiKeys ?? [], retiredKeys);

  // Outside production the development key is public knowledge: it may only be reachable from this machine.
  const acceptsDevKey = !apiKeys || apiKeys.some((k) => k.secret === DEV_API_KEY.secret);
  const loopbackOnly = !production && acceptsDevKey;
  const host = env.HOST ?? (loopbackOnly ? "127.0.0.1" : "0.0.0.0");
  // The operators' listener is for this machine unless told otherwise (a Prometheus elsewhere: OPS_HOST=0.0.0.0).
  const opsHost = env.OPS_HOST ?? "127.0.0.1";
  if (loopbackOnly)
    for (const [key, value] of [["HOST", host], ["OPS_HOST", opsHost]] as const)
      if (!isLoopbackHost(value))
        throw new ConfigError(
          `${key}=${value} is not a loopback address: the public development key ${DEV_API_KEY.secret} would be accepted from the network (set API_KEYS, or listen on 127.0.0.1)`,
        );
  // TRUST_PROXY=true is one proxy; TRUSTED_PROXY_HOPS counts them (a CDN in front of a load
  // balancer is two). Both set, they must agree, rather than one silently winning.
  const trustedProxyHops = env.TRUSTED_PROXY_HOPS ?? (env.TRUST_PROXY ? 1 : 0);
  if (given.TRUST_PROXY !== undefined && given.TRUSTED_PROXY_HOPS !== undefined && env.TRUST_PROXY !== trustedProxyHops > 0)
    throw new ConfigError(
      `TRUST_PROXY=${env.TRUST_PROXY} contradicts TRUSTED_PROXY_HOPS=${trustedProxyHops} (set TRUSTED_PROXY_HOPS alone: 0 for no proxy, the number of proxies otherwise)`,
    );
  if (env.OPS_PORT !== undefined && env.OPS_PORT !== 0 && env.OPS_PORT === env.PORT)
    throw new ConfigError(`OPS_PORT must differ from PORT (both ${env.PORT})`);

  return {
    env: env.NODE_ENV,
    http: { port: env.PORT, host },
    trustProxy: trustedProxyHops > 0,
    trustedProxyHops,
    ops: { port: env.OPS_PORT, host: opsHost, metricsToken: env.METRICS_TOKEN, publicMetrics: !production },
    database: { url: env.DATABASE_URL, poolSize: env.DB_POOL_SIZE, migrate: env.MIGRATE },
    broker:
      env.BROKER === "kafka"
        ? {
            kind: "kafka",
            brokers: env.KAFKA_BROKERS.split(","),
            topicPrefix: env.KAFKA_TOPIC_PREFIX,
            partitions: env.KAFKA_PARTITIONS,
          }
        : { kind: "postgres" },
    gateway,
    warnings,
    processing: {
      concurrency: env.WORKER_CONCURRENCY,
      maxAttempts: env.MAX_ATTEMPTS,
      retryBaseMs: env.RETRY_BASE_MS,
      retryMaxMs: env.RETRY_MAX_MS,
      leaseMs: env.LEASE_MS,
      operationMs: worstCaseOperationMs(env, gateway),
      sweepIntervalMs: env.SWEEP_INTERVAL_MS,
      stuckAfterMs: env.STUCK_AFTER_MS,
      reconcile: {
        firstCheckMs: env.RECONCILE_FIRST_CHECK_MS,
        maxIntervalMs: env.RECONCILE_MAX_INTERVAL_MS,
        pollIntervalMs: env.RECONCILE_INTERVAL_MS,
      },
      authorizationTtlMs: env.AUTHORIZATION_TTL_MS,
      customerAction: { ttlMs: env.ACTION_TTL_MS, firstCheckMs: env.ACTION_CHECK_FIRST_MS, maxIntervalMs: env.ACTION_CHECK_MAX_MS },
    },
    publicUrl: env.PUBLIC_URL?.replace(/\/$/, ""),
    webhooks: {
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      maxAgeMs: env.WEBHOOK_MAX_AGE_MS,
      retryBaseMs: env.WEBHOOK_RETRY_BASE_MS,
      concurrency: env.WEBHOOK_CONCURRENCY,
      merchantConcurrency: env.WEBHOOK_MERCHANT_CONCURRENCY,
      disableAfterMs: env.WEBHOOK_DISABLE_AFTER_MS,
      destinations: { requireHttps: production, allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS },
    },
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    gatewayEventRetentionMs: env.GATEWAY_EVENT_RETENTION_MS,
    apiKeys,
    cardEncryptionKey: env.CARD_ENCRYPTION_KEY,
    retiredCardEncryptionKeys: retiredKeys,
    rateLimitRps: env.RATE_LIMIT_RPS,
    authFailures: { limit: env.AUTH_FAILURE_LIMIT, windowMs: env.AUTH_FAILURE_WINDOW_MS },
    logLevel: env.LOG_LEVEL,
  };
}
