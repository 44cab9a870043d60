import { integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** Idempotency-Key records: the same key and body from the same merchant answer the same payment. */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    merchantId: text("merchant_id").notNull(),
    key: text("key").notNull(),
    /** HMAC of the canonical request body (keyed: the body holds a card number). */
    requestHash: text("request_hash").notNull(),
    paymentId: text("payment_id").notNull(),
    statusCode: integer("status_code").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.merchantId, t.key] })],
);
