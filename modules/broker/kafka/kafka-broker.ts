import { type Admin, Kafka, type LogEntry, logLevel } from "kafkajs";
import type { Database, ListenToChannel } from "../../database";
import type { Logger } from "../../runtime";
import type { Broker } from "../port";
import { CONSUMER_GROUP, KafkaPaymentConsumer } from "./consumer";
import { KafkaOutboxRelay } from "./relay";
import { topicsFor } from "./wire";
import { forgetConsumed, type PartitionWindow, queuedInTopic, waitingInTopic } from "./relayed";
import { DrainRate } from "../drain-rate";
import { outboxBacklog } from "../outbox";

/** How long one reading of the offsets serves the backlog figures (never the sweeper's, which reads afresh). */
const RECENT_WINDOWS_MS = 500;

/** Messages published but not yet consumed, over every partition. */
const lagOf = (windows: PartitionWindow[]) => windows.reduce((sum, w) => sum + Math.max(0, w.high - w.from), 0);

export interface KafkaBrokerOptions {
  brokers: string[];
  topicPrefix: string;
  partitions: number;
  clientId?: string;
  /** How long a relay owns claimed outbox rows (a relay that dies mid-send loses them for this long). */
  leaseMs: number;
  relayBatchSize?: number;
  relayIdleMs?: number;
  /** NOTIFY subscriptions: the relay waits for new outbox rows instead of polling for them. */
  listen?: ListenToChannel;
  /** Consumer group timeouts: short, so a killed worker's partitions move on within seconds. */
  sessionTimeoutMs?: number;
  /** How often a consumer commits a partition's offsets while a batch's messages finish (default 100 ms). */
  commitIntervalMs?: number;
  /** How often a message whose processing fails (not for want of the database) is tried before it is dead-lettered (default 3). */
  messageAttempts?: number;
}

const CLIENT_ID = "paystream";
const RELAY_BATCH_SIZE = 500;
const RELAY_IDLE_MS = 20;
/** With notifications an idle relay needs no polling; this only bounds the cost of a lost one. */
const RELAY_IDLE_BACKSTOP_MS = 15_000;

function kafkaLogger(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      if (level <= logLevel.ERROR) logger.warn({ kafka: extra }, `kafka: ${message}`);
      else if (level === logLevel.WARN) logger.debug({ kafka: extra }, `kafka: ${message}`);
    };
}

/**
 * BROKER=kafka. The api role's relay moves committed outbox rows to `<prefix>.requested` /
 * `<prefix>.dlq`; workers consume them in a group (see relay.ts and consumer.ts).
 */
export function createKafkaBroker(db: Database, logger: Logger, options: KafkaBrokerOptions): Broker {
  const topics = topicsFor(options.topicPrefix);
  const kafka = new Kafka({
    clientId: options.clientId ?? CLIENT_ID,
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

  /** Messages consumed so far, service-wide: the sum of the group's committed offsets, read at each sweep and scrape. */
  const drain = new DrainRate();

  /** Each partition's messages still waiting for the group (see PartitionWindow). */
  async function windows(): Promise<PartitionWindow[]> {
    // A worker's sweeper may run before any relay or consumer of this process created the topics.
    await ensureTopics();
    const a = await getAdmin();
    const [committed, ends] = await Promise.all([
      a.fetchOffsets({ groupId: CONSUMER_GROUP, topics: [topics.requested] }),
      a.fetchTopicOffsets(topics.requested),
    ]);
    const committedByPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    const current = ends.map((end) => {
      const done = committedByPartition.get(end.partition) ?? -1;
      // -1: the group never committed on this partition; everything the log holds waits.
      return { partition: end.partition, from: done < 0 ? Number(end.low) : done, high: Number(end.high) };
    });
    drain.record(current.reduce((sum, w) => sum + w.from, 0));
    return current;
  }

  /** windows() shared by the readings of one moment (a scrape, every merchant's dashboard snapshot of one second). */
  let recent: { at: number; windows: Promise<PartitionWindow[]> } | undefined;
  function recentWindows(): Promise<PartitionWindow[]> {
    if (!recent || Date.now() - recent.at > RECENT_WINDOWS_MS) {
      const read = windows();
      recent = { at: Date.now(), windows: read };
      read.catch(() => {
        if (recent?.windows === read) recent = undefined;
      });
    }
    return recent.windows;
  }

  return {
    kind: "kafka",
    createConsumer: ({ concurrency, messageDeadLettered }) =>
      new KafkaPaymentConsumer(kafka, topics, logger, concurrency, ensureTopics, {
        sessionTimeoutMs: options.sessionTimeoutMs,
        commitIntervalMs: options.commitIntervalMs,
        messageAttempts: options.messageAttempts,
        messageDeadLettered,
      }),
    createRelay: () =>
      new KafkaOutboxRelay(kafka, db, topics, logger, ensureTopics, {
        leaseMs: options.leaseMs,
        batchSize: options.relayBatchSize ?? RELAY_BATCH_SIZE,
        idleMs: options.relayIdleMs ?? RELAY_IDLE_MS,
        listen: options.listen,
        idleBackstopMs: RELAY_IDLE_BACKSTOP_MS,
      }),
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
    lag: async () => lagOf(await windows()),
    async queuedWork() {
      const current = await windows();
      // The records of consumed messages are of no further use: each sweep deletes them.
      await forgetConsumed(db, topics.requested, current);
      return queuedInTopic(topics.requested, current);
    },
    async backlog(only) {
      const current = await recentWindows();
      const [outboxed, inTopic] = await Promise.all([outboxBacklog(db, only), waitingInTopic(db, topics.requested, current, only)]);
      return {
        // The whole topic's lag; for some payments, theirs in the outbox and in the topic.
        messages: only ? outboxed.requested + inTopic.count : lagOf(current),
        oldestAgeSeconds: Math.max(outboxed.oldestDueAgeSeconds, inTopic.oldestAgeSeconds),
        drainPerSecond: drain.perSecond(),
      };
    },
    async close() {
      await admin?.disconnect().catch(() => {});
    },
  };
}
