import { sql } from "drizzle-orm";
import { bigserial, check, index, integer, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

export const WEBHOOK_EVENT_TYPES = [
  "payment.completed",
  "payment.failed",
  "payment.authorized",
  "payment.canceled",
  "payment.requires_action",
  "refund.succeeded",
  "refund.failed",
  "dispute.created",
  "dispute.updated",
  "dispute.closed",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

const utc = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** One endpoint per merchant (the primary key says so). */
export const webhookEndpoints = pgTable("webhook_endpoints", {
  merchantId: text("merchant_id").primaryKey(),
  url: text("url").notNull(),
  /**
   * The signing secret, sealed with AES-256-GCM (see WebhookSecretBox): it must be readable to
   * sign, so it cannot be hashed, but a copy of the database alone must not let anyone forge
   * events to the merchant. The API shows it once, when it is created.
   */
  secretKeyId: text("secret_key_id").notNull(),
  sealedSecret: text("sealed_secret").notNull(),
  createdAt: utc("created_at").notNull().defaultNow(),
  /**
   * When the attempt that failed first since the last delivered one was made; null while the
   * endpoint answers (a 2xx clears it). A failing endpoint gets one attempt in flight at a time.
   */
  failingSince: utc("failing_since"),
  /**
   * Set when every attempt failed for longer than WEBHOOK_DISABLE_AFTER_MS: the endpoint then
   * receives nothing (its pending deliveries and new events are `failed`) until the merchant
   * enables it again or registers a new URL. The reason is shown to the merchant.
   */
  disabledAt: utc("disabled_at"),
  disabledReason: text("disabled_reason"),
});

/** What happened, written in the transaction that made the payment final; immutable. */
export const webhookEvents = pgTable(
  "webhook_events",
  {
    /** `evt_…`, time-ordered; receivers deduplicate redeliveries by it. */
    id: text("id").primaryKey(),
    merchantId: text("merchant_id").notNull(),
    paymentId: text("payment_id").notNull(),
    /**
     * What the event is about: the payment for `payment.*`, the refund for `refund.*`, the dispute
     * for `dispute.created` and `dispute.closed`, and the dispute's revision (`dp_…#3`) for
     * `dispute.updated`, which a dispute may have many of.
     */
    subjectId: text("subject_id").notNull(),
    type: text("type").$type<WebhookEventType>().notNull(),
    /** The exact bytes POSTed (and signed) on every attempt; jsonb would reorder the keys. */
    body: text("body").notNull(),
    createdAt: utc("created_at").notNull().defaultNow(),
  },
  (t) => [
    index("webhook_events_merchant_id_idx").on(t.merchantId, t.id.desc()),
    index("webhook_events_merchant_payment_idx").on(t.merchantId, t.paymentId),
    // A payment (or refund) reaches each state once, so it has at most one event of each type.
    uniqueIndex("webhook_events_subject_type_key").on(t.subjectId, t.type),
    check("webhook_events_type_check", sql`${t.type} in (${sql.raw(WEBHOOK_EVENT_TYPES.map((type) => `'${type}'`).join(", "))})`),
  ],
);

/** The delivery of one event to its merchant's endpoint: the work queue of the dispatcher. */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    eventId: text("event_id")
      .primaryKey()
      .references(() => webhookEvents.id, { onDelete: "cascade" }),
    merchantId: text("merchant_id").notNull(),
    status: text("status").$type<DeliveryStatus>().notNull().default("pending"),
    /** Attempts started; each claim takes the next number, which fences that attempt's outcome. */
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: utc("next_attempt_at").notNull().defaultNow(),
    /** A claimed delivery is invisible to other dispatchers until its lease ends (crashed dispatcher → retaken). */
    leaseUntil: utc("lease_until"),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    deliveredAt: utc("delivered_at"),
    /** Equal to the event's createdAt (same transaction); retries stop `maxAgeMs` after it. */
    createdAt: utc("created_at").notNull().defaultNow(),
    updatedAt: utc("updated_at").notNull().defaultNow(),
  },
  (t) => [
    // The fair claim walks each enabled endpoint's merchant and takes its oldest due deliveries from here.
    index("webhook_deliveries_merchant_due_idx")
      .on(t.merchantId, t.nextAttemptAt)
      .where(sql`status = 'pending'`),
    // The merchant's attempts in flight (a lease is set while an attempt runs): few rows, however long its backlog.
    index("webhook_deliveries_merchant_leased_idx")
      .on(t.merchantId)
      .where(sql`status = 'pending' and lease_until is not null`),
    check("webhook_deliveries_status_check", sql`${t.status} in ('pending', 'delivered', 'failed')`),
  ],
);

/** The delivery log: one row per HTTP attempt, whatever its outcome. */
export const webhookDeliveryAttempts = pgTable(
  "webhook_delivery_attempts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    eventId: text("event_id")
      .notNull()
      .references(() => webhookEvents.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    url: text("url").notNull(),
    attemptedAt: utc("attempted_at").notNull(),
    /** The endpoint's HTTP status; null when no response came (timeout, connection error). */
    statusCode: integer("status_code"),
    /** Why no response came; null when one did. */
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
  },
  (t) => [uniqueIndex("webhook_delivery_attempts_event_attempt_key").on(t.eventId, t.attempt)],
);

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type WebhookEventRow = typeof webhookEvents.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type WebhookDeliveryAttemptRow = typeof webhookDeliveryAttempts.$inferSelect;
