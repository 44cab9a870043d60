import { enqueueDeadLetter, enqueuePayments, type PaymentMessage } from "../broker";
import { Batcher, type Database, type Executor } from "../database";
import type { ChargeOutcome, Gateway } from "../gateways";
import {
  claimPayments,
  type FinalOutcome,
  type PaymentRow,
  recordFinalOutcomes,
  releaseForRetries,
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
}

export interface ProcessorDeps {
  db: Database;
  gateway: Gateway;
  vault: CardVault;
  logger: ProcessingLogger;
  retry: RetryPolicy;
  leaseMs: number;
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

export type ProcessResult = "completed" | "failed" | "retry_scheduled" | "skipped";

interface Claim {
  payment: PaymentRow;
  sealed: SealedCard | undefined;
}

type OutcomeWrite =
  | { kind: "final"; payment: PaymentRow; outcome: FinalOutcome; deadLetter?: { reason: string; lastError: string; requestId: string | null } }
  | { kind: "retry"; payment: PaymentRow; delayMs: number; requestId: string | null };

/**
 * Takes one payment through one gateway attempt. Safe to run for the same payment any number
 * of times, from any number of workers: the guarded claim lets one attempt in at a time, the
 * attempt number fences every later write, and the gateway sees the same idempotency key on
 * every attempt, so a redelivered message can never charge a card twice.
 *
 * Claims and outcomes of concurrent payments are grouped into shared statements (see Batcher):
 * the guarantees above hold per payment inside each statement.
 */
export function createPaymentProcessor(deps: ProcessorDeps) {
  const { db, gateway, vault, logger, retry, leaseMs, events = {}, onFinalInTransaction } = deps;
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
        // Independent statements are issued together so the driver pipelines them: two round
        // trips inside the transaction instead of five.
        const [finalized, releasedIds] = await Promise.all([
          recordFinalOutcomes(
            tx,
            finals.map((w) => ({ id: w.payment.id, attempt: w.payment.attempts, outcome: w.outcome })),
          ),
          releaseForRetries(
            tx,
            retries.map((w) => ({ id: w.payment.id, attempt: w.payment.attempts })),
          ),
        ]);
        const finalById = new Map(finalized.map((p) => [p.id, p]));
        const released = new Set(releasedIds);
        const follow: Promise<void>[] = [
          purgeCardSecrets(tx, [...finalById.keys()]),
          enqueuePayments(
            tx,
            retries
              .filter((w) => released.has(w.payment.id))
              .map((w) => ({ paymentId: w.payment.id, requestId: w.requestId, delayMs: w.delayMs })),
          ),
        ];
        for (const w of finals) {
          const row = finalById.get(w.payment.id);
          if (row && w.deadLetter) follow.push(enqueueDeadLetter(tx, { paymentId: row.id, attempts: row.attempts, ...w.deadLetter }));
        }
        if (onFinalInTransaction && finalized.length > 0) follow.push(onFinalInTransaction(tx, finalized));
        await Promise.all(follow);
        return writes.map((w) => (w.kind === "final" ? finalById.get(w.payment.id) : released.has(w.payment.id)));
      }),
    batching,
  );

  async function charge(payment: PaymentRow, sealed: SealedCard | undefined): Promise<ChargeOutcome> {
    if (!sealed)
      return { kind: "declined", code: "card_data_unavailable", message: "The card data of this payment is no longer available", gatewayReference: null };
    const card = vault.open(sealed);
    const started = performance.now();
    let outcome: ChargeOutcome;
    try {
      outcome = await gateway.charge({
        paymentId: payment.id,
        idempotencyKey: `paystream-${payment.id}`,
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
      });
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
      logger.debug(log, "payment not claimable (final, or held by another worker); message dropped");
      return "skipped";
    }
    const { payment } = claim;
    const attempt = payment.attempts;
    const outcome = await charge(payment, claim.sealed);

    switch (outcome.kind) {
      case "approved":
        await finalize({ kind: "final", payment, outcome: { status: "COMPLETED", gatewayReference: outcome.gatewayReference } }, startedAt);
        logger.info({ ...log, attempt, gatewayReference: outcome.gatewayReference }, "payment completed");
        return "completed";
      case "declined":
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
      case "transient":
      case "unknown": {
        if (!hasAttemptsLeft(retry, attempt)) {
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
              deadLetter: {
                reason: outcome.kind === "unknown" ? "outcome_unknown" : "attempts_exhausted",
                lastError: outcome.reason,
                requestId: message.requestId,
              },
            },
            startedAt,
          );
          logger.warn({ ...log, attempt, reason: outcome.reason }, "payment failed: gateway unavailable, dead-lettered");
          return "failed";
        }
        const delay = retryDelayMs(retry, attempt);
        await outcomes.submit({ kind: "retry", payment, delayMs: delay, requestId: message.requestId });
        events.retryScheduled?.(payment.id, attempt, delay);
        logger.info({ ...log, attempt, reason: outcome.reason, retryInMs: delay }, "gateway attempt failed; retry scheduled");
        return "retry_scheduled";
      }
    }
  };
}

export type PaymentProcessor = ReturnType<typeof createPaymentProcessor>;
