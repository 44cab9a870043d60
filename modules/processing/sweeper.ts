import { enqueuePayments, type QueuedWork, hasQueuedPaymentMessage, hasQueuedRefundMessage, paymentMessagesFor } from "../broker";
import type { Database } from "../database";
import { claimStrandedPayments, claimStrandedRefunds, expireAuthorizations } from "../payments";
import { type Logger, type PollLoop, startPolling } from "../runtime";

export interface SweeperOptions {
  intervalMs: number;
  /** A payment or refund untouched this long, with nothing queued for it and no live lease, is stuck. */
  stuckAfterMs: number;
  /** Payments (and refunds, and expired authorizations) handled per round at most (default 500). */
  batchSize?: number;
  /**
   * The broker's "is a message for this work still queued", taken afresh for each sweep
   * (Broker.queuedWork). Default: the outbox alone, which is the whole queue with BROKER=postgres;
   * with BROKER=kafka a message also waits in the topic until the group consumes it.
   */
  queuedWork?: () => Promise<QueuedWork>;
  /** Told how many payments (or refunds) a sweep re-queued (a metric). */
  requeued?: (kind: "payment" | "refund", count: number) => void;
}

const BATCH_SIZE = 500;

const OUTBOX_ONLY: QueuedWork = { payment: hasQueuedPaymentMessage, refund: hasQueuedRefundMessage };

/**
 * The safety net under at-least-once delivery: finds payments and refunds that nothing will move
 * any more (a message lost with a crashed broker, a worker that died mid-attempt and whose message
 * was already acknowledged) and queues them again. Re-queuing is always safe: processing is
 * idempotent. Every worker sweeps; each stranded row is taken under its row lock and touched in
 * the statement that finds it, so two sweepers never re-queue the same one (docs/ARCHITECTURE.md).
 * Each round also hands authorizations that outlived AUTHORIZATION_TTL_MS to the worker to be
 * voided (docs/CONTRACT.md §8): every worker runs it, and the guarded move lets one win.
 */
export interface Sweeper {
  /** Re-queues stranded payments and refunds; returns how many. */
  sweepOnce(): Promise<number>;
  /** Moves expired authorizations to be voided (reason `expired`), each with its worker message; returns how many. */
  expireOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createSweeper(db: Database, logger: Logger, options: SweeperOptions): Sweeper {
  const batchSize = options.batchSize ?? BATCH_SIZE;
  const queuedWork = options.queuedWork ?? (async () => OUTBOX_ONLY);
  let loop: PollLoop | undefined;

  async function sweepOnce(): Promise<number> {
    const queued = await queuedWork();
    const limits = { idleMs: options.stuckAfterMs, limit: batchSize };
    // Taken and re-queued in one transaction: the touch that makes them not idle commits with their messages.
    const stuck = await db.transaction(async (tx) => {
      const taken = await claimStrandedPayments(tx, { ...limits, queued: queued.payment });
      await enqueuePayments(
        tx,
        taken.map((p) => ({ paymentId: p.id, requestId: p.requestId, delayMs: 0 })),
      );
      return taken;
    });
    for (const payment of stuck) logger.warn({ paymentId: payment.id, status: payment.status }, "re-queued a stuck payment");
    if (stuck.length > 0) options.requeued?.("payment", stuck.length);
    const stranded = await db.transaction(async (tx) => {
      const taken = await claimStrandedRefunds(tx, { ...limits, queued: queued.refund });
      await enqueuePayments(
        tx,
        taken.map((r) => ({ paymentId: r.paymentId, refundId: r.id, requestId: r.requestId, delayMs: 0 })),
      );
      return taken;
    });
    for (const refund of stranded) logger.warn({ paymentId: refund.paymentId, refundId: refund.id }, "re-queued a stuck refund");
    if (stranded.length > 0) options.requeued?.("refund", stranded.length);
    return stuck.length + stranded.length;
  }

  async function expireOnce(): Promise<number> {
    const expired = await expireAuthorizations(db, batchSize, paymentMessagesFor);
    for (const payment of expired) logger.info({ paymentId: payment.id }, "authorization expired; voiding it");
    return expired.length;
  }

  return {
    sweepOnce,
    expireOnce,
    start(): void {
      // Every round is followed by a full interval: a sweep is a safety net, not a queue.
      loop = startPolling(async () => (await expireOnce(), await sweepOnce(), "idle"), {
        firstDelayMs: options.intervalMs,
        idleMs: options.intervalMs,
        failureBackoff: { baseMs: options.intervalMs, maxMs: options.intervalMs },
        onFailure: (error) => logger.warn({ err: error }, "sweep failed; will try again"),
      });
    },
    async stop(): Promise<void> {
      await loop?.stop();
    },
  };
}
