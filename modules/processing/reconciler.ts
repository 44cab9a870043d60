import type { ChargeRequest, Gateway, LookupOutcome } from "../gateways";
import type { FinalOutcome, PaymentRow } from "../payments";
import { backoffDelayMs, type Logger, type PollLoop, startPolling } from "../runtime";
import type { CardVault, SealedCard } from "../vault";
import { chargeIdempotencyKey, chargeRequestFor, openCard } from "./processor";
import type { PaymentStore } from "./store";

export interface ReconcileSchedule {
  /** Delay before the first lookup (the store sets it when the processor hands a payment over). */
  firstCheckMs: number;
  /** The back-off doubles up to this interval, then stays there: a payment is never given up. */
  maxIntervalMs: number;
}

export interface ReconcilerOptions {
  schedule: ReconcileSchedule;
  /** How often the reconciler looks for due checks. */
  pollIntervalMs: number;
  /** Checks claimed per round (default 100). */
  batchSize?: number;
  /** How long a claimed check is held before another reconciler may take it. */
  holdMs: number;
}

export interface ReconcilerDeps {
  store: PaymentStore;
  gateway: Gateway;
  /** Opens the card for gateways that can be asked only by replaying the charge. */
  vault: CardVault;
  logger: Logger;
  options: ReconcilerOptions;
  events?: {
    finalized?(payment: PaymentRow, startedAt: number): void;
    checked?(outcome: LookupOutcome["kind"]): void;
  };
}

const BATCH_SIZE = 100;

/** Delay after the `checksMade`-th lookup that told nothing: doubling from the first delay, capped. */
export function nextCheckDelayMs(schedule: ReconcileSchedule, checksMade: number): number {
  return backoffDelayMs({ baseMs: schedule.firstCheckMs, maxMs: schedule.maxIntervalMs, jitter: 0 }, checksMade + 1);
}

/**
 * Settles payments whose outcome is unknown by asking the gateway, never by guessing (contract §6;
 * Kill Bill's Janitor, Hyperswitch's PSync): a charge found → COMPLETED, the gateway confirms no
 * charge → FAILED, anything else → look again later, with a back-off to about daily, forever.
 * Every check that leaves a payment unresolved is logged at error level: someone should know.
 */
export function createReconciler(deps: ReconcilerDeps) {
  const { store, gateway, vault, logger, options, events = {} } = deps;
  const batchSize = options.batchSize ?? BATCH_SIZE;
  let loop: PollLoop | undefined;

  async function settle(payment: PaymentRow, outcome: FinalOutcome, startedAt: number): Promise<boolean> {
    const row = await store.recordFinal(payment, outcome);
    if (row) events.finalized?.(row, startedAt);
    return row !== undefined;
  }

  /** The charge to replay, for gateways that need it; null when the card cannot be opened. */
  function replayFor(payment: PaymentRow, sealed: SealedCard | undefined): ChargeRequest | null {
    const card = sealed ? openCard(vault, logger, payment, sealed) : null;
    return card ? chargeRequestFor(payment, card) : null;
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
        capture: payment.operation !== "authorize",
        firstAttemptAt: payment.createdAt,
        unknownSince: payment.outcomeUnknownSince ?? payment.updatedAt,
        lastAttemptAt: payment.updatedAt,
        replay: () => replayFor(payment, sealed),
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
        await store.scheduleNextCheck(payment, delay);
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
    const due = await store.claimDueChecks(batchSize, options.holdMs);
    await Promise.all(due.map(({ payment, sealed }) => check(payment, sealed)));
    return due.length;
  }

  return {
    checkDue,
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

export type Reconciler = ReturnType<typeof createReconciler>;
