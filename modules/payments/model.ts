import Type from "typebox";
import { component, nullable, stringEnum } from "../http";
import { DISPUTE_STATUSES } from "./dispute-status";
import { DISPUTE_ID, PAYMENT_ID, REFUND_ID } from "./ids";
import { REFUND_REASONS, REFUND_STATUSES } from "./refund-status";
import { PAYMENT_STATUSES } from "./schema";
import { CANCELLATION_REASONS, CAPTURE_METHODS } from "./status";

/** The payment object of docs/CONTRACT.md §3: the one place its fields are documented. */
export const PaymentSchema = component(
  "Payment",
  Type.Object(
    {
      id: Type.String(PAYMENT_ID.doc),
      status: stringEnum(PAYMENT_STATUSES),
      amount: Type.Integer({ description: "Integer minor units (whole units for zero-decimal currencies)" }),
      currency: Type.String({ pattern: "^[A-Z]{3}$", examples: ["USD"] }),
      description: nullable(Type.String()),
      metadata: Type.Record(Type.String(), Type.String()),
      card: nullable(
        Type.Object(
          {
            brand: Type.String({ examples: ["visa"] }),
            last4: Type.String({ pattern: "^[0-9]{4}$", examples: ["4242"] }),
            expMonth: Type.Integer({ minimum: 1, maximum: 12 }),
            expYear: Type.Integer({ minimum: 1000, maximum: 9999 }),
            fingerprint: nullable(
              Type.String({
                description:
                  "Keyed hash of the card number: equal for the same card, not reversible. For a payment method, the gateway's own fingerprint (Stripe's), or null when the gateway gives none (PayPal)",
              }),
            ),
          },
          {
            additionalProperties: false,
            description: "The card: as sent in `card`, or, for a `paymentMethod`, as the gateway described it when it approved the payment (null until then)",
          },
        ),
      ),
      paymentMethod: nullable(
        Type.String({
          description: "The payment method id the payment was created with instead of a card, or `paypal` for PayPal Checkout (the buyer approves at PayPal)",
          examples: ["pm_card_visa", "paypal"],
        }),
      ),
      payer: nullable(
        Type.Object(
          { id: Type.String({ description: "PayPal's payer id" }), email: nullable(Type.String()) },
          { additionalProperties: false, description: "PayPal Checkout: the buyer as PayPal described them once they approved (null until then, and for cards)" },
        ),
      ),
      returnUrl: nullable(Type.String({ description: "Where the gateway sends the customer back after authenticating or approving" })),
      cancelUrl: nullable(Type.String({ description: "PayPal Checkout: where PayPal sends a buyer who cancels (defaults to returnUrl)" })),
      nextAction: nullable(
        Type.Object(
          {
            type: stringEnum(["redirect"]),
            url: Type.String({ description: "Send the customer here: the gateway's authentication (3-D Secure) or approval (PayPal) page" }),
            expiresAt: Type.String({ format: "date-time", description: "If the customer has not completed it by then, the payment ends FAILED authentication_expired" }),
          },
          { additionalProperties: false, description: "While REQUIRES_ACTION: what the customer must do before the payment can go on" },
        ),
      ),
      customer: Type.Object(
        { email: Type.String(), name: Type.String(), reference: nullable(Type.String()) },
        { additionalProperties: false },
      ),
      gateway: Type.String({ examples: ["simulator"] }),
      gatewayReference: nullable(Type.String()),
      failureCode: nullable(
        Type.String({
          description:
            "Why the payment failed: the gateway's decline (e.g. `card_declined`, `insufficient_funds`), `gateway_unavailable` once the retries are spent, or `gateway_configuration_error` when the merchant's gateway account refused the request (nothing was charged; the account or the gateway settings must change)",
          examples: ["card_declined", "insufficient_funds", "gateway_unavailable", "gateway_configuration_error"],
        }),
      ),
      failureMessage: nullable(Type.String()),
      attempts: Type.Integer({ minimum: 0, description: "Gateway attempts so far" }),
      captureMethod: stringEnum(CAPTURE_METHODS, {
        description: "`automatic`: charged at once; `manual` (created with `capture: false`): authorized, then captured or canceled",
      }),
      amountCaptured: Type.Integer({ minimum: 0, description: "What the gateway captured, in minor units; 0 until COMPLETED" }),
      amountRefunded: Type.Integer({
        minimum: 0,
        description: "The sum of the payment's refunds that are not FAILED (pending ones included); never above amountCaptured",
      }),
      amountDisputed: Type.Integer({
        minimum: 0,
        description: "The sum of the payment's disputes (chargebacks) that are not won, open or lost: what the card holder's bank took or may take back",
      }),
      authorizationExpiresAt: nullable(
        Type.String({ format: "date-time", description: "While AUTHORIZED: when the authorization is voided (CANCELED, reason `expired`) unless captured first" }),
      ),
      canceledAt: nullable(Type.String({ format: "date-time" })),
      cancellationReason: nullable(stringEnum(CANCELLATION_REASONS)),
      outcome: nullable(
        stringEnum(["unknown"], {
          description:
            "`unknown` while an attempt's outcome is unknown and no gateway answer has settled it: the card may have been charged, and the payment stays PROCESSING until the gateway says (never FAILED on a guess)",
        }),
      ),
      nextCheckAt: nullable(
        Type.String({ format: "date-time", description: "While the outcome is unknown and attempts are used up: when the gateway is asked next" }),
      ),
      createdAt: Type.String({ format: "date-time" }),
      updatedAt: Type.String({ format: "date-time" }),
      completedAt: nullable(Type.String({ format: "date-time" })),
    },
    { additionalProperties: false, description: "A payment. The full card number and the CVC are never returned." },
  ),
);

/** The refund object of docs/CONTRACT.md §8: the one place its fields are documented. */
export const RefundSchema = component(
  "Refund",
  Type.Object(
    {
      id: Type.String(REFUND_ID.doc),
      paymentId: Type.String(PAYMENT_ID.doc),
      amount: Type.Integer({ minimum: 1, description: "Integer minor units of the payment's currency" }),
      currency: Type.String({ pattern: "^[A-Z]{3}$", examples: ["USD"] }),
      status: stringEnum(REFUND_STATUSES, {
        description: "PENDING until the gateway's definite answer; a refund that may have reached the card is never FAILED on a guess",
      }),
      reason: nullable(stringEnum(REFUND_REASONS)),
      metadata: Type.Record(Type.String(), Type.String()),
      failureCode: nullable(Type.String({ examples: ["refund_declined", "gateway_unavailable"] })),
      failureMessage: nullable(Type.String()),
      gatewayReference: nullable(Type.String()),
      outcome: nullable(
        stringEnum(["unknown"], {
          description: "`unknown` while an attempt's outcome is unknown and no gateway answer has settled it: the refund stays PENDING until the gateway says",
        }),
      ),
      nextCheckAt: nullable(
        Type.String({ format: "date-time", description: "While the outcome is unknown and attempts are used up: when the gateway is asked next" }),
      ),
      createdAt: Type.String({ format: "date-time" }),
      updatedAt: Type.String({ format: "date-time" }),
      completedAt: nullable(Type.String({ format: "date-time", description: "When the refund became SUCCEEDED or FAILED" })),
    },
    { additionalProperties: false, description: "A refund of (part of) a captured payment" },
  ),
);

/** The dispute object of docs/CONTRACT.md §10: the one place its fields are documented. */
export const DisputeSchema = component(
  "Dispute",
  Type.Object(
    {
      id: Type.String(DISPUTE_ID.doc),
      paymentId: Type.String(PAYMENT_ID.doc),
      amount: Type.Integer({ minimum: 0, description: "Disputed amount, integer minor units of `currency`" }),
      currency: Type.String({ pattern: "^[A-Z]{3}$", examples: ["USD"] }),
      reason: Type.String({ description: "The gateway's reason, as it names it", examples: ["fraudulent", "product_not_received", "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"] }),
      status: stringEnum(DISPUTE_STATUSES, {
        description: "`needs_response`: evidence may be submitted (at the gateway) until `evidenceDueBy`; `under_review`: the issuer is deciding; `won` / `lost`: closed",
      }),
      evidenceDueBy: nullable(Type.String({ format: "date-time" })),
      gatewayReference: Type.String({ description: "The gateway's dispute id", examples: ["dp_1MtJUT2eZvKYlo2CNaw2HvEv", "PP-D-27803"] }),
      createdAt: Type.String({ format: "date-time" }),
      updatedAt: Type.String({ format: "date-time" }),
    },
    { additionalProperties: false, description: "A dispute (chargeback) of a payment, as the gateway's own record shows it" },
  ),
);
