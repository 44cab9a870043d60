/**
 * Pure classification of Stripe answers (PaymentIntents and SDK errors) into ChargeOutcomes.
 *
 * Inputs are typed structurally and read defensively: a response body that is not the
 * documented shape must become an outcome, never an exception.
 */

import {
  type ActionOutcome,
  AUTHENTICATION_FAILED,
  AUTHENTICATION_REQUIRED,
  type ChargeOutcome,
  type DisputeRecord,
  GATEWAY_CONFIGURATION_ERROR,
  type GatewayCardView,
  type GatewayDisputeStatus,
  type LookupOutcome,
  type OperationOutcome,
  PAYMENT_METHOD_NOT_FOUND,
  type RefundRecord,
} from "../port";

/** The metadata key under which every PaymentIntent (and every refund) carries our payment id. */
export const PAYMENT_ID_METADATA_KEY = "paystream_payment_id";
/** The metadata key under which every refund carries our refund id: a lookup finds it by that. */
export const REFUND_ID_METADATA_KEY = "paystream_refund_id";

/** The fields of a stripe-node error this module reads (`type` is the SDK class name). */
export interface StripeErrorLike {
  type?: unknown;
  rawType?: unknown;
  statusCode?: unknown;
  code?: unknown;
  decline_code?: unknown;
  message?: unknown;
  requestId?: unknown;
  detail?: unknown;
  payment_intent?: unknown;
  param?: unknown;
}

/** Network failures where the request provably never reached Stripe (nothing can have been charged). */
const NEVER_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ConnectionRefused",
  "FailedToOpenSocket",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

const DEFAULT_DECLINE_MESSAGE = "The card was declined.";

/**
 * A confirmed PaymentIntent's outcome. With `capture: false` (capture_method=manual) the charge
 * is an authorization: `requires_capture` is its approval, and a later capture (`succeeded`)
 * still means it was authorized.
 */
export function mapPaymentIntent(intent: unknown, capture = true): ChargeOutcome {
  if (!isPaymentIntent(intent)) {
    // A 2xx we cannot read: the request took effect, and we cannot tell how.
    return { kind: "unknown", reason: "stripe_malformed_response: not a PaymentIntent" };
  }
  const id = intent.id;
  const approved = (): ChargeOutcome => {
    const card = cardViewOf(intent.payment_method);
    return card === null ? { kind: "approved", gatewayReference: id } : { kind: "approved", gatewayReference: id, card };
  };
  switch (intent.status) {
    case "succeeded":
      return approved();
    case "requires_capture":
      if (!capture) return approved();
      return { kind: "unknown", reason: `stripe_unexpected_status: requires_capture (${id})`, gatewayReference: id };
    case "requires_action":
    case "requires_source_action": {
      // Confirmed with a return_url, Stripe names the page the customer authenticates at
      // (next_action.type redirect_to_url). Any other action (use_stripe_sdk: Stripe.js on a page
      // we do not have) cannot be completed by this payment's customer: nothing will be charged.
      const url = redirectUrlOf(intent.next_action);
      if (url !== null) return { kind: "requires_action", gatewayReference: id, url };
      return {
        kind: "declined",
        code: AUTHENTICATION_REQUIRED,
        message: "The card issuer requires 3-D Secure authentication, and the payment had no returnUrl to send the customer back to.",
        gatewayReference: id,
      };
    }
    case "requires_payment_method":
      // After a confirm, this status means the attempt failed; last_payment_error says why.
      return isRecord(intent.last_payment_error)
        ? mapCardFailure(intent.last_payment_error, id)
        : { kind: "declined", code: "card_declined", message: DEFAULT_DECLINE_MESSAGE, gatewayReference: id };
    case "processing":
      return { kind: "unknown", reason: `stripe_payment_processing: ${id}`, gatewayReference: id };
    case "canceled":
      return { kind: "declined", code: "payment_canceled", message: "The PaymentIntent was canceled.", gatewayReference: id };
    default:
      // requires_confirmation cannot follow a confirmed create.
      return { kind: "unknown", reason: `stripe_unexpected_status: ${intent.status} (${id})`, gatewayReference: id };
  }
}

/**
 * The card of an expanded `payment_method` (a PaymentMethod object with `card`), or null when the
 * answer holds only its id or no card: brand, last4, exp_month, exp_year and fingerprint as Stripe
 * documents them on the PaymentMethod's `card` hash.
 */
export function cardViewOf(paymentMethod: unknown): GatewayCardView | null {
  if (!isRecord(paymentMethod) || !isRecord(paymentMethod.card)) return null;
  const { brand, last4, exp_month: expMonth, exp_year: expYear, fingerprint } = paymentMethod.card;
  if (typeof brand !== "string" || typeof last4 !== "string" || !/^[0-9]{4}$/.test(last4)) return null;
  if (typeof expMonth !== "number" || typeof expYear !== "number") return null;
  return { brand, last4, expMonth, expYear, fingerprint: typeof fingerprint === "string" ? fingerprint : null };
}

/**
 * Card failures from a 402 card_error or a PaymentIntent's last_payment_error. The decline_code is
 * the most specific reason; generic_decline is reported as card_declined.
 */
export function mapCardFailure(failure: StripeErrorLike, gatewayReference: string | null): OperationOutcome {
  const code = stringOrNull(failure.code);
  const declineCode = stringOrNull(failure.decline_code);
  // Nothing was charged. Stripe replays this stored 402 for the same idempotency key (24 hours).
  if (code === "processing_error" || declineCode === "processing_error") {
    return { kind: "transient", reason: "stripe_processing_error" };
  }
  // The customer failed or abandoned 3-D Secure: the PaymentIntent went back to
  // requires_payment_method with this code in last_payment_error.
  if (code === "payment_intent_authentication_failure") {
    return {
      kind: "declined",
      code: AUTHENTICATION_FAILED,
      message: scrub(stringOrNull(failure.message) ?? "The customer did not complete authentication."),
      gatewayReference,
    };
  }
  // authentication_required: the issuer asked for authentication and the request said not to wait
  // for it (error_on_requires_action). Stripe's docs also name the failure requires_action_not_handled.
  if (code === "authentication_required" || declineCode === "authentication_required" || code === "requires_action_not_handled") {
    return {
      kind: "declined",
      code: AUTHENTICATION_REQUIRED,
      message: scrub(stringOrNull(failure.message) ?? "The card issuer requires authentication."),
      gatewayReference,
    };
  }
  const resolved = declineCode === "generic_decline" ? "card_declined" : (declineCode ?? code ?? "card_declined");
  return {
    kind: "declined",
    code: resolved,
    message: scrub(stringOrNull(failure.message) ?? DEFAULT_DECLINE_MESSAGE),
    gatewayReference,
  };
}

export function mapStripeError(error: unknown): OperationOutcome {
  if (!isRecord(error)) {
    // Not an error the SDK makes: we cannot tell whether the request left.
    return { kind: "unknown", reason: "stripe_client_error" };
  }
  const e: StripeErrorLike = error;
  const status = typeof e.statusCode === "number" ? e.statusCode : null;
  const code = stringOrNull(e.code);
  const suffix = requestContext(status, stringOrNull(e.requestId));

  // Another request or Stripe process holds the object's lock: nothing happened, retry later.
  if (code === "lock_timeout") {
    return { kind: "transient", reason: `stripe_lock_timeout${suffix}` };
  }
  if (e.rawType === "idempotency_error" || e.type === "StripeIdempotencyError") {
    // 409 idempotency_key_in_use: a request with the same key is still running, ours did nothing.
    if (code === "idempotency_key_in_use" || status === 409) {
      return { kind: "transient", reason: `stripe_idempotency_key_in_use${suffix}` };
    }
    // The key was already used with other parameters: an earlier request under it took effect.
    return { kind: "unknown", reason: `stripe_idempotency_key_reused${suffix}` };
  }

  switch (e.type) {
    case "StripeCardError":
      return mapCardFailure(e, paymentIntentId(e.payment_intent));
    case "StripeRateLimitError":
      return { kind: "transient", reason: `stripe_rate_limited${suffix}` };
    case "StripeConnectionError":
      return mapConnectionError(e.detail);
    case "StripeAuthenticationError":
    case "StripePermissionError":
      // A wrong or revoked key is a configuration fault, not the payer's: keep payments retryable
      // instead of failing every one of them until the key is fixed.
      return { kind: "transient", reason: `gateway_authentication_failed${suffix}` };
    case "StripeInvalidRequestError":
      if (isRawCardDataRefusal(e)) {
        return {
          kind: "declined",
          code: GATEWAY_CONFIGURATION_ERROR,
          message: scrub(stringOrNull(e.message) ?? "The Stripe account does not accept raw card data."),
          gatewayReference: paymentIntentId(e.payment_intent),
        };
      }
      // The merchant's payment method id names nothing on this account (or in this mode).
      if (code === "resource_missing" && e.param === "payment_method") {
        return {
          kind: "declined",
          code: PAYMENT_METHOD_NOT_FOUND,
          message: scrub(stringOrNull(e.message) ?? "No such PaymentMethod."),
          gatewayReference: paymentIntentId(e.payment_intent),
        };
      }
      // Our request is wrong (a bug): retrying the same request cannot succeed.
      return {
        kind: "declined",
        code: "gateway_invalid_request",
        message: scrub(stringOrNull(e.message) ?? "Stripe rejected the request."),
        gatewayReference: paymentIntentId(e.payment_intent),
      };
    default:
      // StripeAPIError: a 5xx, or a body that was not JSON. Stripe may have charged before it
      // failed, and it replays a stored 500 for the same idempotency key, so a retry learns
      // nothing: only a lookup can tell (docs.stripe.com/error-low-level#server-errors).
      return { kind: "unknown", reason: `stripe_api_error${suffix}` };
  }
}

/**
 * Stripe's refusal of raw card numbers on an account without raw card data APIs (test mode
 * included): a 400 invalid_request_error with no code, whose message begins "Sending credit card
 * numbers directly to the Stripe API is generally unsafe" and links to
 * support.stripe.com/questions/enabling-access-to-raw-card-data-apis.
 */
function isRawCardDataRefusal(error: StripeErrorLike): boolean {
  const message = stringOrNull(error.message) ?? "";
  return /sending credit card numbers directly to the stripe api/i.test(message) || message.includes("enabling-access-to-raw-card-data-apis");
}

function mapConnectionError(detail: unknown): OperationOutcome {
  const code = isRecord(detail) ? stringOrNull(detail.code) : null;
  if (code !== null && NEVER_SENT_CODES.has(code)) {
    return { kind: "transient", reason: `stripe_unreachable: ${code}` };
  }
  // Timed out or cut off after the request left: Stripe may have processed it.
  return { kind: "unknown", reason: `stripe_no_answer: ${code ?? "connection error"}` };
}

/**
 * Outcome from the PaymentIntents a metadata search found for one payment, or null when they
 * tell nothing (none found: never arrived, or not yet indexed — search lags up to a minute).
 */
export function mapSearchResult(intents: readonly unknown[], capture = true): ChargeOutcome | null {
  const outcomes = intents.filter(isPaymentIntent).map((intent) => mapPaymentIntent(intent, capture));
  return (
    outcomes.find((o) => o.kind === "approved") ??
    outcomes.find((o) => o.kind === "unknown") ??
    outcomes.find((o) => o.kind === "requires_action") ??
    outcomes[0] ??
    null
  );
}

/** What a lookup needs to know about the payment it looks for. */
export interface StripeLookupTarget {
  paymentId: string;
  /** In Stripe's units for `currency`. */
  amount: number;
  currency: string;
  /** When the last charge attempt ended. */
  lastAttemptAt: Date;
  /** Whether the charge captured at once; false: an authorization (see mapPaymentIntent). */
  capture: boolean;
}

/**
 * A lookup's answer from the PaymentIntents found for a payment (retrieved by id, or searched by
 * our metadata). Only intents carrying our payment id, amount and currency count. An empty search
 * proves nothing was charged only once Stripe's search lag has passed since the last attempt:
 * "data is searchable in less than a minute… can be up to an hour behind during outages"
 * (docs.stripe.com/search#data-freshness).
 */
export function mapLookup(
  intents: readonly unknown[],
  target: StripeLookupTarget,
  how: { searched: boolean; searchLagMs: number; now: Date },
): LookupOutcome {
  const ours = intents.filter((intent) => isIntentOf(intent, target));
  if (ours.length === 0) {
    if (intents.length > 0) return { kind: "unknown", reason: "stripe_lookup_foreign_record: no PaymentIntent carries this payment" };
    if (!how.searched) return { kind: "unknown", reason: "stripe_lookup_not_found" };
    return how.now.getTime() - target.lastAttemptAt.getTime() >= how.searchLagMs
      ? { kind: "not_charged", reason: "stripe_search_found_nothing" }
      : { kind: "unknown", reason: "stripe_search_found_nothing_yet: within the search lag" };
  }
  const outcome = mapSearchResult(ours, target.capture);
  if (outcome === null) return { kind: "unknown", reason: "stripe_lookup_unreadable" };
  switch (outcome.kind) {
    case "approved":
    case "declined":
      return outcome;
    case "unknown":
      return { kind: "unknown", reason: outcome.reason };
    case "transient":
      return { kind: "unknown", reason: outcome.reason };
    case "requires_action":
      // Nothing is charged yet and the customer may still authenticate at the PaymentIntent's
      // redirect URL: the payment waits for them as if the charge's answer had come.
      return outcome;
  }
}

/** What checkAction and a continued charge verify about the PaymentIntent they follow (amount in Stripe's units). */
export interface StripeIntentTarget {
  paymentId: string;
  amount: number;
  currency: string;
}

/** Whether a PaymentIntent carries this payment's id, amount and currency: anything else is not ours to act on. */
export function isIntentOf(intent: unknown, target: StripeIntentTarget): boolean {
  return (
    isPaymentIntent(intent) &&
    isRecord(intent.metadata) &&
    intent.metadata[PAYMENT_ID_METADATA_KEY] === target.paymentId &&
    intent.amount === target.amount &&
    intent.currency === target.currency.toLowerCase()
  );
}

/**
 * What became of a PaymentIntent that waited for its customer (requires_action), retrieved by id:
 * charged (`succeeded`, or `requires_capture` for an authorization) → approved; still with the
 * customer or in flight → pending; back at `requires_payment_method` (authentication failed or
 * abandoned, last_payment_error `payment_intent_authentication_failure`; or the card declined
 * after authenticating: its decline code) or `canceled` → failed. A PaymentIntent that is not this
 * payment's is never acted on: unknown.
 */
export function mapActionIntent(intent: unknown, target: StripeIntentTarget & { capture: boolean }): ActionOutcome {
  if (!isPaymentIntent(intent)) return { kind: "unknown", reason: "stripe_malformed_response: not a PaymentIntent" };
  if (!isIntentOf(intent, target)) return { kind: "unknown", reason: `stripe_lookup_foreign_record: ${intent.id} is not this payment's PaymentIntent` };
  switch (intent.status) {
    case "succeeded":
    case "requires_capture": {
      const outcome = mapPaymentIntent(intent, target.capture);
      return outcome.kind === "approved" ? outcome : { kind: "unknown", reason: `stripe_unexpected_status: ${intent.status} (${intent.id})` };
    }
    case "requires_action":
    case "requires_source_action":
    case "requires_confirmation":
    case "processing":
      return { kind: "pending" };
    case "requires_payment_method": {
      const failure = isRecord(intent.last_payment_error) ? mapCardFailure(intent.last_payment_error, intent.id) : null;
      if (failure?.kind === "declined") return { kind: "failed", code: failure.code, message: failure.message };
      return { kind: "failed", code: AUTHENTICATION_FAILED, message: "The customer did not complete authentication." };
    }
    case "canceled":
      return { kind: "failed", code: AUTHENTICATION_FAILED, message: "The PaymentIntent was canceled before the customer completed authentication." };
    default:
      return { kind: "unknown", reason: `stripe_unexpected_status: ${intent.status} (${intent.id})` };
  }
}

/**
 * A cancel of a PaymentIntent that waited for its customer (cancelAction): `canceled` → approved
 * (it can no longer be charged; a requires_capture hold is released by the cancel too).
 */
export function mapCancelActionIntent(intent: unknown): OperationOutcome {
  if (!isPaymentIntent(intent)) return { kind: "unknown", reason: "stripe_malformed_response: not a PaymentIntent" };
  if (intent.status === "canceled") return { kind: "approved", gatewayReference: intent.id };
  return { kind: "unknown", reason: `stripe_unexpected_status: ${intent.status} (${intent.id})`, gatewayReference: intent.id };
}

/**
 * Stripe's refusals of that cancel: payment_intent_unexpected_state with the PaymentIntent
 * attached. Already `canceled` → approved (it can no longer be charged); `succeeded` (the customer
 * completed it meanwhile) → declined, so that the caller looks it up with checkAction. Everything
 * else as any operation's error (mapOperationError).
 */
export function mapCancelActionError(error: unknown): OperationOutcome {
  if (isRecord(error) && error.code === "payment_intent_unexpected_state" && isRecord(error.payment_intent)) {
    const intent = error.payment_intent;
    if (isPaymentIntent(intent) && intent.status === "canceled") return { kind: "approved", gatewayReference: intent.id };
    if (isPaymentIntent(intent)) {
      return {
        kind: "declined",
        code: "payment_intent_unexpected_state",
        message: `The PaymentIntent could not be canceled: it has a status of ${intent.status}.`,
        gatewayReference: intent.id,
      };
    }
  }
  return mapOperationError(error);
}

/** next_action.redirect_to_url.url of a PaymentIntent waiting for its customer, or null for any other action. */
function redirectUrlOf(nextAction: unknown): string | null {
  if (!isRecord(nextAction) || nextAction.type !== "redirect_to_url" || !isRecord(nextAction.redirect_to_url)) return null;
  const url = nextAction.redirect_to_url.url;
  return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
}

/**
 * A capture's or a void's answer: the PaymentIntent after it. Its id stays the reference, as a
 * refund names the PaymentIntent it gives back from.
 */
export function mapOperationIntent(intent: unknown, operation: "capture" | "void"): OperationOutcome {
  if (!isPaymentIntent(intent)) return { kind: "unknown", reason: "stripe_malformed_response: not a PaymentIntent" };
  if (intent.status === (operation === "capture" ? "succeeded" : "canceled")) return { kind: "approved", gatewayReference: intent.id };
  // `processing` or anything a 2xx to this call should not leave: ask again later.
  return { kind: "unknown", reason: `stripe_unexpected_status: ${intent.status} (${intent.id})`, gatewayReference: intent.id };
}

/**
 * A refund's answer. `pending` (and `requires_action`) may still succeed or fail: unknown, so that
 * the reconciler asks again; `failed` and `canceled` gave nothing back.
 */
export function mapRefund(refund: unknown): OperationOutcome {
  if (!isRefund(refund)) return { kind: "unknown", reason: "stripe_malformed_response: not a Refund" };
  switch (refund.status) {
    case "succeeded":
      return { kind: "approved", gatewayReference: refund.id };
    case "failed":
    case "canceled": {
      const why = stringOrNull(refund.failure_reason);
      return {
        kind: "declined",
        code: "refund_failed",
        message: `Stripe could not refund the payment${why === null ? "" : ` (${why})`}.`,
        gatewayReference: refund.id,
      };
    }
    default:
      return { kind: "unknown", reason: `stripe_refund_${refund.status ?? "without_status"}: ${refund.id}`, gatewayReference: refund.id };
  }
}

/**
 * Stripe's refusals of a capture, void or refund: a charge's mapping (mapStripeError), with the
 * invalid-request codes that mean "refused, nothing happened" named as the simulator names them.
 */
export function mapOperationError(error: unknown): OperationOutcome {
  const outcome = mapStripeError(error);
  if (outcome.kind !== "declined" || outcome.code !== "gateway_invalid_request" || !isRecord(error)) return outcome;
  const code = stringOrNull(error.code);
  const intentStatus = isRecord(error.payment_intent) ? error.payment_intent.status : null;
  const named =
    code === "payment_intent_unexpected_state"
      ? intentStatus === "succeeded"
        ? "authorization_already_captured"
        : intentStatus === "canceled"
          ? "authorization_voided"
          : code
      : code === "amount_too_large" || code === "charge_already_refunded"
        ? code
        : // Stripe has answered "Refund amount (…) is greater than unrefunded amount on charge (…)" with no code.
          code === null && error.param === "amount" && /greater than/i.test(String(error.message))
          ? "amount_too_large"
          : null;
  return named === null ? outcome : { ...outcome, code: named };
}

/** What an operation lookup needs to know about the capture or void it looks for (amounts in Stripe's units). */
export interface StripeOperationTarget {
  operation: "capture" | "void";
  paymentId: string;
  /** For a capture: the amount it took. */
  amount: number;
  currency: string;
}

/**
 * Whether a capture or void was done, from the PaymentIntent it acted on (retrieval by id is
 * consistent at once). A capture is found only as the amount it asked for.
 */
export function mapOperationLookup(intent: unknown, target: StripeOperationTarget): LookupOutcome {
  if (!isPaymentIntent(intent) || !isRecord(intent.metadata) || intent.metadata[PAYMENT_ID_METADATA_KEY] !== target.paymentId || intent.currency !== target.currency.toLowerCase())
    return { kind: "unknown", reason: "stripe_lookup_foreign_record: the PaymentIntent is not this payment's" };
  const id = intent.id;
  switch (intent.status) {
    case "succeeded":
      if (target.operation === "void") return { kind: "not_charged", reason: `stripe_intent_captured: ${id} was captured, not voided` };
      return intent.amount_received === target.amount
        ? { kind: "approved", gatewayReference: id }
        : { kind: "unknown", reason: `stripe_lookup_other_amount: ${id} was captured for another amount` };
    case "canceled":
      return target.operation === "void"
        ? { kind: "approved", gatewayReference: id }
        : { kind: "not_charged", reason: `stripe_intent_canceled: ${id} was voided, not captured` };
    case "requires_capture":
      return { kind: "not_charged", reason: `stripe_intent_uncaptured: ${id} still holds its authorization` };
    default:
      return { kind: "unknown", reason: `stripe_unexpected_status: ${intent.status} (${id})` };
  }
}

/** What a refund lookup needs to know about the refund it looks for (amount in Stripe's units). */
export interface StripeRefundTarget {
  refundId: string;
  amount: number;
  currency: string;
}

/**
 * Whether a refund was made, from the PaymentIntent's refunds (a list, consistent at once, unlike
 * search): found by our refund id in its metadata, and counted only with its amount and currency.
 * `complete` says whether the list holds every refund of the PaymentIntent.
 */
export function mapRefundLookup(refunds: readonly unknown[], target: StripeRefundTarget, complete: boolean): LookupOutcome {
  const ours = refunds.filter((refund) => isRefund(refund) && isRecord(refund.metadata) && refund.metadata[REFUND_ID_METADATA_KEY] === target.refundId);
  const [refund] = ours;
  if (refund === undefined) {
    return complete
      ? { kind: "not_charged", reason: "stripe_refund_not_found" }
      : { kind: "unknown", reason: "stripe_refund_not_in_first_page" };
  }
  if (ours.length > 1 || !isRefund(refund) || refund.amount !== target.amount || refund.currency !== target.currency.toLowerCase())
    return { kind: "unknown", reason: "stripe_lookup_other_amount: the refund with this id is not of this amount" };
  const outcome = mapRefund(refund);
  return outcome.kind === "approved" || outcome.kind === "declined" ? outcome : { kind: "unknown", reason: outcome.reason };
}

function isRefund(value: unknown): value is Record<string, unknown> & { id: string; status: string | null } {
  return isRecord(value) && typeof value.id === "string" && value.object === "refund" && (typeof value.status === "string" || value.status === null);
}

function isPaymentIntent(value: unknown): value is Record<string, unknown> & { id: string; status: string } {
  return isRecord(value) && typeof value.id === "string" && typeof value.status === "string";
}

function paymentIntentId(intent: unknown): string | null {
  return isRecord(intent) && typeof intent.id === "string" ? intent.id : null;
}

function requestContext(status: number | null, requestId: string | null): string {
  const parts = [status === null ? null : `HTTP ${status}`, requestId].filter((p) => p !== null);
  return parts.length === 0 ? "" : `: ${parts.join(" ")}`;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** Gateway text is passed on to logs and users: never let a card-number-like digit run through. */
function scrub(text: string): string {
  return text.replace(/\d[\d -]{10,}\d/g, "[redacted]");
}

/**
 * A Stripe Refund object as a RefundRecord (docs.stripe.com/api/refunds/object: `status` is
 * `pending`, `requires_action`, `succeeded`, `failed` or `canceled`; `failure_reason` says why a
 * refund failed). Anything else is unknown, never guessed.
 */
export function mapRefundRecord(refund: unknown): RefundRecord {
  if (!isRecord(refund) || typeof refund.id !== "string" || refund.object !== "refund") return { kind: "unknown", reason: "stripe_malformed_response: not a Refund" };
  const failureReason = stringOrNull(refund.failure_reason);
  switch (refund.status) {
    case "pending":
    case "requires_action":
      return { kind: "found", gatewayReference: refund.id, status: "pending", failureReason: null };
    case "succeeded":
    case "failed":
    case "canceled":
      return { kind: "found", gatewayReference: refund.id, status: refund.status, failureReason };
    default:
      return { kind: "unknown", reason: `stripe_unexpected_refund_status: ${String(refund.status)}` };
  }
}

/**
 * Stripe's dispute statuses (docs.stripe.com/api/disputes/object) in the contract's four: the
 * inquiry (`warning_…`) states count as the dispute states they precede; an inquiry closed without
 * a chargeback (`warning_closed`) and a dispute `prevented` took nothing back, so they are won.
 */
const STRIPE_DISPUTE_STATUSES: Readonly<Record<string, GatewayDisputeStatus>> = {
  warning_needs_response: "needs_response",
  needs_response: "needs_response",
  warning_under_review: "under_review",
  under_review: "under_review",
  warning_closed: "won",
  prevented: "won",
  won: "won",
  lost: "lost",
};

/** A Stripe Dispute object as a DisputeRecord; `toIso` converts Stripe's amount to ISO minor units. */
export function mapDisputeRecord(dispute: unknown, toIso: (value: number, currency: string) => number | null): DisputeRecord {
  if (!isRecord(dispute) || typeof dispute.id !== "string" || dispute.object !== "dispute") return { kind: "unknown", reason: "stripe_malformed_response: not a Dispute" };
  const status = typeof dispute.status === "string" ? STRIPE_DISPUTE_STATUSES[dispute.status] : undefined;
  if (status === undefined) return { kind: "unknown", reason: `stripe_unexpected_dispute_status: ${String(dispute.status)}` };
  const currency = typeof dispute.currency === "string" ? dispute.currency.toUpperCase() : "";
  const amount = typeof dispute.amount === "number" ? toIso(dispute.amount, currency) : null;
  if (amount === null) return { kind: "unknown", reason: `stripe_unreadable_dispute_amount: ${String(dispute.amount)} ${currency}` };
  const intent = isRecord(dispute.payment_intent) ? dispute.payment_intent.id : dispute.payment_intent;
  const dueBy = isRecord(dispute.evidence_details) ? dispute.evidence_details.due_by : null;
  return {
    kind: "found",
    dispute: {
      gatewayReference: dispute.id,
      paymentReference: typeof intent === "string" ? intent : null,
      amount,
      currency,
      reason: stringOrNull(dispute.reason) ?? "general",
      status,
      evidenceDueBy: typeof dueBy === "number" ? new Date(dueBy * 1000) : null,
    },
  };
}
