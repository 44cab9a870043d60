import { and, eq, inArray, lt, not, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { batchInput, claimDueCheckIds, countWork, type Executor, inJsonList, type GatewayWorkTable, guardOfSources, listHeldWork, scheduleNextCheckOf } from "../database";
import { type RefundRow, refunds } from "./schema";
import { REFUND_TRANSITIONS, type RefundTransitionName } from "./status";

/**
 * The worker's writes of a refund, each a guarded update whose WHERE clause comes from
 * REFUND_TRANSITIONS, and fenced by the attempt number the refund was claimed with: a worker whose
 * claim was taken over changes nothing. The same rules as a payment's operation (docs/CONTRACT.md §6, §8).
 */

/** What the shared gateway-work statements (../database) need to know of the refunds table. */
const REFUND_WORK: GatewayWorkTable = {
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
};

/** The WHERE clause of a refund transition's guarded update. */
export function refundGuardOf(transition: RefundTransitionName): SQL {
  return guardOfSources(REFUND_WORK, REFUND_TRANSITIONS[transition].from);
}

/**
 * Takes a refund for one gateway attempt; undefined when it is final, another worker holds it, or
 * the reconciler does. Retaking a refund whose lease ran out means its last attempt never recorded
 * an outcome: the gateway may have refunded, so that attempt's outcome is unknown.
 */
export async function claimRefund(db: Executor, id: string, leaseMs: number): Promise<RefundRow | undefined> {
  const [row] = await db
    .update(refunds)
    .set({
      attempts: sql`${refunds.attempts} + 1`,
      outcomeUnknownSince: sql`case when ${refunds.leaseExpiresAt} is not null
        then coalesce(${refunds.outcomeUnknownSince}, now()) else ${refunds.outcomeUnknownSince} end`,
      leaseExpiresAt: sql`now() + make_interval(secs => ${leaseMs / 1000})`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(refunds.id, id), refundGuardOf("claim")))
    .returning();
  return row;
}

export type RefundOutcome =
  | { status: "SUCCEEDED"; gatewayReference: string }
  | { status: "FAILED"; failureCode: string; failureMessage: string; gatewayReference: string | null };

/** A refund outcome's input, per refund. */
const REFUND_OUTCOME = batchInput(REFUND_WORK, "o", { attempt: "integer", status: "text", gateway_reference: "text", failure_code: "text", failure_message: "text" });

/**
 * Makes refunds final, each guarded by its attempt number. A FAILED refund's amount must go back
 * to its payment (releaseRefundedAmounts) in the same transaction: the caller composes both.
 */
export async function recordRefundOutcomes(db: Executor, writes: { id: string; attempt: number; outcome: RefundOutcome }[]): Promise<RefundRow[]> {
  if (writes.length === 0) return [];
  const input = writes.map(({ id, attempt, outcome }) => ({
    id,
    attempt,
    status: outcome.status,
    gateway_reference: outcome.gatewayReference,
    failure_code: outcome.status === "FAILED" ? outcome.failureCode : null,
    failure_message: outcome.status === "FAILED" ? outcome.failureMessage : null,
  }));
  const o = REFUND_OUTCOME.field;
  return db
    .update(refunds)
    .set({
      status: o.status,
      gatewayReference: sql`coalesce(${o.gateway_reference}, ${refunds.gatewayReference})`,
      failureCode: o.failure_code,
      failureMessage: o.failure_message,
      leaseExpiresAt: null,
      updatedAt: sql`now()`,
      completedAt: sql`now()`,
    })
    .from(REFUND_OUTCOME.from(REFUND_OUTCOME.encode(input)))
    .where(
      and(
        REFUND_OUTCOME.rows(input.map((w) => w.id)),
        refundGuardOf("finalize"),
        inArray(o.status, [...REFUND_TRANSITIONS.finalize.to]),
      ),
    )
    .returning();
}

/** The end of a refund attempt that did not make it final (see the payments' AttemptRelease). */
export interface RefundAttemptRelease {
  id: string;
  attempt: number;
  unknown: boolean;
  /** No gateway call was made: the attempt is taken back uncounted (see the payments' AttemptRelease). */
  untried?: boolean;
}

const releaseGuard = (release: RefundAttemptRelease, transition: RefundTransitionName) =>
  and(eq(refunds.id, release.id), eq(refunds.attempts, release.attempt), refundGuardOf(transition));

/** Ends an attempt that will be retried; false when the claim was lost. */
export async function releaseRefundForRetry(db: Executor, release: RefundAttemptRelease): Promise<boolean> {
  const rows = await db
    .update(refunds)
    .set({
      ...(release.untried ? { attempts: sql`${refunds.attempts} - 1` } : {}),
      leaseExpiresAt: null,
      outcomeUnknownSince: release.unknown ? sql`coalesce(${refunds.outcomeUnknownSince}, now())` : sql`${refunds.outcomeUnknownSince}`,
      updatedAt: sql`now()`,
    })
    .where(releaseGuard(release, "releaseForRetry"))
    .returning({ id: refunds.id });
  return rows.length > 0;
}

/** Ends the last attempt of a refund the gateway may have executed: the reconciler looks it up from `firstCheckMs` on. */
export async function startRefundReconciling(db: Executor, release: RefundAttemptRelease, firstCheckMs: number): Promise<RefundRow | undefined> {
  const [row] = await db
    .update(refunds)
    .set({
      leaseExpiresAt: null,
      outcomeUnknownSince: sql`coalesce(${refunds.outcomeUnknownSince}, now())`,
      reconciling: true,
      nextCheckAt: sql`now() + make_interval(secs => ${firstCheckMs / 1000})`,
      updatedAt: sql`now()`,
    })
    .where(releaseGuard(release, "startReconciling"))
    .returning();
  return row;
}

/** Takes up to `limit` refunds whose gateway check is due, each held `holdMs` (as claimDueChecks does for payments). */
export async function claimDueRefundChecks(db: Executor, limit: number, holdMs: number): Promise<RefundRow[]> {
  const ids = await claimDueCheckIds(db, REFUND_WORK, refundGuardOf("checkAtGateway"), limit, holdMs);
  if (ids.length === 0) return [];
  return db.select().from(refunds).where(inJsonList(refunds.id, ids));
}

/** After a check that told nothing: the next one in `delayMs`, counted for the back-off. */
export function scheduleNextRefundCheck(db: Executor, id: string, attempt: number, delayMs: number): Promise<boolean> {
  return scheduleNextCheckOf(db, REFUND_WORK, { id, attempt, checkable: refundGuardOf("checkAtGateway") }, delayMs);
}

/** How many refunds wait for the gateway to tell whether the money went back (those the reconciler holds). */
export function countUnresolvedRefunds(db: Executor): Promise<number> {
  return countWork(db, REFUND_WORK, refundGuardOf("checkAtGateway"));
}

/** A merchant's refunds the reconciler holds (outcome unknown), oldest unknown first (capped), and how many in all. */
export function listUnresolvedRefunds(db: Executor, merchantId: string, limit: number): Promise<{ rows: RefundRow[]; total: number }> {
  return listHeldWork<RefundRow>(db, REFUND_WORK, merchantId, refundGuardOf("checkAtGateway"), limit);
}

/**
 * Refunds nothing will move any more: claimable, untouched for `idleMs`, and no message for them
 * queued. `queued` is the broker's own predicate, given the refund's payment id and id.
 */
export async function listStrandedRefunds(
  db: Executor,
  options: { idleMs: number; limit: number; queued: (paymentId: SQLWrapper, refundId: SQLWrapper) => SQL },
): Promise<Pick<RefundRow, "id" | "paymentId" | "requestId">[]> {
  return db
    .select({ id: refunds.id, paymentId: refunds.paymentId, requestId: refunds.requestId })
    .from(refunds)
    .where(
      and(
        refundGuardOf("claim"),
        lt(refunds.updatedAt, sql`now() - make_interval(secs => ${options.idleMs / 1000})`),
        not(options.queued(refunds.paymentId, refunds.id)),
      ),
    )
    .limit(options.limit);
}

/** Marks a stranded refund as seen so the sweeper does not re-enqueue it again at once. */
export async function touchRefund(db: Executor, id: string): Promise<void> {
  await db.update(refunds).set({ updatedAt: sql`now()` }).where(eq(refunds.id, id));
}
