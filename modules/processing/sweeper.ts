import { enqueuePayment, hasQueuedPaymentMessage } from "../broker";
import type { Database } from "../database";
import { listStrandedPayments, touchPayment } from "../payments";
import type { ProcessingLogger } from "./processor";

export interface SweeperOptions {
  intervalMs: number;
  /** A payment untouched this long, with nothing queued for it and no live lease, is stuck. */
  stuckAfterMs: number;
  batchSize: number;
}

/**
 * The safety net under at-least-once delivery: finds payments that nothing will move any more
 * (a message lost with a crashed broker, a worker that died mid-attempt and whose message was
 * already acknowledged) and queues them again. Re-queuing is always safe: processing is idempotent.
 */
export function createSweeper(db: Database, logger: ProcessingLogger, options: SweeperOptions) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<number> | undefined;
  let stopped = true;

  async function sweepOnce(): Promise<number> {
    const stuck = await listStrandedPayments(db, { idleMs: options.stuckAfterMs, limit: options.batchSize, queued: hasQueuedPaymentMessage });
    for (const payment of stuck) {
      await db.transaction(async (tx) => {
        await touchPayment(tx, payment.id);
        await enqueuePayment(tx, { paymentId: payment.id, requestId: payment.requestId });
      });
      logger.warn({ paymentId: payment.id, status: payment.status }, "re-queued a stuck payment");
    }
    return stuck.length;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweepOnce()
        .catch((error) => {
          logger.warn({ err: error }, "sweep failed; will try again");
          return 0;
        })
        .finally(schedule);
    }, options.intervalMs);
  }

  return {
    sweepOnce,
    start(): void {
      stopped = false;
      schedule();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

export type Sweeper = ReturnType<typeof createSweeper>;
