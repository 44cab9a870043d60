import { sql } from "drizzle-orm";
import { type Executor, inJsonList } from "../database";
import { payments } from "./schema";

/**
 * Gives failed refunds' amounts back to their payments' refundable totals (`amount_refunded` was
 * raised when each refund was created). Runs in the transaction that makes the refunds FAILED, so
 * the total always equals the sum of the refunds that are not FAILED. A payment with several
 * failed refunds in one batch is given back their sum.
 */
export async function releaseRefundedAmounts(db: Executor, released: { paymentId: string; amount: number }[]): Promise<void> {
  if (released.length === 0) return;
  await db.execute(sql`
    update ${payments} set amount_refunded = ${payments.amountRefunded} - r.amount, updated_at = now()
    from (select payment_id, sum(amount)::integer as amount
          from jsonb_to_recordset(${JSON.stringify(released.map((r) => ({ payment_id: r.paymentId, amount: r.amount })))}::jsonb)
            as x(payment_id text, amount integer)
          group by payment_id) r
    where ${payments.id} = r.payment_id and ${inJsonList(
      payments.id,
      released.map((r) => r.paymentId),
    )}`);
}
