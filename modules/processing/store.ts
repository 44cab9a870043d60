/**
 * The processor's port to the work it runs: the payments aggregate's stores (createPaymentStore,
 * createRefundStore), which batch their claims and writes inside. One definition, there; these are
 * the names the processing code reads them by.
 */
export type {
  ClaimedPaymentWork as ClaimedPayment,
  ClaimedRefundWork as ClaimedRefund,
  GatewayWorkStore,
  PaymentActionStore as ActionStore,
  PaymentWorkStore as PaymentStore,
  RefundWorkStore as RefundStore,
  WorkAttemptEnd as AttemptEnd,
  WorkDeadLetter as DeadLetter,
} from "../payments";
