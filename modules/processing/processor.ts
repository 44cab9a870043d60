import type { PaymentMessage } from "../broker";
import type { ChargeOutcome, Gateway, OperationOutcome } from "../gateways";
import type { FinalOutcome, PaymentRow, RefundRow } from "../payments";
import { type Logger, Slots } from "../runtime";
import type { CardVault, SealedCard } from "../vault";
import {
  captureRequestFor,
  chargeRequestFor,
  type Endings,
  operationAttempt,
  type ProcessResult,
  paymentEndings,
  REFUND_ENDINGS,
  refundRequestFor,
  voidRequestFor,
} from "./operations";
import { hasAttemptsLeft, type RetryPolicy, retryDelayMs } from "./retry-policy";
import type { AttemptEnd, DeadLetter, GatewayWorkStore, PaymentStore, RefundStore } from "./store";

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
   * At most `size` gateway calls at once (WORKER_CONCURRENCY): the gateway's concurrency. A slot is
   * held only for the call: the claim is made before it and the outcome recorded after it, so
   * the gateway is kept busy while other attempts' statements run (the consumer holds more
   * messages than slots). A claimed attempt that waited longer than `maxWaitMs` for its slot
   * (LEASE_MS minus the longest operation) no longer has a lease that covers the call: it is
   * given back untried. Unbounded when absent.
   */
  gatewaySlots?: { size: number; maxWaitMs: number };
  events?: ProcessingEvents;
}

export type { ProcessResult };

/** What a gateway attempt came to, before the work's history is taken into account. */
type AttemptResult = OperationOutcome | { kind: "card_unavailable"; reason: string };

/** The columns every kind of gateway work has (see gatewayWorkColumns). */
interface WorkRow {
  id: string;
  attempts: number;
  outcomeUnknownSince: Date | null;
}

const CARD_DATA_UNAVAILABLE: FinalOutcome = {
  status: "FAILED",
  failureCode: "card_data_unavailable",
  failureMessage: "The card data of this payment is no longer available",
  gatewayReference: null,
};

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
export function createPaymentProcessor(deps: ProcessorDeps) {
  const { store, refunds, gateway, vault, logger, retry, authorizationTtlMs, events = {} } = deps;
  const slots = deps.gatewaySlots === undefined ? undefined : new Slots(deps.gatewaySlots.size);
  const maxSlotWaitMs = deps.gatewaySlots?.maxWaitMs ?? Number.POSITIVE_INFINITY;

  /**
   * Runs a claimed attempt's gateway call in a slot, or answers undefined, without calling, when the
   * wait for the slot used up so much of the claim's lease that it might run out during the call.
   * `claimedAt` is taken before the claim was asked for: the lease began later than that.
   */
  async function inSlot<T>(claimedAt: number, work: () => Promise<T> | T): Promise<T | undefined> {
    if (!slots) return work();
    await slots.acquire();
    try {
      if (performance.now() - claimedAt > maxSlotWaitMs) return undefined;
      return await work();
    } finally {
      slots.release();
    }
  }

  /**
   * An attempt that waited too long for a slot did nothing: it is given back uncounted, to be
   * claimed and run again (under load, counting it would spend MAX_ATTEMPTS without a gateway call).
   */
  async function giveBack<Row extends WorkRow>(work: GatewayWorkStore<unknown, Row, unknown>, row: Row, log: Record<string, unknown>, requestId: string | null) {
    await work.releaseForRetry(row, { unknown: false, gatewayReference: null, untried: true }, { delayMs: 0, requestId });
    logger.warn({ ...log, waitLimitMs: maxSlotWaitMs }, "waited too long for a gateway slot; the attempt was given back without calling the gateway");
    return "retry_scheduled" as const;
  }

  async function call(paymentId: string, run: () => Promise<OperationOutcome>): Promise<OperationOutcome> {
    const started = performance.now();
    let outcome: OperationOutcome;
    try {
      outcome = await run();
    } catch (error) {
      // An adapter should classify everything; if one throws, we cannot know whether the
      // request went out, so treat it as unknown (the retry replays the same key).
      logger.error({ err: error, paymentId }, "gateway adapter threw");
      outcome = { kind: "unknown", reason: "adapter_error" };
    }
    events.gatewayCall?.(gateway.name, outcome.kind, (performance.now() - started) / 1000);
    return outcome;
  }

  /** The card is needed only to charge or authorize; it is deleted once the payment is charged, authorized or failed. */
  function charge(payment: PaymentRow, sealed: SealedCard | undefined): Promise<AttemptResult> | AttemptResult {
    if (!sealed) return { kind: "card_unavailable", reason: "no sealed card is stored for this payment" };
    const card = openCard(vault, logger, payment, sealed);
    // A key that is not in the ring or a corrupt blob will not open on any later attempt either.
    if (card === null) return { kind: "card_unavailable", reason: "the sealed card cannot be opened" };
    return call(payment.id, () => gateway.charge(chargeRequestFor(payment, card)));
  }

  function runOperation(payment: PaymentRow, sealed: SealedCard | undefined): Promise<AttemptResult> | AttemptResult {
    switch (payment.operation) {
      case "charge":
      case "authorize":
        return charge(payment, sealed);
      case "capture":
        return call(payment.id, () => gateway.capture(captureRequestFor(payment)));
      case "void":
        return call(payment.id, () => gateway.voidAuthorization(voidRequestFor(payment)));
    }
  }

  interface Work<Row extends WorkRow, Outcome> {
    kind: string;
    store: GatewayWorkStore<unknown, Row, Outcome>;
    row: Row;
    /** This operation's own attempt number (its retry budget). */
    attempt: number;
    endings: Endings<Outcome>;
    /** Whether an unknown answer's gateway object id is this row's to remember (not for work acting on an existing object). */
    keepsReference: boolean;
    cardUnavailable?: Outcome;
    recorded(row: Row): void;
    log: Record<string, unknown>;
    requestId: string | null;
  }

  /** What one attempt's result makes of the work, by the same rules for every kind of gateway work. */
  async function conclude<Row extends WorkRow, Outcome>(work: Work<Row, Outcome>, outcome: AttemptResult): Promise<ProcessResult> {
    const { row, attempt, log } = work;
    async function end(ending: { outcome: Outcome; result: ProcessResult }, deadLetter?: DeadLetter): Promise<ProcessResult> {
      const recorded = await work.store.recordFinal(row, ending.outcome, deadLetter);
      if (!recorded) {
        logger.warn({ ...log, attempt }, "lost the claim before recording the outcome");
        return "skipped";
      }
      work.recorded(recorded);
      if (deadLetter) events.deadLettered?.(row.id);
      return ending.result;
    }

    if (outcome.kind === "approved") {
      const result = await end(work.endings.approved(outcome.gatewayReference));
      logger.info({ ...log, attempt, gatewayReference: outcome.gatewayReference, result }, `${work.kind} ${result}`);
      return result;
    }
    if (outcome.kind === "declined") {
      const result = await end(work.endings.declined(outcome.code, outcome.message, outcome.gatewayReference));
      logger.info({ ...log, attempt, failureCode: outcome.code, result }, `${work.kind} declined`);
      return result;
    }

    const unknownNow = outcome.kind === "unknown";
    const mayHaveExecuted = unknownNow || row.outcomeUnknownSince !== null;
    const attemptEnd: AttemptEnd = {
      unknown: unknownNow,
      gatewayReference: work.keepsReference && outcome.kind === "unknown" ? (outcome.gatewayReference ?? null) : null,
    };
    const deadLetter = (reason: DeadLetter["reason"]): DeadLetter => ({ reason, lastError: outcome.reason, requestId: work.requestId });

    if (outcome.kind !== "card_unavailable" && hasAttemptsLeft(retry, attempt)) {
      const delay = retryDelayMs(retry, attempt);
      await work.store.releaseForRetry(row, attemptEnd, { delayMs: delay, requestId: work.requestId });
      events.retryScheduled?.(row.id, attempt, delay);
      logger.info({ ...log, attempt, reason: outcome.reason, outcomeUnknown: mayHaveExecuted, retryInMs: delay }, "gateway attempt failed; retry scheduled");
      return "retry_scheduled";
    }
    if (mayHaveExecuted) {
      const reconciling = await work.store.handToReconciler(row, attemptEnd, deadLetter("outcome_unknown"));
      if (reconciling) {
        events.deadLettered?.(row.id);
        events.reconciling?.(row.id);
      }
      logger.error(
        { ...log, attempt, reason: outcome.reason },
        `${work.kind} outcome unknown: the gateway may have done it; handed to the reconciler`,
      );
      return "reconciling";
    }
    if (outcome.kind === "card_unavailable" && work.cardUnavailable) {
      const result = await end({ outcome: work.cardUnavailable, result: "failed" });
      logger.error({ ...log, attempt, reason: outcome.reason }, "payment failed: card data unavailable");
      return result;
    }
    const result = await end(
      work.endings.notDone(`The gateway could not be reached after ${attempt} attempts`),
      deadLetter("attempts_exhausted"),
    );
    logger.warn({ ...log, attempt, reason: outcome.reason, result }, `${work.kind} not done: gateway unavailable, nothing done; dead-lettered`);
    return result;
  }

  async function processPaymentOperation(message: PaymentMessage, startedAt: number): Promise<ProcessResult> {
    const log = { paymentId: message.paymentId, requestId: message.requestId };
    const claimedAt = performance.now();
    const claim = await store.claim(message.paymentId);
    if (!claim) {
      logger.debug(log, "payment not claimable (final, held by another worker, or reconciling); message dropped");
      return "skipped";
    }
    const { payment } = claim;
    const outcome = await inSlot(claimedAt, () => runOperation(payment, claim.sealed));
    if (outcome === undefined) return giveBack(store, payment, { ...log, operation: payment.operation }, message.requestId);
    return conclude(
      {
        kind: payment.operation === "charge" ? "payment" : payment.operation,
        store,
        row: payment,
        attempt: operationAttempt(payment),
        endings: paymentEndings(payment, authorizationTtlMs),
        // A charge's or authorization's unknown answer may name the object it created; a capture
        // or void acts on the authorization, whose reference must stay.
        keepsReference: payment.operation === "charge" || payment.operation === "authorize",
        ...(payment.operation === "charge" || payment.operation === "authorize" ? { cardUnavailable: CARD_DATA_UNAVAILABLE } : {}),
        recorded: (row) => events.finalized?.(row, startedAt),
        log: { ...log, operation: payment.operation },
        requestId: message.requestId,
      },
      outcome,
    );
  }

  async function processRefund(message: PaymentMessage & { refundId: string }): Promise<ProcessResult> {
    const log = { paymentId: message.paymentId, refundId: message.refundId, requestId: message.requestId };
    const claimedAt = performance.now();
    const claim = await refunds.claim(message.refundId);
    if (!claim) {
      logger.debug(log, "refund not claimable (final, held by another worker, or reconciling); message dropped");
      return "skipped";
    }
    const { refund } = claim;
    const outcome = await inSlot(claimedAt, () => call(claim.payment.id, () => gateway.refund(refundRequestFor(refund, claim.payment))));
    if (outcome === undefined) return giveBack(refunds, refund, log, message.requestId);
    return conclude(
      {
        kind: "refund",
        store: refunds,
        row: refund,
        attempt: refund.attempts,
        endings: REFUND_ENDINGS,
        keepsReference: false,
        recorded: (row) => events.refundFinalized?.(row),
        log,
        requestId: message.requestId,
      },
      outcome,
    );
  }

  return async function processPayment(message: PaymentMessage): Promise<ProcessResult> {
    const startedAt = Date.now();
    const { refundId } = message;
    return refundId === undefined ? processPaymentOperation(message, startedAt) : processRefund({ ...message, refundId });
  };
}

type OpenedCard = ReturnType<CardVault["open"]>;

/** The card of a payment, or null (logged at error level) when its sealed form cannot be opened. */
export function openCard(vault: CardVault, logger: Logger, payment: PaymentRow, sealed: SealedCard): OpenedCard | null {
  try {
    return vault.open(sealed);
  } catch (error) {
    logger.error({ err: error, paymentId: payment.id, keyId: sealed.keyId }, "the sealed card of a payment cannot be opened");
    return null;
  }
}

export type PaymentProcessor = ReturnType<typeof createPaymentProcessor>;
