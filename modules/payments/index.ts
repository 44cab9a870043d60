export { payments, PAYMENT_STATUSES, type PaymentStatus, type PaymentRow, type NewPaymentRow } from "./schema";
export {
  allows,
  allowsAmountChange,
  AMOUNT_CHANGES,
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
export { DISPUTE_ID, newPaymentId, newRefundId, newTimeOrderedId, PAYMENT_ID, REFUND_ID, timeOrderedIdKind, type IdKind } from "./ids";
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
  type FinalOutcomeWrite,
  claimStrandedPayments,
  type ApprovedCardView,
  type ApprovedPayerView,
  type FinalOutcome,
  type ListQuery,
} from "./repository";
export type { AttemptRelease } from "./work-lifecycle";
// The jsonb batch-input technique of the aggregate's batch writes (tests pin its plan).
export { batchInput, type GatewayWorkTable } from "./gateway-work";
export { DisputeSchema, PaymentSchema, RefundSchema } from "./model";
export { countInFlight, finalizedInWindow, isPaymentOf, type FinalizedGroup, listRecentFailures, listRecentPayments } from "./activity";
export {
  type ActionSettlement,
  checkActionNow,
  claimDueActionChecks,
  continueAfterAction,
  countWaitingForCustomer,
  createPaymentActionStore,
  type PaymentActionStore,
  requestActionCancel,
  scheduleNextActionCheck,
  settleAction,
} from "./actions";
export { cancelPending, expireAuthorizations, requestCapture, requestVoid, type WrittenWithMoved } from "./requests";
export { refunds, type RefundRow } from "./refund-schema";
export { REFUND_REASONS, REFUND_REVERSALS, REFUND_STATUSES, REFUND_TRANSITIONS, type RefundReason, type RefundStatus, type RefundTransitionName } from "./refund-status";
export { toRefund, type Refund } from "./refund";
export {
  createRefund,
  findRefund,
  findRefundById,
  listRefunds,
  type NewRefund,
  type RefundCreation,
  type WrittenWithRefunds,
} from "./refund-repository";
export { claimStrandedRefunds, countUnresolvedRefunds, listUnresolvedRefunds, type RefundOutcome } from "./refund-lifecycle";
export { type GatewayWorkStore, type GatewayWorkStoreOptions, type WorkAttemptEnd, type WorkDeadLetter } from "./work-store";
export { type CardForReconciler, type ClaimedPaymentWork, createPaymentStore, type PaymentStoreOptions, type PaymentWorkStore } from "./payment-store";
export { type ClaimedRefundWork, createRefundStore, type RefundWorkStore } from "./refund-store";
export { disputes, type DisputeRow } from "./dispute-schema";
export { CLOSED_DISPUTE_STATUSES, DISPUTE_STATUSES, DISPUTE_TRANSITIONS, disputeMayMove, type DisputeStatus, isClosedDispute } from "./dispute-status";
export {
  countDisputesByStatus,
  type Dispute,
  type DisputeChange,
  disputeEventsOf,
  type DisputeState,
  findDispute,
  listDisputes,
  listOpenDisputes,
  recordDispute,
  toDispute,
} from "./disputes";
export {
  expediteGatewayCheck,
  expediteRefundCheck,
  failRefundAfterSuccess,
  findPaymentByGatewayReference,
  findRefundByGatewayReference,
} from "./gateway-hints";
