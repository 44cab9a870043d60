import { type Kafka, Partitioners, type Producer } from "kafkajs";
import type { Database, ListenToChannel } from "../../database";
import { type Logger, type PollLoop, type PollRound, startPolling } from "../../runtime";
import { claimOutboxRows, deleteOutboxRows, nextOutboxDueInMs } from "../outbox";
import { OutboxWatch } from "../outbox-watch";
import type { OutboxRelay } from "../port";
import type { OutboxRow } from "../schema";
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
      createPartitioner: Partitioners.DefaultPartitioner,
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
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, topicRows]) => ({ topic, messages: topicRows.map(messageOf) })),
    });
    await deleteOutboxRows(
      this.db,
      rows.map((r) => r.id),
    );
    return rows.length;
  }
}
