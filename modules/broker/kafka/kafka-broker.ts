import { type Admin, type Consumer, type EachBatchPayload, Kafka, type LogEntry, logLevel, Partitioners, type Producer } from "kafkajs";
import type { Database } from "../../database";
import { claimOutboxRows, deleteOutboxRows } from "../outbox";
import type { Logger as BrokerLogger } from "../../runtime";
import type { Broker, MessageHandler, OutboxRelay, PaymentConsumer, PaymentMessage } from "../port";
import type { OutboxRow } from "../schema";
import { PartitionOffsets, Slots } from "./offset-tracker";

export interface KafkaBrokerOptions {
  brokers: string[];
  topicPrefix: string;
  partitions: number;
  clientId: string;
  /** How long a relay owns claimed outbox rows (a relay that dies mid-send loses them for this long). */
  leaseMs: number;
  relayBatchSize?: number;
  relayIdleMs?: number;
  /** Consumer group timeouts: short, so a killed worker's partitions move on within seconds. */
  sessionTimeoutMs?: number;
}

const GROUP_ID = "paystream-workers";
const COMMIT_INTERVAL_MS = 100;

function kafkaLogger(logger: BrokerLogger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      if (level <= logLevel.ERROR) logger.warn({ kafka: extra }, `kafka: ${message}`);
      else if (level === logLevel.WARN) logger.debug({ kafka: extra }, `kafka: ${message}`);
    };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * BROKER=kafka. The api role's relay moves committed outbox rows to `<prefix>.requested` /
 * `<prefix>.dlq` with the idempotent producer and deletes them only after Kafka acknowledged;
 * workers consume in a group, many messages at once even within one partition, and commit each
 * partition only up to its lowest unfinished offset.
 */
export function createKafkaBroker(db: Database, logger: BrokerLogger, options: KafkaBrokerOptions): Broker {
  const topics = { requested: `${options.topicPrefix}.requested`, dlq: `${options.topicPrefix}.dlq` };
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogger(logger),
  });
  let admin: Admin | undefined;
  let topicsReady: Promise<void> | undefined;

  async function getAdmin(): Promise<Admin> {
    if (!admin) {
      const created = kafka.admin();
      await created.connect();
      admin = created;
    }
    return admin;
  }

  /** Creates the topics once per process; concurrent creators (api + workers) are fine. */
  function ensureTopics(): Promise<void> {
    topicsReady ??= (async () => {
      const a = await getAdmin();
      await a.createTopics({
        waitForLeaders: true,
        topics: [topics.requested, topics.dlq].map((topic) => ({ topic, numPartitions: options.partitions })),
      });
    })().catch((error) => {
      topicsReady = undefined;
      throw error;
    });
    return topicsReady;
  }

  return {
    kind: "kafka",
    createConsumer: ({ concurrency }) => new KafkaPaymentConsumer(kafka, topics.requested, logger, concurrency, ensureTopics, options),
    createRelay: () => new KafkaOutboxRelay(kafka, db, topics, logger, ensureTopics, options),
    async check() {
      const a = await getAdmin();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("kafka did not answer within 2 s")), 2_000);
      });
      try {
        await Promise.race([a.describeCluster(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async lag() {
      const a = await getAdmin();
      const [committed, ends] = await Promise.all([
        a.fetchOffsets({ groupId: GROUP_ID, topics: [topics.requested] }),
        a.fetchTopicOffsets(topics.requested),
      ]);
      const committedByPartition = new Map(
        (committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
      );
      return ends.reduce((sum, end) => {
        const done = committedByPartition.get(end.partition) ?? -1;
        // -1: the group never committed on this partition; everything from the start is lag.
        const from = done < 0 ? Number(end.low) : done;
        return sum + Math.max(0, Number(end.high) - from);
      }, 0);
    },
    async close() {
      await admin?.disconnect().catch(() => {});
    },
  };
}

class KafkaOutboxRelay implements OutboxRelay {
  private readonly producer: Producer;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    kafka: Kafka,
    private readonly db: Database,
    private readonly topics: { requested: string; dlq: string },
    private readonly logger: BrokerLogger,
    private readonly ensureTopics: () => Promise<void>,
    private readonly options: KafkaBrokerOptions,
  ) {
    // Idempotent producer: a retried send after a lost ack cannot duplicate the message in the log.
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
  }

  async start(): Promise<void> {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.producer.disconnect().catch(() => {});
  }

  private async run(): Promise<void> {
    let connected = false;
    let failures = 0;
    while (this.running) {
      try {
        if (!connected) {
          await this.ensureTopics();
          await this.producer.connect();
          connected = true;
          this.logger.info({ topics: this.topics }, "outbox relay connected to kafka");
        }
        const sent = await this.relayOnce();
        failures = 0;
        if (sent < (this.options.relayBatchSize ?? 500)) await this.idle(this.options.relayIdleMs ?? 20);
      } catch (error) {
        failures++;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        // Rows stay in the outbox (their lease runs out); nothing is lost while Kafka or the database is away.
        this.logger.warn({ err: error, retryInMs: delay }, "outbox relay could not publish; will retry");
        await this.idle(delay);
      }
    }
  }

  /** One claim → send → delete round; returns how many rows were published. */
  async relayOnce(): Promise<number> {
    const rows = await claimOutboxRows(this.db, ["requested", "dlq"], this.options.relayBatchSize ?? 500, this.options.leaseMs);
    if (rows.length === 0) return 0;
    const byTopic = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const topic = row.topic === "dlq" ? this.topics.dlq : this.topics.requested;
      const group = byTopic.get(topic);
      if (group) group.push(row);
      else byTopic.set(topic, [row]);
    }
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, topicRows]) => ({
        topic,
        messages: topicRows.map((row) => ({
          key: row.paymentId,
          value: JSON.stringify(row.payload),
          headers: headersOf(row),
        })),
      })),
    });
    await deleteOutboxRows(
      this.db,
      rows.map((r) => r.id),
    );
    return rows.length;
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function headersOf(row: OutboxRow): Record<string, string> {
  const payload = row.payload as { requestId?: string | null; reason?: string; attempts?: number; lastError?: string };
  const headers: Record<string, string> = { "payment-id": row.paymentId };
  if (payload.requestId) headers["request-id"] = payload.requestId;
  if (row.topic === "dlq") {
    headers["dlq-reason"] = payload.reason ?? "unknown";
    headers["dlq-attempts"] = String(payload.attempts ?? 0);
    if (payload.lastError) headers["dlq-last-error"] = payload.lastError.slice(0, 500);
  }
  return headers;
}

function parseMessage(key: Buffer | null, value: Buffer | null, headers: Record<string, unknown> | undefined): PaymentMessage | undefined {
  try {
    const body = JSON.parse(value?.toString("utf8") ?? "null") as { paymentId?: unknown; requestId?: unknown } | null;
    const paymentId = typeof body?.paymentId === "string" ? body.paymentId : key?.toString("utf8");
    if (!paymentId) return undefined;
    const header = headers?.["request-id"];
    const requestId = typeof body?.requestId === "string" ? body.requestId : header ? String(header) : null;
    return { paymentId, requestId };
  } catch {
    return undefined;
  }
}

class KafkaPaymentConsumer implements PaymentConsumer {
  private readonly consumer: Consumer;
  private readonly slots: Slots;
  private stopping = false;
  private readonly activeBatches = new Set<Promise<void>>();

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    private readonly logger: BrokerLogger,
    private readonly concurrency: number,
    private readonly ensureTopics: () => Promise<void>,
    options: KafkaBrokerOptions,
  ) {
    this.slots = new Slots(concurrency);
    // Short: a killed worker's partitions stall until its session times out.
    const sessionTimeout = options.sessionTimeoutMs ?? 6_000;
    this.consumer = kafka.consumer({
      groupId: GROUP_ID,
      sessionTimeout,
      rebalanceTimeout: sessionTimeout * 2,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)),
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
    });
  }

  async start(handler: MessageHandler): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensureTopics();
        await this.consumer.connect();
        await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true });
        break;
      } catch (error) {
        if (this.stopping) return;
        const delay = Math.min(5_000, 200 * 2 ** Math.min(attempt, 5));
        this.logger.warn({ err: error, retryInMs: delay }, "worker could not join the kafka consumer group; retrying");
        await sleep(delay);
      }
    }
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
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Running batches stop taking messages, finish the ones in flight and commit; only then leave the group.
    await Promise.all(this.activeBatches);
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

    const commitNow = async () => {
      const next = offsets.takeCommittable();
      if (next === undefined) return;
      resolveOffset((next - 1n).toString());
      await this.consumer
        .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }])
        .catch((error) => this.logger.warn({ err: error }, "offset commit failed; the tail will be re-delivered"));
    };
    // At most one commit per partition every COMMIT_INTERVAL_MS while messages finish: a commit
    // per message would cost a broker round trip each. A crash re-delivers at most that window.
    let pendingCommit: Promise<void> | undefined;
    const commit = () => {
      if (this.stopping) return commitNow();
      pendingCommit ??= sleep(COMMIT_INTERVAL_MS)
        .then(commitNow)
        .finally(() => {
          pendingCommit = undefined;
        });
      return pendingCommit;
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
    await pendingCommit;
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
        const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
        this.logger.warn({ err: error, paymentId: message.paymentId, retryInMs: delay }, "message not handled; retrying");
        await sleep(delay);
      }
    }
  }
}
