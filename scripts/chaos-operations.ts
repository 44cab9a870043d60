/**
 * The captures, cancels and refunds of a chaos run (docs/CONTRACT.md §8): which payments are authorized
 * only and then captured (in full or in part) or canceled, which get refunds (in full, in part,
 * several at once), the merchant's side of each over HTTP through the same faults, and the
 * verdict on them from the database and the simulator's ledger.
 */
import type postgres from "postgres";
import { EXPECTED } from "../tests/support/payments";

export interface OperationPlan {
  /** Authorize only (`"capture": false`), then capture `amount` (null: all of it) or cancel. */
  manual?: { then: "capture"; amount: number | null } | { then: "cancel" };
  /** Refunds asked for once the payment is COMPLETED, in minor units (null: all that is left). */
  refunds: (number | null)[];
  /** Sent at once rather than one after the other: together they may ask for more than was captured. */
  concurrentRefunds: boolean;
}

/** Every payment in the chaos stream is 1999 minor units (see paymentBody). */
const AMOUNT = 1999;

/**
 * The plan of the `i`-th payment: only payments whose card is approved get one, spread over
 * the stream so that operations run through every fault.
 */
export function planOperations(i: number, card: string): OperationPlan | undefined {
  if (EXPECTED[card]?.status !== "COMPLETED") return undefined;
  switch (i % 10) {
    case 1:
      return { manual: { then: "capture", amount: null }, refunds: [500], concurrentRefunds: false };
    case 2:
      return { manual: { then: "capture", amount: 1200 }, refunds: [null], concurrentRefunds: false };
    case 3:
      return { manual: { then: "cancel" }, refunds: [], concurrentRefunds: false };
    case 4:
      // 2 × 1200 > 1999: at most one of them can be taken.
      return { refunds: [1200, 1200], concurrentRefunds: true };
    case 6:
      return { refunds: [700, 700, null], concurrentRefunds: false };
    case 8:
      return { manual: { then: "capture", amount: 1500 }, refunds: [800, 800], concurrentRefunds: true };
    default:
      return undefined;
  }
}

/** What the verdict expects of a planned payment whose authorization went through. */
export function expectedOfPlan(plan: OperationPlan | undefined): { status: string; captured: number } | undefined {
  if (!plan?.manual) return undefined;
  if (plan.manual.then === "cancel") return { status: "CANCELED", captured: 0 };
  return { status: "COMPLETED", captured: plan.manual.amount ?? AMOUNT };
}

export interface RefundAttempt {
  key: string;
  amount: number | null;
  id?: string;
  /** A definite refusal (409 refund_exceeds_captured for concurrent refunds that ask too much). */
  refused?: string;
  requests: number;
}

export interface FollowUp {
  paymentId: string;
  plan: OperationPlan;
  refunds: RefundAttempt[];
  /** Captures and cancels sent (asked again while the payment is still AUTHORIZED). */
  requests: number;
  done: boolean;
}

/** The merchant's HTTP side, as the chaos client sees it: the api may be down or restarted anywhere. */
export interface MerchantHttp {
  request(method: "GET" | "POST", path: string, body?: unknown, idempotencyKey?: string): Promise<{ status: number; json: unknown } | undefined>;
  /** Set once the run is interrupted or the settling time is over: follow-ups stop. */
  stopped(): boolean;
  sleep(ms: number): Promise<void>;
}

const POLL_MS = 300;

/**
 * Runs a payment's plan the way a merchant would: waits for it to be AUTHORIZED and asks for the
 * capture (or cancel) until it is past AUTHORIZED (a refused or never-sent capture is asked for
 * again), then sends its refunds, each with its own Idempotency-Key, retried until answered.
 */
export async function runFollowUp(followUp: FollowUp, http: MerchantHttp): Promise<void> {
  const { plan, paymentId } = followUp;
  while (!http.stopped()) {
    const payment = (await http.request("GET", `/v1/payments/${paymentId}`))?.json as { status?: string } | undefined;
    const status = payment?.status;
    if (status === "COMPLETED") break;
    if (status === "FAILED" || status === "CANCELED") {
      followUp.done = true;
      return;
    }
    if (status === "AUTHORIZED" && plan.manual) {
      followUp.requests++;
      if (plan.manual.then === "cancel") await http.request("POST", `/v1/payments/${paymentId}/cancel`, {});
      else await http.request("POST", `/v1/payments/${paymentId}/capture`, plan.manual.amount === null ? {} : { amount: plan.manual.amount });
    }
    await http.sleep(POLL_MS);
  }
  const send = async (refund: RefundAttempt) => {
    for (let retry = 0; !http.stopped(); retry++) {
      refund.requests++;
      const answer = await http.request("POST", `/v1/payments/${paymentId}/refunds`, refund.amount === null ? {} : { amount: refund.amount }, refund.key);
      if (answer?.status === 202) {
        refund.id = (answer.json as { id: string }).id;
        return;
      }
      if (answer && answer.status < 500 && answer.status !== 429) {
        refund.refused = `${answer.status} ${(answer.json as { code?: string } | undefined)?.code ?? ""}`.trim();
        return;
      }
      await http.sleep(Math.min(2_000, 200 * 1.5 ** retry));
    }
  };
  if (plan.concurrentRefunds) await Promise.all(followUp.refunds.map(send));
  else for (const refund of followUp.refunds) await send(refund);
  followUp.done = !http.stopped();
}

export interface OperationsVerdict {
  /** Every HTTP request of the follow-ups: polls of the payment, captures, cancels, refunds. */
  requests: number;
  authorizedOnly: number;
  captured: number;
  canceled: number;
  /** Captures and cancels the client sent (more than the planned ones when one was refused or its answer lost). */
  captureAndCancelRequests: number;
  refundsPlanned: number;
  refundsAccepted: number;
  /** Refused at once with a 4xx (by code): concurrent refunds that together ask for more than was captured. */
  refundsRefused: Record<string, number>;
  refundsSucceeded: number;
  refundsFailedByCode: Record<string, number>;
  /** PENDING with the outcome unknown, held by the reconciler: not lost, waiting for the gateway to tell. */
  refundsReconciling: string[];
  /** Accepted refunds missing from the database. */
  lostRefunds: string[];
  /** PENDING, not reconciling, after the run: nothing moves them. */
  strandedRefunds: string[];
  /** Refund rows no client answer names (a second refund made behind a lost answer). */
  unknownRefundRows: string[];
  /** Refunds done more than once at the gateway (more than one ledger row). */
  refundedTwice: string[];
  /** SUCCEEDED ⇔ an approved refund in the gateway's ledger, and FAILED only as gateway_unavailable (the planned amounts fit). */
  refundLedgerMismatch: string[];
  /** Payments refunded beyond what was captured: at the gateway, or in our totals; or whose total is not the sum of its refunds that are not FAILED. */
  overRefunded: string[];
  /** COMPLETED payments whose amount_captured is not what the gateway took (and, when planned, what the merchant asked). */
  capturedMismatch: string[];
  violations: string[];
}

interface RefundRow {
  id: string;
  payment_id: string;
  amount: number;
  status: string;
  failure_code: string | null;
  reconciling: boolean;
}

interface LedgerRow {
  payment_id: string;
  operation: string;
  refund_id: string | null;
  outcome: string;
  amount: number;
}

/** The verdict on every planned operation, from the database and the simulator's ledger. */
export async function judgeOperations(
  sql: postgres.Sql,
  followUps: FollowUp[],
  plannedOf: Map<string, OperationPlan>,
  requests: number,
): Promise<OperationsVerdict> {
  const [payments, refunds, ledger] = await Promise.all([
    sql<{ id: string; status: string; amount_captured: number; amount_refunded: number }[]>`
      select id, status, amount_captured, amount_refunded from payments`,
    sql<RefundRow[]>`
      select id, payment_id, amount, status, failure_code, reconciling from refunds`,
    sql<LedgerRow[]>`select payment_id, operation, refund_id, outcome, amount from simulator_charges`,
  ]);
  const paymentById = new Map(payments.map((p) => [p.id, p]));
  const refundById = new Map(refunds.map((r) => [r.id, r]));
  const approved = ledger.filter((row) => row.outcome === "approved");
  const sumBy = (rows: LedgerRow[], key: (row: LedgerRow) => string | null) => {
    const sums = new Map<string, number>();
    for (const row of rows) {
      const k = key(row);
      if (k !== null) sums.set(k, (sums.get(k) ?? 0) + row.amount);
    }
    return sums;
  };
  const takenAtGateway = sumBy(
    approved.filter((r) => r.operation === "charge" || r.operation === "capture"),
    (r) => r.payment_id,
  );
  const refundedAtGateway = sumBy(
    approved.filter((r) => r.operation === "refund"),
    (r) => r.payment_id,
  );
  const ledgerRowsOfRefund = new Map<string, LedgerRow[]>();
  for (const row of ledger) if (row.refund_id) ledgerRowsOfRefund.set(row.refund_id, [...(ledgerRowsOfRefund.get(row.refund_id) ?? []), row]);

  const accepted = followUps.flatMap((f) => f.refunds.flatMap((r) => (r.id ? [r.id] : [])));
  const acceptedSet = new Set(accepted);
  const refundsRefused: Record<string, number> = {};
  for (const f of followUps) for (const r of f.refunds) if (r.refused) refundsRefused[r.refused] = (refundsRefused[r.refused] ?? 0) + 1;

  const verdict: OperationsVerdict = {
    requests,
    authorizedOnly: [...plannedOf.values()].filter((p) => p.manual).length,
    captured: 0,
    canceled: 0,
    captureAndCancelRequests: followUps.reduce((n, f) => n + f.requests, 0),
    refundsPlanned: followUps.reduce((n, f) => n + f.refunds.length, 0),
    refundsAccepted: accepted.length,
    refundsRefused,
    refundsSucceeded: 0,
    refundsFailedByCode: {},
    refundsReconciling: [],
    lostRefunds: accepted.filter((id) => !refundById.has(id)),
    strandedRefunds: [],
    unknownRefundRows: refunds.filter((r) => !acceptedSet.has(r.id)).map((r) => r.id),
    refundedTwice: [],
    refundLedgerMismatch: [],
    overRefunded: [],
    capturedMismatch: [],
    violations: [],
  };

  for (const refund of refunds) {
    const rows = ledgerRowsOfRefund.get(refund.id) ?? [];
    const done = rows.some((r) => r.outcome === "approved");
    if (rows.length > 1) verdict.refundedTwice.push(refund.id);
    if (refund.status === "PENDING") {
      (refund.reconciling ? verdict.refundsReconciling : verdict.strandedRefunds).push(refund.id);
      continue;
    }
    if (refund.status === "SUCCEEDED") verdict.refundsSucceeded++;
    else verdict.refundsFailedByCode[refund.failure_code ?? "none"] = (verdict.refundsFailedByCode[refund.failure_code ?? "none"] ?? 0) + 1;
    const consistent = refund.status === "SUCCEEDED" ? done : !done && refund.failure_code === "gateway_unavailable";
    if (!consistent) verdict.refundLedgerMismatch.push(refund.id);
  }

  const refundsOf = new Map<string, RefundRow[]>();
  for (const refund of refunds) refundsOf.set(refund.payment_id, [...(refundsOf.get(refund.payment_id) ?? []), refund]);
  for (const payment of payments) {
    const own = refundsOf.get(payment.id) ?? [];
    const reserved = own.filter((r) => r.status !== "FAILED").reduce((n, r) => n + r.amount, 0);
    const succeeded = own.filter((r) => r.status === "SUCCEEDED").reduce((n, r) => n + r.amount, 0);
    const taken = takenAtGateway.get(payment.id) ?? 0;
    if (
      (refundedAtGateway.get(payment.id) ?? 0) > taken ||
      payment.amount_refunded > payment.amount_captured ||
      succeeded > payment.amount_captured ||
      payment.amount_refunded !== reserved
    )
      verdict.overRefunded.push(payment.id);
    if (payment.status === "COMPLETED" && payment.amount_captured !== taken) verdict.capturedMismatch.push(payment.id);
  }
  for (const [id, plan] of plannedOf) {
    const payment = paymentById.get(id);
    const expected = expectedOfPlan(plan);
    if (!payment || !expected) continue;
    if (payment.status === "COMPLETED" && plan.manual) verdict.captured++;
    if (payment.status === "CANCELED") verdict.canceled++;
    if (payment.status === "COMPLETED" && payment.amount_captured !== expected.captured) verdict.capturedMismatch.push(id);
  }

  const v = verdict.violations;
  if (verdict.lostRefunds.length) v.push(`${verdict.lostRefunds.length} accepted refunds are missing from the database`);
  if (verdict.strandedRefunds.length) v.push(`${verdict.strandedRefunds.length} refunds are PENDING with nothing to move them`);
  if (verdict.unknownRefundRows.length) v.push(`${verdict.unknownRefundRows.length} refund rows were created that no client answer names`);
  if (verdict.refundedTwice.length) v.push(`${verdict.refundedTwice.length} refunds were executed more than once at the gateway`);
  if (verdict.refundLedgerMismatch.length) v.push(`${verdict.refundLedgerMismatch.length} refunds disagree with the gateway's ledger`);
  if (verdict.overRefunded.length) v.push(`${verdict.overRefunded.length} payments were refunded beyond what was captured, or their refunded total is off`);
  if (verdict.capturedMismatch.length) v.push(`${verdict.capturedMismatch.length} payments captured another amount than the gateway took or the merchant asked`);
  return verdict;
}

/** The report's lines about operations and refunds. */
export function formatOperations(v: OperationsVerdict): string[] {
  const codes = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([code, n]) => `${code} ${n}`)
      .join(", ") || "none";
  return [
    `  authorized only:  ${v.authorizedOnly} (${v.captured} captured, ${v.canceled} canceled; ${v.captureAndCancelRequests} capture/cancel requests; ${v.requests} follow-up requests in all, polls included)`,
    `  refunds:          ${v.refundsPlanned} planned, ${v.refundsAccepted} accepted (refused: ${codes(v.refundsRefused)}); ${v.refundsSucceeded} SUCCEEDED, FAILED: ${codes(v.refundsFailedByCode)}; ${v.refundsReconciling.length} reconciling`,
    `  refunds lost: ${v.lostRefunds.length}; stranded: ${v.strandedRefunds.length}; unknown rows: ${v.unknownRefundRows.length}; executed twice: ${v.refundedTwice.length}; ledger mismatch: ${v.refundLedgerMismatch.length}; over-refunded: ${v.overRefunded.length}; captured mismatch: ${v.capturedMismatch.length}`,
  ];
}
