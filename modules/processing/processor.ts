import type { PaymentMessage } from "../broker";
import type { ChargeOutcome, ChargeRequest, Gateway } from "../gateways";
import type { FinalOutcome, PaymentRow } from "../payments";
import type { Logger } from "../runtime";
import type { CardVault, SealedCard } from "../vault";
import { hasAttemptsLeft, type RetryPolicy, retryDelayMs } from "./retry-policy";
import type { AttemptEnd, DeadLetter, PaymentStore } from "./store";

export interface ProcessingEvents {
  /** A payment reached a final state (for metrics). */
  finalized?(payment: PaymentRow, startedAt: number): void;
  gatewayCall?(gateway: string, outcome: ChargeOutcome["kind"], seconds: number): void;
  retryScheduled?(paymentId: string, attempt: number, delayMs: number): void;
  deadLettered?(paymentId: string): void;
  /** A payment whose outcome is unknown was handed to the reconciler. */
  reconciling?(paymentId: string): void;
}

export interface ProcessorDeps {
  store: PaymentStore;
  gateway: Gateway;
  vault: CardVault;
  logger: Logger;
  retry: RetryPolicy;
  events?: ProcessingEvents;
}

export type ProcessResult = "completed" | "failed" | "retry_scheduled" | "reconciling" | "skipped";

/** What a charge attempt came to, before the payment's history is taken into account. */
type AttemptResult = ChargeOutcome | { kind: "card_unavailable"; reason: string };

const CARD_DATA_UNAVAILABLE: FinalOutcome = {
  status: "FAILED",
  failureCode: "card_data_unavailable",
  failureMessage: "The card data of this payment is no longer available",
  gatewayReference: null,
};

/**
 * Takes one payment through one gateway attempt: claim → charge → record. Safe to run for the
 * same payment any number of times, from any number of workers: the guarded claim lets one
 * attempt in at a time, the attempt number fences every later write, and the gateway sees the
 * same idempotency key on every attempt, so a redelivered message can never charge a card twice.
 *
 * A payment one of whose attempts had an unknown outcome may have been charged: it never becomes
 * FAILED by running out of attempts or card data. It goes to the reconciler instead, which asks
 * the gateway (contract §6).
 */
export function createPaymentProcessor(deps: ProcessorDeps) {
  const { store, gateway, vault, logger, retry, events = {} } = deps;

  async function charge(payment: PaymentRow, sealed: SealedCard | undefined): Promise<AttemptResult> {
    if (!sealed) return { kind: "card_unavailable", reason: "no sealed card is stored for this payment" };
    const card = openCard(vault, logger, payment, sealed);
    // A key that is not in the ring or a corrupt blob will not open on any later attempt either.
    if (card === null) return { kind: "card_unavailable", reason: "the sealed card cannot be opened" };
    const started = performance.now();
    let outcome: ChargeOutcome;
    try {
      outcome = await gateway.charge(chargeRequestFor(payment, card));
    } catch (error) {
      // An adapter should classify everything; if one throws, we cannot know whether the
      // request went out, so treat it as unknown (the retry replays the same key).
      logger.error({ err: error, paymentId: payment.id }, "gateway adapter threw");
      outcome = { kind: "unknown", reason: "adapter_error" };
    }
    events.gatewayCall?.(gateway.name, outcome.kind, (performance.now() - started) / 1000);
    return outcome;
  }

  async function recordFinal(payment: PaymentRow, outcome: FinalOutcome, startedAt: number, deadLetter?: DeadLetter): Promise<void> {
    const row = await store.recordFinal(payment, outcome, deadLetter);
    if (!row) {
      logger.warn({ paymentId: payment.id, attempt: payment.attempts }, "lost the claim before recording the outcome");
      return;
    }
    events.finalized?.(row, startedAt);
    if (deadLetter) events.deadLettered?.(row.id);
  }

  return async function processPayment(message: PaymentMessage): Promise<ProcessResult> {
    const startedAt = Date.now();
    const log = { paymentId: message.paymentId, requestId: message.requestId };
    const claim = await store.claim(message.paymentId);
    if (!claim) {
      logger.debug(log, "payment not claimable (final, held by another worker, or reconciling); message dropped");
      return "skipped";
    }
    const { payment } = claim;
    const attempt = payment.attempts;
    const outcome = await charge(payment, claim.sealed);

    if (outcome.kind === "approved") {
      await recordFinal(payment, { status: "COMPLETED", gatewayReference: outcome.gatewayReference }, startedAt);
      logger.info({ ...log, attempt, gatewayReference: outcome.gatewayReference }, "payment completed");
      return "completed";
    }
    if (outcome.kind === "declined") {
      // A decline answered under this payment's idempotency key is the gateway's word for the
      // key, which every attempt shared: definite even after unknown attempts.
      await recordFinal(
        payment,
        { status: "FAILED", failureCode: outcome.code, failureMessage: outcome.message, gatewayReference: outcome.gatewayReference },
        startedAt,
      );
      logger.info({ ...log, attempt, failureCode: outcome.code }, "payment declined");
      return "failed";
    }

    const unknownNow = outcome.kind === "unknown";
    const mayHaveCharged = unknownNow || payment.outcomeUnknownSince !== null;
    const end: AttemptEnd = {
      unknown: unknownNow,
      gatewayReference: outcome.kind === "unknown" ? (outcome.gatewayReference ?? null) : null,
    };
    const deadLetter = (reason: DeadLetter["reason"]): DeadLetter => ({ reason, lastError: outcome.reason, requestId: message.requestId });

    if (outcome.kind !== "card_unavailable" && hasAttemptsLeft(retry, attempt)) {
      const delay = retryDelayMs(retry, attempt);
      await store.releaseForRetry(payment, end, { delayMs: delay, requestId: message.requestId });
      events.retryScheduled?.(payment.id, attempt, delay);
      logger.info({ ...log, attempt, reason: outcome.reason, outcomeUnknown: mayHaveCharged, retryInMs: delay }, "gateway attempt failed; retry scheduled");
      return "retry_scheduled";
    }
    if (mayHaveCharged) {
      const reconciling = await store.handToReconciler(payment, end, deadLetter("outcome_unknown"));
      if (reconciling) {
        events.deadLettered?.(payment.id);
        events.reconciling?.(payment.id);
      }
      logger.error(
        { ...log, attempt, reason: outcome.reason, nextCheckAt: reconciling?.nextCheckAt },
        "payment outcome unknown: the card may have been charged; handed to the reconciler",
      );
      return "reconciling";
    }
    if (outcome.kind === "card_unavailable") {
      await recordFinal(payment, CARD_DATA_UNAVAILABLE, startedAt);
      logger.error({ ...log, attempt, reason: outcome.reason }, "payment failed: card data unavailable");
      return "failed";
    }
    await recordFinal(
      payment,
      {
        status: "FAILED",
        failureCode: "gateway_unavailable",
        failureMessage: `The gateway could not be reached after ${attempt} attempts`,
        gatewayReference: null,
      },
      startedAt,
      deadLetter("attempts_exhausted"),
    );
    logger.warn({ ...log, attempt, reason: outcome.reason }, "payment failed: gateway unavailable, nothing charged; dead-lettered");
    return "failed";
  };
}

/** The charge every attempt of a payment sends: identical each time but for the attempt number. */
export function chargeRequestFor(payment: PaymentRow, card: OpenedCard): ChargeRequest {
  return {
    paymentId: payment.id,
    idempotencyKey: chargeIdempotencyKey(payment.id),
    amount: payment.amount,
    currency: payment.currency,
    card: {
      number: card.number,
      expMonth: payment.cardExpMonth,
      expYear: payment.cardExpYear,
      cvc: card.cvc,
      holderName: card.holderName ?? null,
    },
    customer: { email: payment.customerEmail, name: payment.customerName, reference: payment.customerReference },
    description: payment.description,
    attempt: payment.attempts,
    capture: payment.operation !== "authorize",
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

/** Derived only from the payment id, identical on every attempt and every lookup. */
export function chargeIdempotencyKey(paymentId: string): string {
  return `paystream-${paymentId}`;
}

export type PaymentProcessor = ReturnType<typeof createPaymentProcessor>;
