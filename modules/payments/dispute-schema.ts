import { sql } from "drizzle-orm";
import { check, index, integer, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { DISPUTE_STATUSES, type DisputeStatus } from "./dispute-status";

const utc = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
const sqlList = (values: readonly string[]) => sql.raw(values.map((s) => `'${s}'`).join(", "));

/**
 * Disputes (chargebacks) of payments, as the gateway reports them (docs/CONTRACT.md §10). A row is
 * written only from the gateway's own record of the dispute, fetched by paystream, never from a
 * notification's body; `revision` counts the changes, so each `dispute.updated` webhook names one.
 */
export const disputes = pgTable(
  "disputes",
  {
    id: text("id").primaryKey(),
    paymentId: text("payment_id").notNull(),
    merchantId: text("merchant_id").notNull(),
    gateway: text("gateway").notNull(),
    /** The gateway's dispute id (Stripe `dp_…`/`du_…`, PayPal `PP-D-…`). */
    gatewayReference: text("gateway_reference").notNull(),
    /** ISO 4217 minor units of `currency`. */
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    /** The gateway's reason, as it names it (e.g. Stripe `fraudulent`, PayPal `MERCHANDISE_OR_SERVICE_NOT_RECEIVED`). */
    reason: text("reason").notNull(),
    status: text("status").$type<DisputeStatus>().notNull(),
    evidenceDueBy: utc("evidence_due_by"),
    /** 1 when created; +1 with every change the gateway's record brought. */
    revision: integer("revision").notNull().default(1),
    createdAt: utc("created_at").notNull().defaultNow(),
    updatedAt: utc("updated_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("disputes_gateway_reference_key").on(t.gateway, t.gatewayReference),
    index("disputes_payment_id_idx").on(t.paymentId, t.id.desc()),
    index("disputes_merchant_id_idx").on(t.merchantId, t.id.desc()),
    check("disputes_status_check", sql`${t.status} in (${sqlList(DISPUTE_STATUSES)})`),
    check("disputes_amount_check", sql`${t.amount} >= 0`),
  ],
);

export type DisputeRow = typeof disputes.$inferSelect;
