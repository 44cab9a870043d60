import { type Kafka, Partitioners, type Producer, type RecordMetadata } from "kafkajs";
import type { Database, ListenToChannel } from "../../database";
import { type Logger, type PollLoop, type PollRound, startPolling } from "../../runtime";
import { claimOutboxRows, deleteOutboxRows, nextOutboxDueInMs } from "../outbox";
import { OutboxWatch } from "../outbox-watch";
import type { OutboxRelay } from "../port";
import type { OutboxRow } from "../schema";
import { recordRelayed, type RelayedMessage } from "./relayed";
import { type KafkaTopics, messageOf } from "./wire";

export interface RelayOptions {
  /** How long a relay owns claimed outbox rows (a relay that dies mid-send loses them for this long). */
  leaseMs: number;
  batchSize: number;
  /** Pause after a round that found less than a full batch. */
  idleMs: number;
  /** NOTIFY subscriptions: with them the relay is woken when rows are written instead of polling every idleMs. */
  listen?: ListenToChannel;
  /** The longest pause of an idle relay that is woken by notifications. */
  idleBackstopMs: number;
}

const RELAYED_TOPICS = ["requested", "dlq"] as const;

/**
 * Moves committed outbox rows to Kafka with the idempotent producer and deletes them only after
 * Kafka acknowledged: a crash between the two re-sends them (at-least-once), never loses them.
 */
export class KafkaOutboxRelay implements OutboxRelay {
  private readonly producer: Producer;
  private loop: PollLoop | undefined;
  private connected = false;
  private readonly watch: OutboxWatch | undefined;
  /** The partition KafkaJS chose for each message object of the send in progress. */
  private readonly partitionOf = new WeakMap<object, number>();

  constructor(
    kafka: Kafka,
    private readonly db: Database,
    private readonly topics: KafkaTopics,
    private readonly logger: Logger,
    private readonly ensureTopics: () => Promise<void>,
    private readonly options: RelayOptions,
  ) {
    // Idempotent producer: a retried send after a lost ack cannot duplicate the message in the log.
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // KafkaJS's own partitioner (by key), noting where each message goes: see relayOnce.
      createPartitioner: () => {
        const partitioner = Partitioners.DefaultPartitioner();
        return (args) => {
          const partition = partitioner(args);
          this.partitionOf.set(args.message, partition);
          return partition;
        };
      },
      allowAutoTopicCreation: false,
    });
    this.watch = options.listen && new OutboxWatch(options.listen, () => this.loop?.wake());
  }

  async start(): Promise<void> {
    this.loop = startPolling(() => this.relayRound(), {
      idleMs: this.options.idleMs,
      maxIdleMs: this.watch ? this.options.idleBackstopMs : this.options.idleMs,
      failureBackoff: { baseMs: 200, maxMs: 5_000 },
      // Rows stay in the outbox (their lease runs out); nothing is lost while Kafka or the database is away.
      onFailure: (error, retryInMs) => {
        this.watch?.suspect();
        this.logger.warn({ err: error, retryInMs }, "outbox relay could not publish; will retry");
      },
    });
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
    await this.watch?.close();
    await this.producer.disconnect().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.connected) return;
    await this.ensureTopics();
    await this.producer.connect();
    this.connected = true;
    this.logger.info({ topics: this.topics }, "outbox relay connected to kafka");
  }

  private async relayRound(): ReturnType<PollRound> {
    await this.connect();
    await this.watch?.subscribe();
    const relayed = await this.relayOnce();
    if (relayed === this.options.batchSize) return "more";
    // Found nothing: rows written later are announced, so wait for the first one already known to fall due.
    if (relayed === 0 && this.watch) {
      const dueInMs = await nextOutboxDueInMs(this.db, [...RELAYED_TOPICS]);
      if (dueInMs !== undefined) return { dueInMs };
    }
    return "idle";
  }

  /** One claim → send → delete round; returns how many rows were published. */
  private async relayOnce(): Promise<number> {
    const rows = await claimOutboxRows(this.db, [...RELAYED_TOPICS], this.options.batchSize, this.options.leaseMs);
    if (rows.length === 0) return 0;
    const byTopic = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const topic = row.topic === "dlq" ? this.topics.dlq : this.topics.requested;
      const group = byTopic.get(topic);
      if (group) group.push(row);
      else byTopic.set(topic, [row]);
    }
    const sent = [...byTopic].map(([topic, topicRows]) => ({ topic, rows: topicRows, messages: topicRows.map(messageOf) }));
    const metadata = await this.producer.sendBatch({
      acks: -1,
      topicMessages: sent.map(({ topic, messages }) => ({ topic, messages })),
    });
    const relayed = this.placesOf(sent, metadata);
    // One transaction: a message is always either in the outbox or recorded as relayed, so the
    // sweeper never sees a message that is still queued as gone (README "Kafka").
    await this.db.transaction(async (tx) => {
      await recordRelayed(tx, relayed);
      await deleteOutboxRows(
        tx,
        rows.map((r) => r.id),
      );
    });
    return rows.length;
  }

  /**
   * Where each requested message of a send landed. Kafka answers one base offset per partition;
   * the messages of one partition are appended in the order they were given (KafkaJS keeps it
   * when it groups them), so the i-th of them is at base offset + i.
   */
  private placesOf(sent: { topic: string; rows: OutboxRow[]; messages: object[] }[], metadata: RecordMetadata[]): RelayedMessage[] {
    const places: RelayedMessage[] = [];
    for (const { topic, rows, messages } of sent) {
      if (topic !== this.topics.requested) continue;
      const next = new Map<number, number>();
      for (const m of metadata) if (m.topicName === topic && m.baseOffset !== undefined) next.set(m.partition, Number(m.baseOffset));
      rows.forEach((row, i) => {
        const partition = this.partitionOf.get(messages[i] as object);
        const offset = partition === undefined ? undefined : next.get(partition);
        // Unknown (not expected): the message is then simply not recorded, and its work is judged as before this record existed.
        if (partition === undefined || offset === undefined) return;
        next.set(partition, offset + 1);
        const refundId = (row.payload as { refundId?: unknown }).refundId;
        places.push({ topic, partition, offset, paymentId: row.paymentId, refundId: typeof refundId === "string" ? refundId : null, dueAt: row.availableAt });
      });
    }
    return places;
  }
}
