import type { Database, Executor } from "../database";
import type { ChargeRequest, Gateway, LookupOutcome } from "../gateways";
import { claimDueChecks, type FinalOutcome, type PaymentRow, recordFinalOutcomes, scheduleNextCheck } from "../payments";
import { type CardVault, loadCardSecrets, purgeCardSecrets, type SealedCard } from "../vault";
import { chargeIdempotencyKey, chargeRequestFor, type ProcessingLogger } from "./processor";

export interface ReconcileSchedule {
  /** Delay before the first lookup (also used by the processor when it hands a payment over). */
  firstCheckMs: number;
  /** The back-off doubles up to this interval, then stays there: a payment is never given up. */
  maxIntervalMs: number;
}

export interface ReconcilerOptions {
  schedule: ReconcileSchedule;
  /** How often the reconciler looks for due checks. */
  pollIntervalMs: number;
  batchSize: number;
  /** How long a claimed check is held before another reconciler may take it. */
  holdMs: number;
}

export interface ReconcilerDeps {
  db: Database;
  gateway: Gateway;
  /** Opens the card for gateways that can be asked only by replaying the charge. */
  vault: CardVault;
  logger: ProcessingLogger;
  options: ReconcilerOptions;
  /** Same hook as the processor's: runs in the transaction that makes payments final. */
  onFinalInTransaction?: (tx: Executor, payments: PaymentRow[]) => Promise<void>;
  events?: {
    finalized?(payment: PaymentRow, startedAt: number): void;
    checked?(outcome: LookupOutcome["kind"]): void;
  };
}

/** Delay after the `checksMade`-th lookup that told nothing: doubling from the first delay, capped. */
export function nextCheckDelayMs(schedule: ReconcileSchedule, checksMade: number): number {
  return Math.min(schedule.maxIntervalMs, schedule.firstCheckMs * 2 ** Math.min(checksMade, 40));
}

/** How long the schedule takes to reach its cap, and how many lookups it makes in `windowMs`. */
export function lookupsWithin(schedule: ReconcileSchedule, windowMs: number): number {
  let elapsed = schedule.firstCheckMs;
  let lookups = 0;
  while (elapsed <= windowMs) {
    lookups++;
    elapsed += nextCheckDelayMs(schedule, lookups);
  }
  return lookups;
}

/**
 * Settles payments whose outcome is unknown by asking the gateway, never by guessing (contract §6;
 * Kill Bill's Janitor, Hyperswitch's PSync): a charge found → COMPLETED, the gateway confirms no
 * charge → FAILED, anything else → look again later, with a back-off to about daily, forever.
 * Every check that leaves a payment unresolved is logged at error level: someone should know.
 */
export function createReconciler(deps: ReconcilerDeps) {
  const { db, gateway, vault, logger, options, onFinalInTransaction, events = {} } = deps;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<number> | undefined;
  let stopped = true;

  async function settle(payment: PaymentRow, outcome: FinalOutcome, startedAt: number): Promise<boolean> {
    const [row] = await db.transaction(async (tx) => {
      const finalized = await recordFinalOutcomes(tx, [{ id: payment.id, attempt: payment.attempts, outcome }]);
      await purgeCardSecrets(
        tx,
        finalized.map((p) => p.id),
      );
      if (onFinalInTransaction && finalized.length > 0) await onFinalInTransaction(tx, finalized);
      return finalized;
    });
    if (row) events.finalized?.(row, startedAt);
    return row !== undefined;
  }

  /** The charge to replay, for gateways that need it; null when the card cannot be opened. */
  function replayFor(payment: PaymentRow, sealed: SealedCard | undefined): ChargeRequest | null {
    if (!sealed) return null;
    try {
      return chargeRequestFor(payment, vault.open(sealed));
    } catch (error) {
      logger.error({ err: error, paymentId: payment.id, keyId: sealed.keyId }, "the sealed card of a payment cannot be opened");
      return null;
    }
  }

  async function check(payment: PaymentRow, sealed: SealedCard | undefined): Promise<void> {
    const startedAt = Date.now();
    const log = { paymentId: payment.id, checks: payment.reconcileChecks + 1 };
    let outcome: LookupOutcome;
    try {
      outcome = await gateway.lookup({
        paymentId: payment.id,
        idempotencyKey: chargeIdempotencyKey(payment.id),
        amount: payment.amount,
        currency: payment.currency,
        gatewayReference: payment.gatewayReference,
        firstAttemptAt: payment.createdAt,
        unknownSince: payment.outcomeUnknownSince ?? payment.updatedAt,
        lastAttemptAt: payment.updatedAt,
        replay: replayFor(payment, sealed),
      });
    } catch (error) {
      logger.error({ ...log, err: error }, "gateway lookup threw");
      outcome = { kind: "unknown", reason: "lookup_error" };
    }
    events.checked?.(outcome.kind);
    switch (outcome.kind) {
      case "approved":
        if (await settle(payment, { status: "COMPLETED", gatewayReference: outcome.gatewayReference }, startedAt))
          logger.warn({ ...log, gatewayReference: outcome.gatewayReference }, "reconciled: the gateway holds the charge; payment completed");
        return;
      case "declined":
        if (
          await settle(
            payment,
            { status: "FAILED", failureCode: outcome.code, failureMessage: outcome.message, gatewayReference: outcome.gatewayReference },
            startedAt,
          )
        )
          logger.warn({ ...log, failureCode: outcome.code }, "reconciled: the gateway declined the payment; payment failed");
        return;
      case "not_charged":
        if (
          await settle(
            payment,
            {
              status: "FAILED",
              failureCode: "gateway_unavailable",
              failureMessage: "The gateway could not be reached; it has confirmed that nothing was charged",
              gatewayReference: null,
            },
            startedAt,
          )
        )
          logger.warn({ ...log, reason: outcome.reason }, "reconciled: the gateway confirms no charge; payment failed");
        return;
      case "unknown": {
        const delay = nextCheckDelayMs(options.schedule, payment.reconcileChecks + 1);
        await scheduleNextCheck(db, payment.id, payment.attempts, delay);
        logger.error(
          { ...log, reason: outcome.reason, unknownSince: payment.outcomeUnknownSince, nextCheckInMs: delay },
          "payment still unresolved: the gateway has not told whether the card was charged",
        );
        return;
      }
    }
  }

  /** One pass: every due check, up to the batch size. Returns how many payments were checked. */
  async function checkDue(): Promise<number> {
    const due = await claimDueChecks(db, options.batchSize, options.holdMs);
    if (due.length === 0) return 0;
    const secrets = await loadCardSecrets(
      db,
      due.map((p) => p.id),
    );
    await Promise.all(due.map((payment) => check(payment, secrets.get(payment.id))));
    return due.length;
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = checkDue()
        .catch((error) => {
          logger.warn({ err: error }, "reconciliation pass failed; will try again");
          return 0;
        })
        .then((checked) => {
          // A full batch means more may be due: go on at once.
          schedule(checked >= options.batchSize ? 0 : options.pollIntervalMs);
          return checked;
        });
    }, delayMs);
  }

  return {
    checkDue,
    start(): void {
      stopped = false;
      schedule(options.pollIntervalMs);
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

export type Reconciler = ReturnType<typeof createReconciler>;
