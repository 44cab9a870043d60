import { enqueueDeadLetter, enqueuePayments, type PaymentMessage } from "../broker";
import { Batcher, type Database, type Executor } from "../database";
import type { ChargeOutcome, ChargeRequest, Gateway } from "../gateways";
import {
  type AttemptRelease,
  claimPayments,
  type FinalOutcome,
  type PaymentRow,
  recordFinalOutcomes,
  releaseForRetries,
  startReconciling,
} from "../payments";
import { type CardVault, loadCardSecrets, purgeCardSecrets, type SealedCard } from "../vault";
import { hasAttemptsLeft, type RetryPolicy, retryDelayMs } from "./retry-policy";

export interface ProcessingLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

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
  db: Database;
  gateway: Gateway;
  vault: CardVault;
  logger: ProcessingLogger;
  retry: RetryPolicy;
  leaseMs: number;
  /** When the reconciler first looks up a payment whose outcome stayed unknown. */
  reconcileFirstCheckMs: number;
  events?: ProcessingEvents;
  /**
   * Runs inside the transaction that makes payments final, with every payment that transaction
   * made final, so whatever it writes (e.g. merchant webhook events) exists if and only if the
   * final states do.
   */
  onFinalInTransaction?: (tx: Executor, payments: PaymentRow[]) => Promise<void>;
  /** Group-commit settings for claims and outcomes. */
  batching?: { maxBatch: number; maxConcurrent: number };
}

export type ProcessResult = "completed" | "failed" | "retry_scheduled" | "reconciling" | "skipped";

interface Claim {
  payment: PaymentRow;
  sealed: SealedCard | undefined;
}

type DeadLetter = { reason: string; lastError: string; requestId: string | null };

type OutcomeWrite =
  | { kind: "final"; payment: PaymentRow; outcome: FinalOutcome; deadLetter?: DeadLetter }
  | { kind: "retry"; payment: PaymentRow; release: AttemptRelease; delayMs: number; requestId: string | null }
  | { kind: "reconcile"; payment: PaymentRow; release: AttemptRelease; deadLetter: DeadLetter };

/** What a charge attempt came to, before the payment's history is taken into account. */
type AttemptResult = ChargeOutcome | { kind: "card_unavailable"; reason: string };

/**
 * Takes one payment through one gateway attempt. Safe to run for the same payment any number
 * of times, from any number of workers: the guarded claim lets one attempt in at a time, the
 * attempt number fences every later write, and the gateway sees the same idempotency key on
 * every attempt, so a redelivered message can never charge a card twice.
 *
 * A payment one of whose attempts had an unknown outcome may have been charged: it never becomes
 * FAILED by running out of attempts or card data. It goes to the reconciler instead, which asks
 * the gateway (contract §6).
 *
 * Claims and outcomes of concurrent payments are grouped into shared statements (see Batcher):
 * the guarantees above hold per payment inside each statement.
 */
export function createPaymentProcessor(deps: ProcessorDeps) {
  const { db, gateway, vault, logger, retry, leaseMs, reconcileFirstCheckMs, events = {}, onFinalInTransaction } = deps;
  const batching = { maxBatch: 256, maxConcurrent: 2, ...deps.batching };

  const claims = new Batcher<string, Claim | undefined>(async (ids) => {
    // Read the secrets alongside the claim (one round trip, not two); those of payments that
    // turn out not claimable are simply not used.
    const [claimed, secrets] = await Promise.all([claimPayments(db, ids, leaseMs), loadCardSecrets(db, [...new Set(ids)])]);
    const byId = new Map(claimed.map((p) => [p.id, p]));
    // A payment asked for twice in one batch is given to the first caller only.
    return ids.map((id) => {
      const payment = byId.get(id);
      if (!payment) return undefined;
      byId.delete(id);
      return { payment, sealed: secrets.get(id) };
    });
  }, batching);

  const outcomes = new Batcher<OutcomeWrite, PaymentRow | boolean | undefined>(
    (writes) =>
      db.transaction(async (tx) => {
        const finals = writes.filter((w) => w.kind === "final");
        const retries = writes.filter((w) => w.kind === "retry");
        const reconciles = writes.filter((w) => w.kind === "reconcile");
        // Independent statements are issued together so the driver pipelines them.
        const [finalized, releasedIds, handedOver] = await Promise.all([
          recordFinalOutcomes(
            tx,
            finals.map((w) => ({ id: w.payment.id, attempt: w.payment.attempts, outcome: w.outcome })),
          ),
          releaseForRetries(
            tx,
            retries.map((w) => w.release),
          ),
          startReconciling(
            tx,
            reconciles.map((w) => w.release),
            reconcileFirstCheckMs,
          ),
        ]);
        const finalById = new Map(finalized.map((p) => [p.id, p]));
        const released = new Set(releasedIds);
        const reconcilingIds = new Set(handedOver.map((p) => p.id));
        const follow: Promise<void>[] = [
          purgeCardSecrets(tx, [...finalById.keys()]),
          enqueuePayments(
            tx,
            retries
              .filter((w) => released.has(w.payment.id))
              .map((w) => ({ paymentId: w.payment.id, requestId: w.requestId, delayMs: w.delayMs })),
          ),
        ];
        for (const w of [...finals, ...reconciles]) {
          const done = w.kind === "final" ? finalById.has(w.payment.id) : reconcilingIds.has(w.payment.id);
          if (done && w.deadLetter) follow.push(enqueueDeadLetter(tx, { paymentId: w.payment.id, attempts: w.payment.attempts, ...w.deadLetter }));
        }
        if (onFinalInTransaction && finalized.length > 0) follow.push(onFinalInTransaction(tx, finalized));
        await Promise.all(follow);
        return writes.map((w) =>
          w.kind === "final" ? finalById.get(w.payment.id) : w.kind === "retry" ? released.has(w.payment.id) : reconcilingIds.has(w.payment.id),
        );
      }),
    batching,
  );

  async function charge(payment: PaymentRow, sealed: SealedCard | undefined): Promise<AttemptResult> {
    if (!sealed) return { kind: "card_unavailable", reason: "no sealed card is stored for this payment" };
    let card: OpenedCard;
    try {
      card = vault.open(sealed);
    } catch (error) {
      // A key that is not in the ring or a corrupt blob will not open on any later attempt either.
      logger.error({ err: error, paymentId: payment.id, keyId: sealed.keyId }, "the sealed card of a payment cannot be opened");
      return { kind: "card_unavailable", reason: "the sealed card cannot be opened" };
    }
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

  async function finalize(write: Extract<OutcomeWrite, { kind: "final" }>, startedAt: number): Promise<boolean> {
    const row = (await outcomes.submit(write)) as PaymentRow | undefined;
    if (!row) {
      logger.warn({ paymentId: write.payment.id, attempt: write.payment.attempts }, "lost the claim before recording the outcome");
      return false;
    }
    events.finalized?.(row, startedAt);
    if (write.deadLetter) events.deadLettered?.(row.id);
    return true;
  }

  return async function processPayment(message: PaymentMessage): Promise<ProcessResult> {
    const startedAt = Date.now();
    const log = { paymentId: message.paymentId, requestId: message.requestId };
    const claim = await claims.submit(message.paymentId);
    if (!claim) {
      logger.debug(log, "payment not claimable (final, held by another worker, or reconciling); message dropped");
      return "skipped";
    }
    const { payment } = claim;
    const attempt = payment.attempts;
    const outcome = await charge(payment, claim.sealed);

    if (outcome.kind === "approved") {
      await finalize({ kind: "final", payment, outcome: { status: "COMPLETED", gatewayReference: outcome.gatewayReference } }, startedAt);
      logger.info({ ...log, attempt, gatewayReference: outcome.gatewayReference }, "payment completed");
      return "completed";
    }
    if (outcome.kind === "declined") {
      // A decline answered under this payment's idempotency key is the gateway's word for the
      // key, which every attempt shared: definite even after unknown attempts.
      await finalize(
        {
          kind: "final",
          payment,
          outcome: { status: "FAILED", failureCode: outcome.code, failureMessage: outcome.message, gatewayReference: outcome.gatewayReference },
        },
        startedAt,
      );
      logger.info({ ...log, attempt, failureCode: outcome.code }, "payment declined");
      return "failed";
    }

    const unknownNow = outcome.kind === "unknown";
    const mayHaveCharged = unknownNow || payment.outcomeUnknownSince !== null;
    const release: AttemptRelease = {
      id: payment.id,
      attempt,
      unknown: unknownNow,
      gatewayReference: outcome.kind === "unknown" ? (outcome.gatewayReference ?? null) : null,
    };
    const deadLetter = (reason: string): DeadLetter => ({ reason, lastError: outcome.reason, requestId: message.requestId });

    if (outcome.kind !== "card_unavailable" && hasAttemptsLeft(retry, attempt)) {
      const delay = retryDelayMs(retry, attempt);
      await outcomes.submit({ kind: "retry", payment, release, delayMs: delay, requestId: message.requestId });
      events.retryScheduled?.(payment.id, attempt, delay);
      logger.info({ ...log, attempt, reason: outcome.reason, outcomeUnknown: mayHaveCharged, retryInMs: delay }, "gateway attempt failed; retry scheduled");
      return "retry_scheduled";
    }
    if (mayHaveCharged) {
      const handedOver = (await outcomes.submit({ kind: "reconcile", payment, release, deadLetter: deadLetter("outcome_unknown") })) as boolean;
      if (handedOver) {
        events.deadLettered?.(payment.id);
        events.reconciling?.(payment.id);
      }
      logger.error(
        { ...log, attempt, reason: outcome.reason, firstCheckInMs: reconcileFirstCheckMs },
        "payment outcome unknown: the card may have been charged; handed to the reconciler",
      );
      return "reconciling";
    }
    if (outcome.kind === "card_unavailable") {
      await finalize(
        {
          kind: "final",
          payment,
          outcome: {
            status: "FAILED",
            failureCode: "card_data_unavailable",
            failureMessage: "The card data of this payment is no longer available",
            gatewayReference: null,
          },
        },
        startedAt,
      );
      logger.error({ ...log, attempt, reason: outcome.reason }, "payment failed: card data unavailable");
      return "failed";
    }
    await finalize(
      {
        kind: "final",
        payment,
        outcome: {
          status: "FAILED",
          failureCode: "gateway_unavailable",
          failureMessage: `The gateway could not be reached after ${attempt} attempts`,
          gatewayReference: null,
        },
        deadLetter: deadLetter("attempts_exhausted"),
      },
      startedAt,
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
  };
}

type OpenedCard = ReturnType<CardVault["open"]>;

/** Derived only from the payment id, identical on every attempt and every lookup. */
export function chargeIdempotencyKey(paymentId: string): string {
  return `paystream-${paymentId}`;
}

export type PaymentProcessor = ReturnType<typeof createPaymentProcessor>;
