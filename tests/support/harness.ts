import { eq } from "drizzle-orm";
import { createPostgresQueue, type PaymentMessage, paymentMessagesFor, paymentMessagesInsert } from "../../modules/broker";
import {
  type CaptureRequest,
  type ChargeOutcome,
  type ChargeRequest,
  createSimulatorGateway,
  type Gateway,
  type OperationLookupRequest,
  type OperationOutcome,
  type RefundRequest,
  type VoidRequest,
} from "../../modules/gateways";
import { createIntakeService } from "../../modules/intake";
import {
  type CancellationReason,
  createPaymentActionStore,
  createPaymentStore,
  createRefund,
  createRefundStore,
  findPaymentById,
  type GatewayWorkStoreOptions,
  newRefundId,
  type PaymentRow,
  payments,
  type RefundRow,
  requestCapture,
  requestVoid,
} from "../../modules/payments";
import { cardForReconciler, createPaymentProcessor, createReconciler, type ProcessorDeps } from "../../modules/processing";
import { CardVault } from "../../modules/vault";
import type { TestDatabase } from "./db";
import { paymentBody, paymentMethodBody } from "./payments";

export const silentLogger = { info() {}, warn() {}, error() {}, debug() {}, child: () => silentLogger };

type OperationName = "capture" | "voidAuthorization" | "refund";

/** Wraps a gateway to count calls (charges, and each operation with its requests) and the most charges in flight at once. */
export function observedGateway(inner: Gateway) {
  let inFlight = 0;
  const stats = {
    calls: 0,
    maxInFlight: 0,
    requests: [] as ChargeRequest[],
    operations: { capture: [] as CaptureRequest[], voidAuthorization: [] as VoidRequest[], refund: [] as RefundRequest[] },
    lookups: [] as OperationLookupRequest[],
  };
  const observe =
    <R extends CaptureRequest | VoidRequest | RefundRequest>(name: OperationName, run: (request: R) => Promise<OperationOutcome>) =>
    (request: R) => {
      (stats.operations[name] as R[]).push(request);
      return run(request);
    };
  const gateway: Gateway = {
    name: inner.name,
    toGatewayAmount: (amount, currency) => inner.toGatewayAmount(amount, currency),
    acceptsCardData: (cardNumber) => inner.acceptsCardData(cardNumber),
    async charge(request): Promise<ChargeOutcome> {
      stats.calls++;
      stats.requests.push(request);
      inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      try {
        return await inner.charge(request);
      } finally {
        inFlight--;
      }
    },
    lookup: (request) => inner.lookup(request),
    retrieveRefund: (reference) => inner.retrieveRefund(reference),
    retrieveDispute: (reference) => inner.retrieveDispute(reference),
    capture: observe("capture", (request) => inner.capture(request)),
    voidAuthorization: observe("voidAuthorization", (request) => inner.voidAuthorization(request)),
    refund: observe("refund", (request) => inner.refund(request)),
    lookupOperation(request) {
      stats.lookups.push(request);
      return inner.lookupOperation(request);
    },
    checkAction: (request) => inner.checkAction(request),
    cancelAction: (request) => inner.cancelAction(request),
  };
  return { gateway, stats };
}

/** Intake + processor + simulator wired over a test database, the way src/worker.ts wires them. */
export function buildPipeline(
  database: TestDatabase,
  options: {
    latencyMs?: number;
    transientFailureRate?: number;
    maxAttempts?: number;
    leaseMs?: number;
    reconcileFirstCheckMs?: number;
    gateway?: Gateway;
    onFinalInTransaction?: GatewayWorkStoreOptions<PaymentRow>["onFinalInTransaction"];
    onRefundFinalInTransaction?: GatewayWorkStoreOptions<RefundRow>["onFinalInTransaction"];
    authorizationTtlMs?: number;
    /** ACTION_TTL_MS: how long a payment may wait for its customer. */
    actionTtlMs?: number;
    gatewaySlots?: ProcessorDeps["gatewaySlots"];
    /** A stopping worker's signals (src/worker.ts aborts them on SIGTERM). */
    shutdown?: ProcessorDeps["shutdown"];
  } = {},
) {
  const vault = new CardVault([Buffer.alloc(32, 1)], Buffer.alloc(32, 2));
  const simulator = createSimulatorGateway(database.db, {
    latencyMs: options.latencyMs ?? 0,
    transientFailureRate: options.transientFailureRate ?? 0,
  });
  const observed = observedGateway(options.gateway ?? simulator);
  const intake = createIntakeService({ db: database.db, vault, gateway: observed.gateway });
  const retry = { maxAttempts: options.maxAttempts ?? 3, baseMs: 10, maxMs: 20 };
  const store = createPaymentStore({
    db: database.db,
    leaseMs: options.leaseMs ?? 30_000,
    reconcileFirstCheckMs: options.reconcileFirstCheckMs ?? 10,
    onFinalInTransaction: options.onFinalInTransaction,
    cardForReconciler: cardForReconciler(observed.gateway, vault),
  });
  const refunds = createRefundStore({
    db: database.db,
    leaseMs: options.leaseMs ?? 30_000,
    reconcileFirstCheckMs: options.reconcileFirstCheckMs ?? 10,
    onFinalInTransaction: options.onRefundFinalInTransaction,
  });
  const authorizationTtlMs = options.authorizationTtlMs ?? 7 * 86_400_000;
  const processPayment = createPaymentProcessor({
    store,
    refunds,
    gateway: observed.gateway,
    vault,
    logger: silentLogger,
    retry,
    authorizationTtlMs,
    customerAction: { ttlMs: options.actionTtlMs ?? 3_600_000, firstCheckMs: 10 },
    ...(options.gatewaySlots === undefined ? {} : { gatewaySlots: options.gatewaySlots }),
    ...(options.shutdown === undefined ? {} : { shutdown: options.shutdown }),
  });
  const reconciler = createReconciler({
    store,
    refunds,
    authorizationTtlMs,
    customerAction: { ttlMs: options.actionTtlMs ?? 3_600_000 },
    actions: createPaymentActionStore({ db: database.db, queue: paymentMessagesFor, onFinalInTransaction: options.onFinalInTransaction }),
    actionSchedule: { firstCheckMs: 10, maxIntervalMs: 1_000 },
    gateway: observed.gateway,
    vault,
    logger: silentLogger,
    options: {
      schedule: { firstCheckMs: options.reconcileFirstCheckMs ?? 10, maxIntervalMs: 1_000 },
      pollIntervalMs: 10,
      batchSize: 100,
      holdMs: 30_000,
    },
  });
  const queue = createPostgresQueue(database.db, silentLogger, {
    leaseMs: options.leaseMs ?? 30_000,
    pollIntervalMs: 10,
    redeliveryDelayMs: 20,
  });

  async function create(card?: string, merchantId = "m1", idempotencyKey?: string) {
    const result = await intake.createPayment({
      merchantId,
      body: paymentBody(card),
      idempotencyKey,
      requestId: "req_test",
    });
    if (result.kind !== "created" && result.kind !== "replayed") throw new Error(`not created: ${JSON.stringify(result)}`);
    return result.payment;
  }

  /** Creates a payment paid with a payment method the gateway holds (docs/CONTRACT.md §9). */
  async function createPaidWith(paymentMethod: string, merchantId = "m1") {
    const result = await intake.createPayment({ merchantId, body: paymentMethodBody(paymentMethod), idempotencyKey: undefined, requestId: "req_test" });
    if (result.kind !== "created") throw new Error(`not created: ${JSON.stringify(result)}`);
    return result.payment;
  }

  const message = (paymentId: string): PaymentMessage => ({ paymentId, requestId: "req_test" });

  /** Creates a payment and runs its first attempt; returns the stored row. */
  async function pay(card?: string, merchantId = "m1"): Promise<PaymentRow> {
    const payment = await create(card, merchantId);
    await processPayment(message(payment.id));
    const row = await findPaymentById(database.db, payment.id);
    if (!row) throw new Error("payment vanished");
    return row;
  }

  /** Creates a payment to be authorized only (`capture: false`) and runs its first attempt. */
  async function authorize(card?: string, merchantId = "m1"): Promise<PaymentRow> {
    const payment = await create(card, merchantId);
    // Intake of this branch takes no `capture` yet: the row is what the worker reads.
    await database.db.update(payments).set({ captureMethod: "manual", operation: "authorize" }).where(eq(payments.id, payment.id));
    await processPayment(message(payment.id));
    return row(payment.id);
  }

  async function row(id: string): Promise<PaymentRow> {
    const found = await findPaymentById(database.db, id);
    if (!found) throw new Error("payment vanished");
    return found;
  }

  /** The worker's message written by the statement that moves the payment, as the API writes it. */
  const queued = (paymentId: string) => (moved: Parameters<typeof paymentMessagesInsert>[1]) =>
    paymentMessagesInsert([{ paymentId, requestId: "req_test", delayMs: 0 }], moved);

  /** The merchant's capture request (all, or `amount`); undefined when the payment cannot be captured. */
  const requestCaptureOf = (id: string, amount: number | null = null, merchantId = "m1") =>
    requestCapture(database.db, { merchantId, id, amount }, queued(id));

  /** The merchant's cancel of an authorization (or its expiry's, with reason `expired`). */
  const requestVoidOf = (id: string, reason: CancellationReason | null = "requested_by_customer", merchantId = "m1") =>
    requestVoid(database.db, { merchantId, id, reason }, queued(id));

  /** Creates a refund (all that is left, or `amount`) with its message, as the API does; throws when refused. */
  async function refund(paymentId: string, amount: number | null = null, merchantId = "m1"): Promise<RefundRow> {
    const id = newRefundId();
    const created = await createRefund(
      database.db,
      { id, merchantId, paymentId, amount, reason: "requested_by_customer", metadata: {}, requestId: "req_test" },
      (ids) => paymentMessagesInsert([{ paymentId, refundId: id, requestId: "req_test", delayMs: 0 }], ids),
    );
    if (created.kind !== "created") throw new Error(`refund not created: ${JSON.stringify(created)}`);
    return created.refund;
  }

  const refundMessage = (refund: Pick<RefundRow, "id" | "paymentId">): PaymentMessage => ({
    paymentId: refund.paymentId,
    refundId: refund.id,
    requestId: "req_test",
  });

  return {
    vault,
    intake,
    processPayment,
    reconciler,
    queue,
    create,
    createPaidWith,
    message,
    pay,
    authorize,
    row,
    requestCapture: requestCaptureOf,
    requestVoid: requestVoidOf,
    refund,
    refundMessage,
    stats: observed.stats,
    retry,
  };
}
