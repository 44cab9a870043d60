import { enqueueDeadLetter, enqueuePayments } from "../broker";
import { Batcher, type BatcherOptions, type Database, type Executor } from "../database";
import type { AttemptRelease, GatewayWorkLifecycle } from "./work-lifecycle";

/*
 * Cross-module writes that must share the aggregate's transaction (the broker's outbox and dead
 * letters, the vault's purge of card secrets) are imported directly: broker and vault do not import
 * payments, so no circle arises. Merchant webhook events are the exception: webhooks import
 * payments, so they come in as an injected function (onFinalInTransaction).
 */

/** Why work went to the dead-letter topic, and the error of its last attempt. */
export interface WorkDeadLetter {
  reason: "attempts_exhausted" | "outcome_unknown";
  lastError: string;
  requestId: string | null;
}

/** How an attempt that did not end its work ended. */
export interface WorkAttemptEnd {
  /** The gateway may have done the work (no answer, or one that cannot be read). */
  unknown: boolean;
  /** The gateway's object id, when its answer named one and the row should remember it. */
  gatewayReference: string | null;
  /**
   * The gateway was not called (the attempt waited too long for a slot): the attempt is handed
   * back uncounted, so it spends none of the work's MAX_ATTEMPTS.
   */
  untried?: boolean;
}

/**
 * Every claim and write the processing of one kind of gateway work (a payment's operation, a
 * refund) makes: the processor's port. Each write is guarded by the attempt number the row was
 * claimed with: a worker whose claim was taken over gets `undefined` / `false` back and has
 * changed nothing.
 */
export interface GatewayWorkStore<Claimed, Row, Outcome> {
  /** Claims the work for its next attempt; undefined when it is done, held by another worker, or reconciling. */
  claim(id: string): Promise<Claimed | undefined>;
  /** Records the gateway's definite answer (and, when given, the dead letter); returns the updated row. */
  recordFinal(row: Row, outcome: Outcome, deadLetter?: WorkDeadLetter): Promise<Row | undefined>;
  /** Ends the attempt and queues the next one after `delayMs`. */
  releaseForRetry(row: Row, end: WorkAttemptEnd, retry: { delayMs: number; requestId: string | null }): Promise<boolean>;
  /** Gives work the gateway may have done to the reconciler and dead-letters it; returns the reconciling row. */
  handToReconciler(row: Row, end: WorkAttemptEnd, deadLetter: WorkDeadLetter): Promise<Row | undefined>;
  /** Claims up to `limit` rows whose reconciliation check is due, each held for `holdMs`. */
  claimDueChecks(limit: number, holdMs: number): Promise<Claimed[]>;
  /** The check told nothing: look again after `delayMs`. */
  scheduleNextCheck(row: Row, delayMs: number): Promise<void>;
}

export interface GatewayWorkStoreOptions<Row> {
  db: Database;
  /** How long claimed work is this worker's before another may claim it again. */
  leaseMs: number;
  /** When the reconciler first looks up work handed to it. */
  reconcileFirstCheckMs: number;
  /**
   * Runs inside the transaction that ends work, with every row whose new state is news to the
   * merchant, so whatever it writes (e.g. merchant webhook events) exists if and only if those
   * states do.
   */
  onFinalInTransaction?: (tx: Executor, rows: Row[]) => Promise<void>;
  /** Group-commit settings (see Batcher). */
  batching?: BatcherOptions;
}

/** A dead letter or a message for the outbox: always keyed by the payment, like every message. */
interface WorkMessage {
  paymentId: string;
  refundId?: string;
}

/** What differs between the stores of the kinds of gateway work. */
export interface WorkStoreKind<Claimed, Row extends { id: string; attempts: number }, Outcome> {
  lifecycle: GatewayWorkLifecycle<Row, Outcome>;
  /** What a worker is given with rows it claimed; `claimed` runs alongside, so a kind may read in parallel. */
  withClaimed(db: Executor, ids: string[], claimed: Promise<Row[]>): Promise<Claimed[]>;
  idOf(claimed: Claimed): string;
  messageOf(row: Row): WorkMessage;
  releaseOf(row: Row, end: WorkAttemptEnd, forReconciler: boolean): AttemptRelease;
  /** What the kind's own data needs, in the transaction that ends work (given the rows that did end). */
  endedInTransaction(tx: Executor, ended: Row[]): Promise<void>;
  /** What the kind's own data needs, in the transaction that hands work to the reconciler (given the rows handed over). */
  handedOverInTransaction?(tx: Executor, reconciling: Row[]): Promise<void>;
  isNewsToMerchant(row: Row): boolean;
}

const BATCHING = { maxBatch: 256, maxConcurrent: 2 };
/**
 * Outcomes are written after the gateway slot is given back, so a few milliseconds of waiting cost
 * no gateway time; under load they turn many small transactions (five statements each) into few
 * larger ones. An outcome after a quiet spell is written at once.
 */
const OUTCOME_MIN_INTERVAL_MS = 10;

/**
 * The one store of gateway work, for any kind. Concurrent workers' claims and writes of one sort
 * are grouped into shared statements (group commit: one batcher per sort); every guard still
 * holds per row inside each statement.
 */
export function createGatewayWorkStore<Claimed, Row extends { id: string; attempts: number }, Outcome>(
  kind: WorkStoreKind<Claimed, Row, Outcome>,
  options: GatewayWorkStoreOptions<Row>,
): GatewayWorkStore<Claimed, Row, Outcome> {
  const { db, leaseMs, reconcileFirstCheckMs, onFinalInTransaction } = options;
  const { lifecycle } = kind;
  const batching = { ...BATCHING, ...options.batching };
  const letterOf = (row: Row, deadLetter: WorkDeadLetter) => ({ ...kind.messageOf(row), attempts: row.attempts, ...deadLetter });

  const claims = new Batcher<string, Claimed | undefined>(async (ids) => {
    const claimed = await kind.withClaimed(db, [...new Set(ids)], lifecycle.claim(db, ids, leaseMs));
    const byId = new Map(claimed.map((c) => [kind.idOf(c), c]));
    // Work asked for twice in one batch is given to the first caller only.
    return ids.map((id) => {
      const work = byId.get(id);
      byId.delete(id);
      return work;
    });
  }, batching);

  type FinalWrite = { row: Row; outcome: Outcome; deadLetter: WorkDeadLetter | undefined };
  const finals = new Batcher<FinalWrite, Row | undefined>(
    (writes) =>
      db.transaction(async (tx) => {
        const ended = await lifecycle.recordOutcomes(
          tx,
          writes.map((w) => ({ id: w.row.id, attempt: w.row.attempts, outcome: w.outcome })),
        );
        const byId = new Map(ended.map((r) => [r.id, r]));
        // Independent statements are issued together so the driver pipelines them.
        const follow: Promise<void>[] = [kind.endedInTransaction(tx, ended)];
        for (const { row, deadLetter } of writes) if (deadLetter && byId.has(row.id)) follow.push(enqueueDeadLetter(tx, letterOf(row, deadLetter)));
        const news = ended.filter(kind.isNewsToMerchant);
        if (onFinalInTransaction && news.length > 0) follow.push(onFinalInTransaction(tx, news));
        await Promise.all(follow);
        return writes.map((w) => byId.get(w.row.id));
      }),
    { minIntervalMs: OUTCOME_MIN_INTERVAL_MS, ...batching },
  );

  type RetryWrite = { row: Row; end: WorkAttemptEnd; delayMs: number; requestId: string | null };
  const retries = new Batcher<RetryWrite, boolean>(
    (writes) =>
      db.transaction(async (tx) => {
        const released = new Set(
          await lifecycle.releaseForRetries(
            tx,
            writes.map((w) => kind.releaseOf(w.row, w.end, false)),
          ),
        );
        await enqueuePayments(
          tx,
          writes.filter((w) => released.has(w.row.id)).map((w) => ({ ...kind.messageOf(w.row), requestId: w.requestId, delayMs: w.delayMs })),
        );
        return writes.map((w) => released.has(w.row.id));
      }),
    batching,
  );

  type HandOver = { row: Row; end: WorkAttemptEnd; deadLetter: WorkDeadLetter };
  const handOvers = new Batcher<HandOver, Row | undefined>(
    (writes) =>
      db.transaction(async (tx) => {
        const reconciling = await lifecycle.startReconciling(
          tx,
          writes.map((w) => kind.releaseOf(w.row, w.end, true)),
          reconcileFirstCheckMs,
        );
        const byId = new Map(reconciling.map((r) => [r.id, r]));
        await Promise.all([
          ...writes.filter((w) => byId.has(w.row.id)).map((w) => enqueueDeadLetter(tx, letterOf(w.row, w.deadLetter))),
          ...(kind.handedOverInTransaction && reconciling.length > 0 ? [kind.handedOverInTransaction(tx, reconciling)] : []),
        ]);
        return writes.map((w) => byId.get(w.row.id));
      }),
    batching,
  );

  return {
    claim: (id) => claims.submit(id),
    recordFinal: (row, outcome, deadLetter) => finals.submit({ row, outcome, deadLetter }),
    releaseForRetry: (row, end, retry) => retries.submit({ row, end, ...retry }),
    handToReconciler: (row, end, deadLetter) => handOvers.submit({ row, end, deadLetter }),
    async claimDueChecks(limit, holdMs) {
      const due = await lifecycle.claimDueChecks(db, limit, holdMs);
      if (due.length === 0) return [];
      return kind.withClaimed(
        db,
        due.map((r) => r.id),
        Promise.resolve(due),
      );
    },
    async scheduleNextCheck(row, delayMs) {
      await lifecycle.scheduleNextCheck(db, row.id, row.attempts, delayMs);
    },
  };
}
