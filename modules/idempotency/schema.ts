import { sql } from "drizzle-orm";
import { check, integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The requests an Idempotency-Key is recorded for. A merchant's key means something only in its
 * scope: the same key on a payment create and on a refund create are two keys, so a refund can
 * never be answered with a payment, nor the other way round. `capture` and `cancel` are a
 * payment's capture and cancel requests (docs/CONTRACT.md §8).
 */
export const IDEMPOTENCY_SCOPES = ["payments", "refunds", "capture", "cancel"] as const;
export type IdempotencyScope = (typeof IDEMPOTENCY_SCOPES)[number];

const sqlList = (values: readonly string[]) => sql.raw(values.map((s) => `'${s}'`).join(", "));

/** Idempotency-Key records: the same key and body from the same merchant in one scope answer the same resource. */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    merchantId: text("merchant_id").notNull(),
    scope: text("scope").$type<IdempotencyScope>().notNull(),
    /** As the merchant sent it. */
    key: text("key").notNull(),
    /** HMAC of the canonical request body (keyed: a payment's body holds a card number). */
    requestHash: text("request_hash").notNull(),
    /** The id of what the request created (a payment's in `payments`, a refund's in `refunds`), or moved (the payment's in `capture` and `cancel`). */
    resourceId: text("resource_id").notNull(),
    statusCode: integer("status_code").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.merchantId, t.scope, t.key] }),
    check("idempotency_keys_scope_check", sql`${t.scope} in (${sqlList(IDEMPOTENCY_SCOPES)})`),
  ],
);
