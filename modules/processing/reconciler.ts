import { type ActionOutcome, AUTHENTICATION_REQUIRED, type ChargeRequest, GATEWAY_LIMITS, type Gateway, type LookupOutcome, type OperationOutcome } from "../gateways";
import type { ActionSettlement, CardForReconciler, FinalOutcome, PaymentRow, RefundRow } from "../payments";
import { backoffDelayMs, type Logger, type PollLoop, startPolling } from "../runtime";
import type { CardVault, SealedCard } from "../vault";
import {
  actionRequestFor,
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
import type { ActionStore, GatewayWorkStore, PaymentStore, RefundStore } from "./store";

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
  /** Payments waiting for their customer (REQUIRES_ACTION), looked up on their own schedule. */
  actions: ActionStore;
  /** How waiting payments are looked up: first after `firstCheckMs`, doubling to `maxIntervalMs`. */
  actionSchedule: ReconcileSchedule;
  gateway: Gateway;
  /** Opens the card for gateways that can be asked only by replaying the charge. */
  vault: CardVault;
  logger: Logger;
  options: ReconcilerOptions;
  /** How long an authorization found at the gateway holds (AUTHORIZATION_TTL_MS). */
  authorizationTtlMs: number;
  /** How long a payment may wait for its customer (ACTION_TTL_MS). */
  customerAction: { ttlMs: number };
  events?: {
    finalized?(payment: PaymentRow, startedAt: number): void;
    refundFinalized?(refund: RefundRow): void;
    checked?(outcome: LookupOutcome["kind"]): void;
    /** A waiting payment was looked up at the gateway (for metrics). */
    actionChecked?(outcome: ActionOutcome["kind"]): void;
  };
}

const BATCH_SIZE = 100;

/** The operation a payment's customer acts on: its charge, or its authorization (`capture: false`). */
const chargeOperationOf = (payment: Pick<PaymentRow, "captureMethod">) => (payment.captureMethod === "manual" ? "authorize" : "charge");

/**
 * What the payment store keeps of a card once this reconciler takes its payment over: only what
 * `gateway`'s look-up can use. The CVC is never needed again (a look-up that replays the charge is
 * answered from what the gateway stored for the idempotency key), and the card only by a gateway
 * whose look-up replays the charge (GATEWAY_LIMITS.lookupReplaysCharge).
 */
export function cardForReconciler(gateway: Pick<Gateway, "name">, vault: CardVault): CardForReconciler {
  return GATEWAY_LIMITS[gateway.name].lookupReplaysCharge ? { keep: "card_without_cvc", vault } : { keep: "nothing" };
}

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
    const [duePayments, dueRefunds, dueActions] = await Promise.all([
      store.claimDueChecks(batchSize, options.holdMs),
      refunds.claimDueChecks(batchSize, options.holdMs),
      deps.actions.claimDue(batchSize, options.holdMs),
    ]);
    await Promise.all([
      ...duePayments.map(({ payment, sealed }) => checkPayment(payment, sealed)),
      ...dueRefunds.map(({ refund, payment }) => checkRefund(refund, payment)),
      ...dueActions.map((payment) => checkWaitingPayment(payment)),
    ]);
    return duePayments.length + dueRefunds.length + dueActions.length;
  }

  /**
   * A payment waiting for its customer (docs/CONTRACT.md §9, §12): the gateway says what became of
   * the customer's action: charged or authorized (settled here), approved with the charge still to
   * make (the worker continues), failed, or nothing yet (looked up again later, backing off). Past
   * its deadline, what the gateway already settled (charged, authorized, failed) still settles it;
   * anything else goes to the worker to be canceled at the gateway. Asking first matters: a customer
   * who completed 3-D Secure just before the deadline was charged, the gateway refuses the cancel
   * (the payment waits again), and only a look-up can end it COMPLETED.
   */
  async function checkWaitingPayment(payment: PaymentRow): Promise<void> {
    const log = { paymentId: payment.id, gatewayReference: payment.gatewayReference, checks: payment.reconcileChecks + 1 };
    const expired = payment.actionExpiresAt !== null && payment.actionExpiresAt.getTime() <= Date.now();
    const answer = await lookups.action(payment);
    if (expired && answer.kind !== "approved" && answer.kind !== "failed") {
      const moved = await deps.actions.expire(payment);
      if (moved) logger.info(log, "the customer did not act in time (ACTION_TTL_MS); canceling at the gateway");
      else await deps.actions.scheduleNext(payment, options.schedule.firstCheckMs);
      return;
    }
    // What the customer completed is the payment's charge (or authorization), whatever the payment
    // last ran: after a cancel the gateway refused or could not do, it waits with `cancel_action`.
    const endings = paymentEndings({ operation: chargeOperationOf(payment), cancellationReason: null }, authorizationTtlMs);
    switch (answer.kind) {
      case "approved": {
        const { outcome } = endings.approved(answer.gatewayReference, answer.card, answer.payer);
        if (outcome.status !== "COMPLETED" && outcome.status !== "AUTHORIZED") throw new Error(`payment ${payment.id}: a ${payment.operation} approved as ${outcome.status}`);
        const settled = await deps.actions.settle(payment, outcome as ActionSettlement);
        if (settled) {
          events.finalized?.(settled, settled.createdAt.getTime());
          logger.info({ ...log, status: settled.status }, "the customer completed the payment at the gateway");
        }
        return;
      }
      case "failed": {
        const settled = await deps.actions.settle(payment, { status: "FAILED", failureCode: answer.code, failureMessage: answer.message });
        if (settled) {
          events.finalized?.(settled, settled.createdAt.getTime());
          logger.info({ ...log, failureCode: answer.code }, "the customer's authentication or approval failed");
        }
        return;
      }
      case "ready": {
        const moved = await deps.actions.continue(payment);
        if (moved) logger.info(log, "the buyer approved at the gateway; the worker makes the charge");
        return;
      }
      case "pending":
      case "unknown": {
        const delay = nextCheckDelayMs(deps.actionSchedule, payment.reconcileChecks);
        await deps.actions.scheduleNext(payment, delay);
        if (answer.kind === "unknown") logger.warn({ ...log, reason: answer.reason, nextCheckInMs: delay }, "could not learn what became of the customer's action; will ask again");
        return;
      }
    }
  }

  function checkPayment(payment: PaymentRow, sealed: SealedCard | undefined): Promise<void> {
    const startedAt = Date.now();
    const endings = paymentEndings(payment, authorizationTtlMs);
    return check({
      kind: payment.operation === "charge" ? "payment" : payment.operation,
      store,
      row: payment,
      endings,
      lookup: () => lookups.payment(payment, sealed),
      // A charge whose answer was lost may be waiting for its customer: it waits as if the answer had come.
      ...(payment.operation === "charge" || payment.operation === "authorize"
        ? { waitsForCustomer: (action: WaitingAnswer) => recordWaitForCustomer(payment, action, startedAt) }
        : {}),
      recorded: (row) => events.finalized?.(row, startedAt),
      log: { paymentId: payment.id, operation: payment.operation, operationAttempt: operationAttempt(payment) },
    });
  }

  /** A charge the gateway holds waiting for its customer: REQUIRES_ACTION, with its page, deadline and look-ups. */
  async function recordWaitForCustomer(payment: PaymentRow, action: WaitingAnswer, startedAt: number): Promise<void> {
    const outcome: FinalOutcome =
      payment.returnUrl === null
        ? { status: "FAILED", failureCode: AUTHENTICATION_REQUIRED, failureMessage: "The card needs customer authentication, and the payment has no returnUrl", gatewayReference: action.gatewayReference }
        : { status: "REQUIRES_ACTION", gatewayReference: action.gatewayReference, nextActionUrl: action.url, expiresInMs: deps.customerAction.ttlMs, firstCheckInMs: deps.actionSchedule.firstCheckMs };
    const recorded = await store.recordFinal(payment, outcome);
    if (!recorded) return;
    events.finalized?.(recorded, startedAt);
    logger.warn({ paymentId: payment.id, gatewayReference: action.gatewayReference, status: recorded.status }, "reconciled: the gateway waits for the customer");
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
    if (answer.kind === "requires_action")
      return work.waitsForCustomer ? work.waitsForCustomer(answer) : lookAgainLater(work, "the gateway waits for a customer, and this work cannot wait for one");
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

  async function recordSettlement<Row extends CheckedRow, Outcome>(work: Check<Row, Outcome>, answer: Exclude<LookupOutcome, { kind: "unknown" | "requires_action" }>): Promise<void> {
    const ending =
      answer.kind === "approved"
        ? work.endings.approved(answer.gatewayReference, answer.card, answer.payer)
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

type WaitingAnswer = Extract<LookupOutcome, { kind: "requires_action" }>;

interface Check<Row extends CheckedRow, Outcome> {
  /** A charge's look-up may find it waiting for its customer; work that cannot wait leaves this out. */
  waitsForCustomer?(answer: WaitingAnswer): Promise<void>;
  kind: string;
  store: GatewayWorkStore<unknown, Row, Outcome>;
  row: Row;
  endings: Endings<Outcome>;
  lookup(): Promise<LookupOutcome>;
  recorded(row: Row): void;
  log: Record<string, unknown>;
}

const logOf = (work: Check<CheckedRow, unknown>) => ({ ...work.log, checks: work.row.reconcileChecks + 1 });

/** A repeated operation's answer as a look-up's: done, refused, or still not known. */
function asLookupOutcome(outcome: OperationOutcome): LookupOutcome {
  switch (outcome.kind) {
    case "approved":
    case "declined":
      return outcome;
    case "transient":
    case "unknown":
      return { kind: "unknown", reason: outcome.reason };
  }
}

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
        case "cancel_action":
          // A cancel is safe to repeat (the same key; an object already canceled stays so): asking
          // again is the look-up, and its answer settles the cancel as the first one's would have.
          return gateway.cancelAction(actionRequestFor(payment)).then(asLookupOutcome);
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

    /** What became of a waiting payment's customer action, counted by outcome; a look-up that throws told nothing. */
    async action(payment: PaymentRow): Promise<ActionOutcome> {
      let outcome: ActionOutcome;
      try {
        outcome = await gateway.checkAction(actionRequestFor(payment));
      } catch (error) {
        logger.error({ paymentId: payment.id, err: error }, "gateway action look-up threw");
        outcome = { kind: "unknown", reason: "lookup_error" };
      }
      events.actionChecked?.(outcome.kind);
      return outcome;
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
