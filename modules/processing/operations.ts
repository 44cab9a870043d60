import {
  type ActionRequest,
  AUTHENTICATION_EXPIRED,
  type CaptureRequest,
  type ChargeRequest,
  type GatewayCardView,
  type GatewayPayerView,
  type PaymentSource,
  type RefundRequest,
  type VoidRequest,
} from "../gateways";
import type { FinalOutcome, PaymentRow, RefundOutcome, RefundRow } from "../payments";
import type { CardVault } from "../vault";

/** What the processor (and the reconciler) reports a piece of gateway work came to. */
export type ProcessResult =
  | "completed"
  | "authorized"
  | "canceled"
  /** A capture or void the gateway refused (or never got): the payment is AUTHORIZED again. */
  | "refused"
  /** The customer must act at the gateway first (3-D Secure, PayPal approval): the payment waits in REQUIRES_ACTION. */
  | "requires_action"
  | "failed"
  | "refunded"
  | "retry_scheduled"
  | "reconciling"
  | "skipped";

export interface Ending<Outcome> {
  outcome: Outcome;
  result: ProcessResult;
}

/**
 * How one kind of gateway work ends on the gateway's definite answer, or when the gateway
 * confirmably never did it (attempts used up with no outcome unknown, or a lookup that finds
 * nothing). One table per operation, shared by the processor and the reconciler.
 */
export interface Endings<Outcome> {
  /** `card`: the card behind a payment method, as the gateway described it (a charge's or authorization's answer). */
  approved(gatewayReference: string, card?: GatewayCardView, payer?: GatewayPayerView): Ending<Outcome>;
  declined(code: string, message: string, gatewayReference: string | null): Ending<Outcome>;
  notDone(message: string): Ending<Outcome>;
}

const GATEWAY_UNAVAILABLE = "gateway_unavailable";

/** A capture or void that did nothing leaves the authorization as it was, with the reason. */
const authorizationStands = (failureCode: string, failureMessage: string, endsExpiry = false): Ending<FinalOutcome> => ({
  outcome: { status: "AUTHORIZED", failureCode, failureMessage, gatewayReference: null, endsExpiry },
  result: "refused",
});

const failed = (failureCode: string, failureMessage: string, gatewayReference: string | null): Ending<FinalOutcome> => ({
  outcome: { status: "FAILED", failureCode, failureMessage, gatewayReference },
  result: "failed",
});

/** The endings of a payment's operation; `authorizationTtlMs` is how long a new authorization holds. */
export function paymentEndings(payment: Pick<PaymentRow, "operation" | "cancellationReason">, authorizationTtlMs: number): Endings<FinalOutcome> {
  const { operation } = payment;
  switch (operation) {
    case "charge":
    case "authorize":
      return {
        approved: (gatewayReference, card, payer) => {
          const cardView = { ...(card === undefined ? {} : { card }), ...(payer === undefined ? {} : { payer }) };
          return operation === "charge"
            ? { outcome: { status: "COMPLETED", gatewayReference, ...cardView }, result: "completed" }
            : { outcome: { status: "AUTHORIZED", gatewayReference, expiresInMs: authorizationTtlMs, ...cardView }, result: "authorized" };
        },
        // A decline answered under the payment's idempotency key is the gateway's word for the
        // key, which every attempt shared: definite even after unknown attempts.
        declined: (code, message, gatewayReference) => failed(code, message, gatewayReference),
        notDone: (message) => failed(GATEWAY_UNAVAILABLE, message, null),
      };
    case "capture":
      return {
        approved: (gatewayReference) => ({ outcome: { status: "COMPLETED", gatewayReference }, result: "completed" }),
        declined: (code, message) => authorizationStands(code, message),
        notDone: (message) => authorizationStands(GATEWAY_UNAVAILABLE, message),
      };
    case "cancel_action":
      return {
        // The gateway confirms the customer can no longer complete the payment: the merchant's
        // cancel ends CANCELED, the end of the wait FAILED authentication_expired.
        approved: () =>
          payment.cancellationReason === "expired"
            ? failed(AUTHENTICATION_EXPIRED, "The customer did not complete the payment's authentication or approval in time", null)
            : { outcome: { status: "CANCELED" }, result: "canceled" },
        // Refused (the customer completed it meanwhile) or not done: the payment waits again and is
        // looked up at once; what the gateway then says settles it.
        declined: () => WAIT_AGAIN,
        notDone: () => WAIT_AGAIN,
      };
    case "void":
      return {
        approved: () => ({ outcome: { status: "CANCELED" }, result: "canceled" }),
        // The gateway refuses to void an expired authorization it no longer holds (or one taken
        // otherwise): asking again at every expiry round would change nothing. The payment stays
        // AUTHORIZED with the code for the merchant, and its automatic expiry ends. A void that
        // never reached the gateway is tried again at the next round.
        declined: (code, message) => authorizationStands(code, message, payment.cancellationReason === "expired"),
        notDone: (message) => authorizationStands(GATEWAY_UNAVAILABLE, message),
      };
  }
}

/** Back to REQUIRES_ACTION with its page, object and deadline as they were, looked up at once. */
const WAIT_AGAIN: Ending<FinalOutcome> = {
  outcome: { status: "REQUIRES_ACTION", gatewayReference: null, nextActionUrl: null, expiresInMs: 0, firstCheckInMs: 0 },
  result: "requires_action",
};

export const REFUND_ENDINGS: Endings<RefundOutcome> = {
  approved: (gatewayReference) => ({ outcome: { status: "SUCCEEDED", gatewayReference }, result: "refunded" }),
  declined: (failureCode, failureMessage, gatewayReference) => ({
    outcome: { status: "FAILED", failureCode, failureMessage, gatewayReference },
    result: "failed",
  }),
  notDone: (failureMessage) => ({
    outcome: { status: "FAILED", failureCode: GATEWAY_UNAVAILABLE, failureMessage, gatewayReference: null },
    result: "failed",
  }),
};

/** Derived only from the payment id, identical on every attempt and every lookup. */
export function chargeIdempotencyKey(paymentId: string): string {
  return `paystream-${paymentId}`;
}

/**
 * A capture's or void's key: the payment id, the operation, and where the operation's attempts
 * began. Every attempt and lookup of one capture sends the same key; a capture the merchant asks
 * for again after the gateway refused (or never got) the first must not replay that refusal,
 * and it starts from a later attempt count.
 */
export function operationIdempotencyKey(payment: PaymentRow): string {
  return `paystream-${payment.id}-${payment.operation}-${payment.operationAttemptsBase}`;
}

/** A refund's own key: its id is unique and the same on every attempt. */
export function refundIdempotencyKey(refundId: string): string {
  return `paystream-${refundId}`;
}

/** The operation's own attempt number: `attempts` counts every operation the payment ran. */
export const operationAttempt = (payment: PaymentRow) => payment.attempts - payment.operationAttemptsBase;

function authorizationOf(payment: PaymentRow): string {
  // AUTHORIZED is reached only with the authorization's reference, and capture/void keep it.
  if (payment.gatewayReference === null) throw new Error(`payment ${payment.id} runs a ${payment.operation} without an authorization reference`);
  return payment.gatewayReference;
}

/** What a capture and a void of the payment's authorization both send: every attempt of one operation the same. */
export function voidRequestFor(payment: PaymentRow): VoidRequest {
  return {
    paymentId: payment.id,
    idempotencyKey: operationIdempotencyKey(payment),
    currency: payment.currency,
    gatewayReference: authorizationOf(payment),
    attempt: operationAttempt(payment),
    authorizedAmount: payment.amount,
  };
}

export function captureRequestFor(payment: PaymentRow): CaptureRequest {
  return { ...voidRequestFor(payment), amount: payment.captureAmount ?? payment.amount };
}

export function refundRequestFor(refund: RefundRow, payment: PaymentRow): RefundRequest {
  // Only a COMPLETED payment is refunded, and COMPLETED always carries the charge's reference.
  if (payment.gatewayReference === null) throw new Error(`refund ${refund.id}: payment ${payment.id} has no gateway reference`);
  return {
    paymentId: payment.id,
    refundId: refund.id,
    idempotencyKey: refundIdempotencyKey(refund.id),
    currency: refund.currency,
    gatewayReference: payment.gatewayReference,
    attempt: refund.attempts,
    amount: refund.amount,
    capturedAmount: payment.amountCaptured,
    reason: refund.reason,
  };
}

type OpenedCard = ReturnType<CardVault["open"]>;

/**
 * What pays for a payment: the payment method it was created with, or its card opened from the
 * vault (null when it cannot be: no sealed card, or one that does not open).
 */
export function paymentSourceOf(payment: PaymentRow, openCard: () => OpenedCard | null): PaymentSource | null {
  // A payment that waited for its customer continues the gateway's object they acted on (the
  // card is gone by then, and must not be sent again).
  if (continuesAction(payment) && payment.gatewayReference !== null) return { continues: payment.gatewayReference };
  if (payment.paymentMethod === PAYPAL_WALLET) return { wallet: PAYPAL_WALLET };
  if (payment.paymentMethod !== null) return { paymentMethod: payment.paymentMethod };
  const card = openCard();
  // A card payment always has its expiry (payments_card_view_check).
  if (card === null || payment.cardExpMonth === null || payment.cardExpYear === null) return null;
  return { card: { number: card.number, expMonth: payment.cardExpMonth, expYear: payment.cardExpYear, cvc: card.cvc, holderName: card.holderName ?? null } };
}

/** `"paymentMethod": "paypal"`: PayPal Checkout, the buyer approves at PayPal (docs/CONTRACT.md §12). */
export const PAYPAL_WALLET = "paypal";

/** Whether a charge or authorization continues what the customer approved: the payment waited for them, and the gateway's object is known. */
export function continuesAction(payment: Pick<PaymentRow, "nextActionUrl" | "operation">): boolean {
  return payment.nextActionUrl !== null && (payment.operation === "charge" || payment.operation === "authorize");
}

/** What a look-up or cancel of a payment waiting for its customer sends. */
export function actionRequestFor(payment: PaymentRow): ActionRequest {
  if (payment.gatewayReference === null) throw new Error(`payment ${payment.id} waits for its customer without the gateway's object`);
  return {
    paymentId: payment.id,
    idempotencyKey: chargeIdempotencyKey(payment.id),
    gatewayReference: payment.gatewayReference,
    amount: payment.amount,
    currency: payment.currency,
    capture: payment.captureMethod === "automatic",
    paymentMethod: payment.paymentMethod === PAYPAL_WALLET ? null : payment.paymentMethod,
    wallet: payment.paymentMethod === PAYPAL_WALLET ? PAYPAL_WALLET : null,
  };
}

/** The charge (or authorization) every attempt of a payment sends: identical each time but for the attempt number. */
export function chargeRequestFor(payment: PaymentRow, source: PaymentSource): ChargeRequest {
  return {
    paymentId: payment.id,
    idempotencyKey: chargeIdempotencyKey(payment.id),
    amount: payment.amount,
    currency: payment.currency,
    ...source,
    customer: { email: payment.customerEmail, name: payment.customerName, reference: payment.customerReference },
    description: payment.description,
    attempt: operationAttempt(payment),
    capture: payment.operation !== "authorize",
    returnUrl: payment.returnUrl,
    cancelUrl: payment.cancelUrl,
  };
}
