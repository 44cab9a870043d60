import { enqueueDeadLetter, enqueuePayments } from "../broker";
import { Batcher, type BatcherOptions, type Database, type Executor } from "../database";
import {
  type AttemptRelease,
  claimDueChecks,
  claimPayments,
  type FinalOutcome,
  type PaymentRow,
  recordFinalOutcomes,
  releaseForRetries,
  scheduleNextCheck,
  startReconciling,
} from "../payments";
import { loadCardSecrets, purgeCardSecrets } from "../vault";
import type { AttemptEnd, ClaimedPayment, DeadLetter, PaymentStore } from "./store";

export interface PostgresPaymentStoreOptions {
  db: Database;
  /** How long a claimed payment is this worker's before another may claim it again. */
  leaseMs: number;
  /** When the reconciler first looks up a payment handed to it. */
  reconcileFirstCheckMs: number;
  /**
   * Runs inside the transaction that ends payments' operations, with every payment whose new state
   * is news to the merchant (final, or newly AUTHORIZED), so whatever it writes (e.g. merchant
   * webhook events) exists if and only if those states do.
   */
  onFinalInTransaction?: (tx: Executor, payments: PaymentRow[]) => Promise<void>;
  /** Group-commit settings (see Batcher). */
  batching?: BatcherOptions;
}

const BATCHING = { maxBatch: 256, maxConcurrent: 2 };
/**
 * Outcomes are written after the gateway slot is given back, so a few milliseconds of waiting cost
 * no gateway time; under load they turn many small transactions (five statements each) into few
 * larger ones. An outcome after a quiet spell is written at once.
 */
const OUTCOME_MIN_INTERVAL_MS = 10;

type FinalWrite = { payment: PaymentRow; outcome: FinalOutcome; deadLetter: DeadLetter | undefined };
type RetryWrite = { release: AttemptRelease; delayMs: number; requestId: string | null };
type HandOver = { release: AttemptRelease; attempts: number; deadLetter: DeadLetter };

/**
 * A refused capture or void puts the payment back to the AUTHORIZED it already was (and announced):
 * nothing new for the merchant's webhooks; every other end of an operation is.
 */
const isNewsToMerchant = (payment: PaymentRow) => payment.status !== "AUTHORIZED" || payment.operation === "authorize";

const releaseOf = (payment: PaymentRow, end: AttemptEnd): AttemptRelease => ({ id: payment.id, attempt: payment.attempts, ...end });

/**
 * The payment store over PostgreSQL (or PGlite), composed of the payments, vault and broker
 * repositories. Concurrent workers' claims and writes of one kind are grouped into shared
 * statements (group commit: one batcher per kind); every guard still holds per payment inside
 * each statement.
 */
export function createPostgresPaymentStore(options: PostgresPaymentStoreOptions): PaymentStore {
  const { db, leaseMs, reconcileFirstCheckMs, onFinalInTransaction } = options;
  const batching = { ...BATCHING, ...options.batching };

  const claims = new Batcher<string, ClaimedPayment | undefined>(async (ids) => {
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

  const finals = new Batcher<FinalWrite, PaymentRow | undefined>(
    (writes) =>
      db.transaction(async (tx) => {
        const finalized = await recordFinalOutcomes(
          tx,
          writes.map((w) => ({ id: w.payment.id, attempt: w.payment.attempts, outcome: w.outcome })),
        );
        const byId = new Map(finalized.map((p) => [p.id, p]));
        // Independent statements are issued together so the driver pipelines them.
        const follow: Promise<void>[] = [purgeCardSecrets(tx, [...byId.keys()])];
        for (const { payment, deadLetter } of writes)
          if (deadLetter && byId.has(payment.id))
            follow.push(enqueueDeadLetter(tx, { paymentId: payment.id, attempts: payment.attempts, ...deadLetter }));
        const news = finalized.filter(isNewsToMerchant);
        if (onFinalInTransaction && news.length > 0) follow.push(onFinalInTransaction(tx, news));
        await Promise.all(follow);
        return writes.map((w) => byId.get(w.payment.id));
      }),
    { minIntervalMs: OUTCOME_MIN_INTERVAL_MS, ...batching },
  );

  const retries = new Batcher<RetryWrite, boolean>(
    (writes) =>
      db.transaction(async (tx) => {
        const released = new Set(
          await releaseForRetries(
            tx,
            writes.map((w) => w.release),
          ),
        );
        await enqueuePayments(
          tx,
          writes.filter((w) => released.has(w.release.id)).map((w) => ({ paymentId: w.release.id, requestId: w.requestId, delayMs: w.delayMs })),
        );
        return writes.map((w) => released.has(w.release.id));
      }),
    batching,
  );

  const handOvers = new Batcher<HandOver, PaymentRow | undefined>(
    (writes) =>
      db.transaction(async (tx) => {
        const reconciling = await startReconciling(
          tx,
          writes.map((w) => w.release),
          reconcileFirstCheckMs,
        );
        const byId = new Map(reconciling.map((p) => [p.id, p]));
        await Promise.all(
          writes
            .filter((w) => byId.has(w.release.id))
            .map((w) => enqueueDeadLetter(tx, { paymentId: w.release.id, attempts: w.attempts, ...w.deadLetter })),
        );
        return writes.map((w) => byId.get(w.release.id));
      }),
    batching,
  );

  return {
    claim: (paymentId) => claims.submit(paymentId),
    recordFinal: (payment, outcome, deadLetter) => finals.submit({ payment, outcome, deadLetter }),
    releaseForRetry: (payment, end, retry) => retries.submit({ release: releaseOf(payment, end), ...retry }),
    handToReconciler: (payment, end, deadLetter) => handOvers.submit({ release: releaseOf(payment, end), attempts: payment.attempts, deadLetter }),
    async claimDueChecks(limit, holdMs) {
      const due = await claimDueChecks(db, limit, holdMs);
      if (due.length === 0) return [];
      const secrets = await loadCardSecrets(
        db,
        due.map((p) => p.id),
      );
      return due.map((payment) => ({ payment, sealed: secrets.get(payment.id) }));
    },
    async scheduleNextCheck(payment, delayMs) {
      await scheduleNextCheck(db, payment.id, payment.attempts, delayMs);
    },
  };
}
