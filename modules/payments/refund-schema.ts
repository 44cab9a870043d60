import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { gatewayWorkColumns } from "./gateway-work";
import { REFUND_REASONS, REFUND_STATUSES, type RefundReason, type RefundStatus } from "./refund-status";

const utc = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
const sqlList = (values: readonly string[]) => sql.raw(values.map((s) => `'${s}'`).join(", "));

/**
 * Refunds of captured payments (docs/CONTRACT.md §8). A refund row is created in the same statement that
 * raises its payment's `amount_refunded` under the guard `amount_refunded + amount <= amount_captured`,
 * so concurrent refunds can never together pass what was captured.
 */
export const refunds = pgTable(
  "refunds",
  {
    id: text("id").primaryKey(),
    paymentId: text("payment_id").notNull(),
    merchantId: text("merchant_id").notNull(),
    /** ISO 4217 minor units of `currency` (the payment's currency). */
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    status: text("status").$type<RefundStatus>().notNull().default("PENDING"),
    reason: text("reason").$type<RefundReason>(),
    metadata: jsonb("metadata").$type<Record<string, string>>().notNull().default({}),
    failureCode: text("failure_code"),
    failureMessage: text("failure_message"),
    gatewayReference: text("gateway_reference"),
    ...gatewayWorkColumns(),
    requestId: text("request_id"),
    createdAt: utc("created_at").notNull().defaultNow(),
    updatedAt: utc("updated_at").notNull().defaultNow(),
    /** When the refund became SUCCEEDED or FAILED. */
    completedAt: utc("completed_at"),
  },
  (t) => [
    index("refunds_payment_id_idx").on(t.paymentId, t.id.desc()),
    index("refunds_merchant_id_idx").on(t.merchantId, t.id.desc()),
    // A gateway's refund event names its refund by the gateway's id (docs/CONTRACT.md §10).
    index("refunds_gateway_reference_idx")
      .on(t.gatewayReference)
      .where(sql`gateway_reference is not null`),
    // `updated_at is not null`: for the sweeper's scan only, as payments_unfinished_idx.
    index("refunds_pending_idx").on(t.updatedAt).where(sql`status = 'PENDING' and updated_at is not null`),
    index("refunds_reconcile_due_idx").on(t.nextCheckAt).where(sql`reconciling and status = 'PENDING'`),
    check("refunds_status_check", sql`${t.status} in (${sqlList(REFUND_STATUSES)})`),
    check("refunds_reason_check", sql`${t.reason} is null or ${t.reason} in (${sqlList(REFUND_REASONS)})`),
    check("refunds_amount_check", sql`${t.amount} >= 1`),
    check("refunds_final_has_completed_at", sql`(${t.status} <> 'PENDING') = (${t.completedAt} is not null)`),
  ],
);

export type RefundRow = typeof refunds.$inferSelect;
