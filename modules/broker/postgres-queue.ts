import { sql } from "drizzle-orm";
import type { Database } from "../database";
import { type Logger, type PollLoop, startPolling } from "../runtime";
import { claimOutboxRows, deleteOutboxRows, outboxBacklog, releaseOutboxRow } from "./outbox";
import type { Broker, MessageHandler, PaymentConsumer } from "./port";
import type { OutboxRow } from "./schema";

export interface PostgresQueueOptions {
  leaseMs: number;
  /** How long an idle consumer waits before looking for due rows again. */
  pollIntervalMs?: number;
  /** Delay before a row whose handler failed is offered again. */
  redeliveryDelayMs?: number;
}

/** Short: with this queue, the poll interval is the delay between intake and the worker. */
const POLL_INTERVAL_MS = 25;
const REDELIVERY_DELAY_MS = 1_000;

/**
 * The embedded broker: the outbox table is the queue. Workers claim due rows with
 * FOR UPDATE SKIP LOCKED under a lease and delete them once handled (at-least-once).
 */
export function createPostgresQueue(db: Database, logger: Logger, options: PostgresQueueOptions): Broker {
  return {
    kind: "postgres",
    createConsumer: ({ concurrency }) => new PostgresQueueConsumer(db, logger, options, concurrency),
    createRelay: () => undefined,
    async check() {
      await db.execute(sql`select 1 from outbox limit 1`);
    },
    // The queue is the table: its lag is the due rows not yet handled.
    lag: async () => (await outboxBacklog(db)).requested,
    async close() {},
  };
}

class PostgresQueueConsumer implements PaymentConsumer {
  private inFlight = 0;
  private loop: PollLoop | undefined;
  private readonly acks: number[] = [];
  private readonly refillThreshold: number;
  private flushing: Promise<void> | undefined;
  private readonly pollIntervalMs: number;
  private readonly redeliveryDelayMs: number;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly options: PostgresQueueOptions,
    private readonly concurrency: number,
  ) {
    this.refillThreshold = Math.max(1, Math.floor(concurrency / 4));
    this.pollIntervalMs = options.pollIntervalMs ?? POLL_INTERVAL_MS;
    this.redeliveryDelayMs = options.redeliveryDelayMs ?? REDELIVERY_DELAY_MS;
  }

  async start(handler: MessageHandler): Promise<void> {
    this.loop = startPolling(() => this.claimAndDeliver(handler), {
      idleMs: this.pollIntervalMs,
      // The database is away: back off (capped) instead of spinning, and keep trying.
      failureBackoff: { baseMs: 200, maxMs: 5_000 },
      onFailure: (error, retryInMs) => this.logger.warn({ err: error, retryInMs }, "could not claim outbox rows"),
    });
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
    while (this.inFlight > 0) await Bun.sleep(20);
    // A flush already running may still hold acks; wait for it before flushing what is left.
    await this.flushing;
    await this.flushAcks();
  }

  private async claimAndDeliver(handler: MessageHandler): Promise<"more" | "idle"> {
    const free = this.concurrency - this.inFlight;
    // Claim in batches: topping up one slot at a time would cost a statement per payment.
    if (free < this.refillThreshold) return "idle";
    const rows = await claimOutboxRows(this.db, ["requested"], free, this.options.leaseMs);
    for (const row of rows) this.deliver(row, handler);
    return rows.length < free ? "idle" : "more";
  }

  private deliver(row: OutboxRow, handler: MessageHandler): void {
    this.inFlight++;
    const payload = row.payload as { requestId?: string | null; refundId?: string };
    handler({ paymentId: row.paymentId, ...(payload.refundId ? { refundId: payload.refundId } : {}), requestId: payload.requestId ?? null })
      .then(
        () => this.acknowledge(row.id),
        async (error) => {
          this.logger.warn({ err: error, paymentId: row.paymentId }, "message not handled; it will be delivered again");
          await releaseOutboxRow(this.db, row.id, this.redeliveryDelayMs).catch(() => {
            // The lease runs out by itself; the row is retaken then.
          });
        },
      )
      .finally(() => {
        this.inFlight--;
        this.loop?.wake();
      });
  }

  /** Acks are batched: one DELETE for every row finished while the previous DELETE ran. */
  private acknowledge(id: number): void {
    this.acks.push(id);
    if (!this.flushing) this.flushing = this.flushAcks().finally(() => (this.flushing = undefined));
  }

  private async flushAcks(): Promise<void> {
    while (this.acks.length > 0) {
      const batch = this.acks.splice(0, this.acks.length);
      try {
        await deleteOutboxRows(this.db, batch);
      } catch (error) {
        // Unacknowledged rows are redelivered after their lease; handling them again is a no-op.
        this.logger.warn({ err: error, count: batch.length }, "could not acknowledge outbox rows");
        return;
      }
    }
  }
}
