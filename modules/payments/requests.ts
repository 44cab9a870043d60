import { and, eq, lte, type SQL, sql } from "drizzle-orm";
import { type Executor, type IdFilter, mapRows, queryRows } from "../database";
import { guardOf } from "./repository";
import { type PaymentRow, payments } from "./schema";
import { type CancellationReason, TRANSITIONS } from "./status";

/**
 * The merchant's requests that move a payment without the gateway (a cancel before any worker
 * took it) or hand it to the worker for a new operation (capture, void). Each is ONE guarded
 * statement: the status machine decides in the database, so a cancel racing a worker's claim, or
 * two captures racing each other, have exactly one winner.
 */

/** Another owner's rows for the payments a request moved (the worker's message), written by the same statement. */
export type WrittenWithMoved = (moved: IdFilter) => SQL;

/** A new operation starts with a fresh retry budget and no unknown outcome of its own yet. */
export const startOperation = {
  status: TRANSITIONS.requestCapture.to[0],
  operationAttemptsBase: sql`${payments.attempts}`,
  leaseExpiresAt: null,
  outcomeUnknownSince: null,
  reconciling: false,
  nextCheckAt: null,
  reconcileChecks: 0,
  failureCode: null,
  failureMessage: null,
  // authorization_expires_at stays: a refused capture or void puts the payment back AUTHORIZED
  // with the hold it had (the expiry looks only at AUTHORIZED payments, so it is inert meanwhile).
  updatedAt: sql`now()`,
};

export async function moveAndQueue(db: Executor, update: SQL, queue: WrittenWithMoved): Promise<PaymentRow[]> {
  const rows = await queryRows(db, sql`with moved as (${update}), queued as (${queue(sql`select id from moved`)}) select * from moved`);
  // RETURNING * gives every column, so the mapped rows are whole.
  return mapRows(payments, rows) as PaymentRow[];
}

/**
 * AUTHORIZED → PROCESSING to capture `amount` (default: all of it) of the merchant's payment, and
 * the worker's message, in one statement. Undefined when the payment is not the merchant's, not
 * AUTHORIZED, or the amount is above what was authorized.
 */
export async function requestCapture(
  db: Executor,
  request: { merchantId: string; id: string; amount: number | null },
  queue: WrittenWithMoved,
): Promise<PaymentRow | undefined> {
  const amount = request.amount === null ? sql`${payments.amount}` : sql`${request.amount}::integer`;
  const update = db
    .update(payments)
    .set({ ...startOperation, operation: "capture", captureAmount: amount })
    .where(
      and(
        eq(payments.id, request.id),
        eq(payments.merchantId, request.merchantId),
        guardOf("requestCapture"),
        sql`${amount} between 1 and ${payments.amount}`,
      ),
    )
    .returning();
  const [row] = await moveAndQueue(db, update.getSQL(), queue);
  return row;
}

/**
 * AUTHORIZED → PROCESSING to void the authorization: the merchant's cancel (`merchantId` given)
 * or the expiry of authorizations past their `authorization_expires_at` (reason `expired`).
 */
export async function requestVoid(
  db: Executor,
  request: { merchantId: string; id: string; reason: CancellationReason | null },
  queue: WrittenWithMoved,
): Promise<PaymentRow | undefined> {
  const update = db
    .update(payments)
    .set({ ...startOperation, operation: "void", captureAmount: null, cancellationReason: request.reason })
    .where(and(eq(payments.id, request.id), eq(payments.merchantId, request.merchantId), guardOf("requestVoid")))
    .returning();
  const [row] = await moveAndQueue(db, update.getSQL(), queue);
  return row;
}

/** Up to `limit` AUTHORIZED payments whose authorization expired, moved to be voided with reason `expired`. */
export async function expireAuthorizations(db: Executor, limit: number, queue: WrittenWithMoved): Promise<PaymentRow[]> {
  const due = db
    .select({ id: payments.id })
    .from(payments)
    .where(and(guardOf("requestVoid"), lte(payments.authorizationExpiresAt, sql`now()`)))
    .limit(limit)
    .for("update", { skipLocked: true });
  const update = db
    .update(payments)
    .set({ ...startOperation, operation: "void", captureAmount: null, cancellationReason: "expired" })
    .where(and(sql`${payments.id} in (${due})`, guardOf("requestVoid")))
    .returning();
  return moveAndQueue(db, update.getSQL(), queue);
}

/**
 * PENDING → CANCELED for a payment no worker has claimed: nothing reached the gateway, so there
 * is nothing to undo. Undefined when the payment is not the merchant's or no longer PENDING (a
 * worker claimed it first). The caller deletes the card and records the event in the same transaction.
 */
export async function cancelPending(
  db: Executor,
  request: { merchantId: string; id: string; reason: CancellationReason | null },
): Promise<PaymentRow | undefined> {
  const [row] = await db
    .update(payments)
    .set({
      status: TRANSITIONS.cancelPending.to[0],
      cancellationReason: request.reason,
      canceledAt: sql`now()`,
      completedAt: sql`now()`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(payments.id, request.id), eq(payments.merchantId, request.merchantId), guardOf("cancelPending")))
    .returning();
  return row;
}
