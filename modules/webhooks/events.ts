import type { Executor } from "../database";
import { type Dispute, type DisputeChange, disputeEventsOf, type Payment, type PaymentRow, type Refund, type RefundRow, toDispute, toPayment, toRefund } from "../payments";
import { EVENT_ID } from "./ids";
import { insertEventsIfSubscribed, subscribedMerchants } from "./repository";
import type { WebhookEventType } from "./schema";

/** The JSON body POSTed to the merchant's endpoint. */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  createdAt: string;
  data: { payment: Payment } | { refund: Refund } | { dispute: Dispute };
}

/** The event a payment's new state announces, and when that state began; none for states no merchant waits on. */
function paymentEventOf(payment: PaymentRow): { type: WebhookEventType; at: Date } | undefined {
  switch (payment.status) {
    case "COMPLETED":
      return payment.completedAt ? { type: "payment.completed", at: payment.completedAt } : undefined;
    case "FAILED":
      return payment.completedAt ? { type: "payment.failed", at: payment.completedAt } : undefined;
    case "CANCELED":
      return payment.completedAt ? { type: "payment.canceled", at: payment.completedAt } : undefined;
    case "AUTHORIZED":
      return { type: "payment.authorized", at: payment.updatedAt };
    case "REQUIRES_ACTION":
      return { type: "payment.requires_action", at: payment.updatedAt };
    default:
      return undefined;
  }
}

/** What insertEventsIfSubscribed writes for one event. */
type EventRecord = Parameters<typeof insertEventsIfSubscribed>[1][number];

/**
 * Writes the events of `subjects` whose merchant has an endpoint: their bodies (whole payment or
 * refund objects) are built only for those merchants, after one look-up of which of them do, so
 * a batch of merchants without endpoints costs one small query instead of every body's bytes.
 */
async function recordEvents<T extends { merchantId: string }>(tx: Executor, subjects: T[], build: (subject: T) => EventRecord): Promise<void> {
  if (subjects.length === 0) return;
  const subscribed = await subscribedMerchants(tx, [...new Set(subjects.map((s) => s.merchantId))]);
  if (subscribed.size === 0) return;
  await insertEventsIfSubscribed(tx, subjects.filter((s) => subscribed.has(s.merchantId)).map(build));
}

/**
 * Records the event of each payment's new state (`payment.completed`, `.failed`, `.canceled`,
 * `.authorized`, `.requires_action`) and its pending delivery. Meant to run inside the transaction that moves the
 * payments (the processor's onFinalInTransaction, a cancel), so an event exists if and only if
 * the state does: no event lost to a crash between the two, none sent for a change that was
 * rolled back. A payment has at most one event of each type. Writes nothing for merchants
 * without an endpoint. At most two statements for the whole batch.
 */
export async function enqueuePaymentEvents(tx: Executor, payments: PaymentRow[]): Promise<void> {
  const announced = payments.map((payment) => {
    const happened = paymentEventOf(payment);
    if (!happened) throw new Error(`payment ${payment.id} is ${payment.status}; there is no event to send`);
    return { merchantId: payment.merchantId, payment, happened };
  });
  await recordEvents(tx, announced, ({ payment, happened }) => {
    const id = EVENT_ID.next();
    // The event happened when the payment changed: same instant, same database clock.
    const event: WebhookEvent = { id, type: happened.type, createdAt: happened.at.toISOString(), data: { payment: toPayment(payment) } };
    return { id, merchantId: payment.merchantId, paymentId: payment.id, subjectId: payment.id, type: happened.type, body: JSON.stringify(event), createdAt: happened.at };
  });
}

/** enqueuePaymentEvents for one payment. */
export const enqueuePaymentEvent = (tx: Executor, payment: PaymentRow) => enqueuePaymentEvents(tx, [payment]);

/** Records `refund.succeeded` / `refund.failed` for refunds that became final, in the transaction that made them so. */
export async function enqueueRefundEvents(tx: Executor, refunds: RefundRow[]): Promise<void> {
  const ended = refunds.map((refund) => {
    if (refund.status === "PENDING" || !refund.completedAt) throw new Error(`refund ${refund.id} is not final; there is no event to send`);
    return { merchantId: refund.merchantId, refund, completedAt: refund.completedAt };
  });
  await recordEvents(tx, ended, ({ refund, completedAt }) => {
    const type: WebhookEventType = refund.status === "SUCCEEDED" ? "refund.succeeded" : "refund.failed";
    const id = EVENT_ID.next();
    const event: WebhookEvent = { id, type, createdAt: completedAt.toISOString(), data: { refund: toRefund(refund) } };
    return { id, merchantId: refund.merchantId, paymentId: refund.paymentId, subjectId: refund.id, type, body: JSON.stringify(event), createdAt: completedAt };
  });
}

/**
 * Records `dispute.created`, `dispute.updated` and `dispute.closed` for a dispute's recorded change
 * (docs/CONTRACT.md §10), in the transaction that recorded it. A dispute has one `created` and one
 * `closed`; each `updated` is about one revision of the dispute, so a redelivered gateway event
 * that changed nothing writes nothing.
 */
export async function enqueueDisputeEvents(tx: Executor, change: DisputeChange): Promise<void> {
  const { dispute } = change;
  const types = disputeEventsOf(change);
  await recordEvents(
    tx,
    types.map((type) => ({ merchantId: dispute.merchantId, type })),
    ({ type }) => {
      const id = EVENT_ID.next();
      const event: WebhookEvent = { id, type, createdAt: dispute.updatedAt.toISOString(), data: { dispute: toDispute(dispute) } };
      const subjectId = type === "dispute.updated" ? `${dispute.id}#${dispute.revision}` : dispute.id;
      return { id, merchantId: dispute.merchantId, paymentId: dispute.paymentId, subjectId, type, body: JSON.stringify(event), createdAt: dispute.updatedAt };
    },
  );
}
