import { index, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The simulator's own ledger, standing in for a real gateway's records: one row per charge,
 * keyed by the idempotency key. Because it is shared by every process, a replay from any
 * worker returns the first result, and a second charge for one payment would show as a
 * second row with the same payment id.
 */
export const simulatorCharges = pgTable(
  "simulator_charges",
  {
    idempotencyKey: text("idempotency_key").primaryKey(),
    paymentId: text("payment_id").notNull(),
    outcome: text("outcome").notNull(),
    declineCode: text("decline_code"),
    reference: text("reference").notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    requests: integer("requests").notNull().default(1),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("simulator_charges_payment_idx").on(t.paymentId)],
);
