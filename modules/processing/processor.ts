import type { PaymentMessage } from "../broker";
import { AUTHENTICATION_REQUIRED, type ChargeOutcome, type Gateway, type GatewayCardView, type GatewayPayerView, type OperationOutcome, type PaymentSource } from "../gateways";
import type { FinalOutcome, PaymentRow, RefundOutcome, RefundRow } from "../payments";
import { type Logger, Slots, unlessAborted } from "../runtime";
import type { CardVault, SealedCard } from "../vault";
import {
  actionRequestFor,
  captureRequestFor,
  continuesAction,
  chargeRequestFor,
  type Endings,
  type Ending,
  operationAttempt,
  type ProcessResult,
  paymentEndings,
  paymentSourceOf,
  REFUND_ENDINGS,
  refundRequestFor,
  voidRequestFor,
} from "./operations";
import { hasAttemptsLeft, type RetryPolicy, retryDelayMs } from "./retry-policy";
import type { AttemptEnd, DeadLetter, GatewayWorkStore, PaymentStore, RefundStore } from "./store";

/**
 * Takes one message through one gateway attempt: claim → the gateway call the work needs → record.
 * A message with a refund id runs that refund; any other runs the payment's pending operation
 * (charge, authorize, capture or void: the payment row says which). Safe to run for the same
 * message any number of times, from any number of workers: the guarded claim lets one attempt in
 * at a time, the attempt number fences every later write, and the gateway sees the same
 * idempotency key on every attempt of one operation, so a redelivered message can never make
 * the gateway do the work twice.
 *
 * Work one of whose attempts had an unknown outcome may have been done at the gateway: it never
 * fails by running out of attempts or card data. It goes to the reconciler instead, which asks
 * the gateway (docs/CONTRACT.md §6, §8).
 */
export interface PaymentProcessor {
  (message: PaymentMessage): Promise<ProcessResult>;
}

export interface ProcessorDeps {
  store: PaymentStore;
  refunds: RefundStore;
  gateway: Gateway;
  vault: CardVault;
  logger: Logger;
  retry: RetryPolicy;
  /** How long a new authorization holds before it is voided (AUTHORIZATION_TTL_MS). */
  authorizationTtlMs: number;
  /**
   * A payment waiting for its customer (REQUIRES_ACTION): how long it may wait (ACTION_TTL_MS)
   * and when the gateway is first asked about it (ACTION_CHECK_FIRST_MS).
   */
  customerAction: { ttlMs: number; firstCheckMs: number };
  /**
   * At most `size` gateway calls at once (WORKER_CONCURRENCY): the gateway's concurrency. A slot is
   * held only for the call: the claim is made before it and the outcome recorded after it, so
   * the gateway is kept busy while other attempts' statements run (the consumer holds more
   * messages than slots). A claimed attempt that waited longer than `maxWaitMs` for its slot
   * (LEASE_MS minus the longest operation) no longer has a lease that covers the call: it is
   * given back untried. Unbounded when absent.
   */
  gatewaySlots?: { size: number; maxWaitMs: number };
  /**
   * A stopping worker (README, "Stopping a worker"). Once `stopCalls` is aborted no gateway call
   * starts: a claimed attempt not yet at the gateway (waiting for a slot, or claimed after the
   * stop) is given back at once, untried and uncounted, so another worker takes it now rather than
   * after its lease. Once `handBack` is aborted (near the end of SHUTDOWN_GRACE_MS), an attempt
   * still waiting for the gateway's answer stops waiting: the call may have done the work, so its
   * outcome is unknown and it goes to the reconciler, which looks it up (docs/CONTRACT.md §6):
   * never retried while the call may still be running, never FAILED on a guess.
   */
  shutdown?: { stopCalls: AbortSignal; handBack: AbortSignal };
  events?: ProcessingEvents;
}

/** The unknown answer of a call a stopping worker stopped waiting for (see ProcessorDeps.shutdown). */
export const STOPPED_WAITING = "the worker stopped (SHUTDOWN_GRACE_MS) while the gateway call was in flight";

export type { ProcessResult };

export function createPaymentProcessor(deps: ProcessorDeps): PaymentProcessor {
  const { store, refunds, gateway, vault, logger, retry } = deps;
  const { inGatewaySlot, callGateway, giveBack } = gatewayAttempts(deps);
  const journal = attemptJournal(logger, deps.events ?? {});
  const attempts = attemptsOf(deps);

  async function processPayment(message: PaymentMessage): Promise<ProcessResult> {
    const startedAt = Date.now();
    const { refundId } = message;
    return refundId === undefined ? runPaymentOperation(message, startedAt) : refund({ ...message, refundId });
  }

  // One straight-line flow per operation: claim → gateway call (in a slot) → record the answer.

  /** The claimed payment row says which operation is pending. */
  async function runPaymentOperation(message: PaymentMessage, startedAt: number): Promise<ProcessResult> {
    const claimedAt = performance.now();
    const claim = await store.claim(message.paymentId);
    if (!claim) return journal.notClaimable("payment", { paymentId: message.paymentId, requestId: message.requestId });
    const attempt = attempts.ofPayment(claim.payment, message, { claimedAt, startedAt });
    switch (claim.payment.operation) {
      case "charge":
      case "authorize":
        return chargeCard(attempt, claim.sealed);
      case "capture":
        return capture(attempt);
      case "void":
        return voidAuthorization(attempt);
      case "cancel_action":
        return cancelAction(attempt);
    }
  }

  /** A charge or an authorization: the only operation that sends the card, opened just before the call. */
  async function chargeCard(attempt: PaymentAttempt, sealed: SealedCard | undefined): Promise<ProcessResult> {
    const answer = await inGatewaySlot<ChargeOutcome | CardUnavailable>(attempt, () => {
      const source = sourceToSend(vault, logger, attempt.row, sealed);
      return "kind" in source ? source : callGateway(attempt, () => gateway.charge(chargeRequestFor(attempt.row, source)));
    });
    if (answer === undefined) return giveBack(attempt);
    if (answer.kind === "card_unavailable") return recordMissingCard(attempt, answer);
    if (answer.kind === "requires_action") return recordRequiresAction(attempt, answer);
    return recordAnswer(attempt, answer);
  }

  /** Cancels at the gateway what a waiting payment's customer was asked to complete (its wait ran out, or the merchant canceled). */
  async function cancelAction(attempt: PaymentAttempt): Promise<ProcessResult> {
    const answer = await inGatewaySlot(attempt, () => callGateway(attempt, () => gateway.cancelAction(actionRequestFor(attempt.row))));
    return answer === undefined ? giveBack(attempt) : recordAnswer(attempt, answer);
  }

  async function capture(attempt: PaymentAttempt): Promise<ProcessResult> {
    const answer = await inGatewaySlot(attempt, () => callGateway(attempt, () => gateway.capture(captureRequestFor(attempt.row))));
    return answer === undefined ? giveBack(attempt) : recordAnswer(attempt, answer);
  }

  async function voidAuthorization(attempt: PaymentAttempt): Promise<ProcessResult> {
    const answer = await inGatewaySlot(attempt, () => callGateway(attempt, () => gateway.voidAuthorization(voidRequestFor(attempt.row))));
    return answer === undefined ? giveBack(attempt) : recordAnswer(attempt, answer);
  }

  async function refund(message: PaymentMessage & { refundId: string }): Promise<ProcessResult> {
    const claimedAt = performance.now();
    const claim = await refunds.claim(message.refundId);
    if (!claim) return journal.notClaimable("refund", { paymentId: message.paymentId, refundId: message.refundId, requestId: message.requestId });
    const attempt = attempts.ofRefund(claim.refund, claim.payment, message, claimedAt);
    const answer = await inGatewaySlot(attempt, () => callGateway(attempt, () => gateway.refund(refundRequestFor(claim.refund, claim.payment))));
    return answer === undefined ? giveBack(attempt) : recordAnswer(attempt, answer);
  }

  // What the gateway's answer means, the same for every kind of gateway work.

  function recordAnswer<Row extends WorkRow, Outcome>(attempt: Attempt<Row, Outcome>, answer: OperationOutcome): Promise<ProcessResult> {
    switch (answer.kind) {
      case "approved":
        return recordApproval(attempt, answer.gatewayReference, answer.card, answer.payer);
      case "declined":
        return recordDecline(attempt, answer);
      case "transient":
      case "unknown":
        return recordFailedAttempt(attempt, answer);
    }
  }

  /** Done: COMPLETED, AUTHORIZED or CANCELED, or a SUCCEEDED refund. */
  async function recordApproval<Row extends WorkRow, Outcome>(
    attempt: Attempt<Row, Outcome>,
    gatewayReference: string,
    card?: GatewayCardView,
    payer?: GatewayPayerView,
  ): Promise<ProcessResult> {
    const result = await recordEnding(attempt, attempt.endings.approved(gatewayReference, card, payer));
    journal.approved(attempt, gatewayReference, result);
    return result;
  }

  /**
   * The customer must act at the gateway first: the payment waits in REQUIRES_ACTION (and the
   * reconciler looks it up) until ACTION_TTL_MS. A gateway asking it of a payment that gave no
   * returnUrl has no one to send: that is a decline, authentication_required.
   */
  async function recordRequiresAction(attempt: PaymentAttempt, action: Extract<ChargeOutcome, { kind: "requires_action" }>): Promise<ProcessResult> {
    if (attempt.row.returnUrl === null)
      return recordDecline(attempt, { kind: "declined", code: AUTHENTICATION_REQUIRED, message: "The card needs customer authentication, and the payment has no returnUrl", gatewayReference: action.gatewayReference });
    const { ttlMs, firstCheckMs } = deps.customerAction;
    const outcome: FinalOutcome = { status: "REQUIRES_ACTION", gatewayReference: action.gatewayReference, nextActionUrl: action.url, expiresInMs: ttlMs, firstCheckInMs: firstCheckMs };
    const result = await recordEnding(attempt, { outcome, result: "requires_action" });
    logger.info({ ...attempt.log, attempt: attempt.number, gatewayReference: action.gatewayReference, result }, `${attempt.kind} waits for the customer`);
    return result;
  }

  /** A refusal is the gateway's final word: never retried. */
  async function recordDecline<Row extends WorkRow, Outcome>(attempt: Attempt<Row, Outcome>, decline: Declined): Promise<ProcessResult> {
    const result = await recordEnding(attempt, attempt.endings.declined(decline.code, decline.message, decline.gatewayReference));
    journal.declined(attempt, decline.code, result);
    return result;
  }

  /**
   * The retry policy: a transient or unknown answer is tried again, with backoff, while attempts
   * are left. After the last, work the gateway may have done goes to the reconciler (never FAILED
   * on a guess); any other ends as not done, gateway_unavailable.
   */
  function recordFailedAttempt<Row extends WorkRow, Outcome>(attempt: Attempt<Row, Outcome>, failure: FailedCall): Promise<ProcessResult> {
    // A call this stopping worker no longer waits for may still be running: a retry now would race it.
    if (failure.kind === "unknown" && failure.reason === STOPPED_WAITING) return handToReconciler(attempt, failure);
    if (hasAttemptsLeft(retry, attempt.number)) return scheduleRetry(attempt, failure);
    if (mayHaveBeenDone(attempt, failure)) return handToReconciler(attempt, failure);
    return recordGatewayUnavailable(attempt, failure);
  }

  /** A card that cannot be sent now never can be: no retry. A payment an earlier attempt may have charged still goes to the reconciler. */
  function recordMissingCard(attempt: PaymentAttempt, failure: CardUnavailable): Promise<ProcessResult> {
    if (mayHaveBeenDone(attempt, failure)) return handToReconciler(attempt, failure);
    return recordCardDataUnavailable(attempt, failure);
  }

  async function scheduleRetry<Row extends WorkRow, Outcome>(attempt: Attempt<Row, Outcome>, failure: FailedCall): Promise<ProcessResult> {
    const delayMs = retryDelayMs(retry, attempt.number);
    await attempt.store.releaseForRetry(attempt.row, attemptEnd(attempt, failure), { delayMs, requestId: attempt.requestId });
    journal.retryScheduled(attempt, failure, delayMs);
    return "retry_scheduled";
  }

  async function handToReconciler<Row extends WorkRow, Outcome>(attempt: Attempt<Row, Outcome>, failure: Failure): Promise<ProcessResult> {
    const reconciling = await attempt.store.handToReconciler(attempt.row, attemptEnd(attempt, failure), deadLetter(attempt, "outcome_unknown", failure));
    journal.handedToReconciler(attempt, failure, reconciling !== undefined);
    return "reconciling";
  }

  async function recordCardDataUnavailable(attempt: PaymentAttempt, failure: CardUnavailable): Promise<ProcessResult> {
    const result = await recordEnding(attempt, { outcome: CARD_DATA_UNAVAILABLE, result: "failed" });
    journal.cardDataUnavailable(attempt, failure);
    return result;
  }

  /** The attempts are used up and the gateway confirmably did nothing: dead-lettered. */
  async function recordGatewayUnavailable<Row extends WorkRow, Outcome>(attempt: Attempt<Row, Outcome>, failure: FailedCall): Promise<ProcessResult> {
    const ending = attempt.endings.notDone(`The gateway could not be reached after ${attempt.number} attempts`);
    const result = await recordEnding(attempt, ending, deadLetter(attempt, "attempts_exhausted", failure));
    journal.gaveUp(attempt, failure, result);
    return result;
  }

  /** Records how the work ended, unless another worker has taken the claim over meanwhile. */
  async function recordEnding<Row extends WorkRow, Outcome>(attempt: Attempt<Row, Outcome>, ending: Ending<Outcome>, deadLetter?: DeadLetter): Promise<ProcessResult> {
    const recorded = await attempt.store.recordFinal(attempt.row, ending.outcome, deadLetter);
    if (!recorded) return journal.lostClaim(attempt);
    journal.ended(attempt, recorded, deadLetter !== undefined);
    return ending.result;
  }

  return processPayment;
}

// Below the story: the attempt, the gateway slots and call, the card, the logs and metrics events.

/** The columns every kind of gateway work has (see gatewayWorkColumns). */
interface WorkRow {
  id: string;
  attempts: number;
  outcomeUnknownSince: Date | null;
}

/** One claimed attempt of one kind of gateway work (a payment's operation, a refund). */
interface Attempt<Row extends WorkRow, Outcome> {
  /** What the logs call the work: "payment" (a charge), "authorize", "capture", "void" or "refund". */
  kind: string;
  store: GatewayWorkStore<unknown, Row, Outcome>;
  row: Row;
  paymentId: string;
  /** This operation's own attempt number (its retry budget). */
  number: number;
  endings: Endings<Outcome>;
  /** Whether an unknown answer's gateway object id is this row's to remember (not for work acting on an existing object). */
  keepsReference: boolean;
  /** performance.now() before the claim was asked for: the claim's lease began later than that. */
  claimedAt: number;
  /** Reports the recorded ending (metrics). */
  ended(row: Row): void;
  log: Record<string, unknown>;
  requestId: string | null;
}

type PaymentAttempt = Attempt<PaymentRow, FinalOutcome>;
type Declined = Extract<OperationOutcome, { kind: "declined" }>;
/** A gateway call that did not do the work, or may have. */
type FailedCall = Extract<OperationOutcome, { kind: "transient" | "unknown" }>;
type CardUnavailable = { kind: "card_unavailable"; reason: string };
type UnknownAnswer = Extract<OperationOutcome, { kind: "unknown" }>;
type Failure = FailedCall | CardUnavailable;

const CARD_DATA_UNAVAILABLE: FinalOutcome = {
  status: "FAILED",
  failureCode: "card_data_unavailable",
  failureMessage: "The card data of this payment is no longer available",
  gatewayReference: null,
};

/** This answer was unknown, or an earlier attempt's was: the gateway may have done the work. */
function mayHaveBeenDone(attempt: Attempt<WorkRow, unknown>, failure: Failure): boolean {
  return failure.kind === "unknown" || attempt.row.outcomeUnknownSince !== null;
}

function attemptEnd(attempt: Attempt<WorkRow, unknown>, failure: Failure): AttemptEnd {
  return {
    unknown: failure.kind === "unknown",
    gatewayReference: attempt.keepsReference && failure.kind === "unknown" ? (failure.gatewayReference ?? null) : null,
  };
}

function deadLetter(attempt: Attempt<WorkRow, unknown>, reason: DeadLetter["reason"], failure: Failure): DeadLetter {
  return { reason, lastError: failure.reason, requestId: attempt.requestId };
}

/** Builds the attempt of a claimed payment operation or refund. */
function attemptsOf(deps: ProcessorDeps) {
  const { events = {} } = deps;
  return {
    ofPayment(payment: PaymentRow, message: PaymentMessage, at: { claimedAt: number; startedAt: number }): PaymentAttempt {
      const { operation } = payment;
      return {
        kind: operation === "charge" ? "payment" : operation,
        store: deps.store,
        row: payment,
        paymentId: payment.id,
        number: operationAttempt(payment),
        endings: paymentEndings(payment, deps.authorizationTtlMs),
        // A charge's or authorization's unknown answer may name the object it created; a capture
        // or void acts on the authorization, whose reference must stay.
        // (A continued charge's reference is the order's already, and an unknown answer names no other.)
        keepsReference: operation === "charge" || operation === "authorize",
        claimedAt: at.claimedAt,
        ended: (row) => events.finalized?.(row, at.startedAt),
        log: { paymentId: message.paymentId, requestId: message.requestId, operation },
        requestId: message.requestId,
      };
    },
    ofRefund(refund: RefundRow, payment: PaymentRow, message: PaymentMessage & { refundId: string }, claimedAt: number): Attempt<RefundRow, RefundOutcome> {
      return {
        kind: "refund",
        store: deps.refunds,
        row: refund,
        paymentId: payment.id,
        number: refund.attempts,
        endings: REFUND_ENDINGS,
        keepsReference: false,
        claimedAt,
        ended: (row) => events.refundFinalized?.(row),
        log: { paymentId: message.paymentId, refundId: message.refundId, requestId: message.requestId },
        requestId: message.requestId,
      };
    },
  };
}

/**
 * The gateway slots, the call itself, and the give-back of an attempt that waited too long for
 * its slot.
 */
function gatewayAttempts(deps: ProcessorDeps) {
  const { gateway, logger, events = {} } = deps;
  const slots = deps.gatewaySlots === undefined ? undefined : new Slots(deps.gatewaySlots.size);
  const maxSlotWaitMs = deps.gatewaySlots?.maxWaitMs ?? Number.POSITIVE_INFINITY;
  const stopCalls = deps.shutdown?.stopCalls;
  const handBack = deps.shutdown?.handBack;

  /** Takes a slot, unless the worker stops first: then false, and the slot is given back once it comes. */
  async function takeSlot(pool: Slots): Promise<boolean> {
    if (pool.tryAcquire()) return true;
    const acquiring = pool.acquire().then(() => true);
    const taken = await unlessAborted(acquiring, stopCalls, false);
    if (!taken) void acquiring.then(() => pool.release());
    return taken;
  }

  return {
    /**
     * Runs a claimed attempt's gateway call in a slot, or answers undefined, without calling, when the
     * wait for the slot used up so much of the claim's lease that it might run out during the call,
     * or when the worker is stopping.
     */
    async inGatewaySlot<T>(attempt: { claimedAt: number }, work: () => Promise<T> | T): Promise<T | undefined> {
      if (stopCalls?.aborted) return undefined;
      if (!slots) return work();
      if (!(await takeSlot(slots))) return undefined;
      try {
        if (stopCalls?.aborted || performance.now() - attempt.claimedAt > maxSlotWaitMs) return undefined;
        return await work();
      } finally {
        slots.release();
      }
    },

    async callGateway<T extends ChargeOutcome>(attempt: { paymentId: string }, run: () => Promise<T>): Promise<T | UnknownAnswer> {
      const started = performance.now();
      const call = run().catch((error: unknown): UnknownAnswer => {
        // An adapter should classify everything; if one throws, we cannot know whether the
        // request went out, so treat it as unknown (the retry replays the same key).
        logger.error({ err: error, paymentId: attempt.paymentId }, "gateway adapter threw");
        return { kind: "unknown", reason: "adapter_error" };
      });
      // A stopping worker stops waiting near the end of its grace; the call itself runs on until the process exits.
      const stoppedWaiting: UnknownAnswer = { kind: "unknown", reason: STOPPED_WAITING };
      const outcome = await unlessAborted(call, handBack, stoppedWaiting);
      if (outcome !== stoppedWaiting) events.gatewayCall?.(gateway.name, outcome.kind, (performance.now() - started) / 1000);
      return outcome;
    },

    /**
     * An attempt that did not call the gateway did nothing: it is given back uncounted, to be claimed
     * and run again at once: when it waited too long for a slot (under load, counting it would spend
     * MAX_ATTEMPTS without a gateway call), and when the worker is stopping (another worker takes it
     * now, not after its lease).
     */
    async giveBack(attempt: Attempt<WorkRow, unknown>): Promise<ProcessResult> {
      await attempt.store.releaseForRetry(attempt.row, { unknown: false, gatewayReference: null, untried: true }, { delayMs: 0, requestId: attempt.requestId });
      if (stopCalls?.aborted) logger.info(attempt.log, "worker stopping: the attempt was given back without calling the gateway");
      else logger.warn({ ...attempt.log, waitLimitMs: maxSlotWaitMs }, "waited too long for a gateway slot; the attempt was given back without calling the gateway");
      return "retry_scheduled";
    },
  };
}

type OpenedCard = ReturnType<CardVault["open"]>;

/**
 * The card is needed only to charge or authorize; it is deleted once the payment is charged,
 * authorized or failed. A payment paid with a payment method has none: the gateway holds the card.
 */
function sourceToSend(vault: CardVault, logger: Logger, payment: PaymentRow, sealed: SealedCard | undefined): PaymentSource | CardUnavailable {
  if (payment.paymentMethod === null && !sealed && !continuesAction(payment)) return { kind: "card_unavailable", reason: "no sealed card is stored for this payment" };
  const source = paymentSourceOf(payment, () => (sealed ? openCard(vault, logger, payment, sealed) : null));
  // A key that is not in the ring or a corrupt blob will not open on any later attempt either.
  return source ?? { kind: "card_unavailable", reason: "the sealed card cannot be opened" };
}

/** The card of a payment, or null (logged at error level) when its sealed form cannot be opened. */
export function openCard(vault: CardVault, logger: Logger, payment: PaymentRow, sealed: SealedCard): OpenedCard | null {
  try {
    return vault.open(sealed);
  } catch (error) {
    logger.error({ err: error, paymentId: payment.id, keyId: sealed.keyId }, "the sealed card of a payment cannot be opened");
    return null;
  }
}

export interface ProcessingEvents {
  /** A payment's operation ended: final, or AUTHORIZED (for metrics). */
  finalized?(payment: PaymentRow, startedAt: number): void;
  /** A refund became SUCCEEDED or FAILED (for metrics). */
  refundFinalized?(refund: RefundRow): void;
  gatewayCall?(gateway: string, outcome: ChargeOutcome["kind"], seconds: number): void;
  retryScheduled?(paymentId: string, attempt: number, delayMs: number): void;
  deadLettered?(paymentId: string): void;
  /** Work whose outcome is unknown was handed to the reconciler. */
  reconciling?(paymentId: string): void;
}

/** What the story tells the logs and the metrics at each turn. */
function attemptJournal(logger: Logger, events: ProcessingEvents) {
  return {
    notClaimable(kind: "payment" | "refund", log: Record<string, unknown>): ProcessResult {
      logger.debug(log, `${kind} not claimable (final, held by another worker, or reconciling); message dropped`);
      return "skipped";
    },
    approved(attempt: Attempt<WorkRow, unknown>, gatewayReference: string, result: ProcessResult): void {
      logger.info({ ...attempt.log, attempt: attempt.number, gatewayReference, result }, `${attempt.kind} ${result}`);
    },
    declined(attempt: Attempt<WorkRow, unknown>, failureCode: string, result: ProcessResult): void {
      logger.info({ ...attempt.log, attempt: attempt.number, failureCode, result }, `${attempt.kind} declined`);
    },
    retryScheduled(attempt: Attempt<WorkRow, unknown>, failure: FailedCall, delayMs: number): void {
      events.retryScheduled?.(attempt.row.id, attempt.number, delayMs);
      logger.info(
        { ...attempt.log, attempt: attempt.number, reason: failure.reason, outcomeUnknown: mayHaveBeenDone(attempt, failure), retryInMs: delayMs },
        "gateway attempt failed; retry scheduled",
      );
    },
    handedToReconciler(attempt: Attempt<WorkRow, unknown>, failure: Failure, handed: boolean): void {
      if (handed) {
        events.deadLettered?.(attempt.row.id);
        events.reconciling?.(attempt.row.id);
      }
      logger.error(
        { ...attempt.log, attempt: attempt.number, reason: failure.reason },
        `${attempt.kind} outcome unknown: the gateway may have done it; handed to the reconciler`,
      );
    },
    cardDataUnavailable(attempt: Attempt<WorkRow, unknown>, failure: CardUnavailable): void {
      logger.error({ ...attempt.log, attempt: attempt.number, reason: failure.reason }, "payment failed: card data unavailable");
    },
    gaveUp(attempt: Attempt<WorkRow, unknown>, failure: FailedCall, result: ProcessResult): void {
      logger.warn(
        { ...attempt.log, attempt: attempt.number, reason: failure.reason, result },
        `${attempt.kind} not done: gateway unavailable, nothing done; dead-lettered`,
      );
    },
    ended<Row extends WorkRow>(attempt: Attempt<Row, unknown>, recorded: Row, deadLettered: boolean): void {
      attempt.ended(recorded);
      if (deadLettered) events.deadLettered?.(attempt.row.id);
    },
    lostClaim(attempt: Attempt<WorkRow, unknown>): ProcessResult {
      logger.warn({ ...attempt.log, attempt: attempt.number }, "lost the claim before recording the outcome");
      return "skipped";
    },
  };
}
