import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { sql } from "drizzle-orm";
import { ApiKeyAuthenticator, FailedAuthThrottle, RateLimiter } from "../modules/auth";
import { type Broker, createPostgresQueue } from "../modules/broker";
import { createSimulatorGateway, type Gateway } from "../modules/gateways";
import { createMerchantGuard } from "../modules/http";
import { countDisputesByStatus, countUnresolved, countUnresolvedRefunds } from "../modules/payments";
import { type CardVault, loadCardVault } from "../modules/vault";
import { resealWebhookSecrets, WebhookSecretBox } from "../modules/webhooks";
import pkg from "../package.json" with { type: "json" };
import { type Config, DEV_API_KEY, gatewayTestMode } from "./config";
import { type DatabaseHandle, openDatabase } from "./db";
import { createHttpApp } from "./http";
import type { Logger } from "./logger";
import { createMetrics, type Metrics } from "./metrics";

const DEV_CARD_KEY_FILE = ".data/dev-card-encryption.key";

/**
 * Everything the roles share, built once from the validated config: the database, keys decoded
 * into the vault and the webhook secret box, the API keys in force, the gateway and the broker
 * chosen by config. startApi and startWorker take it; nothing below src/ sees the config itself.
 */
export interface ServiceContext {
  config: Config;
  logger: Logger;
  database: DatabaseHandle;
  metrics: Metrics;
  vault: CardVault;
  webhookSecrets: WebhookSecretBox;
  /** The merchants' keys: API_KEYS, or the development key when it is not set. */
  apiKeys: { merchantId: string; secret: string }[];
  gateway: Gateway;
  broker: Broker;
  /** One count of failed authentications per process, whichever listener or credential they hit. */
  failedAuthentications: FailedAuthThrottle;
  /**
   * Wakes this process's reconciler, when it runs one: a gateway's event made a look-up due now
   * (docs/CONTRACT.md §10). The worker role registers it; in an api-only process the look-up is
   * made at the workers' next reconciler poll (RECONCILE_INTERVAL_MS).
   */
  reconcilerWakers: (() => void)[];
  /** What the roles add to /health/ready: each answers why the process is not ready, or undefined. */
  readinessChecks: (() => string | undefined)[];
  /**
   * Where browsers reach this service (PUBLIC_URL), or, unset, the API's address once it listens
   * (api.ts sets it: PORT may be 0): the simulator links its own pages from it.
   */
  publicUrl: { value: string };
  /** An HTTP app with the shared health, metrics, error and request-id handling around `routes`. */
  httpApp(routes: Parameters<typeof createHttpApp>[0]["routes"], metricsAccess: "open" | "hidden"): ReturnType<typeof createHttpApp>;
}

/** Where paystream serves the simulator's authentication and approval pages (outside production). */
export const SIMULATOR_ACTION_PATH = "/simulator/actions";

function loadDevCardKey(logger: Logger): Buffer {
  if (existsSync(DEV_CARD_KEY_FILE)) return Buffer.from(readFileSync(DEV_CARD_KEY_FILE, "utf8").trim(), "base64");
  mkdirSync(dirname(DEV_CARD_KEY_FILE), { recursive: true });
  const key = randomBytes(32);
  // "wx": if another process created it a moment ago, keep theirs.
  try {
    writeFileSync(DEV_CARD_KEY_FILE, key.toString("base64"), { flag: "wx", mode: 0o600 });
  } catch {
    return Buffer.from(readFileSync(DEV_CARD_KEY_FILE, "utf8").trim(), "base64");
  }
  logger.warn({ file: DEV_CARD_KEY_FILE }, "CARD_ENCRYPTION_KEY not set: generated a development key");
  return key;
}

/** Adapters other than the defaults are imported on demand: a process loads only the SDKs it uses. */
async function createGateway(config: Config, database: DatabaseHandle, logger: Logger, publicUrl: { value: string }): Promise<Gateway> {
  switch (config.gateway.kind) {
    case "simulator":
      return createSimulatorGateway(database.db, {
        latencyMs: config.gateway.latencyMs,
        transientFailureRate: config.gateway.transientFailureRate,
        actionPageUrl: (reference) => `${publicUrl.value}${SIMULATOR_ACTION_PATH}/${reference}`,
      });
    case "stripe": {
      const { createStripeGateway } = await import("../modules/gateways/stripe");
      return createStripeGateway({
        secretKey: config.gateway.secretKey,
        apiBase: config.gateway.apiBase,
        timeoutMs: config.gateway.timeoutMs,
        searchLagMs: config.gateway.searchLagMs,
        rawCardData: config.gateway.rawCardData,
        log: logger.child({ component: "gateway" }),
      });
    }
    case "paypal": {
      const { createPaypalGateway } = await import("../modules/gateways/paypal");
      return createPaypalGateway({
        clientId: config.gateway.clientId,
        clientSecret: config.gateway.clientSecret,
        environment: config.gateway.environment,
        apiBase: config.gateway.apiBase,
        timeoutMs: config.gateway.timeoutMs,
        log: logger.child({ component: "gateway" }),
      });
    }
  }
}

async function createBroker(config: Config, database: DatabaseHandle, logger: Logger): Promise<Broker> {
  switch (config.broker.kind) {
    case "postgres":
      return createPostgresQueue(database.db, logger.child({ component: "queue" }), {
        leaseMs: config.processing.leaseMs,
        listen: database.listen,
      });
    case "kafka": {
      const { createKafkaBroker } = await import("../modules/broker/kafka");
      return createKafkaBroker(database.db, logger.child({ component: "kafka" }), {
        brokers: config.broker.brokers,
        topicPrefix: config.broker.topicPrefix,
        partitions: config.broker.partitions,
        leaseMs: config.processing.leaseMs,
        listen: database.listen,
      });
    }
  }
}

/**
 * A Stripe test key or PayPal's sandbox is allowed in production (a staging deployment) but never
 * quietly: an error line at every start of every role, and the `paystream_gateway_test_mode`
 * gauge, which an alert can watch (docs/CONTRACT.md §11).
 */
export function announceGatewayMode(config: Config, logger: Logger, metrics: Metrics): void {
  const testMode = gatewayTestMode(config.gateway);
  metrics.setGatewayTestMode(config.gateway.kind, testMode);
  if (testMode && config.env === "production")
    logger.error({ gateway: config.gateway.kind }, "gateway in test mode: nothing is really charged");
}

/** Opens the database (migrating it when configured), decodes the keys and builds the shared adapters. */
export async function buildContext(config: Config, logger: Logger): Promise<ServiceContext> {
  const database = openDatabase(config.database.url, config.database.poolSize);
  if (config.database.migrate) {
    await database.migrate();
    logger.info({ database: database.kind }, "migrations applied");
  }
  const metrics = createMetrics();
  // Every role reports what waits for the gateway to tell: it is one query, and an api-only
  // deployment must show it too.
  metrics.setUnresolvedSource(() => countUnresolved(database.db));
  metrics.setUnresolvedRefundsSource(() => countUnresolvedRefunds(database.db));
  metrics.setDisputesSource(() => countDisputesByStatus(database.db));
  announceGatewayMode(config, logger, metrics);

  const masterKey = config.cardEncryptionKey ? Buffer.from(config.cardEncryptionKey, "base64") : loadDevCardKey(logger);
  const retiredKeys = config.retiredCardEncryptionKeys.map((key) => Buffer.from(key, "base64"));
  const vault = await loadCardVault(database.db, [masterKey, ...retiredKeys]);
  const webhookSecrets = new WebhookSecretBox(masterKey, retiredKeys);
  const resealed = await resealWebhookSecrets(database.db, webhookSecrets);
  // Key ids, never keys: what an operator needs to see which key still seals what (README, key rotation).
  logger.info({ activeKeyId: vault.activeKeyId, keyIds: vault.keyIds, webhookSecrets: resealed }, "card encryption keys loaded");
  if (resealed.unreadable > 0)
    logger.error({ unreadable: resealed.unreadable }, "webhook signing secrets sealed under a key that is not configured; their merchants must rotate them");

  const broker = await createBroker(config, database, logger);
  const publicUrl = { value: config.publicUrl ?? `http://127.0.0.1:${config.http.port}` };
  const gateway = await createGateway(config, database, logger, publicUrl);

  const failedAuthentications = new FailedAuthThrottle(config.authFailures, {
    onThrottled: (client) =>
      logger.warn({ client, limit: config.authFailures.limit, windowMs: config.authFailures.windowMs }, "too many failed authentications: client throttled"),
  });
  // The metrics token is checked like an API key: in constant time, and throttled per client.
  const metricsGuard = config.ops.metricsToken
    ? createMerchantGuard(
        new ApiKeyAuthenticator([{ merchantId: "metrics", secret: config.ops.metricsToken }]),
        new RateLimiter(0),
        failedAuthentications,
      )
    : undefined;
  const readinessChecks: (() => string | undefined)[] = [];
  const readiness = async () => {
    try {
      await database.db.execute(sql`select 1`);
    } catch {
      throw new Error("database unavailable");
    }
    try {
      await broker.check();
    } catch {
      throw new Error(`broker (${broker.kind}) unavailable`);
    }
    for (const check of readinessChecks) {
      const reason = check();
      if (reason) throw new Error(reason);
    }
  };

  return {
    config,
    logger,
    database,
    metrics,
    vault,
    webhookSecrets,
    apiKeys: config.apiKeys ?? [DEV_API_KEY],
    publicUrl,
    gateway,
    broker,
    failedAuthentications,
    readinessChecks,
    reconcilerWakers: [],
    httpApp: (routes, metricsAccess) =>
      createHttpApp({
        logger,
        metrics,
        version: pkg.version,
        readiness,
        routes,
        metricsAccess: metricsGuard ?? metricsAccess,
        trustedProxyHops: config.trustedProxyHops,
      }),
  };
}

/** Closes what buildContext opened, after every role has stopped. */
export async function closeContext(ctx: ServiceContext): Promise<void> {
  await ctx.broker.close();
  const began = performance.now();
  await ctx.database.close();
  ctx.logger.debug({ ms: Math.round(performance.now() - began) }, "database pool closed");
}

/** A listen address as a URL host: a wildcard address is reachable as localhost, an IPv6 literal needs brackets. */
export function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * What a started role leaves behind: its steps to stop, in order. `graceEndsAt` (performance.now()
 * time) is when SHUTDOWN_GRACE_MS runs out and the process exits whatever it still holds.
 */
export type StopStep = (shutdown: { graceEndsAt: number }) => Promise<void>;
