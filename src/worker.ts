import { paymentMessagesFor } from "../modules/broker";
import { createPaymentActionStore, createPaymentStore, createRefundStore, isFinal, type PaymentRow, type RefundRow } from "../modules/payments";
import { createGatewayEventPruner } from "../modules/gateway-events";
import { GATEWAY_CONFIGURATION_ERROR } from "../modules/gateways";
import { cardForReconciler, createPaymentProcessor, createReconciler, createSweeper } from "../modules/processing";
import { createWebhookDispatcher, enqueuePaymentEvents, enqueueRefundEvents } from "../modules/webhooks";
import type { ServiceContext, StopStep } from "./context";

/**
 * Messages a worker holds per gateway slot (WORKER_CONCURRENCY): while one message's attempt is
 * at the gateway, another's outcome is being recorded, so the gateway is never left idle waiting
 * for the database (see ProcessorDeps.gatewaySlots).
 */
const MESSAGES_PER_GATEWAY_SLOT = 2;

/**
 * The last part of SHUTDOWN_GRACE_MS, kept for what follows the hand-back of calls still at the
 * gateway: writing them over to the reconciler, the last commit, leaving the group, closing the pools.
 */
const handBackReserveMs = (graceMs: number) => Math.min(5_000, Math.floor(graceMs / 4));

/** The longest pause of an idle webhook dispatcher; the events of work that ends below end it within its usual poll interval. */
const WEBHOOK_IDLE_POLL_MS = 5_000;

/** The worker role: payment operations and refunds, the reconciler, the sweeper (and authorization expiry) and webhook delivery. */
export async function startWorker(ctx: ServiceContext): Promise<StopStep[]> {
  const { config, logger, database, metrics, broker, gateway, vault } = ctx;
  const webhookDispatcher = createWebhookDispatcher(database.db, logger.child({ component: "webhooks" }), {
    secrets: ctx.webhookSecrets,
    timeoutMs: config.webhooks.timeoutMs,
    retryBaseMs: config.webhooks.retryBaseMs,
    maxAgeMs: config.webhooks.maxAgeMs,
    concurrency: config.webhooks.concurrency,
    perMerchantConcurrency: config.webhooks.merchantConcurrency,
    disableAfterMs: config.webhooks.disableAfterMs,
    destinations: config.webhooks.destinations,
    // Told of every operation and refund that ends below (which is when events are written), so an idle worker can poll seldom.
    maxPollIntervalMs: WEBHOOK_IDLE_POLL_MS,
  });
  const finalized = (payment: PaymentRow, startedAt: number) => {
    metrics.operationEnded(payment.operation, payment.status);
    if (isFinal(payment.status)) metrics.paymentFinalized(payment.status, payment.failureCode, (Date.now() - startedAt) / 1000);
    if (payment.status === "FAILED" && payment.failureCode === GATEWAY_CONFIGURATION_ERROR) metrics.gatewayConfigurationError(payment.gateway);
    webhookDispatcher.expectDeliveries();
  };
  const refundFinalized = (refund: RefundRow) => {
    metrics.refundFinalized(refund.status, refund.failureCode);
    webhookDispatcher.expectDeliveries();
  };
  // One store of each kind for the processor and the reconciler: merchant webhook events are
  // written in the transaction that records an outcome, whichever of them does.
  const store = createPaymentStore({
    db: database.db,
    leaseMs: config.processing.leaseMs,
    reconcileFirstCheckMs: config.processing.reconcile.firstCheckMs,
    onFinalInTransaction: enqueuePaymentEvents,
    cardForReconciler: cardForReconciler(gateway, vault),
  });
  const refunds = createRefundStore({
    db: database.db,
    leaseMs: config.processing.leaseMs,
    reconcileFirstCheckMs: config.processing.reconcile.firstCheckMs,
    onFinalInTransaction: enqueueRefundEvents,
  });
  // A stopping worker starts no gateway call, then stops waiting for the calls it started (README, "Stopping a worker").
  const stopCalls = new AbortController();
  const handBack = new AbortController();
  const processPayment = createPaymentProcessor({
    store,
    refunds,
    gateway,
    vault,
    logger: logger.child({ component: "worker" }),
    retry: {
      maxAttempts: config.processing.maxAttempts,
      baseMs: config.processing.retryBaseMs,
      maxMs: config.processing.retryMaxMs,
    },
    authorizationTtlMs: config.processing.authorizationTtlMs,
    customerAction: { ttlMs: config.processing.customerAction.ttlMs, firstCheckMs: config.processing.customerAction.firstCheckMs },
    // A claimed attempt may wait for a slot only as long as its lease still covers the whole call after it.
    gatewaySlots: { size: config.processing.concurrency, maxWaitMs: config.processing.leaseMs - config.processing.operationMs },
    shutdown: { stopCalls: stopCalls.signal, handBack: handBack.signal },
    events: {
      finalized,
      refundFinalized,
      gatewayCall: (name, outcome, seconds) => metrics.gatewayCall(name, outcome, seconds),
      retryScheduled: () => metrics.retryScheduled(),
      deadLettered: () => metrics.deadLettered(),
    },
  });
  const reconciler = createReconciler({
    store,
    refunds,
    actions: createPaymentActionStore({ db: database.db, queue: paymentMessagesFor, onFinalInTransaction: enqueuePaymentEvents }),
    actionSchedule: { firstCheckMs: config.processing.customerAction.firstCheckMs, maxIntervalMs: config.processing.customerAction.maxIntervalMs },
    gateway,
    vault,
    logger: logger.child({ component: "reconciler" }),
    options: {
      schedule: { firstCheckMs: config.processing.reconcile.firstCheckMs, maxIntervalMs: config.processing.reconcile.maxIntervalMs },
      pollIntervalMs: config.processing.reconcile.pollIntervalMs,
      // A check makes the same calls as a charge at most.
      holdMs: config.processing.leaseMs,
    },
    authorizationTtlMs: config.processing.authorizationTtlMs,
    customerAction: { ttlMs: config.processing.customerAction.ttlMs },
    events: { finalized, refundFinalized, checked: (outcome) => metrics.reconcileCheck(outcome), actionChecked: (outcome) => metrics.actionCheck(outcome) },
  });
  reconciler.start();
  ctx.reconcilerWakers.push(() => reconciler.wake());
  const consumer = broker.createConsumer({
    concurrency: config.processing.concurrency * MESSAGES_PER_GATEWAY_SLOT,
    messageDeadLettered: (reason) => metrics.brokerMessageDeadLettered(reason),
  });
  await consumer.start(async (message) => {
    await processPayment(message);
  });
  ctx.readinessChecks.push(() => consumer.unavailable?.());
  const sweeper = createSweeper(database.db, logger.child({ component: "sweeper" }), {
    intervalMs: config.processing.sweepIntervalMs,
    stuckAfterMs: config.processing.stuckAfterMs,
    // With Kafka a message that left the outbox still waits in the topic until consumed.
    queuedWork: () => broker.queuedWork(),
    requeued: (kind, count) => metrics.sweeperRequeued(kind, count),
  });
  sweeper.start();
  // Records of gateway events past GATEWAY_EVENT_RETENTION_MS; every worker may prune (skipping rows another holds).
  const eventPruner = createGatewayEventPruner({ db: database.db, retentionMs: config.gatewayEventRetentionMs, logger: logger.child({ component: "gateway-event-pruner" }) });
  eventPruner.start();
  webhookDispatcher.start();
  metrics.setBrokerBacklogSource(() => broker.backlog());
  logger.info({ broker: broker.kind, gateway: gateway.name, concurrency: config.processing.concurrency }, "worker started");
  /**
   * SIGTERM (README, "Stopping a worker"): the consumer takes no more messages (those fetched and not
   * started are not committed, so the group's other members get them); what this worker claimed and
   * has not sent to the gateway is given back at once; calls at the gateway are waited for until
   * shortly before SHUTDOWN_GRACE_MS runs out, then handed to the reconciler as unknown outcomes.
   * Every message taken is then finished, so its commit (or outbox delete) goes through, and the
   * consumer leaves its group: no lease is left to run out.
   */
  async function stopTakingWork({ graceEndsAt }: { graceEndsAt: number }): Promise<void> {
    const began = performance.now();
    stopCalls.abort();
    const handBackInMs = Math.max(0, graceEndsAt - handBackReserveMs(config.shutdownGraceMs) - began);
    const timer = setTimeout(() => {
      logger.warn({ afterMs: Math.round(performance.now() - began) }, "worker stopping: gateway calls still in flight are handed to the reconciler (outcome unknown)");
      handBack.abort();
    }, handBackInMs);
    try {
      // At once, not one after another: the consumer must stop taking messages now, not after the reconciler's round.
      await Promise.all([sweeper.stop(), reconciler.stop(), consumer.stop(), eventPruner.stop()]);
    } finally {
      clearTimeout(timer);
    }
    logger.info(
      { broker: broker.kind, ms: Math.round(performance.now() - began), handedBack: handBack.signal.aborted },
      "worker stopped: took no more work, finished or handed back what it held, committed and left",
    );
  }
  return [
    stopTakingWork,
    // After the consumer: events of the payments it finishes while draining are still recorded (and sent after the next start).
    () => webhookDispatcher.stop(),
  ];
}
