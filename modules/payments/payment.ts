import { unknownOutcomeView } from "./gateway-work";
import type { PaymentRow, PaymentStatus } from "./schema";
import type { CancellationReason, CaptureMethod } from "./status";

/** The payment object of the public API (docs/CONTRACT.md §3). */
export interface Payment {
  id: string;
  status: PaymentStatus;
  amount: number;
  currency: string;
  description: string | null;
  metadata: Record<string, string>;
  /**
   * The card: from intake's card data, or, when a payment method paid, as the gateway described it
   * on approval (null until then; `fingerprint` then the gateway's own, or null).
   */
  card: { brand: string; last4: string; expMonth: number; expYear: number; fingerprint: string | null } | null;
  /** The payment method the gateway was asked to charge instead of a card, or null (docs/CONTRACT.md §9). */
  paymentMethod: string | null;
  /** PayPal Checkout: the buyer as PayPal described them on approval (docs/CONTRACT.md §12). */
  payer: { id: string; email: string | null } | null;
  returnUrl: string | null;
  cancelUrl: string | null;
  /** While REQUIRES_ACTION: the page the customer must visit, and until when (docs/CONTRACT.md §9). */
  nextAction: { type: "redirect"; url: string; expiresAt: string } | null;
  customer: { email: string; name: string; reference: string | null };
  gateway: string;
  gatewayReference: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  attempts: number;
  /** `automatic`: charged at once; `manual`: authorized, to be captured or canceled (docs/CONTRACT.md §8). */
  captureMethod: CaptureMethod;
  /** What the gateway captured (minor units); 0 until the payment is COMPLETED. */
  amountCaptured: number;
  /** The sum of the payment's refunds that are not FAILED (pending ones included). */
  amountRefunded: number;
  /** The sum of the payment's disputes that are not won: what chargebacks took or may take back (docs/CONTRACT.md §10). */
  amountDisputed: number;
  /** While AUTHORIZED: when the authorization is voided unless captured first. */
  authorizationExpiresAt: string | null;
  canceledAt: string | null;
  cancellationReason: CancellationReason | null;
  /**
   * "unknown" while an attempt's outcome is unknown and no gateway answer has settled it: the card
   * may have been charged (docs/CONTRACT.md §6); null otherwise.
   */
  outcome: "unknown" | null;
  /** While the outcome is unknown: when the gateway is asked next (null while retries go on). */
  nextCheckAt: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export function toPayment(row: PaymentRow): Payment {
  return {
    id: row.id,
    status: row.status,
    amount: row.amount,
    currency: row.currency,
    description: row.description,
    metadata: row.metadata,
    card: cardView(row),
    paymentMethod: row.paymentMethod,
    payer: row.payerId === null ? null : { id: row.payerId, email: row.payerEmail },
    returnUrl: row.returnUrl,
    cancelUrl: row.cancelUrl,
    nextAction:
      row.status === "REQUIRES_ACTION" && row.nextActionUrl !== null && row.actionExpiresAt !== null
        ? { type: "redirect", url: row.nextActionUrl, expiresAt: row.actionExpiresAt.toISOString() }
        : null,
    customer: { email: row.customerEmail, name: row.customerName, reference: row.customerReference },
    gateway: row.gateway,
    gatewayReference: row.gatewayReference,
    failureCode: row.failureCode,
    failureMessage: row.failureMessage,
    attempts: row.attempts,
    captureMethod: row.captureMethod,
    amountCaptured: row.amountCaptured,
    amountRefunded: row.amountRefunded,
    amountDisputed: row.amountDisputed,
    authorizationExpiresAt: row.status === "AUTHORIZED" && row.authorizationExpiresAt ? row.authorizationExpiresAt.toISOString() : null,
    canceledAt: row.canceledAt ? row.canceledAt.toISOString() : null,
    cancellationReason: row.cancellationReason,
    ...unknownOutcomeView(row, row.status === "PROCESSING"),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    completedAt: row.completedAt ? row.completedAt.toISOString() : null,
  };
}

function cardView(row: PaymentRow): Payment["card"] {
  const { cardBrand: brand, cardLast4: last4, cardExpMonth: expMonth, cardExpYear: expYear } = row;
  if (brand === null || last4 === null || expMonth === null || expYear === null) return null;
  return { brand, last4, expMonth, expYear, fingerprint: row.cardFingerprint };
}
