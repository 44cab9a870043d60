import { and, desc, eq, gte, inArray, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { type Executor, queryRows } from "../database";
import { PAYMENT_ID } from "./ids";
import { payments } from "./schema";
import { type PaymentStatus, UNFINISHED_STATUSES } from "./status";

/**
 * A predicate over a payment id, for a statement over another table (the outbox): true when that
 * payment belongs to `merchantId`. One primary-key probe per row tested.
 */
export function isPaymentOf(merchantId: string): (paymentId: SQLWrapper) => SQL {
  return (paymentId) => sql`exists (select 1 from ${payments} where ${payments.id} = ${paymentId} and ${payments.merchantId} = ${merchantId})`;
}

/** A merchant's payments in flight now, per status. Reads only the in-flight entries of the (merchant_id, status, id) index: few, however old the merchant. */
export async function countInFlight(db: Executor, merchantId: string): Promise<Partial<Record<PaymentStatus, number>>> {
  const rows = await db
    .select({ status: payments.status, count: sql<number>`count(*)::int` })
    .from(payments)
    .where(and(eq(payments.merchantId, merchantId), inArray(payments.status, UNFINISHED_STATUSES)))
    .groupBy(payments.status);
  return Object.fromEntries(UNFINISHED_STATUSES.map((status) => [status, Number(rows.find((r) => r.status === status)?.count ?? 0)]));
}

/** One group of finalizedInWindow: a bucket (code rolled up), a failure code (bucket rolled up), or the whole window (both). */
export type FinalizedGroup = {
  db_now: number;
  window_start: number;
  bucket_rolled_up: number;
  code_rolled_up: number;
  bucket: number | string | null;
  failure_code: string | null;
  completed: number;
  failed: number;
  canceled: number;
  p50: number | null;
  p95: number | null;
};

/**
 * One pass over a merchant's payments finalized in the last `buckets` buckets of `bucketSeconds`
 * (aligned to multiples of it), grouped three ways at once: per bucket, per failure code and
 * overall, with counts and POST → final latency percentiles. Only payments created since
 * `createdSinceMs` are read: ids are time-ordered, so that bound is a range scan of the
 * (merchant_id, id) index instead of a scan of every payment the merchant ever made.
 */
export async function finalizedInWindow(
  db: Executor,
  merchantId: string,
  window: { bucketSeconds: number; buckets: number; createdSinceMs: number },
): Promise<FinalizedGroup[]> {
  const { bucketSeconds, buckets } = window;
  return queryRows<FinalizedGroup>(
    db,
    sql`
      with bounds as (
        select now() as db_now,
               to_timestamp((floor(extract(epoch from now()) / ${bucketSeconds}) - ${buckets - 1}) * ${bucketSeconds}) as window_start
      ),
      finalized as (
        select floor(extract(epoch from ${payments.completedAt}) / ${bucketSeconds})::bigint * ${bucketSeconds} as bucket,
               ${payments.failureCode} as failure_code,
               ${payments.status} as status,
               ${payments.captureMethod} = 'automatic' and ${payments.status} <> 'CANCELED' as measured,
               (extract(epoch from ${payments.completedAt} - ${payments.createdAt}) * 1000)::float8 as latency_ms
        from ${payments}, bounds
        where ${payments.merchantId} = ${merchantId}
          and ${payments.id} >= ${PAYMENT_ID.floor(window.createdSinceMs)}
          and ${payments.completedAt} >= bounds.window_start
      )
      select extract(epoch from (select db_now from bounds))::float8 as db_now,
             extract(epoch from (select window_start from bounds))::float8 as window_start,
             grouping(bucket) as bucket_rolled_up,
             grouping(failure_code) as code_rolled_up,
             bucket,
             failure_code,
             count(*) filter (where status = 'COMPLETED')::int as completed,
             count(*) filter (where status = 'FAILED')::int as failed,
             count(*) filter (where status = 'CANCELED')::int as canceled,
             -- POST → final measures the service only where nothing waited on the merchant: a
             -- manual payment's capture, or any cancel, comes whenever the merchant asks.
             percentile_cont(0.5) within group (order by latency_ms) filter (where measured) as p50,
             percentile_cont(0.95) within group (order by latency_ms) filter (where measured) as p95
      from finalized
      group by grouping sets ((bucket), (failure_code), ())
    `,
  );
}

/** A merchant's newest payments, newest first, with what a list of them shows. */
export async function listRecentPayments(db: Executor, merchantId: string, limit: number) {
  return db
    .select({
      id: payments.id,
      status: payments.status,
      amount: payments.amount,
      currency: payments.currency,
      failureCode: payments.failureCode,
      brand: payments.cardBrand,
      last4: payments.cardLast4,
      createdAt: payments.createdAt,
      completedAt: payments.completedAt,
    })
    .from(payments)
    .where(eq(payments.merchantId, merchantId))
    .orderBy(desc(payments.id))
    .limit(limit);
}

/**
 * A merchant's payments that failed with `failureCode` and were created since `createdSinceMs`,
 * newest first (at most `limit`), and how many in all. Reads the FAILED entries of the
 * (merchant_id, status, id) index from that id on: the cost follows the window, not the history.
 */
export async function listRecentFailures(
  db: Executor,
  merchantId: string,
  options: { failureCode: string; createdSinceMs: number; limit: number },
) {
  const where = and(
    eq(payments.merchantId, merchantId),
    eq(payments.status, "FAILED"),
    gte(payments.id, PAYMENT_ID.floor(options.createdSinceMs)),
    eq(payments.failureCode, options.failureCode),
  );
  const [rows, [count]] = await Promise.all([
    db
      .select({
        id: payments.id,
        amount: payments.amount,
        currency: payments.currency,
        gateway: payments.gateway,
        failureMessage: payments.failureMessage,
        completedAt: payments.completedAt,
      })
      .from(payments)
      .where(where)
      .orderBy(desc(payments.id))
      .limit(options.limit),
    db.select({ total: sql<number>`count(*)::int` }).from(payments).where(where),
  ]);
  return { rows, total: Number(count?.total ?? 0) };
}
