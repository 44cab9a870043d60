import type { SQL, SQLWrapper } from "drizzle-orm";
import { type BrokerBacklog, type OutboxBacklog, outboxBacklog } from "../broker";
import type { Executor } from "../database";
import { GATEWAY_CONFIGURATION_ERROR } from "../gateways";
import { currencyExponent } from "../money";
import { countGatewayEvents } from "../gateway-events";
import {
  countInFlight,
  type DisputeStatus,
  finalizedInWindow,
  isPaymentOf,
  listOpenDisputes,
  listRecentFailures,
  listRecentPayments,
  listUnresolved,
  listUnresolvedRefunds,
  type PaymentOperation,
  type PaymentStatus,
} from "../payments";

export const WINDOW_SECONDS = 300;
export const BUCKET_SECONDS = 10;
const BUCKETS = WINDOW_SECONDS / BUCKET_SECONDS;
const RECENT_LIMIT = 20;

/**
 * The window queries only look at payments created in the last 15 minutes: payment ids are
 * time-ordered, so this bound turns "finished in the last 5 minutes" into a range scan of the
 * (merchant_id, id) index instead of a scan of every payment the merchant ever made
 * (completed_at has no index). A payment that took longer than 10 minutes to finish is left
 * out of the window's counts and charts; it still shows in the recent list.
 */
const CREATED_HORIZON_MS = 15 * 60_000;

/**
 * How far back the needs-attention list looks for configuration errors: long enough that an
 * operator who looks once a day sees them, bounded so the query reads a window of the merchant's
 * failed payments, not all of them.
 */
const CONFIGURATION_ERROR_HORIZON_MS = 24 * 3600_000;

export interface ThroughputBucket {
  /** Start of the bucket, ISO-8601; buckets are aligned to multiples of BUCKET_SECONDS. */
  start: string;
  completed: number;
  failed: number;
  /** Payments finalized per second in the bucket (the current bucket: per second elapsed so far). */
  perSecond: number;
  /** POST → final latency percentiles of the payments finalized in the bucket; null when there were none. */
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface RecentPayment {
  id: string;
  status: PaymentStatus;
  amount: number;
  currency: string;
  /** Decimal places of the currency's minor unit, so the page can show 1999 USD as 19.99 and 500 JPY as 500. */
  exponent: number;
  failureCode: string | null;
  /** Null while a payment paid with a payment method has no card view yet. */
  brand: string | null;
  last4: string | null;
  createdAt: string;
  completedAt: string | null;
}

/** A payment whose gateway outcome is unknown: the card may have been charged (or captured, or the hold voided), and nobody knows yet. */
export interface UnresolvedPayment {
  id: string;
  /** What the gateway was asked to do: charge, authorize, capture or void. */
  operation: PaymentOperation;
  amount: number;
  currency: string;
  exponent: number;
  brand: string | null;
  last4: string | null;
  unknownSince: string;
  nextCheckAt: string | null;
  checks: number;
}

/** A refund whose gateway outcome is unknown: the money may have gone back to the card, and nobody knows yet. */
export interface UnresolvedRefund {
  id: string;
  paymentId: string;
  amount: number;
  currency: string;
  exponent: number;
  unknownSince: string;
  nextCheckAt: string | null;
  checks: number;
}

/**
 * A payment the merchant's gateway account refused to carry out (`gateway_configuration_error`,
 * docs/CONTRACT.md §9): nothing was charged, and no retry helps until an operator changes the
 * account or the settings.
 */
export interface ConfigurationErrorPayment {
  id: string;
  amount: number;
  currency: string;
  exponent: number;
  gateway: string;
  /** The gateway's own words, already scrubbed of digit runs. */
  failureMessage: string | null;
  failedAt: string | null;
}

/** An open dispute (chargeback) of one of the merchant's payments (docs/CONTRACT.md §10): evidence may be due. */
export interface OpenDispute {
  id: string;
  paymentId: string;
  amount: number;
  currency: string;
  exponent: number;
  reason: string;
  status: DisputeStatus;
  evidenceDueBy: string | null;
}

/** How far back the dashboard counts the gateways' events. */
const GATEWAY_EVENTS_HORIZON_MS = 24 * 3600_000;

export interface DashboardSnapshot {
  merchantId: string;
  /** The database's clock when the snapshot was taken; ages on the page are measured against it. */
  generatedAt: string;
  windowSeconds: number;
  bucketSeconds: number;
  /**
   * PENDING, PROCESSING, REQUIRES_ACTION and AUTHORIZED: every payment in flight (waiting, or held) now. COMPLETED, FAILED
   * and CANCELED: payments finalized in the window; all-time totals would cost a scan of every payment the merchant ever made, each second.
   */
  counts: Record<PaymentStatus, number>;
  /** Throughput over the last minute, and the POST → final latency of the payments finalized in the window. */
  window: { perSecondLastMinute: number; p50Ms: number | null; p95Ms: number | null };
  /** Oldest first, one per bucket, always WINDOW_SECONDS / BUCKET_SECONDS of them. */
  series: ThroughputBucket[];
  /** Failure codes of the payments that failed in the window, most frequent first. */
  failureCodes: { code: string; count: number }[];
  /** The merchant's newest payments, newest first. */
  recent: RecentPayment[];
  /**
   * Needs attention: payments and refunds whose outcome at the gateway is unknown and is being
   * looked up (docs/CONTRACT.md §6), oldest first (capped), and how many of each in all.
   */
  unresolved: { total: number; payments: UnresolvedPayment[]; refundsTotal: number; refunds: UnresolvedRefund[] };
  /** Needs attention too: payments that failed in the last 24 hours because the gateway account refused them, newest first (capped), and how many in all. */
  configurationErrors: { total: number; payments: ConfigurationErrorPayment[] };
  /**
   * The merchant's own rows in the outbox: its payments' and refunds' messages waiting for a worker
   * or the relay, and its dead letters. Never the whole service's: another merchant's volume is
   * not this merchant's business (the operator sees the whole outbox in /metrics).
   */
  backlog: OutboxBacklog;
  /** Needs attention: the merchant's open disputes, newest first (capped), and how many in all. */
  disputes: { total: number; open: OpenDispute[] };
  /** The gateways' webhook events of the last 24 hours (about the merchant's own payments), by gateway and result. */
  gatewayEvents: { gateway: string; result: string; count: number }[];
  /**
   * The merchant's own messages waiting for a worker, wherever they wait (the outbox, or with
   * Kafka the topic, behind the consumers' lag), the oldest one's age and the time to drain them
   * at the merchant's own pace over the last minute. Null when the broker did not answer or none
   * was given. Only the merchant's: the service's whole backlog, its age and drain rate would tell
   * other merchants' volume (SECURITY.md S4); they are the operator's, in /metrics.
   */
  queue: MerchantQueue | null;
}

export interface MerchantQueue {
  messages: number;
  oldestAgeSeconds: number;
  /** The merchant's payments finalized per second over the last minute (window.perSecondLastMinute). */
  drainPerSecond: number;
  /** messages / drainPerSecond; 0 when nothing waits, null while none of the merchant's payments is finalized. */
  drainEtaSeconds: number | null;
}

/** The page's queue figures from the broker's backlog of the merchant's payments and the merchant's pace. */
export function merchantQueueOf(backlog: Pick<BrokerBacklog, "messages" | "oldestAgeSeconds">, perSecond: number): MerchantQueue {
  const eta = backlog.messages === 0 ? 0 : perSecond > 0 ? backlog.messages / perSecond : null;
  return { messages: backlog.messages, oldestAgeSeconds: backlog.oldestAgeSeconds, drainPerSecond: perSecond, drainEtaSeconds: eta };
}

/** The broker's backlog of some payments (Broker.backlog with a payment predicate). */
export type BacklogOf = (only: (paymentId: SQLWrapper) => SQL) => Promise<BrokerBacklog>;

const roundMs = (value: unknown) => (value === null || value === undefined ? null : Math.round(Number(value) * 10) / 10);

/** The charts, the breakdown and the headline numbers of the window, from one pass over the payments finalized in it. */
async function windowStats(db: Executor, merchantId: string) {
  const rows = await finalizedInWindow(db, merchantId, {
    bucketSeconds: BUCKET_SECONDS,
    buckets: BUCKETS,
    createdSinceMs: Date.now() - CREATED_HORIZON_MS,
  });
  // The empty grouping set always yields a row, so there is one even when nothing finished.
  const total = rows.find((r) => Number(r.bucket_rolled_up) === 1 && Number(r.code_rolled_up) === 1);
  if (!total) throw new Error("the window query returned no total row");
  const nowSeconds = Number(total.db_now);
  const windowStart = Number(total.window_start);

  const byBucket = new Map(
    rows.filter((r) => Number(r.bucket_rolled_up) === 0 && Number(r.code_rolled_up) === 1).map((r) => [Number(r.bucket), r]),
  );
  const series: ThroughputBucket[] = [];
  for (let i = 0; i < BUCKETS; i++) {
    const start = windowStart + i * BUCKET_SECONDS;
    const row = byBucket.get(start);
    const completed = Number(row?.completed ?? 0);
    const failed = Number(row?.failed ?? 0);
    const elapsed = Math.min(BUCKET_SECONDS, Math.max(1, nowSeconds - start));
    series.push({
      start: new Date(start * 1000).toISOString(),
      completed,
      failed,
      perSecond: Math.round(((completed + failed) / elapsed) * 100) / 100,
      p50Ms: roundMs(row?.p50),
      p95Ms: roundMs(row?.p95),
    });
  }

  const lastMinute = series.slice(-60 / BUCKET_SECONDS);
  const lastMinuteSeconds = Math.max(1, nowSeconds - (windowStart + (BUCKETS - lastMinute.length) * BUCKET_SECONDS));
  const lastMinuteCount = lastMinute.reduce((sum, b) => sum + b.completed + b.failed, 0);

  const failureCodes = rows
    .filter((r) => Number(r.code_rolled_up) === 0 && Number(r.bucket_rolled_up) === 1 && r.failure_code !== null)
    .map((r) => ({ code: String(r.failure_code), count: Number(r.failed) }))
    .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));

  return {
    generatedAt: new Date(nowSeconds * 1000).toISOString(),
    completed: Number(total.completed),
    failed: Number(total.failed),
    canceled: Number(total.canceled),
    window: {
      perSecondLastMinute: Math.round((lastMinuteCount / lastMinuteSeconds) * 100) / 100,
      p50Ms: roundMs(total.p50),
      p95Ms: roundMs(total.p95),
    },
    series,
    failureCodes,
  };
}

/** Intake accepts only currencies whose exponent is known; 2 covers a row written before its code was withdrawn. */
const exponentOf = (currency: string): number => currencyExponent(currency) ?? 2;

async function recentPayments(db: Executor, merchantId: string): Promise<RecentPayment[]> {
  const rows = await listRecentPayments(db, merchantId, RECENT_LIMIT);
  return rows.map((row) => ({
    ...row,
    exponent: exponentOf(row.currency),
    createdAt: row.createdAt.toISOString(),
    completedAt: row.completedAt ? row.completedAt.toISOString() : null,
  }));
}

/** What a row the reconciler holds shows: its money, and since when and how often the gateway was asked. */
function lookupState(
  row: { amount: number; currency: string; outcomeUnknownSince: Date | null; updatedAt: Date; nextCheckAt: Date | null; reconcileChecks: number },
) {
  return {
    amount: row.amount,
    currency: row.currency,
    exponent: exponentOf(row.currency),
    unknownSince: (row.outcomeUnknownSince ?? row.updatedAt).toISOString(),
    nextCheckAt: row.nextCheckAt ? row.nextCheckAt.toISOString() : null,
    checks: row.reconcileChecks,
  };
}

async function unresolvedWork(db: Executor, merchantId: string): Promise<DashboardSnapshot["unresolved"]> {
  const [{ rows, total }, refunds] = await Promise.all([
    listUnresolved(db, merchantId, RECENT_LIMIT),
    listUnresolvedRefunds(db, merchantId, RECENT_LIMIT),
  ]);
  return {
    total,
    refundsTotal: refunds.total,
    refunds: refunds.rows.map(
      (row): UnresolvedRefund => ({
        id: row.id,
        paymentId: row.paymentId,
        ...lookupState(row),
      }),
    ),
    payments: rows.map(
      (row): UnresolvedPayment => ({
        id: row.id,
        operation: row.operation,
        brand: row.cardBrand,
        last4: row.cardLast4,
        ...lookupState(row),
      }),
    ),
  };
}

async function configurationErrors(db: Executor, merchantId: string): Promise<DashboardSnapshot["configurationErrors"]> {
  const { rows, total } = await listRecentFailures(db, merchantId, {
    failureCode: GATEWAY_CONFIGURATION_ERROR,
    createdSinceMs: Date.now() - CONFIGURATION_ERROR_HORIZON_MS,
    limit: RECENT_LIMIT,
  });
  return {
    total,
    payments: rows.map((row) => ({
      id: row.id,
      amount: row.amount,
      currency: row.currency,
      exponent: exponentOf(row.currency),
      gateway: row.gateway,
      failureMessage: row.failureMessage,
      failedAt: row.completedAt ? row.completedAt.toISOString() : null,
    })),
  };
}

async function openDisputes(db: Executor, merchantId: string): Promise<DashboardSnapshot["disputes"]> {
  const { rows, total } = await listOpenDisputes(db, merchantId, RECENT_LIMIT);
  return {
    total,
    open: rows.map((row) => ({
      id: row.id,
      paymentId: row.paymentId,
      amount: row.amount,
      currency: row.currency,
      exponent: exponentOf(row.currency),
      reason: row.reason,
      status: row.status,
      evidenceDueBy: row.evidenceDueBy ? row.evidenceDueBy.toISOString() : null,
    })),
  };
}

/** Everything the dashboard shows for one merchant, from queries whose cost does not grow with the merchant's history. */
export async function loadDashboardSnapshot(db: Executor, merchantId: string, backlogOf?: BacklogOf): Promise<DashboardSnapshot> {
  const [inFlight, window, recent, unresolved, refusedByGateway, outbox, disputes, gatewayEvents, queue] = await Promise.all([
    countInFlight(db, merchantId),
    windowStats(db, merchantId),
    recentPayments(db, merchantId),
    unresolvedWork(db, merchantId),
    configurationErrors(db, merchantId),
    outboxBacklog(db, isPaymentOf(merchantId)),
    openDisputes(db, merchantId),
    countGatewayEvents(db, new Date(Date.now() - GATEWAY_EVENTS_HORIZON_MS), isPaymentOf(merchantId)),
    backlogOf?.(isPaymentOf(merchantId)).catch(() => null) ?? null,
  ]);
  return {
    merchantId,
    generatedAt: window.generatedAt,
    windowSeconds: WINDOW_SECONDS,
    bucketSeconds: BUCKET_SECONDS,
    counts: { PENDING: 0, PROCESSING: 0, REQUIRES_ACTION: 0, AUTHORIZED: 0, ...inFlight, COMPLETED: window.completed, FAILED: window.failed, CANCELED: window.canceled },
    window: window.window,
    series: window.series,
    failureCodes: window.failureCodes,
    recent,
    unresolved,
    configurationErrors: refusedByGateway,
    backlog: outbox,
    disputes,
    gatewayEvents,
    queue: queue ? merchantQueueOf(queue, window.window.perSecondLastMinute) : null,
  };
}
