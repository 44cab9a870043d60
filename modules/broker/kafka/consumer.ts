import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from "kafkajs";
import { isConnectionError } from "../../database";
import { backoffDelayMs, type Logger } from "../../runtime";
import type { MessageHandler, PaymentConsumer, PaymentMessage, UnprocessableReason } from "../port";
import { PartitionOffsets } from "./offset-tracker";
import { Slots } from "../../runtime";
import { deadLetterOf, type KafkaTopics, type MessageOrigin, parseMessage } from "./wire";

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
  /** At most one offset commit per partition this often while its messages finish. */
  commitIntervalMs?: number;
  /** Attempts at a message that fails on its own (not for want of the database) before it is dead-lettered. */
  messageAttempts?: number;
  /** Told each time a message is dead-lettered (a metric). */
  messageDeadLettered?: (reason: UnprocessableReason) => void;
}

/**
 * A message that fails this often, not for want of the database, fails on its own (an id
 * PostgreSQL cannot take, say): retrying it for ever blocked its partition's commits.
 */
const MESSAGE_ATTEMPTS = 3;
/** Between attempts at a message, and at producing its dead letter. */
const MESSAGE_BACKOFF = { baseMs: 200, maxMs: 5_000, jitter: 0 };

/** Between attempts to join the group (after a crash, or when the broker cannot be reached). */
const JOIN_BACKOFF = { baseMs: 400, maxMs: 5_000, jitter: 0 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for `done`, calling `tick` every `everyMs` meanwhile. The timer is cleared once `done`
 * settles: a plain race with sleep() left a timer pending for every message that waited for a slot.
 */
async function awaitTicking(done: Promise<void>, everyMs: number, tick: () => Promise<void>): Promise<void> {
  let settled = false;
  const finished = done.then(() => {
    settled = true;
  });
  while (!settled) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, everyMs)))]);
    clearTimeout(timer);
    if (!settled) await tick();
  }
}

/**
 * Heartbeat errors after which this member must join the group again (KafkaJS's own rebalance
 * errors, and a member id the coordinator no longer knows): KafkaJS rejoins when a batch throws them.
 */
function mustRejoin(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return type === "REBALANCE_IN_PROGRESS" || type === "NOT_COORDINATOR_FOR_GROUP" || type === "ILLEGAL_GENERATION" || type === "UNKNOWN_MEMBER_ID";
}

/**
 * The error text a dead letter carries. A failed query's message repeats its parameters (a
 * customer's data, a sealed card): the statement and the driver's reason are kept instead.
 */
function describeFailure(error: unknown): string {
  if (error && typeof error === "object" && "query" in error && "params" in error) {
    const cause = (error as { cause?: unknown }).cause;
    return `query failed: ${String((error as { query: unknown }).query)}${cause instanceof Error ? `: ${cause.message}` : ""}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** One partition's messages in flight, across batches, and its commits. */
interface PartitionState {
  topic: string;
  partition: number;
  offsets: PartitionOffsets;
  /** Set when the group rebalanced: its late finishes commit nothing (the new owner takes over from the last commit). */
  retired: boolean;
  /** The commit timer, while one is set. */
  commitTimer: ReturnType<typeof setTimeout> | undefined;
  /** The partition's commits, one after another: a lower offset never lands after a higher one. */
  commits: Promise<void>;
}

/**
 * A worker in the consumer group: runs many messages at once, even within one partition (bounded
 * by the process-wide slots), and commits each partition only up to its lowest unfinished offset.
 *
 * A batch's handler returns once every message in it has a slot, not once they all finished:
 * KafkaJS fetches again from a broker only after every batch of its last fetch has returned, so
 * waiting for the slowest message of each batch emptied the pipeline at every fetch (measured: the
 * end-to-end rate on Kafka stayed at 0.58–0.72 of the concurrency bound). Messages still running
 * belong to their partition's state, which outlives the batch; the next fetch starts after the last
 * message started, and commits still never pass an unfinished one.
 */
export class KafkaPaymentConsumer implements PaymentConsumer {
  private readonly consumer: Consumer;
  private readonly slots: Slots;
  private stopping = false;
  private readonly activeBatches = new Set<Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  /** The join in progress, if any. */
  private joining: Promise<void> | undefined;
  /** Set by a crash: the consumer must join the group again. */
  private restartWanted = false;
  /** When the consumer last crashed, until it is back in its group (for readiness). */
  private crashedAt: Date | undefined;
  private partitions = new Map<string, PartitionState>();
  private readonly commitIntervalMs: number;
  private readonly messageAttempts: number;
  private readonly messageDeadLettered: (reason: UnprocessableReason) => void;
  private readonly topic: string;
  private readonly dlqTopic: string;
  /** Dead letters only: connected when the first one is sent. */
  private readonly producer: Producer;
  private producerConnected: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    topics: KafkaTopics,
    private readonly logger: Logger,
    private readonly concurrency: number,
    private readonly ensureTopics: () => Promise<void>,
    timing: ConsumerTiming = {},
  ) {
    const sessionTimeoutMs = timing.sessionTimeoutMs ?? SESSION_TIMEOUT_MS;
    this.commitIntervalMs = timing.commitIntervalMs ?? COMMIT_INTERVAL_MS;
    this.messageAttempts = timing.messageAttempts ?? MESSAGE_ATTEMPTS;
    this.messageDeadLettered = timing.messageDeadLettered ?? (() => {});
    this.topic = topics.requested;
    this.dlqTopic = topics.dlq;
    this.producer = kafka.producer({ allowAutoTopicCreation: false });
    this.slots = new Slots(concurrency);
    this.consumer = kafka.consumer({
      groupId: CONSUMER_GROUP,
      sessionTimeout: sessionTimeoutMs,
      rebalanceTimeout: sessionTimeoutMs * 2,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeoutMs / 10)),
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      // A message is a few hundred bytes and this consumer runs at most 2 × WORKER_CONCURRENCY of
      // them; the rest of a fetch waits for a slot, and the next fetch only starts once all of it
      // has started. KafkaJS's default fetch (1 MiB per partition, 10 MiB in all) only filled the
      // heap with decoded messages waiting seconds for a slot.
      maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
      maxBytes: FETCH_BYTES,
      // Restarts after a crash are this class's (see start()), whatever the error.
      retry: { retries: 5, restartOnFailure: async () => false },
    });
    // A new generation may have moved partitions elsewhere: what this member still runs of the old
    // assignment finishes, but commits nothing; the new owner starts from the last commit.
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
      this.crashedAt = undefined;
      for (const state of this.partitions.values()) state.retired = true;
      this.partitions = new Map();
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
      this.crashedAt ??= new Date();
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
        await sleep(backoffDelayMs(JOIN_BACKOFF, attempt));
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
            const batch = this.startBatch(payload, handler);
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
        const delay = backoffDelayMs(JOIN_BACKOFF, attempt);
        this.logger.warn({ err: error, retryInMs: delay }, "worker could not join the kafka consumer group; retrying");
        await sleep(delay);
      }
    }
  }

  unavailable(): string | undefined {
    return this.crashedAt && `kafka consumer joining its group again after a crash at ${this.crashedAt.toISOString()}`;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Batches stop starting messages; the ones running finish and are committed; only then leave the group.
    await Promise.all(this.activeBatches);
    await this.joining;
    while (this.running.size > 0) await Promise.all(this.running);
    await Promise.all([...this.partitions.values()].map((state) => this.commitNow(state)));
    await this.consumer.disconnect().catch((error) => this.logger.warn({ err: error }, "kafka consumer disconnect failed"));
    if (this.producerConnected)
      await this.producer.disconnect().catch((error) => this.logger.warn({ err: error }, "kafka dead-letter producer disconnect failed"));
  }

  private stateOf(topic: string, partition: number): PartitionState {
    const key = `${topic}|${partition}`;
    let state = this.partitions.get(key);
    if (!state) {
      state = { topic, partition, offsets: new PartitionOffsets(), retired: false, commitTimer: undefined, commits: Promise.resolve() };
      this.partitions.set(key, state);
    }
    return state;
  }

  private commitNow(state: PartitionState): Promise<void> {
    clearTimeout(state.commitTimer);
    state.commitTimer = undefined;
    state.commits = state.commits.then(async () => {
      if (state.retired) return;
      const next = state.offsets.takeCommittable();
      if (next === undefined) return;
      await this.consumer
        .commitOffsets([{ topic: state.topic, partition: state.partition, offset: next.toString() }])
        .catch((error) => this.logger.warn({ err: error }, "offset commit failed; the tail will be re-delivered"));
    });
    return state.commits;
  }

  /**
   * At most one commit per partition per commit interval while messages finish: a commit per
   * message would cost a broker round trip each. A crash re-delivers at most that window.
   */
  private scheduleCommit(state: PartitionState): void {
    if (state.retired || this.stopping) return;
    // Nothing of the partition runs any more: nothing is gained by waiting.
    if (state.offsets.inFlight === 0) return void this.commitNow(state);
    state.commitTimer ??= setTimeout(() => void this.commitNow(state), this.commitIntervalMs);
  }

  /**
   * Starts the batch's messages as slots free up (the slots are process-wide) and returns when the
   * last one has started, heartbeating while it waits so the group keeps this member. Each message
   * is resolved for fetching once started, and finished in its partition's offsets once handled.
   */
  private async startBatch(payload: EachBatchPayload, handler: MessageHandler): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload;
    const state = this.stateOf(batch.topic, batch.partition);
    let lastBeat = Date.now();
    const beat = async () => {
      if (Date.now() - lastBeat < 1_000) return;
      lastBeat = Date.now();
      await heartbeat().catch((error: unknown) => {
        // The group is rebalancing (or has moved on without this member): leave the batch now, so
        // KafkaJS joins again at once. Its messages not yet started are fetched again by whoever
        // owns the partition next; waiting for slots held by a slow gateway instead stalled the
        // whole group's rebalance until this member was thrown out (rebalance timeout).
        if (mustRejoin(error)) throw error;
      });
    };
    for (const message of batch.messages) {
      if (this.stopping || !isRunning() || isStale()) break;
      // Every slot may stay taken for a while (a slow gateway): keep the membership alive meanwhile.
      if (!this.slots.tryAcquire()) {
        const acquiring = this.slots.acquire();
        try {
          await awaitTicking(acquiring, 1_000, beat);
        } catch (error) {
          // Leaving the batch: the slot still being waited for is given back once it comes.
          void acquiring.then(() => this.slots.release());
          throw error;
        }
      }
      if (this.stopping || !isRunning() || isStale()) {
        this.slots.release();
        break;
      }
      const offset = BigInt(message.offset);
      state.offsets.started(offset);
      const run = this.handleOrDeadLetter(this.originOf(batch.topic, batch.partition, message), message, handler)
        .then(
          () => state.offsets.finish(offset),
          // Left unfinished on purpose: the commit never moves past it, so it is re-delivered.
          () => {},
        )
        .finally(() => {
          this.slots.release();
          this.running.delete(run);
          this.scheduleCommit(state);
        });
      this.running.add(run);
      // Started: the next fetch of this partition begins after it.
      resolveOffset(message.offset);
      await beat();
    }
  }

  private originOf(topic: string, partition: number, message: KafkaMessage): MessageOrigin {
    return { topic, partition, offset: message.offset, key: message.key };
  }

  /**
   * A message is finished when handled, or when it cannot be processed and its dead letter is on
   * the dead-letter topic: an unreadable message at once, one whose processing fails on its own
   * after `messageAttempts`. Either way its offset is then committed like a handled one, so the
   * rest of its partition moves on (docs/CONTRACT.md). While the database is away a message is
   * retried here, never dead-lettered: the failure is not the message's.
   */
  private async handleOrDeadLetter(origin: MessageOrigin, raw: KafkaMessage, handler: MessageHandler): Promise<void> {
    const message = parseMessage(raw.key, raw.value, raw.headers as Record<string, unknown>);
    if (!message) {
      await this.deadLetter(origin, undefined, { reason: "unreadable_message", attempts: 1, lastError: "not a paystream message (no JSON payload naming a payment)" });
      return;
    }
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await handler(message);
        return;
      } catch (error) {
        if (this.stopping) {
          // Not committed: the next owner of the partition handles it.
          throw error;
        }
        if (!isConnectionError(error) && ++failures >= this.messageAttempts) {
          const lastError = describeFailure(error);
          await this.deadLetter(origin, message, { reason: "processing_failed", attempts: failures, lastError });
          return;
        }
        const delay = backoffDelayMs(MESSAGE_BACKOFF, attempt);
        this.logger.warn({ err: error, paymentId: message.paymentId, retryInMs: delay }, "message not handled; retrying");
        await sleep(delay);
      }
    }
  }

  /** Produces the dead letter, retrying until the broker takes it (the offset must not pass a message that went nowhere). */
  private async deadLetter(
    origin: MessageOrigin,
    message: PaymentMessage | undefined,
    failure: { reason: UnprocessableReason; attempts: number; lastError: string },
  ): Promise<void> {
    const letter = deadLetterOf(origin, message, failure);
    for (let attempt = 1; ; attempt++) {
      try {
        this.producerConnected ??= this.producer.connect().catch((error: unknown) => {
          this.producerConnected = undefined;
          throw error;
        });
        await this.producerConnected;
        await this.producer.send({ topic: this.dlqTopic, messages: [letter] });
        break;
      } catch (error) {
        if (this.stopping) throw error;
        const delay = backoffDelayMs(MESSAGE_BACKOFF, attempt);
        this.logger.warn({ err: error, retryInMs: delay }, "could not produce a dead letter; retrying");
        await sleep(delay);
      }
    }
    this.messageDeadLettered(failure.reason);
    this.logger.error(
      { paymentId: message?.paymentId, source: letter.headers["dlq-source"], reason: failure.reason, attempts: failure.attempts, lastError: letter.headers["dlq-last-error"] },
      "a broker message that cannot be processed was moved to the dead-letter topic",
    );
  }
}
