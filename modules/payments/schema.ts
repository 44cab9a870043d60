import { sql } from "drizzle-orm";
import { boolean, check, index, integer, jsonb, pgTable, smallint, text, timestamp } from "drizzle-orm/pg-core";

import { FINAL_STATUSES, PAYMENT_STATUSES, type PaymentStatus, UNFINISHED_STATUSES } from "./status";

export { PAYMENT_STATUSES, type PaymentStatus };

/** `'A', 'B'`: a status list as SQL text, so the constraints below come from the status machine. */
/** Integer minor units a payment may be for (intake validates and documents the same bounds). */
export const MIN_AMOUNT = 1;
export const MAX_AMOUNT = 99_999_999;

const sqlList = (statuses: readonly PaymentStatus[]) => sql.raw(statuses.map((s) => `'${s}'`).join(", "));

const utc = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const payments = pgTable(
  "payments",
  {
    id: text("id").primaryKey(),
    merchantId: text("merchant_id").notNull(),
    status: text("status").$type<PaymentStatus>().notNull().default("PENDING"),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    description: text("description"),
    metadata: jsonb("metadata").$type<Record<string, string>>().notNull().default({}),
    cardBrand: text("card_brand").notNull(),
    cardLast4: text("card_last4").notNull(),
    cardExpMonth: smallint("card_exp_month").notNull(),
    cardExpYear: smallint("card_exp_year").notNull(),
    cardFingerprint: text("card_fingerprint").notNull(),
    customerEmail: text("customer_email").notNull(),
    customerName: text("customer_name").notNull(),
    customerReference: text("customer_reference"),
    gateway: text("gateway").notNull(),
    gatewayReference: text("gateway_reference"),
    failureCode: text("failure_code"),
    failureMessage: text("failure_message"),
    /** Gateway attempts so far; also the fencing token of the current processing claim. */
    attempts: integer("attempts").notNull().default(0),
    /** While PROCESSING: until when the claiming worker owns the payment. NULL = waiting for a retry. */
    leaseExpiresAt: utc("lease_expires_at"),
    /**
     * Set when the first gateway attempt whose outcome is unknown happened (no answer, an answer
     * that could not be read, an adapter that threw): from then on the card may have been charged,
     * and only a definite answer from the gateway may finalize the payment (contract §6).
     */
    outcomeUnknownSince: utc("outcome_unknown_since"),
    /** Attempts are used up and the outcome is unknown: the reconciler owns the payment now. */
    reconciling: boolean("reconciling").notNull().default(false),
    /** While reconciling: when the reconciler looks the payment up at the gateway next. */
    nextCheckAt: utc("next_check_at"),
    /** Gateway look-ups made so far while reconciling (drives the back-off). */
    reconcileChecks: integer("reconcile_checks").notNull().default(0),
    requestId: text("request_id"),
    createdAt: utc("created_at").notNull().defaultNow(),
    updatedAt: utc("updated_at").notNull().defaultNow(),
    completedAt: utc("completed_at"),
  },
  (t) => [
    index("payments_merchant_id_idx").on(t.merchantId, t.id.desc()),
    index("payments_merchant_status_id_idx").on(t.merchantId, t.status, t.id.desc()),
    index("payments_reconcile_due_idx")
      .on(t.nextCheckAt)
      .where(sql`reconciling and status = 'PROCESSING'`),
    index("payments_unfinished_idx")
      .on(t.updatedAt)
      .where(sql`status in (${sqlList(UNFINISHED_STATUSES)})`),
    check("payments_status_check", sql`${t.status} in (${sqlList(PAYMENT_STATUSES)})`),
    check("payments_amount_check", sql`${t.amount} between ${sql.raw(String(MIN_AMOUNT))} and ${sql.raw(String(MAX_AMOUNT))}`),
    check(
      "payments_final_has_completed_at",
      sql`(${t.status} in (${sqlList(FINAL_STATUSES)})) = (${t.completedAt} is not null)`,
    ),
  ],
);

export type PaymentRow = typeof payments.$inferSelect;
export type NewPaymentRow = typeof payments.$inferInsert;
