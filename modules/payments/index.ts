export { payments, PAYMENT_STATUSES, type PaymentStatus, type PaymentRow, type NewPaymentRow } from "./schema";
export {
  allows,
  canTransition,
  FINAL_STATUSES,
  isFinal,
  type PaymentState,
  TRANSITIONS,
  type TransitionName,
  UNFINISHED_STATUSES,
  CANCELLATION_REASONS,
  CAPTURE_METHODS,
  PAYMENT_OPERATIONS,
  type CancellationReason,
  type CaptureMethod,
  type PaymentOperation,
} from "./status";
export { toPayment, type Payment } from "./payment";
export { newPaymentId, newTimeOrderedId, PAYMENT_ID, timeOrderedIdKind, type IdKind } from "./ids";
export {
  insertPayments,
  type NewPayment,
  type PaymentCreation,
  type WrittenWithPayments,
  findPayment,
  findPaymentById,
  listPayments,
  claimPayment,
  claimPayments,
  recordFinalOutcome,
  recordFinalOutcomes,
  releaseForRetries,
  startReconciling,
  claimDueChecks,
  scheduleNextCheck,
  countUnresolved,
  listUnresolved,
  type AttemptRelease,
  type FinalOutcomeWrite,
  touchPayment,
  listStrandedPayments,
  type FinalOutcome,
  type ListQuery,
} from "./repository";
export { PaymentSchema } from "./model";
export { countInFlight, finalizedInWindow, type FinalizedGroup, listRecentPayments } from "./activity";
export { releaseRefundedAmounts } from "./operations";
export { cancelPending, expireAuthorizations, requestCapture, requestVoid, type WrittenWithMoved } from "./requests";
