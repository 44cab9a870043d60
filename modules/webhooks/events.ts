import type { Executor } from "../database";
import { type Payment, type PaymentRow, toPayment } from "../payments";
import { EVENT_ID } from "./ids";
import { insertEventsIfSubscribed } from "./repository";
import type { WebhookEventType } from "./schema";

/** The JSON body POSTed to the merchant's endpoint. */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  createdAt: string;
  data: { payment: Payment };
}

/**
 * Records a `payment.completed` / `payment.failed` event and its pending delivery for each
 * payment. Meant to run inside the transaction that makes the payments final (the processor's
 * onFinalInTransaction), so an event exists if and only if the final state does: no event lost
 * to a crash between the two, none sent for an outcome that was rolled back. Writes nothing for
 * merchants without an endpoint. One statement for the whole batch.
 */
export async function enqueuePaymentEvents(tx: Executor, payments: PaymentRow[]): Promise<void> {
  await insertEventsIfSubscribed(
    tx,
    payments.map((payment) => {
      if ((payment.status !== "COMPLETED" && payment.status !== "FAILED") || !payment.completedAt)
        throw new Error(`payment ${payment.id} is not final; there is no event to send`);
      const type: WebhookEventType = payment.status === "COMPLETED" ? "payment.completed" : "payment.failed";
      const id = EVENT_ID.next();
      // The event happened when the payment became final: same instant, same database clock.
      const createdAt = payment.completedAt;
      const event: WebhookEvent = { id, type, createdAt: createdAt.toISOString(), data: { payment: toPayment(payment) } };
      return { id, merchantId: payment.merchantId, paymentId: payment.id, type, body: JSON.stringify(event), createdAt };
    }),
  );
}

/** enqueuePaymentEvents for one payment. */
export const enqueuePaymentEvent = (tx: Executor, payment: PaymentRow) => enqueuePaymentEvents(tx, [payment]);
