import type { Consumer, EachBatchPayload, Kafka } from "kafkajs";
import { backoffDelayMs, type Logger } from "../../runtime";
import type { MessageHandler, PaymentConsumer, PaymentMessage } from "../port";
import { PartitionOffsets } from "./offset-tracker";
import { Slots } from "../../runtime";
import { parseMessage } from "./wire";

export const CONSUMER_GROUP = "paystream-workers";
/** At most one offset commit per partition this often while messages finish. */
const COMMIT_INTERVAL_MS = 100;
/** Short: a killed worker's partitions stall until its session times out. */
const SESSION_TIMEOUT_MS = 6_000;
/** Fetch sizes: a few hundred messages per partition, a few thousand per fetch. */
const FETCH_BYTES_PER_PARTITION = 128 * 1024;
const FETCH_BYTES = 1024 * 1024;

export interface ConsumerTiming {
  /** Consumer group timeouts: short, so a killed worker's partitions move on within seconds. */
  sessionTimeoutMs?: number;
  /** At most one offset commit per partition this often while a batch's messages finish. */
  commitIntervalMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A worker in the consumer group: runs many messages at once, even within one partition (bounded
 * by the process-wide slots), and commits each partition only up to its lowest unfinished offset.
 */
export class KafkaPaymentConsumer implements PaymentConsumer {
  private readonly consumer: Consumer;
  private readonly slots: Slots;
  private stopping = false;
  private readonly activeBatches = new Set<Promise<void>>();
  /** The join in progress, if any. */
  private joining: Promise<void> | undefined;
  /** Set by a crash KafkaJS does not restart after: the consumer must join again. */
  private restartWanted = false;
  private readonly commitIntervalMs: number;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    private readonly logger: Logger,
    private readonly concurrency: number,
    private readonly ensureTopics: () => Promise<void>,
    timing: ConsumerTiming = {},
  ) {
    const sessionTimeoutMs = timing.sessionTimeoutMs ?? SESSION_TIMEOUT_MS;
    this.commitIntervalMs = timing.commitIntervalMs ?? COMMIT_INTERVAL_MS;
    this.slots = new Slots(concurrency);
    this.consumer = kafka.consumer({
      groupId: CONSUMER_GROUP,
      sessionTimeout: sessionTimeoutMs,
      rebalanceTimeout: sessionTimeoutMs * 2,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeoutMs / 10)),
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      // A message is a few hundred bytes and this consumer holds at most 2 × WORKER_CONCURRENCY of
      // them: KafkaJS's default fetch (1 MiB per partition, 10 MiB in all) only filled the heap
      // with decoded messages that wait seconds for a slot.
      maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
      maxBytes: FETCH_BYTES,
      // Restarts after a crash are this class's (see start()), whatever the error.
      retry: { retries: 5, restartOnFailure: async () => false },
    });
  }

  async start(handler: MessageHandler): Promise<void> {
    // KafkaJS restarts a crashed consumer itself only after errors it deems retriable; after the
    // others (e.g. "Failed to find group coordinator" when the only broker is down at that moment,
    // kafkajs#1445 and #1630) the consumer stays stopped while the process lives on: a chaos run
    // stalled that way after a broker restart. So KafkaJS is told never to restart it
    // (restartOnFailure) and this worker joins the group again after every crash, by one path.
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (this.stopping) return;
      this.restartWanted = true;
      this.logger.warn({ err: payload.error }, "the kafka consumer stopped on an error; joining the group again");
      void this.join(handler);
    });
    await this.join(handler);
  }

  /** Connects, subscribes and runs the consumer, retrying until it runs (one attempt at a time). */
  private join(handler: MessageHandler): Promise<void> {
    this.joining ??= this.joinUntilRunning(handler).finally(() => {
      this.joining = undefined;
    });
    return this.joining;
  }

  private async joinUntilRunning(handler: MessageHandler): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      if (this.restartWanted) {
        // After a crash: give the broker a moment before asking again.
        await sleep(backoffDelayMs({ baseMs: 400, maxMs: 5_000, jitter: 0 }, attempt));
        if (this.stopping) return;
      }
      this.restartWanted = false;
      try {
        await this.ensureTopics();
        await this.consumer.connect();
        await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true });
        await this.consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: Math.max(1, Math.min(this.concurrency, 64)),
          eachBatch: async (payload) => {
            const batch = this.consumeBatch(payload, handler);
            this.activeBatches.add(batch);
            try {
              await batch;
            } finally {
              this.activeBatches.delete(batch);
            }
          },
        });
        // A crash while joining (reported before run() returns) asks for another round.
        if (!this.restartWanted) return;
      } catch (error) {
        if (this.stopping) return;
        const delay = backoffDelayMs({ baseMs: 400, maxMs: 5_000, jitter: 0 }, attempt);
        this.logger.warn({ err: error, retryInMs: delay }, "worker could not join the kafka consumer group; retrying");
        await sleep(delay);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Running batches stop taking messages, finish the ones in flight and commit; only then leave the group.
    await Promise.all(this.activeBatches);
    await this.joining;
    await this.consumer.disconnect().catch((error) => this.logger.warn({ err: error }, "kafka consumer disconnect failed"));
  }

  /**
   * Runs the batch's messages concurrently (bounded by the process-wide slots), commits the
   * finished prefix as it grows, and heartbeats while waiting so the group keeps this member.
   */
  private async consumeBatch(payload: EachBatchPayload, handler: MessageHandler): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload;
    const offsets = new PartitionOffsets();
    const running: Promise<void>[] = [];
    let lastBeat = Date.now();

    // Commits run one after another, so a lower offset can never land after a higher one.
    let commits = Promise.resolve();
    const commitNow = () => {
      commits = commits.then(async () => {
        const next = offsets.takeCommittable();
        if (next === undefined) return;
        resolveOffset((next - 1n).toString());
        await this.consumer
          .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }])
          .catch((error) => this.logger.warn({ err: error }, "offset commit failed; the tail will be re-delivered"));
      });
      return commits;
    };
    // At most one commit per partition per commit interval while messages finish: a commit
    // per message would cost a broker round trip each. A crash re-delivers at most that window.
    let commitTimer: ReturnType<typeof setTimeout> | undefined;
    const commit = () => {
      if (this.stopping) return void commitNow();
      commitTimer ??= setTimeout(() => {
        commitTimer = undefined;
        void commitNow();
      }, this.commitIntervalMs);
    };
    const beat = async () => {
      if (Date.now() - lastBeat < 1_000) return;
      lastBeat = Date.now();
      await heartbeat().catch(() => {});
    };

    let outstanding = 0;
    for (const message of batch.messages) {
      if (this.stopping || !isRunning() || isStale()) break;
      await this.slots.acquire();
      const offset = BigInt(message.offset);
      offsets.started(offset);
      outstanding++;
      const parsed = parseMessage(message.key, message.value, message.headers as Record<string, unknown>);
      running.push(
        this.handleWithRetry(parsed, handler)
          .then(
            () => offsets.finish(offset),
            // Left unfinished on purpose: the commit never moves past it, so it is re-delivered.
            () => {},
          )
          .finally(() => {
            outstanding--;
            this.slots.release();
          })
          .then(commit),
      );
      await beat();
    }
    while (outstanding > 0) {
      await Promise.race([Promise.all(running), sleep(1_000)]);
      await beat();
    }
    // Every message is finished: commit now, not when the timer fires. KafkaJS fetches again only
    // after every batch of the last fetch has returned, so waiting for the timer here idled the
    // whole consumer for up to the commit interval at the end of each fetch.
    clearTimeout(commitTimer);
    await commitNow();
  }

  /** A message is finished only when handled; while the database is away it is retried here, not skipped. */
  private async handleWithRetry(message: PaymentMessage | undefined, handler: MessageHandler): Promise<void> {
    if (!message) {
      this.logger.warn({}, "dropping an unreadable message");
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await handler(message);
        return;
      } catch (error) {
        if (this.stopping) {
          // Not committed: the next owner of the partition handles it.
          throw error;
        }
        const delay = backoffDelayMs({ baseMs: 200, maxMs: 5_000, jitter: 0 }, attempt);
        this.logger.warn({ err: error, paymentId: message.paymentId, retryInMs: delay }, "message not handled; retrying");
        await sleep(delay);
      }
    }
  }
}
