import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, smallint, text, timestamp } from "drizzle-orm/pg-core";
import { MAX_AMOUNT, MIN_AMOUNT } from "../money";
import { gatewayWorkColumns } from "./gateway-work";

import {
  CANCELLATION_REASONS,
  CAPTURE_METHODS,
  type CancellationReason,
  type CaptureMethod,
  FINAL_STATUSES,
  PAYMENT_OPERATIONS,
  PAYMENT_STATUSES,
  type PaymentOperation,
  type PaymentStatus,
  UNFINISHED_STATUSES,
} from "./status";

export { PAYMENT_STATUSES, type PaymentStatus };

/** `'A', 'B'`: a status list as SQL text, so the constraints below come from the status machine. */
const sqlList = (values: readonly string[]) => sql.raw(values.map((s) => `'${s}'`).join(", "));

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
    /**
     * The card view: from intake's card, or, for a payment paid with `payment_method`, from the
     * gateway's approval (null until then; see payments_card_view_check).
     */
    cardBrand: text("card_brand"),
    cardLast4: text("card_last4"),
    cardExpMonth: smallint("card_exp_month"),
    cardExpYear: smallint("card_exp_year"),
    cardFingerprint: text("card_fingerprint"),
    /** The id of a payment method the gateway holds for the merchant, paid with instead of a card (docs/CONTRACT.md §9). */
    paymentMethod: text("payment_method"),
    /**
     * Customer authentication and PayPal approval (docs/CONTRACT.md §9, §12): where the gateway
     * sends the customer back (and, for PayPal, a buyer who cancels), the page the customer is
     * sent to while the payment is REQUIRES_ACTION (kept afterwards: a charge that continues an
     * approved order is told by it), and until when the payment may wait.
     */
    returnUrl: text("return_url"),
    cancelUrl: text("cancel_url"),
    nextActionUrl: text("next_action_url"),
    actionExpiresAt: utc("action_expires_at"),
    /** The PayPal payer of a checkout payment, from PayPal's answer (instead of a card view). */
    payerId: text("payer_id"),
    payerEmail: text("payer_email"),
    customerEmail: text("customer_email").notNull(),
    customerName: text("customer_name").notNull(),
    customerReference: text("customer_reference"),
    gateway: text("gateway").notNull(),
    gatewayReference: text("gateway_reference"),
    failureCode: text("failure_code"),
    failureMessage: text("failure_message"),
    /** `automatic` (charge at once) or `manual` (authorize now, capture later). */
    captureMethod: text("capture_method").$type<CaptureMethod>().notNull().default("automatic"),
    /** The gateway operation PROCESSING runs, or the last one run (see PAYMENT_OPERATIONS). */
    operation: text("operation").$type<PaymentOperation>().notNull().default("charge"),
    /**
     * `attempts` when the current operation started: the operation's own attempt number is
     * `attempts - operation_attempts_base`, so a capture gets the whole retry budget again while
     * `attempts` stays the one monotonic fencing token across operations.
     */
    operationAttemptsBase: integer("operation_attempts_base").notNull().default(0),
    /** While a capture is requested or running: how much of the authorization to capture. */
    captureAmount: integer("capture_amount"),
    /** What the gateway captured (the whole amount for an automatic charge); 0 until COMPLETED. */
    amountCaptured: integer("amount_captured").notNull().default(0),
    /**
     * The sum of this payment's refunds that are not FAILED (pending ones included): raised in the
     * same guarded statement that creates a refund, so it can never pass amount_captured.
     */
    amountRefunded: integer("amount_refunded").notNull().default(0),
    /**
     * The sum of this payment's disputes that are not won (open ones and lost ones): what a
     * chargeback took or may take back. Recomputed from the disputes in the transaction that
     * records a dispute's change (docs/CONTRACT.md §10).
     */
    amountDisputed: integer("amount_disputed").notNull().default(0),
    /** While AUTHORIZED: when the hold is voided unless captured first (AUTHORIZATION_TTL_MS). */
    authorizationExpiresAt: utc("authorization_expires_at"),
    /** Asked for when the cancel was requested (or the authorization expired); the payment is CANCELED once voided. */
    cancellationReason: text("cancellation_reason").$type<CancellationReason>(),
    canceledAt: utc("canceled_at"),
    /** For the payment's current operation; PROCESSING is where the lease and the reconciler's hold apply. */
    ...gatewayWorkColumns(),
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
    // The due look-ups of payments waiting for their customer (the reconciler's action checks).
    index("payments_action_due_idx")
      .on(t.nextCheckAt)
      .where(sql`status = 'REQUIRES_ACTION'`),
    // A gateway's event names the gateway's object: the payment is found by it (docs/CONTRACT.md §10).
    index("payments_gateway_reference_idx")
      .on(t.gatewayReference)
      .where(sql`gateway_reference is not null`),
    index("payments_authorization_expiry_idx")
      .on(t.authorizationExpiresAt)
      .where(sql`status = 'AUTHORIZED'`),
    // For the sweeper's "untouched since" scan. `updated_at is not null` (always true) is there so
    // that no statement that merely implies an unfinished status can use this index: a batch
    // claim or outcome ("id = any(…) and status = 'PENDING'") planned while the table looked small
    // read every unfinished payment through it instead of looking its ids up (auto_explain).
    index("payments_unfinished_idx")
      .on(t.updatedAt)
      .where(sql`status in (${sqlList(UNFINISHED_STATUSES)}) and updated_at is not null`),
    check("payments_status_check", sql`${t.status} in (${sqlList(PAYMENT_STATUSES)})`),
    check("payments_capture_method_check", sql`${t.captureMethod} in (${sqlList(CAPTURE_METHODS)})`),
    check("payments_operation_check", sql`${t.operation} in (${sqlList(PAYMENT_OPERATIONS)})`),
    check("payments_cancellation_reason_check", sql`${t.cancellationReason} is null or ${t.cancellationReason} in (${sqlList(CANCELLATION_REASONS)})`),
    // Refunds never pass what was captured, and nothing is captured beyond the authorization: the
    // last line of defence behind the guarded updates (docs/CONTRACT.md §8).
    check("payments_captured_within_amount", sql`${t.amountCaptured} between 0 and ${t.amount}`),
    check("payments_refunded_within_captured", sql`${t.amountRefunded} between 0 and ${t.amountCaptured}`),
    check("payments_disputed_not_negative", sql`${t.amountDisputed} >= 0`),
    check("payments_capture_amount_check", sql`${t.captureAmount} is null or ${t.captureAmount} between 1 and ${t.amount}`),
    // A card payment has its card view from intake; only a payment-method payment may lack it.
    check(
      "payments_card_view_check",
      sql`${t.paymentMethod} is not null or (${t.cardBrand} is not null and ${t.cardLast4} is not null and ${t.cardExpMonth} is not null and ${t.cardExpYear} is not null)`,
    ),
    check("payments_amount_check", sql`${t.amount} between ${sql.raw(String(MIN_AMOUNT))} and ${sql.raw(String(MAX_AMOUNT))}`),
    check(
      "payments_final_has_completed_at",
      sql`(${t.status} in (${sqlList(FINAL_STATUSES)})) = (${t.completedAt} is not null)`,
    ),
  ],
);

export type PaymentRow = typeof payments.$inferSelect;
export type NewPaymentRow = typeof payments.$inferInsert;
