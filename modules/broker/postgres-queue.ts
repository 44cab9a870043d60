import { sql } from "drizzle-orm";
import { type Database, type ListenToChannel, queryRows } from "../database";
import { type Logger, type PollLoop, type PollRound, startPolling } from "../runtime";
import { DrainRate } from "./drain-rate";
import { claimOutboxRows, deleteOutboxRows, hasQueuedPaymentMessage, hasQueuedRefundMessage, nextOutboxDueInMs, outboxBacklog, releaseOutboxRow } from "./outbox";
import { OutboxWatch } from "./outbox-watch";
import type { Broker, MessageHandler, PaymentConsumer } from "./port";
import type { OutboxRow } from "./schema";

export interface PostgresQueueOptions {
  leaseMs: number;
  /** How long an idle consumer waits before looking for due rows again. */
  pollIntervalMs?: number;
  /**
   * NOTIFY subscriptions: with them the consumer is woken when rows are written, and an idle one
   * only looks again when a row falls due or, as a safety net, after idleBackstopMs.
   */
  listen?: ListenToChannel;
  /** The longest pause of an idle consumer that is woken by notifications. */
  idleBackstopMs?: number;
  /** Delay before a row whose handler failed is offered again. */
  redeliveryDelayMs?: number;
}

/** Short: without notifications, the poll interval is the delay between intake and the worker. */
const POLL_INTERVAL_MS = 25;
/** With notifications an idle consumer needs no polling; this only bounds the cost of a lost one. */
const IDLE_BACKSTOP_MS = 15_000;
const REDELIVERY_DELAY_MS = 1_000;
/**
 * The least time between two acknowledging DELETEs. An ack only ends the redelivery of a message
 * that was handled (handling it again is a no-op), so it can wait: under load one DELETE then
 * takes the rows of this long instead of the few that finished while the last one ran.
 */
const ACK_MIN_INTERVAL_MS = 20;

/**
 * The embedded broker: the outbox table is the queue. Workers claim due rows with
 * FOR UPDATE SKIP LOCKED under a lease and delete them once handled (at-least-once).
 */
export function createPostgresQueue(db: Database, logger: Logger, options: PostgresQueueOptions): Broker {
  const drain = new DrainRate();
  return {
    kind: "postgres",
    createConsumer: ({ concurrency }) => new PostgresQueueConsumer(db, logger, options, concurrency),
    createRelay: () => undefined,
    async check() {
      await db.execute(sql`select 1 from outbox limit 1`);
    },
    // The queue is the table: its lag is the due rows not yet handled.
    lag: async () => (await outboxBacklog(db)).requested,
    // The queue is the table: what it holds is all that is queued.
    queuedWork: async () => ({ payment: hasQueuedPaymentMessage, refund: hasQueuedRefundMessage }),
    async backlog(only) {
      const [backlog, deleted] = await Promise.all([outboxBacklog(db, only), acknowledgedSoFar(db)]);
      if (deleted !== undefined) drain.record(deleted);
      return { messages: backlog.requested, oldestAgeSeconds: backlog.oldestDueAgeSeconds, drainPerSecond: drain.perSecond() };
    },
    async close() {},
  };
}

/**
 * Messages acknowledged so far, service-wide: every acknowledgement deletes its outbox row (dead
 * letters stay), so PostgreSQL's count of rows deleted from the table is it. Undefined where the
 * statistics cannot be read.
 */
async function acknowledgedSoFar(db: Database): Promise<number | undefined> {
  try {
    const [row] = await queryRows<{ n: number | null }>(db, sql`select n_tup_del::float8 as n from pg_stat_user_tables where relname = 'outbox'`);
    return row?.n == null ? undefined : Number(row.n);
  } catch {
    return undefined;
  }
}

class PostgresQueueConsumer implements PaymentConsumer {
  private inFlight = 0;
  private loop: PollLoop | undefined;
  private readonly acks: number[] = [];
  private lastAckAt = Number.NEGATIVE_INFINITY;
  private stopping = false;
  private readonly refillThreshold: number;
  private flushing: Promise<void> | undefined;
  private readonly pollIntervalMs: number;
  private readonly redeliveryDelayMs: number;
  private readonly watch: OutboxWatch | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly options: PostgresQueueOptions,
    private readonly concurrency: number,
  ) {
    this.refillThreshold = Math.max(1, Math.floor(concurrency / 4));
    this.pollIntervalMs = options.pollIntervalMs ?? POLL_INTERVAL_MS;
    this.redeliveryDelayMs = options.redeliveryDelayMs ?? REDELIVERY_DELAY_MS;
    this.watch = options.listen && new OutboxWatch(options.listen, () => this.loop?.wake());
  }

  async start(handler: MessageHandler): Promise<void> {
    this.loop = startPolling(() => this.claimAndDeliver(handler), {
      idleMs: this.pollIntervalMs,
      maxIdleMs: this.watch ? (this.options.idleBackstopMs ?? IDLE_BACKSTOP_MS) : this.pollIntervalMs,
      // The database is away: back off (capped) instead of spinning, and keep trying.
      failureBackoff: { baseMs: 200, maxMs: 5_000 },
      onFailure: (error, retryInMs) => {
        this.watch?.suspect();
        this.logger.warn({ err: error, retryInMs }, "could not claim outbox rows");
      },
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop?.stop();
    await this.watch?.close();
    while (this.inFlight > 0) await Bun.sleep(20);
    // A flush already running may still hold acks; wait for it before flushing what is left.
    await this.flushing;
    await this.flushAcks();
  }

  private async claimAndDeliver(handler: MessageHandler): ReturnType<PollRound> {
    const free = this.concurrency - this.inFlight;
    // Claim in batches: topping up one slot at a time would cost a statement per payment.
    // (A slot freed later wakes the loop.)
    if (free < this.refillThreshold) return "idle";
    await this.watch?.subscribe();
    const rows = await claimOutboxRows(this.db, ["requested"], free, this.options.leaseMs);
    for (const row of rows) this.deliver(row, handler);
    if (rows.length === free) return "more";
    // Found nothing: rows written later are announced, so wait for the first one already known to fall due.
    if (rows.length === 0 && this.watch) {
      const dueInMs = await nextOutboxDueInMs(this.db, ["requested"]);
      if (dueInMs !== undefined) return { dueInMs };
    }
    return "idle";
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
      const wait = this.lastAckAt + ACK_MIN_INTERVAL_MS - performance.now();
      if (wait > 0 && !this.stopping) await Bun.sleep(wait);
      this.lastAckAt = performance.now();
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
