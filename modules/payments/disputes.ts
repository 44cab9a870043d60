import { and, desc, eq, lt, sql } from "drizzle-orm";
import { type Executor, mapRows, queryRows } from "../database";
import { type DisputeRow, disputes } from "./dispute-schema";
import { CLOSED_DISPUTE_STATUSES, DISPUTE_STATUSES, DISPUTE_TRANSITIONS, type DisputeStatus, isClosedDispute } from "./dispute-status";
import { DISPUTE_ID } from "./ids";
import { type PaymentRow, payments } from "./schema";

/** The dispute object of the public API (docs/CONTRACT.md §10). */
export interface Dispute {
  id: string;
  paymentId: string;
  amount: number;
  currency: string;
  reason: string;
  status: DisputeStatus;
  evidenceDueBy: string | null;
  gatewayReference: string;
  createdAt: string;
  updatedAt: string;
}

export function toDispute(row: DisputeRow): Dispute {
  return {
    id: row.id,
    paymentId: row.paymentId,
    amount: row.amount,
    currency: row.currency,
    reason: row.reason,
    status: row.status,
    evidenceDueBy: row.evidenceDueBy ? row.evidenceDueBy.toISOString() : null,
    gatewayReference: row.gatewayReference,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** A dispute as the gateway's own record shows it, already in ISO minor units, for one of our payments. */
export interface DisputeState {
  gatewayReference: string;
  amount: number;
  currency: string;
  reason: string;
  status: DisputeStatus;
  evidenceDueBy: Date | null;
}

/** What recording the gateway's state of a dispute did; `previous` is the status it had before. */
export type DisputeChange =
  | { kind: "created"; dispute: DisputeRow; payment: PaymentRow }
  | { kind: "updated"; dispute: DisputeRow; previous: DisputeStatus; payment: PaymentRow }
  /** The gateway's record says what the dispute already shows, or a move the machine refuses (out of won or lost). */
  | { kind: "unchanged"; dispute: DisputeRow };

/** `(status = 'a' and $to in (…)) or …`: DISPUTE_TRANSITIONS as the guard of the update. */
function transitionGuard(to: DisputeStatus) {
  const admitted = DISPUTE_STATUSES.filter((from) => DISPUTE_TRANSITIONS[from].includes(to));
  return sql.raw(`d.status in (${admitted.map((s) => `'${s}'`).join(", ")})`);
}

/**
 * Records the gateway's current state of a dispute of `payment` (docs/CONTRACT.md §10): creates the
 * dispute, or updates it when the gateway's record differs and the status machine allows the move
 * (never out of won or lost), counting the change in `revision`. The payment's `amount_disputed`
 * (its disputes that are not won) is recomputed in the same transaction: run this inside one.
 */
export async function recordDispute(tx: Executor, payment: Pick<PaymentRow, "id" | "merchantId" | "gateway">, state: DisputeState): Promise<DisputeChange> {
  const created = await queryRows(tx, sql`
    insert into ${disputes} (id, payment_id, merchant_id, gateway, gateway_reference, amount, currency, reason, status, evidence_due_by)
    values (${DISPUTE_ID.next()}, ${payment.id}, ${payment.merchantId}, ${payment.gateway}, ${state.gatewayReference}, ${state.amount},
            ${state.currency}, ${state.reason}, ${state.status}, ${state.evidenceDueBy?.toISOString() ?? null}::timestamptz)
    on conflict (gateway, gateway_reference) do nothing
    returning *`);
  if (created.length > 0) {
    const dispute = mapRows(disputes, created)[0] as DisputeRow;
    return { kind: "created", dispute, payment: await recomputeDisputed(tx, payment.id) };
  }
  const evidenceDueBy = state.evidenceDueBy?.toISOString() ?? null;
  const updated = await queryRows(tx, sql`
    with d as (
      select id, status from ${disputes}
      where gateway = ${payment.gateway} and gateway_reference = ${state.gatewayReference}
      for update
    )
    update ${disputes} set status = ${state.status}, amount = ${state.amount}, currency = ${state.currency}, reason = ${state.reason},
      evidence_due_by = ${evidenceDueBy}::timestamptz, revision = ${disputes.revision} + 1, updated_at = now()
    from d
    where ${disputes.id} = d.id and ${transitionGuard(state.status)}
      and (d.status, ${disputes.amount}, ${disputes.currency}, ${disputes.reason}, ${disputes.evidenceDueBy})
          is distinct from (${state.status}, ${state.amount}::integer, ${state.currency}, ${state.reason}, ${evidenceDueBy}::timestamptz)
    returning ${disputes}.*, d.status as previous_status`);
  const [row] = updated as (Record<string, unknown> & { previous_status: DisputeStatus })[];
  if (row) {
    const { previous_status: previous, ...fields } = row;
    const dispute = mapRows(disputes, [fields])[0] as DisputeRow;
    return { kind: "updated", dispute, previous, payment: await recomputeDisputed(tx, payment.id) };
  }
  const [current] = await tx.select().from(disputes).where(and(eq(disputes.gateway, payment.gateway), eq(disputes.gatewayReference, state.gatewayReference)));
  if (!current) throw new Error(`dispute ${state.gatewayReference} of payment ${payment.id} vanished while it was recorded`);
  return { kind: "unchanged", dispute: current };
}

/** The payment's amount_disputed from its disputes as they are now in this transaction: those not won. */
async function recomputeDisputed(tx: Executor, paymentId: string): Promise<PaymentRow> {
  const [row] = await tx
    .update(payments)
    .set({
      amountDisputed: sql`(select coalesce(sum(amount), 0)::integer from ${disputes} where ${disputes.paymentId} = ${paymentId} and ${disputes.status} <> 'won')`,
      updatedAt: sql`now()`,
    })
    .where(eq(payments.id, paymentId))
    .returning();
  if (!row) throw new Error(`payment ${paymentId} has a dispute but does not exist`);
  return row;
}

/** The merchant webhook events a change announces (docs/CONTRACT.md §10). */
export function disputeEventsOf(change: DisputeChange): ("dispute.created" | "dispute.updated" | "dispute.closed")[] {
  switch (change.kind) {
    case "created":
      return isClosedDispute(change.dispute.status) ? ["dispute.created", "dispute.closed"] : ["dispute.created"];
    case "updated":
      return isClosedDispute(change.dispute.status) && !isClosedDispute(change.previous) ? ["dispute.closed"] : ["dispute.updated"];
    case "unchanged":
      return [];
  }
}

export async function findDispute(db: Executor, merchantId: string, id: string): Promise<DisputeRow | undefined> {
  const [row] = await db
    .select()
    .from(disputes)
    .where(and(eq(disputes.id, id), eq(disputes.merchantId, merchantId)));
  return row;
}

/** A payment's disputes, newest first, with cursor paging like refunds. */
export async function listDisputes(
  db: Executor,
  merchantId: string,
  paymentId: string,
  query: { limit: number; startingAfter?: string | undefined },
): Promise<{ rows: DisputeRow[]; hasMore: boolean }> {
  const rows = await db
    .select()
    .from(disputes)
    .where(and(eq(disputes.merchantId, merchantId), eq(disputes.paymentId, paymentId), query.startingAfter ? lt(disputes.id, query.startingAfter) : undefined))
    .orderBy(desc(disputes.id))
    .limit(query.limit + 1);
  return { rows: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
}

/** Disputes by status across all merchants (for /metrics), and a merchant's open ones (for the dashboard). */
export async function countDisputesByStatus(db: Executor): Promise<Record<DisputeStatus, number>> {
  const rows = await db.select({ status: disputes.status, n: sql<number>`count(*)::int` }).from(disputes).groupBy(disputes.status);
  const counts = Object.fromEntries(DISPUTE_STATUSES.map((s) => [s, 0])) as Record<DisputeStatus, number>;
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}

/** A merchant's open disputes (needs_response, under_review), newest first (capped), and how many in all. */
export async function listOpenDisputes(db: Executor, merchantId: string, limit: number): Promise<{ rows: DisputeRow[]; total: number }> {
  const open = and(eq(disputes.merchantId, merchantId), sql`${disputes.status} not in (${sql.raw(CLOSED_DISPUTE_STATUSES.map((s) => `'${s}'`).join(", "))})`);
  const [rows, [count]] = await Promise.all([
    db.select().from(disputes).where(open).orderBy(desc(disputes.id)).limit(limit),
    db.select({ n: sql<number>`count(*)::int` }).from(disputes).where(open),
  ]);
  return { rows, total: Number(count?.n ?? 0) };
}
