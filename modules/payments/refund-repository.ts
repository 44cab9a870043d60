import { and, desc, eq, lt, type SQL, sql } from "drizzle-orm";
import { type Executor, type IdFilter, inJsonList, mapRows, queryRows } from "../database";
import { amountChangeGuardOf } from "./repository";
import { type PaymentStatus, payments } from "./schema";
import { allowsAmountChange } from "./status";
import { type RefundRow, refunds } from "./refund-schema";
import type { RefundReason } from "./refund-status";

export interface NewRefund {
  id: string;
  merchantId: string;
  paymentId: string;
  /** Minor units; null = everything still refundable. */
  amount: number | null;
  reason: RefundReason | null;
  metadata: Record<string, string>;
  requestId: string | null;
}

export type RefundCreation =
  | { kind: "created"; refund: RefundRow }
  /** The payment is not the merchant's (or does not exist). */
  | { kind: "payment_not_found" }
  /** Only a COMPLETED payment can be refunded. */
  | { kind: "invalid_state"; status: string }
  /** The refunds that are not FAILED would pass what was captured; `refundable` is what is left. */
  | { kind: "refund_exceeds_captured"; refundable: number };

/** The worker's message for the refunds created, as a part of the creating statement (given the payment ids of the refunds created). */
export type WrittenWithRefunds = (created: IdFilter) => SQL;

/*
 * The one owner of the invariant refunded ≤ captured: a payment's `amount_refunded` is raised only
 * here (createRefund) and lowered only here (releaseRefundedAmounts), so it always equals the sum
 * of its refunds that are not FAILED.
 */

/**
 * Creates a refund of a COMPLETED payment and raises the payment's `amount_refunded` by its
 * amount, in ONE statement. The payment row is locked first (FOR UPDATE), so concurrent refunds
 * of one payment take turns, and each sees the total the previous one left; the update's guard
 * `amount_refunded + amount <= amount_captured` (and the table's CHECK behind it) makes passing
 * the captured amount impossible, whatever the interleaving (docs/CONTRACT.md §8). The worker's message
 * is written by the same statement.
 */
export async function createRefund(db: Executor, refund: NewRefund, queue: WrittenWithRefunds): Promise<RefundCreation> {
  const requested = refund.amount === null ? sql`p.amount_captured - p.amount_refunded` : sql`${refund.amount}::integer`;
  const rows = await queryRows(db, sql`
    with target as (
      select p.id, p.status, p.currency, p.amount_captured, p.amount_refunded, ${requested} as amount
      from ${payments} p
      where p.id = ${refund.paymentId} and p.merchant_id = ${refund.merchantId}
      for update
    ), reserved as (
      update ${payments} set amount_refunded = ${payments.amountRefunded} + t.amount, updated_at = now()
      from target t
      where ${payments.id} = t.id and ${amountChangeGuardOf("reserveRefund")}
        and t.amount >= 1 and ${payments.amountRefunded} + t.amount <= ${payments.amountCaptured}
      returning ${payments.id} as payment_id, t.amount, t.currency
    ), created as (
      insert into ${refunds} (id, payment_id, merchant_id, amount, currency, reason, metadata, request_id)
      select ${refund.id}, r.payment_id, ${refund.merchantId}, r.amount, r.currency, ${refund.reason}, ${JSON.stringify(refund.metadata)}::jsonb, ${refund.requestId}
      from reserved r
      returning *
    ), queued as (${queue(sql`select payment_id from created`)})
    select 'created' as kind, to_jsonb(c.*) as refund, null::text as status, null::integer as refundable from created c
    union all
    select 'refused', null, t.status, t.amount_captured - t.amount_refunded from target t where not exists (select 1 from created)`);
  const [row] = rows as { kind: string; refund: Record<string, unknown> | null; status: string | null; refundable: number | null }[];
  if (!row) return { kind: "payment_not_found" };
  if (row.kind === "created" && row.refund) return { kind: "created", refund: mapRows(refunds, [row.refund])[0] as RefundRow };
  if (!allowsAmountChange("reserveRefund", row.status as PaymentStatus)) return { kind: "invalid_state", status: row.status ?? "unknown" };
  return { kind: "refund_exceeds_captured", refundable: Number(row.refundable ?? 0) };
}

export async function findRefund(db: Executor, merchantId: string, id: string): Promise<RefundRow | undefined> {
  const [row] = await db
    .select()
    .from(refunds)
    .where(and(eq(refunds.id, id), eq(refunds.merchantId, merchantId)));
  return row;
}

export async function findRefundById(db: Executor, id: string): Promise<RefundRow | undefined> {
  const [row] = await db.select().from(refunds).where(eq(refunds.id, id));
  return row;
}

/** A payment's refunds, newest first (ids are time-ordered), with cursor paging like payments. */
export async function listRefunds(
  db: Executor,
  merchantId: string,
  paymentId: string,
  query: { limit: number; startingAfter?: string | undefined },
): Promise<{ rows: RefundRow[]; hasMore: boolean }> {
  const rows = await db
    .select()
    .from(refunds)
    .where(
      and(
        eq(refunds.merchantId, merchantId),
        eq(refunds.paymentId, paymentId),
        query.startingAfter ? lt(refunds.id, query.startingAfter) : undefined,
      ),
    )
    .orderBy(desc(refunds.id))
    .limit(query.limit + 1);
  return { rows: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
}

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
