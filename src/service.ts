import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { sql } from "drizzle-orm";
import { ApiKeyAuthenticator, FailedAuthThrottle, RateLimiter } from "../modules/auth";
import { type Broker, createPostgresQueue, outboxBacklog, type OutboxRelay, type PaymentConsumer } from "../modules/broker";
import { createSimulatorGateway, type Gateway } from "../modules/gateways";
import { createMerchantGuard } from "../modules/http";
import { createIntakeService, currencyExponent, intakeRoutes } from "../modules/intake";
import { createDashboardService, createDashboardSessions, dashboardRoutes } from "../modules/dashboard";
import { createPaymentProcessor, createPostgresPaymentStore, createReconciler, createSweeper, type Reconciler, type Sweeper } from "../modules/processing";
import {
  createWebhookDispatcher,
  createWebhookService,
  enqueuePaymentEvents,
  resealWebhookSecrets,
  WebhookSecretBox,
  webhookRoutes,
} from "../modules/webhooks";
import { loadCardVault } from "../modules/vault";
import { countUnresolved } from "../modules/payments";
import { type Config, DEV_API_KEY, type Role } from "./config";
import { type DatabaseHandle, openDatabase } from "./db";
import { createHttpApp } from "./http";
import type { Logger } from "./logger";
import { createMetrics } from "./metrics";
import pkg from "../package.json" with { type: "json" };

const DEV_CARD_KEY_FILE = ".data/dev-card-encryption.key";

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

/** A listen address as a URL host: a wildcard address is reachable as localhost, an IPv6 literal needs brackets. */
function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}

/** Adapters other than the defaults are imported on demand: a process loads only the SDKs it uses. */
async function createGateway(config: Config, handle: DatabaseHandle): Promise<Gateway> {
  switch (config.gateway.kind) {
    case "simulator":
      return createSimulatorGateway(handle.db, {
        latencyMs: config.gateway.latencyMs,
        transientFailureRate: config.gateway.transientFailureRate,
      });
    case "stripe": {
      const { createStripeGateway } = await import("../modules/gateways/stripe");
      return createStripeGateway({
        secretKey: config.gateway.secretKey,
        apiBase: config.gateway.apiBase,
        timeoutMs: config.gateway.timeoutMs,
        searchLagMs: config.gateway.searchLagMs,
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
      });
    }
  }
}

async function createBroker(config: Config, handle: DatabaseHandle, logger: Logger): Promise<Broker> {
  switch (config.broker.kind) {
    case "postgres":
      return createPostgresQueue(handle.db, logger.child({ component: "queue" }), {
        leaseMs: config.processing.leaseMs,
        pollIntervalMs: 25,
        redeliveryDelayMs: 1_000,
      });
    case "kafka": {
      const { createKafkaBroker } = await import("../modules/broker/kafka");
      return createKafkaBroker(handle.db, logger.child({ component: "kafka" }), {
        brokers: config.broker.brokers,
        topicPrefix: config.broker.topicPrefix,
        partitions: config.broker.partitions,
        clientId: "paystream",
        leaseMs: config.processing.leaseMs,
      });
    }
  }
}

export interface RunningService {
  url: string | undefined;
  stop(): Promise<void>;
}

/**
 * The composition root: builds every module from the validated config and starts what the role
 * asks for. Stopping runs in reverse: no new requests, drain workers, close the pools.
 */
export async function startService(config: Config, role: Role, logger: Logger): Promise<RunningService> {
  const handle = openDatabase(config.database.url, config.database.poolSize);
  if (config.database.migrate) {
    await handle.migrate();
    logger.info({ database: handle.kind }, "migrations applied");
  }
  const metrics = createMetrics();
  // Every role reports what waits for the gateway to tell: it is one query, and an api-only
  // deployment must show it too.
  metrics.setUnresolvedSource(() => countUnresolved(handle.db));
  const masterKey = config.cardEncryptionKey ? Buffer.from(config.cardEncryptionKey, "base64") : loadDevCardKey(logger);
  const retiredKeys = config.retiredCardEncryptionKeys.map((key) => Buffer.from(key, "base64"));
  const vault = await loadCardVault(handle.db, [masterKey, ...retiredKeys]);
  const webhookSecrets = new WebhookSecretBox(masterKey, retiredKeys);
  const resealed = await resealWebhookSecrets(handle.db, webhookSecrets);
  // Key ids, never keys: what an operator needs to see which key still seals what (README, key rotation).
  logger.info({ activeKeyId: vault.activeKeyId, keyIds: vault.keyIds, webhookSecrets: resealed }, "card encryption keys loaded");
  if (resealed.unreadable > 0)
    logger.error({ unreadable: resealed.unreadable }, "webhook signing secrets sealed under a key that is not configured; their merchants must rotate them");
  const broker = await createBroker(config, handle, logger);
  const gateway = await createGateway(config, handle);

  const stops: (() => Promise<void>)[] = [];
  let url: string | undefined;

  const readiness = async () => {
    try {
      await handle.db.execute(sql`select 1`);
    } catch {
      throw new Error("database unavailable");
    }
    try {
      await broker.check();
    } catch {
      throw new Error(`broker (${broker.kind}) unavailable`);
    }
  };

  // One count of failed authentications per process, whichever listener or credential they hit.
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
  const httpApp = (routes: Parameters<typeof createHttpApp>[0]["routes"], metricsAccess: "open" | "hidden") =>
    createHttpApp({
      logger,
      metrics,
      version: pkg.version,
      readiness,
      routes,
      metricsAccess: metricsGuard ?? metricsAccess,
      trustedProxyHops: config.trustProxy ? 1 : 0,
    });

  if (config.ops.port !== undefined) {
    // Operators' port, for every role: health and metrics where the public cannot reach them.
    const ops = httpApp([], "open");
    ops.listen({ port: config.ops.port, hostname: config.ops.host });
    stops.unshift(async () => {
      await ops.stop();
    });
    logger.info({ url: `http://${displayHost(config.ops.host)}:${ops.server?.port}/metrics` }, "health and metrics listening");
  } else if (!config.ops.publicMetrics && !config.ops.metricsToken) {
    logger.warn("/metrics is not served: set OPS_PORT (a port kept off the public network) or METRICS_TOKEN");
  }

  if (role === "api" || role === "all") {
    const apiKeys = config.apiKeys ?? [DEV_API_KEY];
    if (!config.apiKeys)
      logger.warn({ merchantId: DEV_API_KEY.merchantId }, `API_KEYS not set: accepting the development key ${DEV_API_KEY.secret}`);
    const merchantOf = createMerchantGuard(new ApiKeyAuthenticator(apiKeys), new RateLimiter(config.rateLimitRps), failedAuthentications);
    const intake = createIntakeService({
      db: handle.db,
      vault,
      gateway,
      onCreated: (payment, requestId) => {
        metrics.paymentCreated();
        logger.info({ paymentId: payment.id, requestId, amount: payment.amount, currency: payment.currency }, "payment accepted");
      },
    });
    const dashboard = createDashboardService({ db: handle.db, currencyExponent, logger: logger.child({ component: "dashboard" }) });
    // In production /metrics answers on the API port only with the token; otherwise it lives on OPS_PORT.
    const app = httpApp(
      [
        intakeRoutes({ service: intake, merchantOf }),
        webhookRoutes({
          service: createWebhookService({ db: handle.db, secrets: webhookSecrets, destinations: config.webhooks.destinations }),
          merchantOf,
        }),
        dashboardRoutes({
          service: dashboard,
          sessions: createDashboardSessions(handle.db, { liveApiKeys: apiKeys.map((k) => k.secret) }),
          merchantOf,
          trustProxy: config.trustProxy,
        }),
      ],
      config.ops.publicMetrics ? "open" : "hidden",
    );
    // Far above any route's own limit, so oversized bodies get our 413 problem+json (decided from Content-Length, unread).
    app.listen({ port: config.http.port, hostname: config.http.host, maxRequestBodySize: 64 * 1024 * 1024 });
    const port = app.server?.port;
    url = `http://${displayHost(config.http.host)}:${port}`;
    // Open dashboard streams never end by themselves, and the server's stop waits for every response.
    stops.push(async () => dashboard.close());
    stops.push(async () => {
      await app.stop();
    });
    const relay: OutboxRelay | undefined = broker.createRelay();
    if (relay) {
      await relay.start();
      stops.push(() => relay.stop());
    }
    const backlogTimer = setInterval(() => {
      outboxBacklog(handle.db)
        .then((b) => metrics.setOutboxBacklog(b.requested, b.deadLettered, b.oldestDueAgeSeconds))
        .catch(() => {});
    }, 5_000);
    stops.push(async () => clearInterval(backlogTimer));
    logger.info({ url, docs: `${url}/docs`, broker: broker.kind, gateway: gateway.name }, "api listening");
  }

  if (role === "worker" || role === "all") {
    // One store for the processor and the reconciler: merchant webhook events are written in the
    // transaction that makes a payment final, whichever of them does.
    const store = createPostgresPaymentStore({
      db: handle.db,
      leaseMs: config.processing.leaseMs,
      reconcileFirstCheckMs: config.processing.reconcile.firstCheckMs,
      onFinalInTransaction: enqueuePaymentEvents,
    });
    const processPayment = createPaymentProcessor({
      store,
      gateway,
      vault,
      logger: logger.child({ component: "worker" }),
      retry: {
        maxAttempts: config.processing.maxAttempts,
        baseMs: config.processing.retryBaseMs,
        maxMs: config.processing.retryMaxMs,
      },
      events: {
        finalized: (payment, startedAt) =>
          metrics.paymentFinalized(payment.status, payment.failureCode, (Date.now() - startedAt) / 1000),
        gatewayCall: (name, outcome, seconds) => metrics.gatewayCall(name, outcome, seconds),
        retryScheduled: () => metrics.retryScheduled(),
        deadLettered: () => metrics.deadLettered(),
      },
    });
    const reconciler: Reconciler = createReconciler({
      store,
      gateway,
      vault,
      logger: logger.child({ component: "reconciler" }),
      options: {
        schedule: { firstCheckMs: config.processing.reconcile.firstCheckMs, maxIntervalMs: config.processing.reconcile.maxIntervalMs },
        pollIntervalMs: config.processing.reconcile.pollIntervalMs,
        batchSize: 100,
        // A check makes the same calls as a charge at most.
        holdMs: config.processing.leaseMs,
      },
      events: {
        finalized: (payment, startedAt) =>
          metrics.paymentFinalized(payment.status, payment.failureCode, (Date.now() - startedAt) / 1000),
        checked: (outcome) => metrics.reconcileCheck(outcome),
      },
    });
    reconciler.start();
    const consumer: PaymentConsumer = broker.createConsumer({ concurrency: config.processing.concurrency });
    await consumer.start(async (message) => {
      await processPayment(message);
    });
    const sweeper: Sweeper = createSweeper(handle.db, logger.child({ component: "sweeper" }), {
      intervalMs: config.processing.sweepIntervalMs,
      stuckAfterMs: config.processing.stuckAfterMs,
      batchSize: 500,
    });
    sweeper.start();
    stops.push(() => sweeper.stop(), () => reconciler.stop(), () => consumer.stop());
    const webhookDispatcher = createWebhookDispatcher(handle.db, logger.child({ component: "webhooks" }), {
      secrets: webhookSecrets,
      pollIntervalMs: 500,
      // An attempt holds its delivery for at most timeoutMs plus the time to record it.
      leaseMs: config.webhooks.timeoutMs + 30_000,
      retryBaseMs: config.webhooks.retryBaseMs,
      maxAgeMs: config.webhooks.maxAgeMs,
      timeoutMs: config.webhooks.timeoutMs,
      destinations: config.webhooks.destinations,
    });
    webhookDispatcher.start();
    // After the consumer: events of the payments it finishes while draining are still recorded (and sent after the next start).
    stops.push(() => webhookDispatcher.stop());
    metrics.setLagSource(() => broker.lag());
    logger.info(
      { broker: broker.kind, gateway: gateway.name, concurrency: config.processing.concurrency },
      "worker started",
    );
  }

  return {
    url,
    async stop() {
      for (const stop of stops) {
        const began = performance.now();
        await stop();
        logger.debug({ step: stop.name || "anonymous", ms: Math.round(performance.now() - began) }, "shutdown step done");
      }
      await broker.close();
      const began = performance.now();
      await handle.close();
      logger.debug({ ms: Math.round(performance.now() - began) }, "database pool closed");
    },
  };
}
