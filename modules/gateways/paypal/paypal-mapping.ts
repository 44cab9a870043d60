/**
 * Pure classification of PayPal Orders v2 answers into ChargeOutcomes (amounts: paypal-units.ts).
 *
 * Orders come from the SDK (camelCase models); error bodies are PayPal's raw JSON envelope
 * `{ name, message, debug_id, details: [{ issue, description }] }`.
 */

import {
  AbortError,
  ApiError,
  ArgumentsValidationError,
  CaptureStatus,
  OrderStatus,
  type Order,
} from "@paypal/paypal-server-sdk";
import type { ChargeOutcome, LookupOutcome } from "../port";

/**
 * PayPal processor response codes (processor_response.response_code on a declined capture),
 * normalised to the decline codes Stripe uses so that both gateways report alike.
 */
const PROCESSOR_DECLINE_CODES: Readonly<Record<string, string>> = {
  "5120": "insufficient_funds", // INSUFFICIENT_FUNDS
  "5400": "expired_card", // EXPIRED_CARD
  PPEF: "expired_card", // EXPIRED_FUNDING_INSTRUMENT
  "00N7": "incorrect_cvc", // CVV2 failure
  "5110": "incorrect_cvc", // CVV2_FAILURE
  "1382": "incorrect_cvc", // INVALID_CARD_VERIFICATION_VALUE
  PCVV: "incorrect_cvc",
  PPC2: "incorrect_cvc", // ARC_CVV
  "9520": "lost_card", // LOST_OR_STOLEN: PayPal does not tell lost from stolen
  "5150": "pickup_card", // PICKUP_CARD_SPECIAL_CONDITIONS
  "9500": "fraudulent", // SUSPECTED_FRAUD
  "5650": "authentication_required", // DECLINED_SCA_REQUIRED
};

/**
 * Processor codes that say "try again later": nothing was charged. While PayPal keeps the
 * PayPal-Request-Id, a retry under it is answered with the same stored decline.
 */
const PROCESSOR_RETRY_CODES = new Set(["0960", "5920", "8000", "8100", "8110", "8220", "9100", "PPER", "PPNT"]);

/** details[0].issue values of 4xx error envelopes that are card declines. */
const ISSUE_DECLINE_CODES: Readonly<Record<string, string>> = {
  INSTRUMENT_DECLINED: "card_declined",
  TRANSACTION_REFUSED: "card_declined",
  PAYMENT_DENIED: "card_declined",
  MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED: "card_declined",
  REDIRECT_PAYER_FOR_ALTERNATE_FUNDING: "card_declined",
  CARD_EXPIRED: "expired_card",
  INVALID_SECURITY_CODE_LENGTH: "incorrect_cvc",
  PAYER_ACTION_REQUIRED: "authentication_required",
};

/** Issues saying an earlier request for this payment already created an order we cannot see here. */
const ISSUE_EARLIER_ORDER = new Set(["DUPLICATE_INVOICE_ID", "ORDER_ALREADY_CAPTURED"]);

/** Network failures where the request provably never reached PayPal. */
const NEVER_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** CREATED / APPROVED / SAVED orders still need POST /capture. */
export function isAwaitingCapture(order: Order): order is Order & { id: string } {
  return (
    typeof order.id === "string" &&
    (order.status === OrderStatus.Created || order.status === OrderStatus.Approved || order.status === OrderStatus.Saved)
  );
}

export function mapOrder(order: Order): ChargeOutcome {
  if (typeof order.id !== "string" || typeof order.status !== "string") {
    // A 2xx we cannot read: the request took effect, and we cannot tell how.
    return { kind: "unknown", reason: "paypal_malformed_response: not an order" };
  }
  switch (order.status) {
    case OrderStatus.Completed:
      return mapCapture(order, order.id);
    case OrderStatus.PayerActionRequired:
      return {
        kind: "declined",
        code: "authentication_required",
        message: "The card issuer requires 3-D Secure authentication, which a server-side charge cannot complete.",
        gatewayReference: order.id,
      };
    case OrderStatus.Voided:
      return { kind: "declined", code: "payment_canceled", message: "The order was voided.", gatewayReference: order.id };
    default:
      return { kind: "unknown", reason: `paypal_order_not_captured: ${order.status} (${order.id})`, gatewayReference: order.id };
  }
}

function mapCapture(order: Order, orderId: string): ChargeOutcome {
  const capture = order.purchaseUnits?.[0]?.payments?.captures?.[0];
  if (capture === undefined || typeof capture.status !== "string") {
    // A COMPLETED order without its capture: the response was cut down (e.g. Prefer: return=minimal).
    return { kind: "unknown", reason: `paypal_capture_missing: ${orderId}`, gatewayReference: orderId };
  }
  const reference = capture.id ?? orderId;
  switch (capture.status) {
    case CaptureStatus.Completed:
      return { kind: "approved", gatewayReference: reference };
    case CaptureStatus.Declined:
    case CaptureStatus.Failed:
      return mapProcessorResponse(capture.processorResponse?.responseCode, reference);
    case CaptureStatus.Pending:
      // Held (e.g. for review): the money may still move, so resolve later.
      return { kind: "unknown", reason: `paypal_capture_pending: ${reference}`, gatewayReference: orderId };
    default:
      // REFUNDED / PARTIALLY_REFUNDED: it was captured.
      return { kind: "approved", gatewayReference: reference };
  }
}

export function mapProcessorResponse(responseCode: string | undefined, gatewayReference: string): ChargeOutcome {
  if (responseCode !== undefined && PROCESSOR_RETRY_CODES.has(responseCode)) {
    return { kind: "transient", reason: `paypal_processor_retry: ${responseCode}` };
  }
  const code = (responseCode === undefined ? undefined : PROCESSOR_DECLINE_CODES[responseCode]) ?? "card_declined";
  return {
    kind: "declined",
    code,
    message: `The card was declined (PayPal processor response ${responseCode ?? "none"}).`,
    gatewayReference,
  };
}

/**
 * A lookup's answer from an order found for a payment. It counts only when it carries our payment
 * id (custom_id) and the same amount (`value`, in PayPal's units) and currency; an order still awaiting capture has charged
 * nothing yet, but a capture may be under way, so it stays unknown.
 */
export function mapLookupOrder(order: Order, target: { paymentId: string; currency: string; value: string }): LookupOutcome {
  const unit = order.purchaseUnits?.[0];
  if (unit?.customId !== target.paymentId || unit.amount?.currencyCode !== target.currency || unit.amount.value !== target.value) {
    return { kind: "unknown", reason: "paypal_lookup_foreign_record: the order does not carry this payment" };
  }
  const outcome = mapOrder(order);
  switch (outcome.kind) {
    case "approved":
    case "declined":
      return outcome;
    default:
      return { kind: "unknown", reason: outcome.reason };
  }
}

/** Any error the SDK throws while creating or capturing an order. */
export function mapPaypalError(error: unknown): ChargeOutcome {
  if (error instanceof ApiError) {
    return mapErrorResponse(error.statusCode, error.result ?? parseJson(error.body));
  }
  if (error instanceof ArgumentsValidationError) {
    // The SDK refused our request before sending it.
    return { kind: "declined", code: "gateway_invalid_request", message: "The PayPal SDK rejected the request.", gatewayReference: null };
  }
  if (error instanceof AbortError) {
    return { kind: "unknown", reason: "paypal_no_answer: aborted" };
  }
  const networkCode = isRecord(error) && typeof error.code === "string" ? error.code : null;
  if (networkCode !== null) {
    return NEVER_SENT_CODES.has(networkCode)
      ? { kind: "transient", reason: `paypal_unreachable: ${networkCode}` }
      : // Timed out or cut off after the request left (ECONNABORTED, ECONNRESET, ...).
        { kind: "unknown", reason: `paypal_no_answer: ${networkCode}` };
  }
  // A body that is not JSON or fails the SDK's schema: the request may have taken effect.
  return { kind: "unknown", reason: "paypal_unexpected_response" };
}

/** A failed OAuth token request: no order request was sent, so nothing can have been charged. */
export function mapTokenError(error: unknown): ChargeOutcome {
  const outcome = mapPaypalError(error);
  switch (outcome.kind) {
    case "transient":
      return outcome;
    case "declined":
      return { kind: "transient", reason: `paypal_oauth_failed: ${outcome.code}: ${outcome.message}` };
    case "unknown":
      return { kind: "transient", reason: `paypal_oauth_failed: ${outcome.reason}` };
    case "approved":
      return { kind: "transient", reason: "paypal_oauth_failed" };
  }
}

/** An HTTP error status with PayPal's error envelope (or whatever body came). */
export function mapErrorResponse(status: number, body: unknown): ChargeOutcome {
  const envelope = isRecord(body) ? body : {};
  const detail = Array.isArray(envelope.details) && isRecord(envelope.details[0]) ? envelope.details[0] : {};
  const issue = typeof detail.issue === "string" ? detail.issue : null;
  const debugId = typeof envelope.debug_id === "string" ? ` (debug_id ${envelope.debug_id})` : "";

  if (status === 401 || status === 403) {
    // Bad credentials are a configuration fault: keep payments retryable rather than fail them all.
    return { kind: "transient", reason: `gateway_authentication_failed: HTTP ${status}${debugId}` };
  }
  if (status === 429) {
    return { kind: "transient", reason: `paypal_rate_limited${debugId}` };
  }
  if (status >= 500) {
    // PayPal may have processed the request before failing: only a replay or lookup can tell.
    return { kind: "unknown", reason: `paypal_server_error: HTTP ${status}${debugId}` };
  }
  if (status === 408 || status === 409) {
    // Not processed (timed out waiting for the body; a request with this id still running).
    return { kind: "transient", reason: `paypal_request_not_processed: HTTP ${status}${debugId}` };
  }
  if (issue !== null && ISSUE_EARLIER_ORDER.has(issue)) {
    return { kind: "unknown", reason: `paypal_${issue.toLowerCase()}${debugId}` };
  }
  const description = typeof detail.description === "string" ? detail.description : null;
  const declineCode = issue === null ? undefined : ISSUE_DECLINE_CODES[issue];
  if (declineCode !== undefined) {
    return { kind: "declined", code: declineCode, message: scrub(description ?? issue ?? ""), gatewayReference: null };
  }
  const name = typeof envelope.name === "string" ? envelope.name : `HTTP ${status}`;
  return {
    kind: "declined",
    code: "gateway_invalid_request",
    message: scrub([name, issue, description].filter((part) => part !== null).join(": ")),
    gatewayReference: null,
  };
}

function parseJson(body: unknown): unknown {
  if (typeof body !== "string") return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** PayPal echoes offending values in some errors: never let a card-number-like digit run through. */
function scrub(text: string): string {
  return text.replace(/\d[\d -]{10,}\d/g, "[redacted]");
}
