export {
  chargeIdempotencyKey,
  createPaymentProcessor,
  type PaymentProcessor,
  type ProcessorDeps,
  type ProcessingEvents,
  type ProcessResult,
} from "./processor";
export type { AttemptEnd, ClaimedPayment, DeadLetter, PaymentStore } from "./store";
export { createPostgresPaymentStore, type PostgresPaymentStoreOptions } from "./postgres-store";
export {
  createReconciler,
  nextCheckDelayMs,
  type Reconciler,
  type ReconcilerOptions,
  type ReconcileSchedule,
} from "./reconciler";
export { createSweeper, type Sweeper, type SweeperOptions } from "./sweeper";
export { retryDelayMs, hasAttemptsLeft, type RetryPolicy } from "./retry-policy";
