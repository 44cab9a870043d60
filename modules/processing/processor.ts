import { enqueueDeadLetter, enqueuePayment, type PaymentMessage } from "../broker";
import type { Database, Executor } from "../database";
import type { ChargeOutcome, Gateway } from "../gateways";
import { claimPayment, type FinalOutcome, type PaymentRow, recordFinalOutcome, releaseForRetry } from "../payments";
import { type CardVault, loadCardSecret, purgeCardSecret } from "../vault";
import { hasAttemptsLeft, type RetryPolicy, retryDelayMs } from "./retry-policy";

export interface ProcessingLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface ProcessingEvents {
  /** A payment reached a final state (for metrics and webhooks). */
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
   * Runs inside the transaction that makes a payment final, so whatever it writes (e.g. a
   * merchant webhook event) exists if and only if the final state does.
   */
  onFinalInTransaction?: (tx: Executor, payment: PaymentRow) => Promise<void>;
}

export type ProcessResult = "completed" | "failed" | "retry_scheduled" | "skipped";

/**
 * Takes one payment through one gateway attempt. Safe to run for the same payment any number
 * of times, from any number of workers: the guarded claim lets one attempt in at a time, the
 * attempt number fences every later write, and the gateway sees the same idempotency key on
 * every attempt, so a redelivered message can never charge a card twice.
 */
export function createPaymentProcessor(deps: ProcessorDeps) {
  const { db, gateway, vault, logger, retry, leaseMs, events = {}, onFinalInTransaction } = deps;

  async function finalize(payment: PaymentRow, outcome: FinalOutcome, startedAt: number): Promise<boolean> {
    const row = await db.transaction(async (tx) => {
      const updated = await recordFinalOutcome(tx, payment.id, payment.attempts, outcome);
      if (updated) {
        await purgeCardSecret(tx, payment.id);
        await onFinalInTransaction?.(tx, updated);
      }
      return updated;
    });
    if (!row) {
      logger.warn({ paymentId: payment.id, attempt: payment.attempts }, "lost the claim before recording the outcome");
      return false;
    }
    events.finalized?.(row, startedAt);
    return true;
  }

  async function charge(payment: PaymentRow): Promise<ChargeOutcome> {
    const sealed = await loadCardSecret(db, payment.id);
    if (!sealed) return { kind: "declined", code: "card_data_unavailable", message: "The card data of this payment is no longer available", gatewayReference: null };
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

  return async function processPayment(message: PaymentMessage): Promise<ProcessResult> {
    const startedAt = Date.now();
    const log = { paymentId: message.paymentId, requestId: message.requestId };
    const payment = await claimPayment(db, message.paymentId, leaseMs);
    if (!payment) {
      logger.debug(log, "payment not claimable (final, or held by another worker); message dropped");
      return "skipped";
    }
    const attempt = payment.attempts;
    const outcome = await charge(payment);

    switch (outcome.kind) {
      case "approved":
        await finalize(payment, { status: "COMPLETED", gatewayReference: outcome.gatewayReference }, startedAt);
        logger.info({ ...log, attempt, gatewayReference: outcome.gatewayReference }, "payment completed");
        return "completed";
      case "declined":
        await finalize(
          payment,
          { status: "FAILED", failureCode: outcome.code, failureMessage: outcome.message, gatewayReference: outcome.gatewayReference },
          startedAt,
        );
        logger.info({ ...log, attempt, failureCode: outcome.code }, "payment declined");
        return "failed";
      case "transient":
      case "unknown": {
        if (!hasAttemptsLeft(retry, attempt)) {
          const failed = await db.transaction(async (tx) => {
            const row = await recordFinalOutcome(tx, payment.id, attempt, {
              status: "FAILED",
              failureCode: "gateway_unavailable",
              failureMessage: `The gateway could not be reached after ${attempt} attempts`,
              gatewayReference: null,
            });
            if (!row) return undefined;
            await purgeCardSecret(tx, payment.id);
            await onFinalInTransaction?.(tx, row);
            await enqueueDeadLetter(tx, {
              paymentId: payment.id,
              requestId: message.requestId,
              reason: outcome.kind === "unknown" ? "outcome_unknown" : "attempts_exhausted",
              attempts: attempt,
              lastError: outcome.reason,
            });
            return row;
          });
          if (failed) {
            events.finalized?.(failed, startedAt);
            events.deadLettered?.(payment.id);
          }
          logger.warn({ ...log, attempt, reason: outcome.reason }, "payment failed: gateway unavailable, dead-lettered");
          return "failed";
        }
        const delay = retryDelayMs(retry, attempt);
        await db.transaction(async (tx) => {
          if (await releaseForRetry(tx, payment.id, attempt)) await enqueuePayment(tx, message, delay);
        });
        events.retryScheduled?.(payment.id, attempt, delay);
        logger.info({ ...log, attempt, reason: outcome.reason, retryInMs: delay }, "gateway attempt failed; retry scheduled");
        return "retry_scheduled";
      }
    }
  };
}

export type PaymentProcessor = ReturnType<typeof createPaymentProcessor>;
