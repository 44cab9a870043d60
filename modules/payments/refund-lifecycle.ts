import { and, inArray, lt, not, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import type { Executor } from "../database";
import type { GatewayWorkTable } from "./gateway-work";
import { type RefundRow, refunds } from "./refund-schema";
import { REFUND_TRANSITIONS } from "./refund-status";
import { gatewayWorkLifecycle } from "./work-lifecycle";

/** What the shared gateway-work statements (./gateway-work.ts, ./work-lifecycle.ts) need to know of the refunds table. */
export const REFUND_WORK: GatewayWorkTable = {
  table: refunds,
  id: refunds.id,
  merchantId: refunds.merchantId,
  outcomeUnknownSince: refunds.outcomeUnknownSince,
  status: refunds.status,
  attempts: refunds.attempts,
  leaseExpiresAt: refunds.leaseExpiresAt,
  reconciling: refunds.reconciling,
  nextCheckAt: refunds.nextCheckAt,
  reconcileChecks: refunds.reconcileChecks,
  gatewayReference: refunds.gatewayReference,
};

export type RefundOutcome =
  | { status: "SUCCEEDED"; gatewayReference: string }
  | { status: "FAILED"; failureCode: string; failureMessage: string; gatewayReference: string | null };

/**
 * Refunds as gateway work: the same lifecycle as a payment's operation (docs/CONTRACT.md §6, §8),
 * over the refunds table and REFUND_TRANSITIONS. A FAILED refund's amount must go back to its
 * payment (releaseRefundedAmounts) in the same transaction: the refund store composes both.
 */
export const REFUND_LIFECYCLE = gatewayWorkLifecycle<RefundRow, RefundOutcome>({
  work: REFUND_WORK,
  transitions: REFUND_TRANSITIONS,
  // A refund's answer writes nothing beyond what every kind's does.
  outcome: { fields: {}, encode: () => ({}), set: () => ({}) },
});

/** How many refunds wait for the gateway to tell whether the money went back (those the reconciler holds). */
export const countUnresolvedRefunds = (db: Executor): Promise<number> => REFUND_LIFECYCLE.countUnresolved(db);
/** A merchant's refunds the reconciler holds (outcome unknown), oldest unknown first (capped), and how many in all. */
export const listUnresolvedRefunds = (db: Executor, merchantId: string, limit: number): Promise<{ rows: RefundRow[]; total: number }> =>
  REFUND_LIFECYCLE.listUnresolved(db, merchantId, limit);

/**
 * Takes refunds nothing will move any more (claimable, untouched for `idleMs`, no message queued:
 * `queued` is the broker's own predicate, given the refund's payment id and id), touching each
 * under its row lock as claimStrandedPayments does, so two sweepers never take the same one.
 */
export async function claimStrandedRefunds(
  db: Executor,
  options: { idleMs: number; limit: number; queued: (paymentId: SQLWrapper, refundId: SQLWrapper) => SQL },
): Promise<Pick<RefundRow, "id" | "paymentId" | "requestId">[]> {
  const stranded = db
    .select({ id: refunds.id })
    .from(refunds)
    .where(
      and(
        REFUND_LIFECYCLE.guardOf("claim"),
        lt(refunds.updatedAt, sql`now() - make_interval(secs => ${options.idleMs / 1000})`),
        not(options.queued(refunds.paymentId, refunds.id)),
      ),
    )
    .limit(options.limit)
    .for("update", { skipLocked: true });
  return db
    .update(refunds)
    .set({ updatedAt: sql`now()` })
    .where(inArray(refunds.id, stranded))
    .returning({ id: refunds.id, paymentId: refunds.paymentId, requestId: refunds.requestId });
}
