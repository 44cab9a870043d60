import Type from "typebox";
import { component, nullable, stringEnum } from "../http";
import { PAYMENT_ID } from "../payments";
import { REFUND_ID } from "./ids";
import { REFUND_REASONS, REFUND_STATUSES } from "./status";

/** The refund object of contract §8: the one place its fields are documented. */
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
