import type { FinalOutcome, PaymentRow, RefundOutcome, RefundRow } from "../payments";
import type { SealedCard } from "../vault";

/** A payment claimed for one attempt (or one reconciliation check), with its sealed card if still stored. */
export interface ClaimedPayment {
  payment: PaymentRow;
  sealed: SealedCard | undefined;
}

/** A refund claimed for one attempt (or one reconciliation check), with the payment it gives money back from. */
export interface ClaimedRefund {
  refund: RefundRow;
  payment: PaymentRow;
}

/** Why a message went to the dead-letter topic, and the error of its last attempt. */
export interface DeadLetter {
  reason: "attempts_exhausted" | "outcome_unknown";
  lastError: string;
  requestId: string | null;
}

/** How an attempt that did not end its work ended. */
export interface AttemptEnd {
  /** The gateway may have done the work (no answer, or one that cannot be read). */
  unknown: boolean;
  /** The gateway's object id, when its answer named one and the row should remember it. */
  gatewayReference: string | null;
  /**
   * The gateway was not called (the attempt waited too long for a slot): the attempt is handed
   * back uncounted, so it spends none of the work's MAX_ATTEMPTS.
   */
  untried?: boolean;
}

/**
 * Every read and write the processing of one kind of gateway work (a payment's operation, a
 * refund) makes. Each write is guarded by the attempt number the row was claimed with: a worker
 * whose claim was taken over gets `undefined` / `false` back and has changed nothing.
 */
export interface GatewayWorkStore<Claimed, Row, Outcome> {
  /** Claims the work for its next attempt; undefined when it is done, held by another worker, or reconciling. */
  claim(id: string): Promise<Claimed | undefined>;
  /** Records the gateway's definite answer (and, when given, the dead letter); returns the updated row. */
  recordFinal(row: Row, outcome: Outcome, deadLetter?: DeadLetter): Promise<Row | undefined>;
  /** Ends the attempt and queues the next one after `delayMs`. */
  releaseForRetry(row: Row, end: AttemptEnd, retry: { delayMs: number; requestId: string | null }): Promise<boolean>;
  /** Gives work the gateway may have done to the reconciler and dead-letters it; returns the reconciling row. */
  handToReconciler(row: Row, end: AttemptEnd, deadLetter: DeadLetter): Promise<Row | undefined>;
  /** Claims up to `limit` rows whose reconciliation check is due, each held for `holdMs`. */
  claimDueChecks(limit: number, holdMs: number): Promise<Claimed[]>;
  /** The check told nothing: look again after `delayMs`. */
  scheduleNextCheck(row: Row, delayMs: number): Promise<void>;
}

// The payments aggregate implements these ports (createPaymentStore, createRefundStore), batching inside.

/** A payment's operations (charge, authorize, capture, void): its card secret is deleted once the payment leaves PROCESSING for good or AUTHORIZED. */
export type PaymentStore = GatewayWorkStore<ClaimedPayment, PaymentRow, FinalOutcome>;
/** Refunds: a FAILED one gives its amount back to its payment's refundable total in the same transaction. */
export type RefundStore = GatewayWorkStore<ClaimedRefund, RefundRow, RefundOutcome>;
