import { type RefundOutcome, REFUND_LIFECYCLE } from "./refund-lifecycle";
import { releaseRefundedAmounts } from "./refund-repository";
import type { RefundRow } from "./refund-schema";
import { findPaymentsById } from "./repository";
import type { PaymentRow } from "./schema";
import { createGatewayWorkStore, type GatewayWorkStore, type GatewayWorkStoreOptions } from "./work-store";

/** A refund claimed for one attempt (or one reconciliation check), with the payment it gives money back from. */
export interface ClaimedRefundWork {
  refund: RefundRow;
  payment: PaymentRow;
}

/** Refunds as the worker's store. */
export type RefundWorkStore = GatewayWorkStore<ClaimedRefundWork, RefundRow, RefundOutcome>;

/**
 * The refund store over PostgreSQL (or PGlite): the shared lifecycle, with each refund's payment
 * read after the claim, and a FAILED refund's amount given back to its payment in the transaction
 * that makes it FAILED.
 */
export function createRefundStore(options: GatewayWorkStoreOptions<RefundRow>): RefundWorkStore {
  return createGatewayWorkStore<ClaimedRefundWork, RefundRow, RefundOutcome>(
    {
      lifecycle: REFUND_LIFECYCLE,
      async withClaimed(db, _ids, claimed) {
        const refunds = await claimed;
        const payments = new Map((await findPaymentsById(db, refunds.map((r) => r.paymentId))).map((p) => [p.id, p]));
        return refunds.map((refund) => {
          const payment = payments.get(refund.paymentId);
          // The refund was created under the payment's lock and payments are never deleted.
          if (!payment) throw new Error(`refund ${refund.id} names payment ${refund.paymentId}, which does not exist`);
          return { refund, payment };
        });
      },
      idOf: (claimed) => claimed.refund.id,
      messageOf: (refund) => ({ paymentId: refund.paymentId, refundId: refund.id }),
      // A refund remembers no gateway reference from an attempt that did not end it, and its last
      // attempt, handed to the reconciler, is counted whether or not it was tried.
      releaseOf: (refund, end, forReconciler) => ({
        id: refund.id,
        attempt: refund.attempts,
        unknown: end.unknown,
        gatewayReference: null,
        untried: !forReconciler && (end.untried ?? false),
      }),
      // What a FAILED refund had reserved becomes refundable again, in the same commit.
      endedInTransaction: (tx, ended) =>
        releaseRefundedAmounts(
          tx,
          ended.filter((r) => r.status === "FAILED").map((r) => ({ paymentId: r.paymentId, amount: r.amount })),
        ),
      isNewsToMerchant: () => true,
    },
    options,
  );
}
