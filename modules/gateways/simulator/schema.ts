import { index, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** What a ledger row records: a charge (captured at once), an authorization, or an operation on one. */
export const SIMULATOR_OPERATIONS = ["charge", "authorize", "capture", "void", "refund"] as const;
export type SimulatorOperation = (typeof SIMULATOR_OPERATIONS)[number];

export const SIMULATOR_OUTCOMES = ["approved", "declined", "requires_action", "buyer_approved", "canceled"] as const;
export type SimulatorOutcome = (typeof SIMULATOR_OUTCOMES)[number];

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
    /**
     * `approved`, `declined`, or, for a charge that waits for its customer (3-D Secure, PayPal
     * Checkout; docs/CONTRACT.md §9, §12): `requires_action` until they act on the simulator's own
     * page, `buyer_approved` (PayPal: approved, the capture still to be made), `canceled` (canceled
     * before the customer completed it).
     */
    outcome: text("outcome").$type<SimulatorOutcome>().notNull(),
    declineCode: text("decline_code"),
    reference: text("reference").notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    requests: integer("requests").notNull().default(1),
    /** A waiting charge: where the customer's browser goes after the simulator's page (cancelUrl: a PayPal buyer who cancels). */
    returnUrl: text("return_url"),
    cancelUrl: text("cancel_url"),
    /** PayPal Checkout: the simulated payer, once they approved. */
    payerId: text("payer_id"),
    payerEmail: text("payer_email"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("simulator_charges_payment_idx").on(t.paymentId)],
);
