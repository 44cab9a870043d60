export { createPaymentProcessor, type PaymentProcessor, type ProcessorDeps, type ProcessingEvents } from "./processor";
export {
  chargeIdempotencyKey,
  operationIdempotencyKey,
  type ProcessResult,
  refundIdempotencyKey,
} from "./operations";
export type { AttemptEnd, ClaimedPayment, ClaimedRefund, DeadLetter, GatewayWorkStore, PaymentStore, RefundStore } from "./store";
export {
  cardForReconciler,
  createReconciler,
  nextCheckDelayMs,
  type Reconciler,
  type ReconcilerOptions,
  type ReconcileSchedule,
} from "./reconciler";
export { createSweeper, type Sweeper, type SweeperOptions } from "./sweeper";
export { retryDelayMs, hasAttemptsLeft, type RetryPolicy } from "./retry-policy";
