export { refunds, type RefundRow } from "./schema";
export {
  REFUND_REASONS,
  REFUND_STATUSES,
  REFUND_TRANSITIONS,
  type RefundReason,
  type RefundStatus,
  type RefundTransitionName,
} from "./status";
export { newRefundId, REFUND_ID } from "./ids";
export { toRefund, type Refund } from "./refund";
export { RefundSchema } from "./model";
export {
  createRefund,
  findRefund,
  findRefundById,
  listRefunds,
  type NewRefund,
  type RefundCreation,
  type WrittenWithRefunds,
} from "./repository";
export { createRefundService, type CreateRefundResult, type RefundDeps, type RefundRequest, type RefundService, validateRefundRequest } from "./service";
export { refundRoutes, type RefundRouteDeps } from "./routes";
export {
  claimDueRefundChecks,
  claimRefund,
  countUnresolvedRefunds,
  listStrandedRefunds,
  listUnresolvedRefunds,
  recordRefundOutcomes,
  refundGuardOf,
  releaseRefundForRetry,
  type RefundAttemptRelease,
  type RefundOutcome,
  scheduleNextRefundCheck,
  startRefundReconciling,
  touchRefund,
} from "./lifecycle";
