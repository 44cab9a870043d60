export { payments, PAYMENT_STATUSES, type PaymentStatus, type PaymentRow, type NewPaymentRow } from "./schema";
export { canTransition, isFinal, allowedSources } from "./status";
export { toPayment, type Payment } from "./payment";
export { newPaymentId, newTimeOrderedId } from "./ids";
export {
  insertPayment,
  findPayment,
  findPaymentById,
  listPayments,
  claimPayment,
  claimPayments,
  recordFinalOutcome,
  recordFinalOutcomes,
  releaseForRetry,
  releaseForRetries,
  type FinalOutcomeWrite,
  touchPayment,
  countByStatus,
  type FinalOutcome,
  type ListQuery,
} from "./repository";
