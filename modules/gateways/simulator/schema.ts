import { index, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** What a ledger row records: a charge (captured at once), an authorization, or an operation on one. */
export const SIMULATOR_OPERATIONS = ["charge", "authorize", "capture", "void", "refund"] as const;
export type SimulatorOperation = (typeof SIMULATOR_OPERATIONS)[number];

/**
 * The simulator's own ledger, standing in for a real gateway's records: one row per operation
 * (charge, authorization, capture, void, refund), keyed by the idempotency key. Because it is
 * shared by every process, a replay from any worker returns the first result, and a second
 * charge for one payment would show as a second charge row with the same payment id.
 */
export const simulatorCharges = pgTable(
  "simulator_charges",
  {
    idempotencyKey: text("idempotency_key").primaryKey(),
    paymentId: text("payment_id").notNull(),
    operation: text("operation").$type<SimulatorOperation>().notNull().default("charge"),
    /** For a refund: our refund id. */
    refundId: text("refund_id"),
    /** For a capture, void or refund: the reference of the authorization or charge it acts on. */
    targetReference: text("target_reference"),
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
