import { and, eq, isNotNull, type SQL, sql } from "drizzle-orm";
import { type Executor, mapRows, queryRows } from "../database";
import { guardOfSources } from "./gateway-work";
import { REFUND_WORK } from "./refund-lifecycle";
import { type RefundRow, refunds } from "./refund-schema";
import { REFUND_REVERSALS } from "./refund-status";
import { type PaymentRow, payments } from "./schema";
import { UNFINISHED_STATUSES } from "./status";

/*
 * What a gateway's notification may do to the aggregate (docs/CONTRACT.md §10). A notification is
 * a hint, never the truth: these functions either make the reconciler's look-up at the gateway
 * happen now (the look-up then settles the work through the guarded transitions, as any check),
 * or apply what paystream itself fetched from the gateway, through a guarded update.
 */

/**
 * Makes the gateway look-up of an unfinished payment due now: for a payment whose outcome is
 * unknown (the reconciler holds it), and for any other non-final payment waiting on a gateway
 * look-up (`next_check_at` set). A final payment, or one nobody is to look up, is left alone.
 * True when the payment's look-up is due now; the caller then wakes the reconciler. A look-up
 * already in flight may be made once more: look-ups change nothing by themselves, and what they
 * find is recorded under the attempt fence.
 */
export async function expediteGatewayCheck(db: Executor, paymentId: string): Promise<boolean> {
  const rows = await db
    .update(payments)
    .set({ nextCheckAt: sql`least(${payments.nextCheckAt}, now())` })
    .where(
      and(
        eq(payments.id, paymentId),
        sql`${payments.status} in (${sql.raw(UNFINISHED_STATUSES.map((s) => `'${s}'`).join(", "))})`,
        isNotNull(payments.nextCheckAt),
      ),
    )
    .returning({ id: payments.id });
  return rows.length > 0;
}

/** expediteGatewayCheck for a refund whose outcome is unknown (the reconciler holds it): its look-up is due now. */
export async function expediteRefundCheck(db: Executor, refundId: string): Promise<boolean> {
  const rows = await db
    .update(refunds)
    .set({ nextCheckAt: sql`least(${refunds.nextCheckAt}, now())` })
    .where(and(eq(refunds.id, refundId), guardOfSources(REFUND_WORK, [{ status: "PENDING", reconciling: true }]), isNotNull(refunds.nextCheckAt)))
    .returning({ id: refunds.id });
  return rows.length > 0;
}

/** The payment a gateway object names, by the gateway's reference to it (a Stripe PaymentIntent, a PayPal capture or order). */
export async function findPaymentByGatewayReference(db: Executor, gateway: string, gatewayReference: string): Promise<PaymentRow | undefined> {
  const [row] = await db
    .select()
    .from(payments)
    .where(and(eq(payments.gateway, gateway), eq(payments.gatewayReference, gatewayReference)))
    .limit(1);
  return row;
}

/** The refund a gateway refund object is, by the gateway's id of it (set when the gateway answered the refund). */
export async function findRefundByGatewayReference(db: Executor, gatewayReference: string): Promise<RefundRow | undefined> {
  const [row] = await db.select().from(refunds).where(eq(refunds.gatewayReference, gatewayReference)).limit(1);
  return row;
}

/**
 * A refund the gateway failed after it had succeeded (Stripe's refund `failed` after `succeeded`:
 * the card could not take the money back). In ONE statement, guarded by REFUND_REVERSALS: the
 * refund becomes FAILED with `failureCode` and its amount leaves its payment's `amount_refunded`,
 * so refunded ≤ captured and "the sum of the refunds that are not FAILED" both keep holding.
 * Undefined when the refund was not SUCCEEDED (already FAILED: a second notice changes nothing).
 */
export async function failRefundAfterSuccess(db: Executor, refundId: string, failure: { code: string; message: string }): Promise<RefundRow | undefined> {
  const guard: SQL = guardOfSources(REFUND_WORK, REFUND_REVERSALS.failAfterSuccess.from);
  const rows = await queryRows(db, sql`
    with failed as (
      update ${refunds} set status = 'FAILED', failure_code = ${failure.code}, failure_message = ${failure.message},
        updated_at = now(), completed_at = now()
      where ${refunds.id} = ${refundId} and ${guard}
      returning *
    ), released as (
      update ${payments} set amount_refunded = ${payments.amountRefunded} - f.amount, updated_at = now()
      from failed f where ${payments.id} = f.payment_id
      returning ${payments.id}
    )
    select to_jsonb(f.*) as refund from failed f`);
  const [row] = rows as { refund: Record<string, unknown> }[];
  return row ? (mapRows(refunds, [row.refund])[0] as RefundRow) : undefined;
}
