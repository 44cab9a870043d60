/**
 * Gateway events in paystream's terms: which gateway sent it, its id there, its type, and what
 * object it is about. Only that is read from a notification's body (docs/CONTRACT.md §10): what
 * the object IS comes from the gateway's API, fetched by paystream.
 */

export type EventGateway = "stripe" | "paypal";

/** The object an event names, by the gateway's id for it. */
export type EventSubject =
  /**
   * A payment (Stripe PaymentIntent, PayPal capture or authorization): its unknown outcome, if any,
   * is looked up now. `paymentId` is our id as the body claims it (a Stripe PaymentIntent's
   * metadata), for a payment whose attempts never learned the gateway's reference: being only a
   * hint, at most it makes a look-up happen sooner.
   */
  | { kind: "payment"; reference: string; paymentId?: string }
  /** A refund: a late failure, or an unknown outcome to look up now. */
  | { kind: "refund"; reference: string }
  /** A dispute: created or updated from the gateway's record. */
  | { kind: "dispute"; reference: string }
  /** A type paystream does not act on: acknowledged, counted as ignored. */
  | { kind: "none" };

export interface GatewayEvent {
  gateway: EventGateway;
  id: string;
  type: string;
  subject: EventSubject;
}

/** The fields of a Stripe event's `data.object` that name what it is about. */
export interface StripeEventObject {
  id: string;
  object: string;
  paymentIntent: string | null;
  /** `metadata.paystream_payment_id`, as the body claims it. */
  paymentId: string | null;
}

/**
 * What a Stripe event is about (docs.stripe.com/api/events/types): PaymentIntent and charge events
 * name a payment (by its PaymentIntent), refund events a refund, `charge.dispute.*` a dispute.
 */
export function stripeSubject(type: string, object: StripeEventObject): EventSubject {
  if (type.startsWith("charge.dispute.") && object.object === "dispute") return { kind: "dispute", reference: object.id };
  if ((type.startsWith("refund.") || type === "charge.refund.updated") && object.object === "refund") return { kind: "refund", reference: object.id };
  if (type.startsWith("payment_intent.") && object.object === "payment_intent")
    return { kind: "payment", reference: object.id, ...(object.paymentId === null ? {} : { paymentId: object.paymentId }) };
  if (type.startsWith("charge.") && object.object === "charge" && object.paymentIntent !== null) return { kind: "payment", reference: object.paymentIntent };
  return { kind: "none" };
}

/**
 * What a PayPal event is about (developer.paypal.com/api/rest/webhooks/event-names): capture and
 * authorization events name a payment, refund events a refund, `CUSTOMER.DISPUTE.*` a dispute.
 * `PAYMENT.CAPTURE.REVERSED` (a chargeback took the money back) carries the reversal, not the
 * dispute: the dispute itself arrives as `CUSTOMER.DISPUTE.CREATED`, so it is acknowledged only.
 * `CHECKOUT.ORDER.APPROVED` and `CHECKOUT.ORDER.COMPLETED` name the order a PayPal Checkout (or
 * 3-D Secure card) payment waits on: its look-up is made due at once, and the look-up, not the
 * event, says whether the buyer approved (docs/CONTRACT.md §12).
 */
export function paypalSubject(type: string, resource: Record<string, unknown>): EventSubject {
  const id = typeof resource.id === "string" ? resource.id : null;
  if (type.startsWith("CUSTOMER.DISPUTE.")) return typeof resource.dispute_id === "string" ? { kind: "dispute", reference: resource.dispute_id } : { kind: "none" };
  if (id === null || type === "PAYMENT.CAPTURE.REVERSED") return { kind: "none" };
  if (type === "PAYMENT.CAPTURE.REFUNDED" || type.startsWith("PAYMENT.REFUND.")) return { kind: "refund", reference: id };
  if (type.startsWith("PAYMENT.CAPTURE.") || type.startsWith("PAYMENT.AUTHORIZATION.")) return { kind: "payment", reference: id };
  if (type === "CHECKOUT.ORDER.APPROVED" || type === "CHECKOUT.ORDER.COMPLETED") return { kind: "payment", reference: id };
  return { kind: "none" };
}
