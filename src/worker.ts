import { createPaymentProcessor, createPostgresPaymentStore, createReconciler, createSweeper } from "../modules/processing";
import { createWebhookDispatcher, enqueuePaymentEvents } from "../modules/webhooks";
import type { ServiceContext, StopStep } from "./context";

/** The longest pause of an idle webhook dispatcher; the events of a payment made final end it within its usual poll interval. */
const WEBHOOK_IDLE_POLL_MS = 5_000;

/** The worker role: payment processing, the reconciler, the sweeper and webhook delivery. */
export async function startWorker(ctx: ServiceContext): Promise<StopStep[]> {
  const { config, logger, database, metrics, broker, gateway, vault } = ctx;
  const webhookDispatcher = createWebhookDispatcher(database.db, logger.child({ component: "webhooks" }), {
    secrets: ctx.webhookSecrets,
    timeoutMs: config.webhooks.timeoutMs,
    retryBaseMs: config.webhooks.retryBaseMs,
    maxAgeMs: config.webhooks.maxAgeMs,
    destinations: config.webhooks.destinations,
    // Told of every payment made final below (which is when events are written), so an idle worker can poll seldom.
    maxPollIntervalMs: WEBHOOK_IDLE_POLL_MS,
  });
  const finalized = (payment: { status: string; failureCode: string | null }, startedAt: number) => {
    metrics.paymentFinalized(payment.status, payment.failureCode, (Date.now() - startedAt) / 1000);
    webhookDispatcher.expectDeliveries();
  };
  // One store for the processor and the reconciler: merchant webhook events are written in the
  // transaction that makes a payment final, whichever of them does.
  const store = createPostgresPaymentStore({
    db: database.db,
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
      finalized,
      gatewayCall: (name, outcome, seconds) => metrics.gatewayCall(name, outcome, seconds),
      retryScheduled: () => metrics.retryScheduled(),
      deadLettered: () => metrics.deadLettered(),
    },
  });
  const reconciler = createReconciler({
    store,
    gateway,
    vault,
    logger: logger.child({ component: "reconciler" }),
    options: {
      schedule: { firstCheckMs: config.processing.reconcile.firstCheckMs, maxIntervalMs: config.processing.reconcile.maxIntervalMs },
      pollIntervalMs: config.processing.reconcile.pollIntervalMs,
      // A check makes the same calls as a charge at most.
      holdMs: config.processing.leaseMs,
    },
    events: { finalized, checked: (outcome) => metrics.reconcileCheck(outcome) },
  });
  reconciler.start();
  const consumer = broker.createConsumer({ concurrency: config.processing.concurrency });
  await consumer.start(async (message) => {
    await processPayment(message);
  });
  const sweeper = createSweeper(database.db, logger.child({ component: "sweeper" }), {
    intervalMs: config.processing.sweepIntervalMs,
    stuckAfterMs: config.processing.stuckAfterMs,
  });
  sweeper.start();
  webhookDispatcher.start();
  metrics.setLagSource(() => broker.lag());
  logger.info({ broker: broker.kind, gateway: gateway.name, concurrency: config.processing.concurrency }, "worker started");
  return [
    () => sweeper.stop(),
    () => reconciler.stop(),
    () => consumer.stop(),
    // After the consumer: events of the payments it finishes while draining are still recorded (and sent after the next start).
    () => webhookDispatcher.stop(),
  ];
}
