import type { Database } from "../database";
import { claimOutboxRows, deleteOutboxRows, outboxBacklog, releaseOutboxRow } from "./outbox";
import type { Broker, BrokerLogger, MessageHandler, PaymentConsumer } from "./port";
import type { OutboxRow } from "./schema";
import { sql } from "drizzle-orm";

export interface PostgresQueueOptions {
  leaseMs: number;
  /** How long an idle consumer waits before looking for due rows again. */
  pollIntervalMs: number;
  /** Delay before a row whose handler failed is offered again. */
  redeliveryDelayMs: number;
}

/**
 * The embedded broker: the outbox table is the queue. Workers claim due rows with
 * FOR UPDATE SKIP LOCKED under a lease and delete them once handled (at-least-once).
 */
export function createPostgresQueue(db: Database, logger: BrokerLogger, options: PostgresQueueOptions): Broker {
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
  private running = false;
  private inFlight = 0;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly acks: number[] = [];
  private readonly refillThreshold: number;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger: BrokerLogger,
    private readonly options: PostgresQueueOptions,
    private readonly concurrency: number,
  ) {
    this.refillThreshold = Math.max(1, Math.floor(concurrency / 4));
  }

  async start(handler: MessageHandler): Promise<void> {
    this.running = true;
    this.loop = this.run(handler);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    while (this.inFlight > 0) await this.sleep(20);
    // A flush already running may still hold acks; wait for it before flushing what is left.
    await this.flushing;
    await this.flushAcks();
  }

  private async run(handler: MessageHandler): Promise<void> {
    let failures = 0;
    while (this.running) {
      const free = this.concurrency - this.inFlight;
      // Claim in batches: topping up one slot at a time would cost a statement per payment.
      if (free < this.refillThreshold) {
        await this.sleep(this.options.pollIntervalMs);
        continue;
      }
      let rows: OutboxRow[];
      try {
        rows = await claimOutboxRows(this.db, ["requested"], free, this.options.leaseMs);
        failures = 0;
      } catch (error) {
        failures++;
        // The database is away: back off (capped) instead of spinning, and keep trying.
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        this.logger.warn({ err: error, retryInMs: delay }, "could not claim outbox rows");
        await this.sleep(delay);
        continue;
      }
      for (const row of rows) this.deliver(row, handler);
      if (rows.length < free) await this.sleep(this.options.pollIntervalMs);
    }
  }

  private deliver(row: OutboxRow, handler: MessageHandler): void {
    this.inFlight++;
    const payload = row.payload as { requestId?: string | null };
    handler({ paymentId: row.paymentId, requestId: payload.requestId ?? null })
      .then(
        () => this.acknowledge(row.id),
        async (error) => {
          this.logger.warn({ err: error, paymentId: row.paymentId }, "message not handled; it will be delivered again");
          await releaseOutboxRow(this.db, row.id, this.options.redeliveryDelayMs).catch(() => {
            // The lease runs out by itself; the row is retaken then.
          });
        },
      )
      .finally(() => {
        this.inFlight--;
        this.wake?.();
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

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
