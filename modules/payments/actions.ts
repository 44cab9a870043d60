import { type AnyColumn, and, eq, lte, sql } from "drizzle-orm";
import { type Executor, inJsonList, queryRows } from "../database";
import { purgeCardSecrets } from "../vault";
import { claimDueCheckIds, scheduleNextCheckOf } from "./gateway-work";
import { type ApprovedCardView, type ApprovedPayerView, guardOf, PAYMENT_WORK } from "./repository";
import { type WrittenWithMoved, moveAndQueue, startOperation } from "./requests";
import { type PaymentRow, payments } from "./schema";
import type { CancellationReason } from "./status";

/**
 * Payments waiting for their customer (REQUIRES_ACTION: 3-D Secure, PayPal approval;
 * docs/CONTRACT.md §9, §12). While one waits, nobody holds it: the reconciler looks it up at the
 * gateway on its own schedule (`next_check_at`, backing off), and what the gateway says moves it
 * by one guarded statement each: settled (charged, authorized or failed), continued by the worker
 * (the buyer approved and the charge is still to be made), or handed to the worker to cancel at
 * the gateway (expiry, merchant cancel). Each guard is the status machine's, so a merchant's
 * cancel racing a look-up has exactly one winner.
 */

/** What the gateway said of a waiting payment that ends the wait without the worker. */
export type ActionSettlement =
  | { status: "COMPLETED"; gatewayReference: string; card?: ApprovedCardView; payer?: ApprovedPayerView }
  | { status: "AUTHORIZED"; gatewayReference: string; expiresInMs: number; card?: ApprovedCardView; payer?: ApprovedPayerView }
  | { status: "FAILED"; failureCode: string; failureMessage: string };

/**
 * Takes up to `limit` waiting payments whose look-up is due, for one reconciler: their next
 * look-up is put `holdMs` ahead at once (another reconciler skips them; one that dies leaves them
 * due again later).
 */
export async function claimDueActionChecks(db: Executor, limit: number, holdMs: number): Promise<PaymentRow[]> {
  const ids = await claimDueCheckIds(db, PAYMENT_WORK, guardOf("checkAction"), limit, holdMs);
  if (ids.length === 0) return [];
  return db.select().from(payments).where(and(inJsonList(payments.id, ids), guardOf("checkAction")));
}

/** After a look-up that settled nothing: the next in `delayMs`, counted for the back-off. False when the payment no longer waits. */
export function scheduleNextActionCheck(db: Executor, payment: Pick<PaymentRow, "id" | "attempts">, delayMs: number): Promise<boolean> {
  return scheduleNextCheckOf(db, PAYMENT_WORK, { id: payment.id, attempt: payment.attempts, checkable: guardOf("checkAction") }, delayMs);
}

/** Makes a waiting payment's look-up due now (the customer came back; a gateway event named it). False when it does not wait. */
export async function checkActionNow(db: Executor, paymentId: string): Promise<boolean> {
  const rows = await db
    .update(payments)
    .set({ nextCheckAt: sql`now()` })
    .where(and(eq(payments.id, paymentId), guardOf("checkAction")))
    .returning({ id: payments.id });
  return rows.length > 0;
}

/**
 * REQUIRES_ACTION → COMPLETED | AUTHORIZED | FAILED as the gateway said, fenced by the attempt
 * number the payment waited with; its card secrets go and its merchant's event is written
 * (`onFinal`) in the same transaction. Undefined when the payment no longer waits.
 */
export async function settleAction(
  db: Executor,
  payment: Pick<PaymentRow, "id" | "attempts">,
  settlement: ActionSettlement,
  onFinal?: (tx: Executor, rows: PaymentRow[]) => Promise<void>,
): Promise<PaymentRow | undefined> {
  const card = "card" in settlement ? settlement.card : undefined;
  const payer = "payer" in settlement ? settlement.payer : undefined;
  const cardUnset = sql`${payments.cardLast4} is null`;
  const keepCard = (value: string | number | undefined, column: AnyColumn) =>
    value === undefined ? sql`${column}` : sql`case when ${cardUnset} then ${value} else ${column} end`;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(payments)
      .set({
        status: settlement.status,
        gatewayReference: "gatewayReference" in settlement ? settlement.gatewayReference : sql`${payments.gatewayReference}`,
        failureCode: settlement.status === "FAILED" ? settlement.failureCode : null,
        failureMessage: settlement.status === "FAILED" ? settlement.failureMessage : null,
        cardBrand: keepCard(card?.brand, payments.cardBrand),
        cardLast4: keepCard(card?.last4, payments.cardLast4),
        cardExpMonth: keepCard(card?.expMonth, payments.cardExpMonth),
        cardExpYear: keepCard(card?.expYear, payments.cardExpYear),
        cardFingerprint: card === undefined ? sql`${payments.cardFingerprint}` : sql`case when ${cardUnset} then ${card.fingerprint} else ${payments.cardFingerprint} end`,
        payerId: payer === undefined ? sql`${payments.payerId}` : sql`coalesce(${payments.payerId}, ${payer.id})`,
        payerEmail: payer === undefined ? sql`${payments.payerEmail}` : sql`coalesce(${payments.payerEmail}, ${payer.email})`,
        amountCaptured: settlement.status === "COMPLETED" ? sql`${payments.amount}` : sql`${payments.amountCaptured}`,
        authorizationExpiresAt: settlement.status === "AUTHORIZED" ? sql`now() + make_interval(secs => ${settlement.expiresInMs / 1000})` : null,
        nextCheckAt: null,
        completedAt: settlement.status === "AUTHORIZED" ? null : sql`now()`,
        updatedAt: sql`now()`,
      })
      .where(and(eq(payments.id, payment.id), eq(payments.attempts, payment.attempts), guardOf("settleAction")))
      .returning();
    if (!row) return undefined;
    await Promise.all([purgeCardSecrets(tx, [row.id]), onFinal?.(tx, [row])]);
    return row;
  });
}

/**
 * REQUIRES_ACTION → PROCESSING to make the charge the buyer approved (PayPal's capture or
 * authorization of the order), with the worker's message, in one statement. The operation is
 * the payment's charge or authorization (also when it waited again after a cancel the gateway
 * could not do, with `cancel_action`); the order's id and the approval page stay, and tell the
 * worker to continue the order rather than start a new one.
 */
export async function continueAfterAction(db: Executor, payment: Pick<PaymentRow, "id" | "attempts">, queue: WrittenWithMoved): Promise<PaymentRow | undefined> {
  const update = db
    .update(payments)
    .set({ ...startOperation, status: "PROCESSING", operation: sql`case when ${payments.captureMethod} = 'manual' then 'authorize' else 'charge' end` })
    .where(and(eq(payments.id, payment.id), eq(payments.attempts, payment.attempts), guardOf("continueAfterAction")))
    .returning();
  const [row] = await moveAndQueue(db, update.getSQL(), queue);
  return row;
}

/**
 * REQUIRES_ACTION → PROCESSING to cancel at the gateway what the customer was asked to complete:
 * the merchant's cancel (`merchantId` given), or the end of the wait (reason `expired`, only once
 * `action_expires_at` has passed by the database's clock). The payment is CANCELED (or FAILED
 * authentication_expired) only once the gateway confirms the customer can no longer complete it.
 */
export async function requestActionCancel(
  db: Executor,
  request: { id: string; merchantId?: string; reason: CancellationReason | null },
  queue: WrittenWithMoved,
): Promise<PaymentRow | undefined> {
  const update = db
    .update(payments)
    .set({ ...startOperation, status: "PROCESSING", operation: "cancel_action", cancellationReason: request.reason })
    .where(
      and(
        eq(payments.id, request.id),
        request.merchantId === undefined ? undefined : eq(payments.merchantId, request.merchantId),
        request.reason === "expired" ? lte(payments.actionExpiresAt, sql`now()`) : undefined,
        guardOf("requestActionCancel"),
      ),
    )
    .returning();
  const [row] = await moveAndQueue(db, update.getSQL(), queue);
  return row;
}

/** How many payments wait for their customers (for the dashboard and metrics). */
export async function countWaitingForCustomer(db: Executor): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from ${payments} where ${guardOf("checkAction")}`);
  return Number(row?.n ?? 0);
}

/** The reconciler's port to waiting payments: the statements above over one database, with the worker's message and the merchant's events injected. */
export interface PaymentActionStore {
  claimDue(limit: number, holdMs: number): Promise<PaymentRow[]>;
  scheduleNext(payment: PaymentRow, delayMs: number): Promise<boolean>;
  settle(payment: PaymentRow, settlement: ActionSettlement): Promise<PaymentRow | undefined>;
  /** The buyer approved: the worker makes the charge (see continueAfterAction). */
  continue(payment: PaymentRow): Promise<PaymentRow | undefined>;
  /** The wait ran out: the worker cancels at the gateway (see requestActionCancel). */
  expire(payment: PaymentRow): Promise<PaymentRow | undefined>;
}

export function createPaymentActionStore(options: {
  db: Executor;
  /** The worker's message for moved payments (the broker's), written by the moving statement. */
  queue: WrittenWithMoved;
  /** The merchant's events of settled payments, in the settling transaction. */
  onFinalInTransaction?: (tx: Executor, rows: PaymentRow[]) => Promise<void>;
}): PaymentActionStore {
  const { db, queue, onFinalInTransaction } = options;
  return {
    claimDue: (limit, holdMs) => claimDueActionChecks(db, limit, holdMs),
    scheduleNext: (payment, delayMs) => scheduleNextActionCheck(db, payment, delayMs),
    settle: (payment, settlement) => settleAction(db, payment, settlement, onFinalInTransaction),
    continue: (payment) => continueAfterAction(db, payment, queue),
    expire: (payment) => requestActionCancel(db, { id: payment.id, reason: "expired" }, queue),
  };
}
