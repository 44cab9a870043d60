import { sql } from "drizzle-orm";
import { bigserial, index, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

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
    index("outbox_payment_idx").on(t.paymentId),
    // No index on lease_until: the claim finds due rows through outbox_due_idx, and a lease taken
    // or renewed changes no indexed column, so PostgreSQL can update the row in place (HOT, no
    // index writes) — the claim of every message is such an update.
  ],
);

export type OutboxRow = typeof outbox.$inferSelect;
