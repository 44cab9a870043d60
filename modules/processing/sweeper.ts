import { enqueuePayment, hasQueuedPaymentMessage } from "../broker";
import type { Database } from "../database";
import { listStrandedPayments, touchPayment } from "../payments";
import { type Logger, type PollLoop, startPolling } from "../runtime";

export interface SweeperOptions {
  intervalMs: number;
  /** A payment untouched this long, with nothing queued for it and no live lease, is stuck. */
  stuckAfterMs: number;
  /** Payments re-queued per round at most (default 500). */
  batchSize?: number;
}

const BATCH_SIZE = 500;

/**
 * The safety net under at-least-once delivery: finds payments that nothing will move any more
 * (a message lost with a crashed broker, a worker that died mid-attempt and whose message was
 * already acknowledged) and queues them again. Re-queuing is always safe: processing is idempotent.
 */
export function createSweeper(db: Database, logger: Logger, options: SweeperOptions) {
  let loop: PollLoop | undefined;

  async function sweepOnce(): Promise<number> {
    const stuck = await listStrandedPayments(db, { idleMs: options.stuckAfterMs, limit: options.batchSize ?? BATCH_SIZE, queued: hasQueuedPaymentMessage });
    for (const payment of stuck) {
      await db.transaction(async (tx) => {
        await touchPayment(tx, payment.id);
        await enqueuePayment(tx, { paymentId: payment.id, requestId: payment.requestId });
      });
      logger.warn({ paymentId: payment.id, status: payment.status }, "re-queued a stuck payment");
    }
    return stuck.length;
  }

  return {
    sweepOnce,
    start(): void {
      // Every round is followed by a full interval: a sweep is a safety net, not a queue.
      loop = startPolling(async () => (await sweepOnce(), "idle"), {
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

export type Sweeper = ReturnType<typeof createSweeper>;
