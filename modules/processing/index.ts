export {
  createPaymentProcessor,
  type PaymentProcessor,
  type ProcessorDeps,
  type ProcessingEvents,
  type ProcessingLogger,
  type ProcessResult,
} from "./processor";
export {
  createReconciler,
  nextCheckDelayMs,
  lookupsWithin,
  type Reconciler,
  type ReconcilerOptions,
  type ReconcileSchedule,
} from "./reconciler";
export { chargeIdempotencyKey } from "./processor";
export { createSweeper, type Sweeper, type SweeperOptions } from "./sweeper";
export { retryDelayMs, hasAttemptsLeft, type RetryPolicy } from "./retry-policy";
