import { sql } from "drizzle-orm";
import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const OUTBOX_TOPICS = ["requested", "dlq"] as const;
export type OutboxTopic = (typeof OUTBOX_TOPICS)[number];

/**
 * Messages written in the same transaction as the state they announce. With BROKER=postgres
 * workers claim `requested` rows directly and `dlq` rows stay as the dead-letter record; with
 * BROKER=kafka the relay publishes every row and deletes it once Kafka acknowledged.
 */
export const outbox = pgTable(
  "outbox",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    topic: text("topic").$type<OutboxTopic>().notNull(),
    paymentId: text("payment_id").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    availableAt: timestamp("available_at", { withTimezone: true }).notNull().defaultNow(),
    /** A claimed row is invisible to other claimers until its lease ends (crashed claimer → retaken). */
    leaseUntil: timestamp("lease_until", { withTimezone: true }),
    deliveries: integer("deliveries").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("outbox_due_idx").on(t.topic, t.availableAt),
    // With the topic: the sweeper's "is a message queued for this payment" probe is then one index
    // look-up. On the payment id alone, with the statistics of a table the relay had just emptied
    // of a 20,000-message backlog, the planner AND-ed it with outbox_due_idx and read every dead
    // `requested` entry for each payment it checked (8 s a sweep; docs/ARCHITECTURE.md).
    index("outbox_payment_idx").on(t.paymentId, t.topic),
    // No index on lease_until: the claim finds due rows through outbox_due_idx, and a lease taken
    // or renewed changes no indexed column, so PostgreSQL can update the row in place (HOT, no
    // index writes) — the claim of every message is such an update.
  ],
);

export type OutboxRow = typeof outbox.$inferSelect;

/**
 * BROKER=kafka: where the relay put each requested message it moved out of the outbox (topic,
 * partition, offset), written in the transaction that deletes the outbox row. A message that left
 * the outbox may wait in the topic for as long as the consumers lag; this table lets the sweeper
 * tell it from a lost one (README "Kafka"). Rows at or below the group's committed offset are
 * consumed and are deleted by the sweeps; what is left is the backlog, no more.
 */
export const kafkaRelayed = pgTable(
  "kafka_relayed",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    topic: text("topic").notNull(),
    partition: integer("partition").notNull(),
    offset: bigint("offset", { mode: "number" }).notNull(),
    paymentId: text("payment_id").notNull(),
    /** Set when the message is for a refund of the payment. */
    refundId: text("refund_id"),
    /** When the message fell due in the outbox: its age is how long it has waited for a worker. */
    dueAt: timestamp("due_at", { withTimezone: true }).notNull(),
  },
  (t) => [index("kafka_relayed_payment_idx").on(t.paymentId, t.topic), index("kafka_relayed_offset_idx").on(t.topic, t.partition, t.offset)],
);
