import { enqueueDeadLetter, enqueuePayments } from "../broker";
import type { Database, Executor } from "../database";
import { findPaymentById, releaseRefundedAmounts } from "../payments";
import {
  claimDueRefundChecks,
  claimRefund,
  type RefundRow,
  recordRefundOutcomes,
  releaseRefundForRetry,
  scheduleNextRefundCheck,
  startRefundReconciling,
} from "../refunds";
import type { ClaimedRefund, DeadLetter, RefundStore } from "./store";

export interface PostgresRefundStoreOptions {
  db: Database;
  /** How long a claimed refund is this worker's before another may claim it again. */
  leaseMs: number;
  /** When the reconciler first looks up a refund handed to it. */
  reconcileFirstCheckMs: number;
  /** Runs inside the transaction that makes refunds final, with those refunds (merchant webhook events). */
  onFinalInTransaction?: (tx: Executor, refunds: RefundRow[]) => Promise<void>;
}

/**
 * The refund store over PostgreSQL (or PGlite), composed of the refunds, payments and broker
 * repositories. Refunds are far fewer than payments: one statement (or transaction) per write.
 */
export function createPostgresRefundStore(options: PostgresRefundStoreOptions): RefundStore {
  const { db, leaseMs, reconcileFirstCheckMs, onFinalInTransaction } = options;

  async function withPayment(refund: RefundRow): Promise<ClaimedRefund> {
    const payment = await findPaymentById(db, refund.paymentId);
    // The refund was created under the payment's lock and payments are never deleted.
    if (!payment) throw new Error(`refund ${refund.id} names payment ${refund.paymentId}, which does not exist`);
    return { refund, payment };
  }

  /** A refund's dead letter: keyed by its payment, like every message, and naming the refund. */
  const letterOf = (refund: RefundRow, deadLetter: DeadLetter) => ({
    paymentId: refund.paymentId,
    refundId: refund.id,
    attempts: refund.attempts,
    ...deadLetter,
  });

  return {
    async claim(refundId) {
      const refund = await claimRefund(db, refundId, leaseMs);
      return refund ? withPayment(refund) : undefined;
    },
    recordFinal: (refund, outcome, deadLetter) =>
      db.transaction(async (tx) => {
        const [row] = await recordRefundOutcomes(tx, [{ id: refund.id, attempt: refund.attempts, outcome }]);
        if (!row) return undefined;
        const follow: Promise<void>[] = [];
        // What a FAILED refund had reserved becomes refundable again, in the same commit.
        if (row.status === "FAILED") follow.push(releaseRefundedAmounts(tx, [{ paymentId: row.paymentId, amount: row.amount }]));
        if (deadLetter) follow.push(enqueueDeadLetter(tx, letterOf(row, deadLetter)));
        if (onFinalInTransaction) follow.push(onFinalInTransaction(tx, [row]));
        await Promise.all(follow);
        return row;
      }),
    releaseForRetry: (refund, end, retry) =>
      db.transaction(async (tx) => {
        if (!(await releaseRefundForRetry(tx, { id: refund.id, attempt: refund.attempts, unknown: end.unknown, untried: end.untried ?? false }))) return false;
        await enqueuePayments(tx, [{ paymentId: refund.paymentId, refundId: refund.id, requestId: retry.requestId, delayMs: retry.delayMs }]);
        return true;
      }),
    handToReconciler: (refund, end, deadLetter) =>
      db.transaction(async (tx) => {
        const row = await startRefundReconciling(tx, { id: refund.id, attempt: refund.attempts, unknown: end.unknown }, reconcileFirstCheckMs);
        if (row) await enqueueDeadLetter(tx, letterOf(row, deadLetter));
        return row;
      }),
    async claimDueChecks(limit, holdMs) {
      const due = await claimDueRefundChecks(db, limit, holdMs);
      return Promise.all(due.map(withPayment));
    },
    async scheduleNextCheck(refund, delayMs) {
      await scheduleNextRefundCheck(db, refund.id, refund.attempts, delayMs);
    },
  };
}
