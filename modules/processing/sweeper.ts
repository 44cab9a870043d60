import { enqueuePayment, enqueuePayments, hasQueuedPaymentMessage, hasQueuedRefundMessage, paymentMessagesFor } from "../broker";
import type { Database } from "../database";
import { expireAuthorizations, listStrandedPayments, listStrandedRefunds, touchPayment, touchRefund } from "../payments";
import { type Logger, type PollLoop, startPolling } from "../runtime";

export interface SweeperOptions {
  intervalMs: number;
  /** A payment or refund untouched this long, with nothing queued for it and no live lease, is stuck. */
  stuckAfterMs: number;
  /** Payments (and refunds, and expired authorizations) handled per round at most (default 500). */
  batchSize?: number;
}

const BATCH_SIZE = 500;

/**
 * The safety net under at-least-once delivery: finds payments and refunds that nothing will move
 * any more (a message lost with a crashed broker, a worker that died mid-attempt and whose message
 * was already acknowledged) and queues them again. Re-queuing is always safe: processing is
 * idempotent. Each round also hands authorizations that outlived AUTHORIZATION_TTL_MS to the
 * worker to be voided (docs/CONTRACT.md §8): every worker runs it, and the guarded move lets one win.
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
  let loop: PollLoop | undefined;

  async function sweepOnce(): Promise<number> {
    const stuck = await listStrandedPayments(db, { idleMs: options.stuckAfterMs, limit: batchSize, queued: hasQueuedPaymentMessage });
    for (const payment of stuck) {
      await db.transaction(async (tx) => {
        await touchPayment(tx, payment.id);
        await enqueuePayment(tx, { paymentId: payment.id, requestId: payment.requestId });
      });
      logger.warn({ paymentId: payment.id, status: payment.status }, "re-queued a stuck payment");
    }
    const stranded = await listStrandedRefunds(db, { idleMs: options.stuckAfterMs, limit: batchSize, queued: hasQueuedRefundMessage });
    for (const refund of stranded) {
      await db.transaction(async (tx) => {
        await touchRefund(tx, refund.id);
        await enqueuePayments(tx, [{ paymentId: refund.paymentId, refundId: refund.id, requestId: refund.requestId, delayMs: 0 }]);
      });
      logger.warn({ paymentId: refund.paymentId, refundId: refund.id }, "re-queued a stuck refund");
    }
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
