/**
 * THE payment status machine: every guarded update of `payments` takes its WHERE clause from
 * TRANSITIONS or AMOUNT_CHANGES (see guardOf in ./repository.ts and ./work-lifecycle.ts), and
 * tests/unit/state-machine.test.ts holds the SQL to the pure `allows` below, so the table and the
 * database cannot disagree.
 */

import type { WorkSourceState } from "./gateway-work";

export const PAYMENT_STATUSES = ["PENDING", "PROCESSING", "REQUIRES_ACTION", "AUTHORIZED", "COMPLETED", "FAILED", "CANCELED"] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * The gateway operation a PROCESSING payment runs (and, once it rests, the last one it ran):
 * `charge` (capture at once) or `authorize` (a hold only, `capture: false`) from PENDING, and
 * again from REQUIRES_ACTION to continue what the customer approved (PayPal's capture of the
 * order); `capture` or `void` from AUTHORIZED; `cancel_action` from REQUIRES_ACTION, to cancel at
 * the gateway what the customer was asked to complete (expiry, merchant cancel). The worker takes the operation from the payment, not
 * from the message, so every message for a payment means "do what the payment needs now".
 */
export const PAYMENT_OPERATIONS = ["charge", "authorize", "capture", "void", "cancel_action"] as const;
export type PaymentOperation = (typeof PAYMENT_OPERATIONS)[number];

/** `automatic`: charged at once; `manual`: authorized, captured (or canceled) later by the merchant. */
export const CAPTURE_METHODS = ["automatic", "manual"] as const;
export type CaptureMethod = (typeof CAPTURE_METHODS)[number];

/** Why a payment was canceled: a merchant's reason, or `expired` when its authorization outlived AUTHORIZATION_TTL_MS. */
export const CANCELLATION_REASONS = ["duplicate", "fraudulent", "requested_by_customer", "abandoned", "expired"] as const;
export type CancellationReason = (typeof CANCELLATION_REASONS)[number];

/** What a guard may ask of a payment: its status, whether the reconciler owns it, whether a worker's lease on it is live. */
export interface PaymentState {
  status: PaymentStatus;
  reconciling: boolean;
  leased: boolean;
}

/** A state a transition may start from; a flag left out matches either way. */
export type SourceState = WorkSourceState<PaymentStatus>;

export interface Transition {
  from: readonly SourceState[];
  to: readonly PaymentStatus[];
}

/**
 * The only moves a payment may make. Within PROCESSING the moves are between attempts: every
 * update of an attempt is also fenced by its attempt number, which is not part of the machine.
 */
export const TRANSITIONS = {
  /**
   * A worker takes the payment for one gateway attempt: a new payment, or one waiting for a retry
   * or whose worker's lease ran out. Never one the reconciler owns: no charge may start for it again.
   */
  claim: {
    from: [{ status: "PENDING" }, { status: "PROCESSING", reconciling: false, leased: false }],
    to: ["PROCESSING"],
  },
  /**
   * An attempt (or the reconciler) got the gateway's definite answer for the payment's operation:
   * charge → COMPLETED | FAILED; authorize → AUTHORIZED | FAILED; capture → COMPLETED, or back to
   * AUTHORIZED when the gateway refuses it; void → CANCELED, or back to AUTHORIZED when refused.
   */
  finalize: { from: [{ status: "PROCESSING" }], to: ["COMPLETED", "FAILED", "AUTHORIZED", "CANCELED", "REQUIRES_ACTION"] },
  /** An attempt that will be retried ends: the payment waits, unleased, for its next claim. */
  releaseForRetry: { from: [{ status: "PROCESSING" }], to: ["PROCESSING"] },
  /** The last attempt's outcome is unknown: the reconciler takes the payment over. */
  startReconciling: { from: [{ status: "PROCESSING" }], to: ["PROCESSING"] },
  /** The reconciler takes, or puts off, a due look-up at the gateway. */
  checkAtGateway: { from: [{ status: "PROCESSING", reconciling: true }], to: ["PROCESSING"] },
  /** The merchant cancels a payment no worker has claimed yet: nothing reached the gateway, nothing to undo. */
  cancelPending: { from: [{ status: "PENDING" }], to: ["CANCELED"] },
  /** The merchant captures an authorization (all or part of it): the worker runs the capture. */
  requestCapture: { from: [{ status: "AUTHORIZED" }], to: ["PROCESSING"] },
  /** The merchant cancels an authorization, or it expired: the worker voids it at the gateway. */
  requestVoid: { from: [{ status: "AUTHORIZED" }], to: ["PROCESSING"] },
  /**
   * The customer's authentication (3-D Secure) or approval (PayPal) is due to be looked up at the
   * gateway: the check is taken (put off while it runs) and, if it told nothing, scheduled again.
   */
  checkAction: { from: [{ status: "REQUIRES_ACTION" }], to: ["REQUIRES_ACTION"] },
  /**
   * The gateway says what became of the customer's action: charged (COMPLETED), authorized
   * (AUTHORIZED), or failed or abandoned (FAILED authentication_failed).
   */
  settleAction: { from: [{ status: "REQUIRES_ACTION" }], to: ["COMPLETED", "AUTHORIZED", "FAILED"] },
  /** The buyer approved and the charge is still to be made (PayPal's capture of the order): the worker continues. */
  continueAfterAction: { from: [{ status: "REQUIRES_ACTION" }], to: ["PROCESSING"] },
  /**
   * The merchant cancels a payment waiting for its customer, or the wait outlived ACTION_TTL_MS:
   * the worker cancels at the gateway first (cancel_action), and only then is it CANCELED (or
   * FAILED authentication_expired).
   */
  requestActionCancel: { from: [{ status: "REQUIRES_ACTION" }], to: ["PROCESSING"] },
} as const satisfies Record<string, Transition>;

export type TransitionName = keyof typeof TRANSITIONS;

/**
 * Changes of a payment's amounts that leave its status as it is: guarded like transitions, but not
 * moves of the machine (in TRANSITIONS a COMPLETED → COMPLETED would make COMPLETED look unfinished).
 */
export const AMOUNT_CHANGES = {
  /** A refund reserves part of what was captured: only a COMPLETED payment has money to give back. */
  reserveRefund: { from: [{ status: "COMPLETED" }] },
} as const satisfies Record<string, { from: readonly SourceState[] }>;

export type AmountChangeName = keyof typeof AMOUNT_CHANGES;

/** Whether an amount change may be made to a payment in `status`: what its SQL guard decides in the database. */
export function allowsAmountChange(change: AmountChangeName, status: PaymentStatus): boolean {
  return AMOUNT_CHANGES[change].from.some((source) => source.status === status);
}

const matches = (source: SourceState, state: PaymentState) =>
  source.status === state.status &&
  (source.reconciling === undefined || source.reconciling === state.reconciling) &&
  (source.leased === undefined || source.leased === state.leased);

/** Whether `transition` may start from `state`: what the transition's SQL guard decides in the database. */
export function allows(transition: TransitionName, state: PaymentState): boolean {
  return TRANSITIONS[transition].from.some((source) => matches(source, state));
}

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return Object.values(TRANSITIONS).some(
    (t: Transition) => t.to.includes(to) && t.from.some((source) => source.status === from),
  );
}

export function isFinal(status: PaymentStatus): boolean {
  return !PAYMENT_STATUSES.some((to) => canTransition(status, to));
}

export const FINAL_STATUSES = PAYMENT_STATUSES.filter(isFinal);
/** Payments in these statuses are in flight: something (a worker, the reconciler) still has to move them. */
export const UNFINISHED_STATUSES = PAYMENT_STATUSES.filter((status) => !isFinal(status));
