/**
 * Pure classification of PayPal Orders v2 answers into the port's outcomes (amounts: paypal-units.ts).
 *
 * Orders come from the SDK (camelCase models); error bodies are PayPal's raw JSON envelope
 * `{ name, message, debug_id, details: [{ issue, description }] }`.
 */

import {
  AbortError,
  ApiError,
  ArgumentsValidationError,
  AuthorizationStatus,
  CaptureStatus,
  type CapturedPayment,
  OrderStatus,
  type Order,
  type PaymentAuthorization,
  type Refund,
  RefundStatus,
} from "@paypal/paypal-server-sdk";
import {
  type ActionOutcome,
  AUTHENTICATION_FAILED,
  AUTHENTICATION_REQUIRED,
  type ChargeOutcome,
  type DisputeRecord,
  GATEWAY_CONFIGURATION_ERROR,
  type GatewayCardView,
  type GatewayDisputeStatus,
  type GatewayPayerView,
  type LookupOutcome,
  type OperationOutcome,
  type RefundRecord,
} from "../port";

/** What this module reads of an order: the answers of create, capture and authorize share it. */
export type OrderLike = Pick<Order, "id" | "status" | "purchaseUnits"> & Partial<Pick<Order, "paymentSource" | "payer" | "links">>;

/** What an order is paid with: the buyer's PayPal account (PayPal Checkout) or a card. */
export type OrderSource = "paypal" | "card";

/**
 * The decline code of a PayPal Checkout payment whose buyer's funding source PayPal refused at
 * capture (INSTRUMENT_DECLINED and its kin): the buyer's PayPal account, not a card, is at fault.
 */
export const PAYMENT_METHOD_DECLINED = "payment_method_declined";

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

/**
 * Issues of the Payments v2 API refusing a capture, void or refund (nothing happened), named as the
 * simulator names them (developer.paypal.com/api/payments/v2/errors).
 */
const OPERATION_REFUSALS: Readonly<Record<string, string>> = {
  AUTHORIZATION_ALREADY_CAPTURED: "authorization_already_captured",
  PREVIOUSLY_CAPTURED: "authorization_already_captured",
  AUTHORIZATION_VOIDED: "authorization_voided",
  PREVIOUSLY_VOIDED: "authorization_voided",
  AUTHORIZATION_EXPIRED: "authorization_expired",
  MAX_CAPTURE_AMOUNT_EXCEEDED: "amount_too_large",
  REFUND_AMOUNT_EXCEEDED: "amount_too_large",
  CAPTURE_FULLY_REFUNDED: "charge_already_refunded",
};

/**
 * Issues saying the merchant's account cannot do what was asked: card payments need Advanced
 * Credit and Debit Card Payments (PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING, and
 * NOT_ENABLED_FOR_CARD_PROCESSING in the Orders v2 error list), and authorizations need
 * authorization and capture enabled (AUTH_CAPTURE_NOT_ENABLED). No card is at fault and nothing
 * was charged (developer.paypal.com/api/rest/reference/orders/v2/errors).
 */
const ISSUE_CONFIGURATION_ERRORS = new Set(["PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING", "NOT_ENABLED_FOR_CARD_PROCESSING", "AUTH_CAPTURE_NOT_ENABLED"]);

/** Issues saying an earlier request for this payment already created an order we cannot see here. */
const ISSUE_EARLIER_ORDER = new Set(["DUPLICATE_INVOICE_ID", "ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED"]);

/**
 * Issues of a capture or authorization of an order the buyer has not approved (yet): nothing was
 * charged, and the order may still be approved, so the payment keeps waiting (transient).
 */
const ISSUE_NOT_APPROVED = new Set(["ORDER_NOT_APPROVED"]);

/** Issues saying PayPal refused the buyer's funding source: for a PayPal Checkout order, payment_method_declined. */
const ISSUE_FUNDING_DECLINED = new Set(["INSTRUMENT_DECLINED", "TRANSACTION_REFUSED", "PAYMENT_DENIED", "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED", "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING"]);

/** Network failures where the request provably never reached PayPal. */
const NEVER_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * CREATED / APPROVED / SAVED orders still need POST /capture (or /authorize, for intent AUTHORIZE);
 * a PayPal Checkout order only once its buyer approved it.
 */
export function isAwaitingCapture<T extends OrderLike>(order: T): order is T & { id: string } {
  return (
    typeof order.id === "string" &&
    !isWaitingForPayer(order) &&
    (order.status === OrderStatus.Created || order.status === OrderStatus.Approved || order.status === OrderStatus.Saved)
  );
}

/**
 * An order a charge continues (`continues`: the buyer approved it, or completed 3-D Secure), as
 * GET shows it: `capture` when it is APPROVED and paystream is to capture (or authorize) it now;
 * otherwise what it came to. Still waiting for the buyer (ORDER_NOT_APPROVED, in effect) is
 * `requires_action` at its payer-action link: nothing was charged and the payment waits again
 * (until its deadline), never failing for it; without a link, transient. VOIDED will never be
 * approved.
 */
export function mapContinuedOrder(order: OrderLike, target: PaypalOrderTarget): ChargeOutcome | "capture" {
  if (!carriesPayment(order, target) || typeof order.id !== "string") return { kind: "unknown", reason: FOREIGN_ORDER };
  switch (order.status) {
    case OrderStatus.Approved:
      return "capture";
    case OrderStatus.Completed:
      return mapPaidOrder(order, target.capture, true);
    case OrderStatus.PayerActionRequired:
    case OrderStatus.Created:
    case OrderStatus.Saved: {
      const url = payerActionUrl(order);
      return url === null
        ? { kind: "transient", reason: `paypal_order_not_approved: ${order.id} waits for the buyer (${order.status})` }
        : { kind: "requires_action", gatewayReference: order.id, url };
    }
    case OrderStatus.Voided:
      return { kind: "declined", code: AUTHENTICATION_FAILED, message: "PayPal voided the order: the buyer did not complete it.", gatewayReference: order.id };
    default:
      return { kind: "unknown", reason: `paypal_order_status_unreadable: ${String(order.status ?? "none")}`, gatewayReference: order.id };
  }
}

/** mapOrder for an order paid with a vaulted card: an approval carries the card PayPal shows. */
export function mapVaultedCardOrder(order: OrderLike, capture = true): OperationOutcome {
  return mapPaidOrder(order, capture, true);
}

/**
 * The card an order was paid with as PayPal shows it (`payment_source.card`: last_digits, brand,
 * expiry YYYY-MM), or null when the answer leaves it out. PayPal gives no fingerprint.
 */
export function cardViewOf(order: OrderLike): GatewayCardView | null {
  const card = order.paymentSource?.card;
  const expiry = /^([0-9]{4})-([0-9]{2})$/.exec(card?.expiry ?? "");
  if (card === undefined || typeof card.lastDigits !== "string" || !/^[0-9]{4}$/.test(card.lastDigits) || typeof card.brand !== "string" || expiry === null) return null;
  return { brand: card.brand.toLowerCase(), last4: card.lastDigits, expMonth: Number(expiry[2]), expYear: Number(expiry[1]), fingerprint: null };
}

/**
 * A charge's outcome from its order. With `capture: false` (intent AUTHORIZE) a COMPLETED order
 * holds an authorization, whose id is what a capture or void acts on.
 */
export function mapOrder(order: OrderLike, capture = true): OperationOutcome {
  if (typeof order.id !== "string" || typeof order.status !== "string") {
    // A 2xx we cannot read: the request took effect, and we cannot tell how.
    return { kind: "unknown", reason: "paypal_malformed_response: not an order" };
  }
  switch (order.status) {
    case OrderStatus.Completed:
      return capture ? mapCapture(order, order.id) : mapAuthorization(order, order.id);
    case OrderStatus.PayerActionRequired:
      return authenticationRequired(order.id);
    case OrderStatus.Voided:
      return { kind: "declined", code: "payment_canceled", message: "The order was voided.", gatewayReference: order.id };
    default:
      return { kind: "unknown", reason: `paypal_order_not_captured: ${order.status} (${order.id})`, gatewayReference: order.id };
  }
}

function mapAuthorization(order: OrderLike, orderId: string): OperationOutcome {
  const authorization = order.purchaseUnits?.[0]?.payments?.authorizations?.[0];
  if (authorization === undefined || typeof authorization.status !== "string" || typeof authorization.id !== "string") {
    return { kind: "unknown", reason: `paypal_authorization_missing: ${orderId}`, gatewayReference: orderId };
  }
  switch (authorization.status) {
    case AuthorizationStatus.Created:
    case AuthorizationStatus.Captured:
    case AuthorizationStatus.PartiallyCaptured:
      // Authorized (and perhaps captured since): the hold was granted.
      return { kind: "approved", gatewayReference: authorization.id };
    case AuthorizationStatus.Denied:
      return mapProcessorResponse(authorization.processorResponse?.responseCode, authorization.id);
    case AuthorizationStatus.Voided:
      return { kind: "declined", code: "payment_canceled", message: "The authorization was voided.", gatewayReference: authorization.id };
    default:
      // PENDING: held for review, may still be granted.
      return { kind: "unknown", reason: `paypal_authorization_${authorization.status.toLowerCase()}: ${authorization.id}`, gatewayReference: orderId };
  }
}

function mapCapture(order: OrderLike, orderId: string): OperationOutcome {
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

export function mapProcessorResponse(responseCode: string | undefined, gatewayReference: string): OperationOutcome {
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

/** What a lookup, checkAction or cancelAction compares a found order with. */
export interface PaypalOrderTarget {
  paymentId: string;
  currency: string;
  /** The amount in PayPal's units (paypal-units.ts). */
  value: string;
  capture: boolean;
}

/** Whether the order carries our payment id (custom_id) and the same amount and currency. */
export function carriesPayment(order: OrderLike, target: PaypalOrderTarget): boolean {
  const unit = order.purchaseUnits?.[0];
  return unit?.customId === target.paymentId && unit.amount?.currencyCode === target.currency && unit.amount.value === target.value;
}

const FOREIGN_ORDER = "paypal_lookup_foreign_record: the order does not carry this payment";

/**
 * A lookup's answer from an order found for a payment. It counts only when it carries our payment
 * id (custom_id) and the same amount (`value`, in PayPal's units) and currency; an order still awaiting capture has charged
 * nothing yet, but a capture may be under way, so it stays unknown. An order waiting for its buyer
 * (PayPal Checkout, or a card order sent with a return URL: `waitsForPayer`) has charged nothing
 * yet but may still be approved: `requires_action` at its payer-action link (the charge's lost
 * answer), never "not charged", which would end the payment while its buyer can still pay. A
 * PayPal Checkout payment's approval carries its payer.
 */
export function mapLookupOrder(order: OrderLike, target: PaypalOrderTarget & { waitsForPayer?: boolean }): LookupOutcome {
  if (!carriesPayment(order, target)) return { kind: "unknown", reason: FOREIGN_ORDER };
  if (isWaitingForPayer(order) && (target.waitsForPayer === true || orderSourceOf(order) === "paypal")) {
    const url = payerActionUrl(order);
    if (typeof order.id === "string" && url !== null) return { kind: "requires_action", gatewayReference: order.id, url };
    return { kind: "unknown", reason: `paypal_order_awaiting_payer: ${String(order.status)} (${String(order.id)}) shows no payer-action link` };
  }
  const outcome = mapPaidOrder(order, target.capture, false);
  switch (outcome.kind) {
    case "approved":
    case "declined":
      return outcome;
    default:
      return { kind: "unknown", reason: outcome.reason };
  }
}

/** What pays an order: the buyer's PayPal account (PayPal Checkout, `payment_source.paypal`) or a card. */
export function orderSourceOf(order: OrderLike): OrderSource {
  return order.paymentSource?.paypal === undefined ? "card" : "paypal";
}

/**
 * Whether the order waits for its buyer: PAYER_ACTION_REQUIRED (approval at PayPal, or 3-D Secure),
 * or a PayPal Checkout order still CREATED (created without an experience context).
 */
export function isWaitingForPayer(order: OrderLike): boolean {
  return order.status === OrderStatus.PayerActionRequired || (order.status === OrderStatus.Created && orderSourceOf(order) === "paypal");
}

/**
 * The PayPal payer of a PayPal Checkout order, as PayPal shows it once the buyer approved:
 * `payment_source.paypal.account_id` / `email_address`, else `payer.payer_id` / `email_address`.
 */
export function payerViewOf(order: OrderLike): GatewayPayerView | null {
  const wallet = order.paymentSource?.paypal;
  const id = wallet?.accountId ?? order.payer?.payerId;
  if (typeof id !== "string" || id === "") return null;
  const email = wallet?.emailAddress ?? order.payer?.emailAddress;
  return { id, email: typeof email === "string" && email !== "" ? email : null };
}

/** Where the buyer acts on the order: the HATEOAS link `rel: "payer-action"` (or, for older orders, `rel: "approve"`). */
export function payerActionUrl(order: OrderLike): string | null {
  const links = order.links ?? [];
  const link = links.find((l) => l.rel === "payer-action") ?? links.find((l) => l.rel === "approve");
  return typeof link?.href === "string" && /^https?:\/\//.test(link.href) ? link.href : null;
}

/**
 * A charge's outcome from its order, with what paid it when approved: the payer of a PayPal
 * Checkout order; the card PayPal shows when `withCard` (a vaulted card, or a card order continued
 * after 3-D Secure, whose card data is gone).
 */
export function mapPaidOrder(order: OrderLike, capture: boolean, withCard: boolean): OperationOutcome {
  const outcome = mapOrder(order, capture);
  if (outcome.kind !== "approved") return outcome;
  if (orderSourceOf(order) === "paypal") {
    const payer = payerViewOf(order);
    return payer === null ? outcome : { ...outcome, payer };
  }
  const card = withCard ? cardViewOf(order) : null;
  return card === null ? outcome : { ...outcome, card };
}

/**
 * A newly created (or replayed) order: waiting for its buyer, it is `requires_action` at its
 * payer-action link when the charge had a return URL, and (3-D Secure a server-side charge cannot
 * complete) a decline `authentication_required` without one; otherwise as mapPaidOrder.
 */
export function mapCreatedOrder(order: OrderLike, request: { returnUrl: string | null; capture: boolean; withCard: boolean }): ChargeOutcome {
  if (typeof order.id === "string" && isWaitingForPayer(order)) {
    if (request.returnUrl === null) return authenticationRequired(order.id);
    const url = payerActionUrl(order);
    // PayPal always links PAYER_ACTION_REQUIRED orders to the page where the buyer acts.
    if (url === null) return { kind: "unknown", reason: `paypal_payer_action_link_missing: ${order.id}`, gatewayReference: order.id };
    return { kind: "requires_action", gatewayReference: order.id, url };
  }
  return mapPaidOrder(order, request.capture, request.withCard);
}

function authenticationRequired(orderId: string): OperationOutcome {
  return {
    kind: "declined",
    code: AUTHENTICATION_REQUIRED,
    message: "The card issuer requires 3-D Secure authentication, which a server-side charge cannot complete.",
    gatewayReference: orderId,
  };
}

/**
 * What became of the buyer's approval (PayPal Checkout) or 3-D Secure (a card) of an order that
 * waited for them: APPROVED is `ready` (paystream still captures or authorizes it); COMPLETED was
 * captured or authorized already; VOIDED will never be; PAYER_ACTION_REQUIRED / CREATED still wait.
 */
export function mapActionOrder(order: OrderLike, target: PaypalOrderTarget): ActionOutcome {
  if (!carriesPayment(order, target)) return { kind: "unknown", reason: FOREIGN_ORDER };
  switch (order.status) {
    case OrderStatus.Approved:
      return { kind: "ready" };
    case OrderStatus.Completed: {
      const outcome = mapPaidOrder(order, target.capture, true);
      switch (outcome.kind) {
        case "approved":
          return outcome;
        case "declined":
          return { kind: "failed", code: outcome.code, message: outcome.message };
        default:
          return { kind: "unknown", reason: outcome.reason };
      }
    }
    case OrderStatus.PayerActionRequired:
    case OrderStatus.Created:
    case OrderStatus.Saved:
      return { kind: "pending" };
    case OrderStatus.Voided:
      return { kind: "failed", code: AUTHENTICATION_FAILED, message: "PayPal voided the order: the buyer did not complete it." };
    default:
      return { kind: "unknown", reason: `paypal_order_status_unreadable: ${String(order.status ?? "none")}` };
  }
}

/** The decline of cancelAction when the order was captured or authorized meanwhile (look it up with checkAction). */
export const ORDER_ALREADY_COMPLETED = "order_already_completed";

/**
 * Whether a waiting order can no longer be charged by paystream (expiry, merchant cancel). PayPal
 * orders cannot be deleted: an order not captured or authorized is abandoned (`approved`: paystream
 * never captures it); one captured or authorized meanwhile is `declined`, to be looked up.
 */
export function mapCancelOrder(order: OrderLike, target: PaypalOrderTarget): OperationOutcome {
  if (!carriesPayment(order, target) || typeof order.id !== "string") return { kind: "unknown", reason: FOREIGN_ORDER };
  switch (order.status) {
    case OrderStatus.Created:
    case OrderStatus.Saved:
    case OrderStatus.Approved:
    case OrderStatus.PayerActionRequired:
    case OrderStatus.Voided:
      return { kind: "approved", gatewayReference: order.id };
    case OrderStatus.Completed: {
      const outcome = mapOrder(order, target.capture);
      // A completed order whose capture or authorization was refused took nothing, and never will.
      if (outcome.kind === "declined") return { kind: "approved", gatewayReference: order.id };
      return {
        kind: "declined",
        code: ORDER_ALREADY_COMPLETED,
        message: `PayPal order ${order.id} was already ${target.capture ? "captured" : "authorized"}.`,
        gatewayReference: order.id,
      };
    }
    default:
      return { kind: "unknown", reason: `paypal_order_status_unreadable: ${String(order.status ?? "none")}` };
  }
}

/** Any error the SDK throws while creating or capturing an order. */
export function mapPaypalError(error: unknown, source: OrderSource = "card"): OperationOutcome {
  if (error instanceof ApiError) {
    return mapErrorResponse(error.statusCode, error.result ?? parseJson(error.body), source);
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
export function mapTokenError(error: unknown): OperationOutcome {
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

/**
 * An HTTP error status with PayPal's error envelope (or whatever body came). `source`: what the
 * order is paid with; a refused PayPal funding source is `payment_method_declined`, not a card decline.
 */
export function mapErrorResponse(status: number, body: unknown, source: OrderSource = "card"): OperationOutcome {
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
  if (issue !== null && ISSUE_NOT_APPROVED.has(issue)) {
    return { kind: "transient", reason: `paypal_${issue.toLowerCase()}: the buyer has not approved the order${debugId}` };
  }
  const description = typeof detail.description === "string" ? detail.description : null;
  if (issue !== null && source === "paypal" && ISSUE_FUNDING_DECLINED.has(issue)) {
    return { kind: "declined", code: PAYMENT_METHOD_DECLINED, message: scrub(`${issue}: ${description ?? "PayPal declined the buyer's funding source"}`), gatewayReference: null };
  }
  if (issue !== null && ISSUE_CONFIGURATION_ERRORS.has(issue)) {
    return {
      kind: "declined",
      code: GATEWAY_CONFIGURATION_ERROR,
      message: scrub(`${issue}: ${description ?? "the PayPal account is not enabled for this request"}${debugId}`),
      gatewayReference: null,
    };
  }
  const declineCode = issue === null ? undefined : (ISSUE_DECLINE_CODES[issue] ?? OPERATION_REFUSALS[issue]);
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

/** A capture of an authorization: the capture's id is what a refund acts on. */
export function mapAuthorizationCapture(capture: CapturedPayment): OperationOutcome {
  if (typeof capture.id !== "string" || typeof capture.status !== "string") {
    return { kind: "unknown", reason: "paypal_malformed_response: not a capture" };
  }
  switch (capture.status) {
    case CaptureStatus.Completed:
    case CaptureStatus.PartiallyRefunded:
    case CaptureStatus.Refunded:
      return { kind: "approved", gatewayReference: capture.id };
    case CaptureStatus.Declined:
    case CaptureStatus.Failed:
      return mapProcessorResponse(capture.processorResponse?.responseCode, capture.id);
    default:
      // PENDING: the money may still move.
      return { kind: "unknown", reason: `paypal_capture_${capture.status.toLowerCase()}: ${capture.id}`, gatewayReference: capture.id };
  }
}

/**
 * A void's answer: the authorization, VOIDED; `null` when PayPal answered 204 No Content (the
 * minimal answer of a successful void), in which case the authorization's id stays the reference.
 */
export function mapVoid(authorization: PaymentAuthorization | null, authorizationId: string): OperationOutcome {
  if (authorization === null) return { kind: "approved", gatewayReference: authorizationId };
  if (authorization.status === AuthorizationStatus.Voided) return { kind: "approved", gatewayReference: authorization.id ?? authorizationId };
  return { kind: "unknown", reason: `paypal_void_unexpected_status: ${authorization.status ?? "none"} (${authorizationId})` };
}

/** A refund's answer. PENDING may still complete or fail: unknown, so that the reconciler asks again. */
export function mapRefund(refund: Refund): OperationOutcome {
  if (typeof refund.id !== "string" || typeof refund.status !== "string") {
    return { kind: "unknown", reason: "paypal_malformed_response: not a refund" };
  }
  switch (refund.status) {
    case RefundStatus.Completed:
      return { kind: "approved", gatewayReference: refund.id };
    case RefundStatus.Failed:
    case RefundStatus.Cancelled:
      return { kind: "declined", code: "refund_failed", message: `PayPal could not refund the payment (refund ${refund.status}).`, gatewayReference: refund.id };
    default:
      return { kind: "unknown", reason: `paypal_refund_${refund.status.toLowerCase()}: ${refund.id}`, gatewayReference: refund.id };
  }
}

/** What an operation lookup compares a PayPal record with: our id on it, and amount in PayPal's units. */
export interface PaypalOperationTarget {
  /** custom_id: our payment id on authorizations and captures, our refund id on refunds. */
  customId: string;
  currency: string;
  value: string;
}

/**
 * Whether a capture or void was done, from the authorization it acted on. A captured
 * authorization does not name its capture, so `approved` for a capture needs the capture itself
 * (see mapOperationRecord); here it is `null`: "captured, ask for the capture".
 */
export function mapAuthorizationLookup(
  authorization: PaymentAuthorization,
  operation: "capture" | "void",
  target: Omit<PaypalOperationTarget, "value">,
): LookupOutcome | null {
  if (authorization.customId !== target.customId || authorization.amount?.currencyCode !== target.currency || typeof authorization.id !== "string") {
    return { kind: "unknown", reason: "paypal_lookup_foreign_record: the authorization does not carry this payment" };
  }
  switch (authorization.status) {
    case AuthorizationStatus.Created:
      return { kind: "not_charged", reason: `paypal_authorization_open: ${authorization.id} was neither captured nor voided` };
    case AuthorizationStatus.Voided:
      return operation === "void"
        ? { kind: "approved", gatewayReference: authorization.id }
        : { kind: "not_charged", reason: `paypal_authorization_voided: ${authorization.id} was voided, not captured` };
    case AuthorizationStatus.Captured:
    case AuthorizationStatus.PartiallyCaptured:
      return operation === "void" ? { kind: "not_charged", reason: `paypal_authorization_captured: ${authorization.id} was captured, not voided` } : null;
    default:
      return { kind: "unknown", reason: `paypal_authorization_${String(authorization.status ?? "unreadable").toLowerCase()}: ${authorization.id}` };
  }
}

/** A capture or refund PayPal showed again (a replay under its request id): it counts only with our id, amount and currency. */
export function mapOperationRecord(
  record: CapturedPayment | Refund,
  outcome: OperationOutcome,
  target: PaypalOperationTarget,
): LookupOutcome {
  if (record.customId !== target.customId || record.amount?.currencyCode !== target.currency || record.amount.value !== target.value) {
    return { kind: "unknown", reason: "paypal_lookup_foreign_record: the record does not carry this operation's id and amount" };
  }
  return outcome.kind === "approved" || outcome.kind === "declined" ? outcome : { kind: "unknown", reason: outcome.reason };
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

/** A PayPal refund (Payments v2 `GET /v2/payments/refunds/{id}`: status CANCELLED, FAILED, PENDING or COMPLETED) as a RefundRecord. */
export function mapRefundRecord(refund: unknown): RefundRecord {
  if (typeof refund !== "object" || refund === null) return { kind: "unknown", reason: "paypal_malformed_response: not a refund" };
  const { id, status, statusDetails } = refund as { id?: unknown; status?: unknown; statusDetails?: { reason?: unknown } };
  if (typeof id !== "string") return { kind: "unknown", reason: "paypal_malformed_response: a refund without an id" };
  const reason = typeof statusDetails?.reason === "string" ? statusDetails.reason : null;
  switch (status) {
    case "PENDING":
      return { kind: "found", gatewayReference: id, status: "pending", failureReason: null };
    case "COMPLETED":
      return { kind: "found", gatewayReference: id, status: "succeeded", failureReason: null };
    case "FAILED":
      return { kind: "found", gatewayReference: id, status: "failed", failureReason: reason };
    case "CANCELLED":
      return { kind: "found", gatewayReference: id, status: "canceled", failureReason: reason };
    default:
      return { kind: "unknown", reason: `paypal_unexpected_refund_status: ${String(status)}` };
  }
}

/**
 * A PayPal dispute (Customer Disputes v1 `GET /v1/customer/disputes/{id}`) as a DisputeRecord:
 * waiting for the seller → needs_response; with the buyer or PayPal → under_review; RESOLVED by its
 * `dispute_outcome.outcome_code`: in the seller's favour (or canceled by the buyer, denied) → won,
 * otherwise (buyer's favour, accepted, refunded) → lost.
 */
export function mapDisputeRecord(dispute: unknown, toIso: (value: string, currency: string) => number | null): DisputeRecord {
  if (typeof dispute !== "object" || dispute === null) return { kind: "unknown", reason: "paypal_malformed_response: not a dispute" };
  const d = dispute as Record<string, unknown>;
  if (typeof d.dispute_id !== "string") return { kind: "unknown", reason: "paypal_malformed_response: a dispute without dispute_id" };
  const outcome = (d.dispute_outcome as { outcome_code?: unknown } | undefined)?.outcome_code;
  let status: GatewayDisputeStatus;
  switch (d.status) {
    case "OPEN":
    case "WAITING_FOR_SELLER_RESPONSE":
      status = "needs_response";
      break;
    case "WAITING_FOR_BUYER_RESPONSE":
    case "UNDER_REVIEW":
      status = "under_review";
      break;
    case "RESOLVED":
      status = outcome === "RESOLVED_SELLER_FAVOUR" || outcome === "CANCELED_BY_BUYER" || outcome === "DENIED" ? "won" : "lost";
      break;
    default:
      return { kind: "unknown", reason: `paypal_unexpected_dispute_status: ${String(d.status)}` };
  }
  const money = d.dispute_amount as { currency_code?: unknown; value?: unknown } | undefined;
  const currency = typeof money?.currency_code === "string" ? money.currency_code : "";
  const amount = typeof money?.value === "string" ? toIso(money.value, currency) : null;
  if (amount === null) return { kind: "unknown", reason: "paypal_unreadable_dispute_amount" };
  const transactions = Array.isArray(d.disputed_transactions) ? (d.disputed_transactions as { seller_transaction_id?: unknown }[]) : [];
  const capture = transactions.map((t) => t.seller_transaction_id).find((id): id is string => typeof id === "string") ?? null;
  const due = typeof d.seller_response_due_date === "string" ? new Date(d.seller_response_due_date) : null;
  return {
    kind: "found",
    dispute: {
      gatewayReference: d.dispute_id,
      paymentReference: capture,
      amount,
      currency,
      reason: typeof d.reason === "string" ? d.reason : "OTHER",
      status,
      evidenceDueBy: due !== null && !Number.isNaN(due.getTime()) ? due : null,
    },
  };
}
