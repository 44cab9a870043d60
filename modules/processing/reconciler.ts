import type { ChargeRequest, Gateway, LookupOutcome } from "../gateways";
import type { PaymentRow, RefundRow } from "../payments";
import { backoffDelayMs, type Logger, type PollLoop, startPolling } from "../runtime";
import type { CardVault, SealedCard } from "../vault";
import {
  captureRequestFor,
  chargeIdempotencyKey,
  chargeRequestFor,
  paymentSourceOf,
  type Endings,
  operationAttempt,
  paymentEndings,
  REFUND_ENDINGS,
  refundRequestFor,
  voidRequestFor,
} from "./operations";
import { openCard } from "./processor";
import type { GatewayWorkStore, PaymentStore, RefundStore } from "./store";

export interface ReconcileSchedule {
  /** Delay before the first lookup (the store sets it when the processor hands work over). */
  firstCheckMs: number;
  /** The back-off doubles up to this interval, then stays there: nothing is ever given up. */
  maxIntervalMs: number;
}

export interface ReconcilerOptions {
  schedule: ReconcileSchedule;
  /** How often the reconciler looks for due checks. */
  pollIntervalMs: number;
  /** Checks claimed per round, of payments and of refunds each (default 100). */
  batchSize?: number;
  /** How long a claimed check is held before another reconciler may take it. */
  holdMs: number;
}

export interface ReconcilerDeps {
  store: PaymentStore;
  refunds: RefundStore;
  gateway: Gateway;
  /** Opens the card for gateways that can be asked only by replaying the charge. */
  vault: CardVault;
  logger: Logger;
  options: ReconcilerOptions;
  /** How long an authorization found at the gateway holds (AUTHORIZATION_TTL_MS). */
  authorizationTtlMs: number;
  events?: {
    finalized?(payment: PaymentRow, startedAt: number): void;
    refundFinalized?(refund: RefundRow): void;
    checked?(outcome: LookupOutcome["kind"]): void;
  };
}

const BATCH_SIZE = 100;

/** Delay after the `checksMade`-th lookup that told nothing: doubling from the first delay, capped. */
export function nextCheckDelayMs(schedule: ReconcileSchedule, checksMade: number): number {
  return backoffDelayMs({ baseMs: schedule.firstCheckMs, maxMs: schedule.maxIntervalMs, jitter: 0 }, checksMade + 1);
}

/**
 * Settles work whose outcome is unknown (a payment's charge, authorization, capture or void; a
 * refund) by asking the gateway, never by guessing (docs/CONTRACT.md §6, §8; Kill Bill's Janitor,
 * Hyperswitch's PSync): found done → recorded as done; the gateway confirms it was not done →
 * recorded as not done (a charge FAILED, a capture or void refused back to AUTHORIZED, a refund
 * FAILED); anything else → look again later, with a back-off to about daily, forever. Every check
 * that leaves work unresolved is logged at error level: someone should know.
 */
export interface Reconciler {
  /** One pass: every due check, up to the batch size of each kind. Returns how many were checked. */
  checkDue(): Promise<number>;
  /** Checks now instead of at the next poll: a look-up was made due (a gateway's event, docs/CONTRACT.md §10). */
  wake(): void;
  start(): void;
  stop(): Promise<void>;
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { store, refunds, logger, options, authorizationTtlMs, events = {} } = deps;
  const lookups = gatewayLookups(deps);
  const batchSize = options.batchSize ?? BATCH_SIZE;
  let loop: PollLoop | undefined;

  async function checkDue(): Promise<number> {
    const [duePayments, dueRefunds] = await Promise.all([store.claimDueChecks(batchSize, options.holdMs), refunds.claimDueChecks(batchSize, options.holdMs)]);
    await Promise.all([
      ...duePayments.map(({ payment, sealed }) => checkPayment(payment, sealed)),
      ...dueRefunds.map(({ refund, payment }) => checkRefund(refund, payment)),
    ]);
    return duePayments.length + dueRefunds.length;
  }

  function checkPayment(payment: PaymentRow, sealed: SealedCard | undefined): Promise<void> {
    const startedAt = Date.now();
    return check({
      kind: payment.operation === "charge" ? "payment" : payment.operation,
      store,
      row: payment,
      endings: paymentEndings(payment, authorizationTtlMs),
      lookup: () => lookups.payment(payment, sealed),
      recorded: (row) => events.finalized?.(row, startedAt),
      log: { paymentId: payment.id, operation: payment.operation, operationAttempt: operationAttempt(payment) },
    });
  }

  function checkRefund(refund: RefundRow, payment: PaymentRow): Promise<void> {
    return check({
      kind: "refund",
      store: refunds,
      row: refund,
      endings: REFUND_ENDINGS,
      lookup: () => lookups.refund(refund, payment),
      recorded: (row) => events.refundFinalized?.(row),
      log: { paymentId: payment.id, refundId: refund.id },
    });
  }

  /** Asks the gateway; its answer settles the work by the operation's endings, and no answer means looking again later. */
  async function check<Row extends CheckedRow, Outcome>(work: Check<Row, Outcome>): Promise<void> {
    const answer = await lookups.ask(work);
    if (answer.kind === "unknown") return lookAgainLater(work, answer.reason);
    return recordSettlement(work, answer);
  }

  async function lookAgainLater<Row extends CheckedRow, Outcome>(work: Check<Row, Outcome>, reason: string): Promise<void> {
    const { row } = work;
    const delay = nextCheckDelayMs(options.schedule, row.reconcileChecks + 1);
    await work.store.scheduleNextCheck(row, delay);
    logger.error(
      { ...logOf(work), reason, unknownSince: row.outcomeUnknownSince, nextCheckInMs: delay },
      `${work.kind} still unresolved: the gateway has not told whether it was done`,
    );
  }

  async function recordSettlement<Row extends CheckedRow, Outcome>(work: Check<Row, Outcome>, answer: Exclude<LookupOutcome, { kind: "unknown" }>): Promise<void> {
    const ending =
      answer.kind === "approved"
        ? work.endings.approved(answer.gatewayReference, answer.card)
        : answer.kind === "declined"
          ? work.endings.declined(answer.code, answer.message, answer.gatewayReference)
          : work.endings.notDone(`The gateway could not be reached; it has confirmed that nothing was done`);
    const recorded = await work.store.recordFinal(work.row, ending.outcome);
    if (!recorded) return;
    work.recorded(recorded);
    logger.warn({ ...logOf(work), lookup: answer.kind, result: ending.result }, `reconciled: the gateway's answer settles the ${work.kind}`);
  }

  return {
    checkDue,
    wake: () => loop?.wake(),
    start(): void {
      loop = startPolling(async () => ((await checkDue()) >= batchSize ? "more" : "idle"), {
        firstDelayMs: options.pollIntervalMs,
        idleMs: options.pollIntervalMs,
        failureBackoff: { baseMs: options.pollIntervalMs, maxMs: options.pollIntervalMs },
        onFailure: (error) => logger.warn({ err: error }, "reconciliation pass failed; will try again"),
      });
    },
    async stop(): Promise<void> {
      await loop?.stop();
    },
  };
}

// Below the story: what a check is, and how the gateway is asked.

/** The columns a check needs of any kind of gateway work (see gatewayWorkColumns). */
interface CheckedRow {
  id: string;
  attempts: number;
  reconcileChecks: number;
  outcomeUnknownSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

interface Check<Row extends CheckedRow, Outcome> {
  kind: string;
  store: GatewayWorkStore<unknown, Row, Outcome>;
  row: Row;
  endings: Endings<Outcome>;
  lookup(): Promise<LookupOutcome>;
  recorded(row: Row): void;
  log: Record<string, unknown>;
}

const logOf = (work: Check<CheckedRow, unknown>) => ({ ...work.log, checks: work.row.reconcileChecks + 1 });

/** The lookups a check makes, each one's request built as every attempt of the work sent it. */
function gatewayLookups({ gateway, vault, logger, events = {} }: ReconcilerDeps) {
  /** The charge to replay, for gateways that need it; null when the card cannot be opened. */
  function replayFor(payment: PaymentRow, sealed: SealedCard | undefined): ChargeRequest | null {
    // A payment-method payment is replayed with its payment method; a card payment needs its card.
    const source = paymentSourceOf(payment, () => (sealed ? openCard(vault, logger, payment, sealed) : null));
    return source ? chargeRequestFor(payment, source) : null;
  }

  return {
    payment(payment: PaymentRow, sealed: SealedCard | undefined): Promise<LookupOutcome> {
      // The payment's creation is no later than any attempt of any of its operations: a safe start for idempotency windows.
      const window = { firstAttemptAt: payment.createdAt, lastAttemptAt: payment.updatedAt };
      switch (payment.operation) {
        case "charge":
        case "authorize":
          return gateway.lookup({
            paymentId: payment.id,
            idempotencyKey: chargeIdempotencyKey(payment.id),
            amount: payment.amount,
            currency: payment.currency,
            gatewayReference: payment.gatewayReference,
            capture: payment.operation !== "authorize",
            ...window,
            unknownSince: payment.outcomeUnknownSince ?? payment.updatedAt,
            replay: () => replayFor(payment, sealed),
          });
        case "capture":
          return gateway.lookupOperation({ operation: "capture", request: captureRequestFor(payment), ...window });
        case "void":
          return gateway.lookupOperation({ operation: "void", request: voidRequestFor(payment), ...window });
      }
    },

    refund(refund: RefundRow, payment: PaymentRow): Promise<LookupOutcome> {
      return gateway.lookupOperation({
        operation: "refund",
        request: refundRequestFor(refund, payment),
        firstAttemptAt: refund.createdAt,
        lastAttemptAt: refund.updatedAt,
      });
    },

    /** The check's lookup, counted by outcome; a lookup that throws told nothing. */
    async ask(work: Check<CheckedRow, unknown>): Promise<LookupOutcome> {
      let outcome: LookupOutcome;
      try {
        outcome = await work.lookup();
      } catch (error) {
        logger.error({ ...logOf(work), err: error }, "gateway lookup threw");
        outcome = { kind: "unknown", reason: "lookup_error" };
      }
      events.checked?.(outcome.kind);
      return outcome;
    },
  };
}
