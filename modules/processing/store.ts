import type { FinalOutcome, PaymentRow } from "../payments";
import type { SealedCard } from "../vault";

/** A payment claimed for one attempt (or one reconciliation check), with its sealed card if still stored. */
export interface ClaimedPayment {
  payment: PaymentRow;
  sealed: SealedCard | undefined;
}

/** Why a payment's message went to the dead-letter topic, and the error of its last attempt. */
export interface DeadLetter {
  reason: "attempts_exhausted" | "outcome_unknown";
  lastError: string;
  requestId: string | null;
}

/** How an attempt that did not make the payment final ended. */
export interface AttemptEnd {
  /** The card may have been charged (no answer, or one that cannot be read). */
  unknown: boolean;
  /** The gateway's object id, when its answer named one. */
  gatewayReference: string | null;
}

/**
 * Every read and write processing makes. Each write is guarded by the attempt number the payment
 * was claimed with: a worker whose claim was taken over gets `undefined` / `false` back and has
 * changed nothing.
 */
export interface PaymentStore {
  /** Claims the payment for its next attempt; undefined when it is final, held by another worker, or reconciling. */
  claim(paymentId: string): Promise<ClaimedPayment | undefined>;
  /** Makes the payment final, deletes its card and, when one is given, writes the dead letter; returns the final row. */
  recordFinal(payment: PaymentRow, outcome: FinalOutcome, deadLetter?: DeadLetter): Promise<PaymentRow | undefined>;
  /** Ends the attempt and queues the next one after `delayMs`. */
  releaseForRetry(payment: PaymentRow, end: AttemptEnd, retry: { delayMs: number; requestId: string | null }): Promise<boolean>;
  /** Gives a payment that may have been charged to the reconciler and dead-letters it; returns the reconciling row. */
  handToReconciler(payment: PaymentRow, end: AttemptEnd, deadLetter: DeadLetter): Promise<PaymentRow | undefined>;
  /** Claims up to `limit` payments whose reconciliation check is due, each held for `holdMs`. */
  claimDueChecks(limit: number, holdMs: number): Promise<ClaimedPayment[]>;
  /** The check told nothing: look again after `delayMs`. */
  scheduleNextCheck(payment: PaymentRow, delayMs: number): Promise<void>;
}
