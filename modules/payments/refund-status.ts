/**
 * THE refund status machine, as ./status.ts is for payments: every guarded update of
 * `refunds` takes its WHERE clause from REFUND_TRANSITIONS.
 *
 * A refund shows PENDING from its creation until the gateway's definite answer; inside PENDING a
 * worker's lease, the attempt number and the reconciler's hold say who may move it, as for a
 * payment's PROCESSING. "Unknown" is a state here too: a refund whose gateway call may have
 * executed is never FAILED until the gateway says it did not (docs/CONTRACT.md §6, §8).
 */

import type { WorkSourceState } from "./gateway-work";

export const REFUND_STATUSES = ["PENDING", "SUCCEEDED", "FAILED"] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/** Stripe's refund reasons (the contract takes these three). */
export const REFUND_REASONS = ["duplicate", "fraudulent", "requested_by_customer"] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

export interface RefundTransition {
  from: readonly WorkSourceState<RefundStatus>[];
  to: readonly RefundStatus[];
}

export const REFUND_TRANSITIONS = {
  /** A worker takes the refund for one gateway attempt: never one the reconciler holds, never one another worker's lease covers. */
  claim: { from: [{ status: "PENDING", reconciling: false, leased: false }], to: ["PENDING"] },
  /** The gateway's definite answer: SUCCEEDED, or FAILED (which gives its amount back to the payment's refundable total). */
  finalize: { from: [{ status: "PENDING" }], to: ["SUCCEEDED", "FAILED"] },
  /** An attempt that will be retried ends: the refund waits, unleased, for its next claim. */
  releaseForRetry: { from: [{ status: "PENDING" }], to: ["PENDING"] },
  /** The last attempt's outcome is unknown: the reconciler takes the refund over. */
  startReconciling: { from: [{ status: "PENDING" }], to: ["PENDING"] },
  /** The reconciler takes, or puts off, a due look-up at the gateway. */
  checkAtGateway: { from: [{ status: "PENDING", reconciling: true }], to: ["PENDING"] },
} as const satisfies Record<string, RefundTransition>;

export type RefundTransitionName = keyof typeof REFUND_TRANSITIONS;

/**
 * Moves out of a final state, kept apart from REFUND_TRANSITIONS so that SUCCEEDED stays final for
 * the lifecycle (a status no transition leaves is final, and gets its completed_at). The one such
 * move: the gateway fails a refund it had reported succeeded (docs/CONTRACT.md §10); the refund's
 * amount goes back to the payment's refundable total in the same statement.
 */
export const REFUND_REVERSALS = {
  failAfterSuccess: { from: [{ status: "SUCCEEDED" }], to: ["FAILED"] },
} as const satisfies Record<string, RefundTransition>;
