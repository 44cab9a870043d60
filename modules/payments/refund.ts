import { unknownOutcomeView } from "./gateway-work";
import type { RefundRow } from "./refund-schema";
import type { RefundReason, RefundStatus } from "./refund-status";

/** The refund object of the public API (docs/CONTRACT.md §8). */
export interface Refund {
  id: string;
  paymentId: string;
  amount: number;
  currency: string;
  status: RefundStatus;
  reason: RefundReason | null;
  metadata: Record<string, string>;
  failureCode: string | null;
  failureMessage: string | null;
  gatewayReference: string | null;
  /**
   * "unknown" while a gateway attempt's outcome is unknown and no gateway answer has settled it:
   * the money may have gone back to the card (docs/CONTRACT.md §6); null otherwise.
   */
  outcome: "unknown" | null;
  /** While the outcome is unknown and the reconciler holds the refund: when the gateway is asked next. */
  nextCheckAt: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export function toRefund(row: RefundRow): Refund {
  return {
    id: row.id,
    paymentId: row.paymentId,
    amount: row.amount,
    currency: row.currency,
    status: row.status,
    reason: row.reason,
    metadata: row.metadata,
    failureCode: row.failureCode,
    failureMessage: row.failureMessage,
    gatewayReference: row.gatewayReference,
    ...unknownOutcomeView(row, row.status === "PENDING"),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    completedAt: row.completedAt ? row.completedAt.toISOString() : null,
  };
}
