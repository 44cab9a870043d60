import http from "node:http";
import https from "node:https";
import {
  ApiError,
  type CardRequest,
  CheckoutPaymentIntent,
  Client,
  Environment,
  OrdersCardVerificationMethod,
  OrdersController,
  type OAuthToken,
  type OrderRequest,
  PaymentsController,
  type PaymentSource as PaypalPaymentSource,
  PaypalExperienceUserAction,
  PaypalWalletContextShippingPreference,
} from "@paypal/paypal-server-sdk";
import { acceptsEveryCard, configurationErrorReporter } from "../configuration";
import {
  type ActionOutcome,
  type ActionRequest,
  AUTHENTICATION_EXPIRED,
  AUTHENTICATION_REQUIRED,
  type CaptureRequest,
  type ChargeOutcome,
  type ChargeRequest,
  type Gateway,
  GATEWAY_LIMITS,
  type GatewayErrorLog,
  type LookupOutcome,
  type LookupRequest,
  type OperationLookupRequest,
  type OperationOutcome,
  type RefundRequest,
} from "../port";
import { declineUnchargeable } from "../units";
import {
  isAwaitingCapture,
  isWaitingForPayer,
  mapActionOrder,
  mapAuthorizationCapture,
  mapAuthorizationLookup,
  mapCancelOrder,
  mapContinuedOrder,
  mapCreatedOrder,
  mapLookupOrder,
  mapOperationRecord,
  mapPaidOrder,
  carriesPayment,
  mapPaypalError,
  mapDisputeRecord,
  mapRefund,
  mapRefundRecord,
  mapTokenError,
  mapVoid,
  type OrderLike,
  type OrderSource,
  orderSourceOf,
  type PaypalOrderTarget,
} from "./paypal-mapping";
import { isoAmountFromPaypal, paypalAmount } from "./paypal-units";

export interface PaypalGatewayOptions {
  clientId: string;
  clientSecret: string;
  environment: "sandbox" | "production";
  /** Origin (and optional path prefix) to send API calls to instead of PayPal's, e.g. http://127.0.0.1:4020. */
  apiBase?: string;
  /** Per HTTP request (OAuth token, create, capture or authorize; capture, void or refund of a payment). */
  timeoutMs: number;
  /**
   * Where configuration errors (the account refusing what was asked) are reported, and (info) the
   * PayPal orders paystream abandons: PayPal cannot delete an order, so a canceled or expired
   * payment's order stays at PayPal, never captured.
   */
  log?: GatewayErrorLog & { info?(fields: Record<string, unknown>, message: string): void };
}

/** Renew the OAuth token this long before PayPal says it expires. */
const TOKEN_RENEWAL_MARGIN_SECONDS = 60;
/** purchase_units[].description is limited to 127 characters. */
const MAX_DESCRIPTION_LENGTH = 127;

type Step<T> = { answer: T } | { outcome: OperationOutcome };

/** The PayPal-Request-Id of the capture (intent CAPTURE) or authorization (AUTHORIZE) of a payment's order: derived from its key, the same on every attempt. */
export function orderStepRequestId(idempotencyKey: string, capture: boolean): string {
  return `${idempotencyKey}-${capture ? "capture" : "authorize"}`;
}

interface Session {
  token: OAuthToken;
  orders: OrdersController;
  payments: PaymentsController;
}

/** Operations (and their lookups) replay their own PayPal-Request-Id only while PayPal keeps it. */
const REQUEST_ID_WINDOW_MS = GATEWAY_LIMITS.paypal.idempotencyWindowMs;

export function createPaypalGateway(options: PaypalGatewayOptions): Gateway {
  const credentials = { oAuthClientId: options.clientId, oAuthClientSecret: options.clientSecret };
  const tokenClient = new Client({
    environment: options.environment === "production" ? Environment.Production : Environment.Sandbox,
    clientCredentialsAuthCredentials: { ...credentials, oAuthClockSkew: TOKEN_RENEWAL_MARGIN_SECONDS },
    httpClientOptions: {
      timeout: options.timeoutMs,
      // Our retry policy decides when to try again; the SDK must not retry on its own.
      retryConfig: { maxNumberOfRetries: 0 },
    },
    ...(options.apiBase === undefined ? {} : { unstable_httpClientOptions: { transport: apiBaseTransport(options.apiBase) } }),
  });
  const tokens = tokenClient.clientCredentialsAuthManager;

  // The SDK caches its OAuth token in a promise that stays rejected after one failed token
  // request, breaking the client for good. So this adapter fetches tokens itself and hands each
  // one to a client clone, replaced whenever the token nears expiry or is refused.
  let session: Session | undefined;
  let pendingSession: Promise<Session> | undefined;

  async function currentSession(): Promise<Session> {
    if (session !== undefined && !tokens.isExpired(session.token)) return session;
    pendingSession ??= tokens
      .fetchToken()
      .then((token) => {
        const client = tokenClient.withConfiguration({ clientCredentialsAuthCredentials: { ...credentials, oAuthToken: token } });
        return { token, orders: new OrdersController(client), payments: new PaymentsController(client) };
      })
      .finally(() => {
        pendingSession = undefined;
      });
    session = await pendingSession;
    return session;
  }

  /** One API call: what it answered, or the outcome its failure means (`source`: what pays the order, see mapErrorResponse). */
  async function send<T>(request: () => Promise<{ result: T }>, source: OrderSource = "card"): Promise<Step<T>> {
    try {
      return { answer: (await request()).result };
    } catch (error) {
      // A refused token is dropped so that the next charge fetches a new one.
      if (error instanceof ApiError && error.statusCode === 401) session = undefined;
      return { outcome: mapPaypalError(error, source) };
    }
  }

  /** The orders API of the current session, or why none could be had (no request was sent). */
  async function ordersApi(): Promise<{ orders: OrdersController } | { outcome: OperationOutcome }> {
    try {
      return { orders: (await currentSession()).orders };
    } catch (error) {
      return { outcome: mapTokenError(error) };
    }
  }

  /** GET /v2/checkout/orders/{id}: the order, `gone` when PayPal answers 404 (it can never be captured), or the failure's outcome. */
  async function showOrder(id: string): Promise<{ order: OrderLike } | { gone: true } | { outcome: OperationOutcome }> {
    const api = await ordersApi();
    if ("outcome" in api) return api;
    try {
      return { order: (await api.orders.getOrder({ id })).result };
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 401) session = undefined;
      if (error instanceof ApiError && error.statusCode === 404) return { gone: true };
      return { outcome: mapPaypalError(error) };
    }
  }

  /** The capture (intent CAPTURE) or authorization (AUTHORIZE) of an order, under the request id derived from the payment. */
  function completeOrder(orders: OrdersController, orderId: string, idempotencyKey: string, capture: boolean, source: OrderSource): Promise<Step<OrderLike>> {
    const step = { id: orderId, paypalRequestId: orderStepRequestId(idempotencyKey, capture), prefer: "return=representation" };
    return send<OrderLike>(() => (capture ? orders.captureOrder(step) : orders.authorizeOrder(step)), source);
  }

  /** Creates (or, under a known PayPal-Request-Id, replays) the order and captures (or authorizes) it. */
  async function placeOrder(request: ChargeRequest): Promise<ChargeOutcome> {
    return (await placeOrderReading(request)).outcome;
  }

  /** placeOrder, with the last order PayPal showed on the way, if any. */
  async function placeOrderReading(request: ChargeRequest): Promise<{ outcome: ChargeOutcome; order?: OrderLike }> {
    const value = paypalAmount(request.amount, request.currency);
    if (!value.ok) return { outcome: declineUnchargeable(value) };
    if (request.continues !== undefined) return continueOrder(request, request.continues, value.value);
    const returnUrl = request.returnUrl ?? null;
    if (request.wallet !== undefined && returnUrl === null) {
      // The buyer approves a PayPal Checkout order at PayPal and must be sent back somewhere.
      return { outcome: { kind: "declined", code: AUTHENTICATION_REQUIRED, message: "PayPal Checkout needs a return URL for the buyer's approval.", gatewayReference: null } };
    }
    const api = await ordersApi();
    if ("outcome" in api) return { outcome: api.outcome };
    const { orders } = api;
    const source: OrderSource = request.wallet === undefined ? "card" : "paypal";

    const created = await send(
      () =>
        orders.createOrder({
          body: orderRequest(request, value.value),
          paypalRequestId: request.idempotencyKey,
          // The default (minimal) answer leaves out the captures that say whether the card was charged.
          prefer: "return=representation",
        }),
      source,
    );
    if ("outcome" in created) return { outcome: created.outcome };
    const order = created.answer;
    // An order waiting for its buyer (PayPal Checkout, 3-D Secure) is requires_action; an order paid
    // with a vaulted card answers the card behind the token.
    const mapped = { returnUrl, capture: request.capture, withCard: request.paymentMethod !== undefined };
    if (!isAwaitingCapture(order)) return { outcome: mapCreatedOrder(order, mapped), order };

    // The second step: capture the order, or (intent AUTHORIZE) authorize it.
    const captured = await completeOrder(orders, order.id, request.idempotencyKey, request.capture, source);
    if (!("outcome" in captured)) return { outcome: mapCreatedOrder(captured.answer, mapped), order: afterStep(order, captured.answer) };
    // The order exists: a lookup can read it by its id.
    return {
      outcome: captured.outcome.kind === "unknown" ? { ...captured.outcome, gatewayReference: order.id } : captured.outcome,
      order,
    };
  }

  /**
   * A charge that continues the order its buyer acted on (`continues`): GET it; APPROVED is
   * captured (or authorized) once, under the request id derived from the payment, so a retry is
   * answered with the same capture; COMPLETED was already (a capture whose answer was lost).
   * Nothing is ever captured that PayPal does not show APPROVED.
   */
  async function continueOrder(request: ChargeRequest, orderId: string, value: string): Promise<{ outcome: ChargeOutcome; order?: OrderLike }> {
    const shown = await showOrder(orderId);
    if ("gone" in shown) {
      return { outcome: { kind: "declined", code: AUTHENTICATION_EXPIRED, message: `PayPal no longer shows order ${orderId}.`, gatewayReference: orderId } };
    }
    if ("outcome" in shown) return { outcome: withOrderReference(shown.outcome, orderId) };
    const order = shown.order;
    const target = { paymentId: request.paymentId, currency: request.currency, value, capture: request.capture };
    const next = mapContinuedOrder(order, target);
    if (next !== "capture") return { outcome: next, order };

    const api = await ordersApi();
    if ("outcome" in api) return { outcome: api.outcome, order };
    const captured = await completeOrder(api.orders, orderId, request.idempotencyKey, request.capture, orderSourceOf(order));
    // A timed-out capture, ORDER_ALREADY_CAPTURED or a 5xx is unknown: charge() replays this, which
    // reads the order again (and captures only under the same request id).
    if ("outcome" in captured) return { outcome: withOrderReference(captured.outcome, orderId), order };
    const answer = afterStep(order, captured.answer);
    return { outcome: mapPaidOrder(answer, request.capture, true), order: answer };
  }

  /** The amount of a waiting payment as PayPal shows it, for comparing with the order. */
  function orderTarget(request: ActionRequest): PaypalOrderTarget | null {
    const value = paypalAmount(request.amount, request.currency);
    return value.ok ? { paymentId: request.paymentId, currency: request.currency, value: value.value, capture: request.capture } : null;
  }

  async function checkAction(request: ActionRequest): Promise<ActionOutcome> {
    const target = orderTarget(request);
    if (target === null) return { kind: "unknown", reason: "paypal_lookup_impossible: the amount cannot be sent to PayPal" };
    const shown = await showOrder(request.gatewayReference);
    if ("gone" in shown) return { kind: "failed", code: AUTHENTICATION_EXPIRED, message: `PayPal no longer shows order ${request.gatewayReference}.` };
    if ("outcome" in shown) return { kind: "unknown", reason: `paypal_lookup_failed: ${reasonOf(shown.outcome)}` };
    return mapActionOrder(shown.order, target);
  }

  async function cancelAction(request: ActionRequest): Promise<OperationOutcome> {
    const target = orderTarget(request);
    if (target === null) return { kind: "unknown", reason: "paypal_lookup_impossible: the amount cannot be sent to PayPal" };
    const shown = await showOrder(request.gatewayReference);
    if ("outcome" in shown) {
      // Only the order's state can say it was not captured: a refusal to show it says nothing.
      return shown.outcome.kind === "transient" ? shown.outcome : { kind: "unknown", reason: `paypal_lookup_failed: ${reasonOf(shown.outcome)}` };
    }
    const outcome = "gone" in shown ? { kind: "approved" as const, gatewayReference: request.gatewayReference } : mapCancelOrder(shown.order, target);
    if (outcome.kind === "approved") {
      options.log?.info?.(
        { gateway: "paypal", paymentId: request.paymentId, orderId: request.gatewayReference, orderStatus: "gone" in shown ? "NOT_FOUND" : shown.order.status },
        "PayPal orders cannot be deleted: this order is abandoned, and paystream will never capture or authorize it",
      );
    }
    return outcome;
  }

  async function lookup(request: LookupRequest): Promise<LookupOutcome> {
    const amount = paypalAmount(request.amount, request.currency);
    if (!amount.ok) return { kind: "unknown", reason: `paypal_lookup_impossible: ${amount.code}` };
    const target = { paymentId: request.paymentId, currency: request.currency, value: amount.value, capture: request.capture };
    // Read by the order's id: needs no card data (a payment that waited for its buyer has none left).
    if (request.gatewayReference !== null) return lookupOrder(request, request.gatewayReference, target);
    // Orders v2 cannot be searched by our ids. While PayPal still holds the PayPal-Request-Id, the
    // same create is answered with the stored order and capture instead of running again; after
    // that, a replay could start a second order, so the payment is left to an operator.
    if (Date.now() - request.firstAttemptAt.getTime() >= REQUEST_ID_WINDOW_MS) {
      return { kind: "unknown", reason: "paypal_request_id_expired: look the invoice id up in PayPal" };
    }
    const charge = request.replay();
    if (charge === null) return { kind: "unknown", reason: "paypal_lookup_impossible: no order id and no card data to replay" };
    if (charge.continues !== undefined) return lookupOrder(request, charge.continues, target);
    // Answered with the stored order, or (if the first request never arrived) the one charge the
    // payment asked for: never a second one, as the request id and the invoice id both guard.
    const replay = await placeOrderReading(charge);
    if (replay.order !== undefined) return mapLookupOrder(replay.order, { ...target, waitsForPayer: (charge.returnUrl ?? null) !== null });
    return replay.outcome.kind === "declined" ? replay.outcome : { kind: "unknown", reason: reasonOf(replay.outcome) };
  }

  /**
   * A payment's order, read by its id. An APPROVED order whose capture (or authorization) may not
   * have arrived is captured under the request id derived from the payment: PayPal answers the
   * stored capture, or takes the one charge the payment asked for (an order is captured at most
   * once: ORDER_ALREADY_CAPTURED); never under a new request id.
   */
  async function lookupOrder(request: LookupRequest, orderId: string, target: PaypalOrderTarget): Promise<LookupOutcome> {
    const shown = await showOrder(orderId);
    if ("gone" in shown) return { kind: "unknown", reason: `paypal_lookup_failed: PayPal does not show order ${orderId}` };
    if ("outcome" in shown) return { kind: "unknown", reason: `paypal_lookup_failed: ${reasonOf(shown.outcome)}` };
    let order = shown.order;
    if (isAwaitingCapture(order) && carriesPayment(order, target)) {
      const api = await ordersApi();
      if ("outcome" in api) return { kind: "unknown", reason: `paypal_lookup_failed: ${reasonOf(api.outcome)}` };
      const captured = await completeOrder(api.orders, orderId, request.idempotencyKey, request.capture, orderSourceOf(order));
      if ("outcome" in captured) return captured.outcome.kind === "declined" ? { ...captured.outcome, gatewayReference: orderId } : { kind: "unknown", reason: reasonOf(captured.outcome) };
      order = afterStep(order, captured.answer);
    }
    // A card order waiting for 3-D Secure was sent with a return URL (nothing charged yet) unless
    // the charge shows none (then it was declined authentication_required). Only then is the card opened.
    const waitsForPayer = isWaitingForPayer(order) && orderSourceOf(order) === "card" ? waitedForPayer(request.replay()) : false;
    return mapLookupOrder(order, { ...target, waitsForPayer });
  }

  /** The Payments API of the current session, or why none could be had (no request was sent). */
  async function paymentsApi(): Promise<{ payments: PaymentsController } | { outcome: OperationOutcome }> {
    try {
      return { payments: (await currentSession()).payments };
    } catch (error) {
      return { outcome: mapTokenError(error) };
    }
  }

  /**
   * One capture, void or refund, sent once and, if its answer is unknown, replayed under the same
   * PayPal-Request-Id: PayPal answers the stored result, or runs it now if the first never arrived.
   */
  async function operate<T>(call: (payments: PaymentsController) => Promise<{ result: T }>, map: (answer: T) => OperationOutcome): Promise<OperationOutcome> {
    const once = async (): Promise<OperationOutcome> => {
      const api = await paymentsApi();
      if ("outcome" in api) return api.outcome;
      const step = await send(() => call(api.payments));
      return "outcome" in step ? step.outcome : map(step.answer);
    };
    const first = await once();
    if (first.kind !== "unknown") return first;
    const replay = await once();
    return replay.kind === "approved" || replay.kind === "declined" ? replay : first;
  }

  const captureCall = (request: CaptureRequest, value: string) => (payments: PaymentsController) =>
    payments.captureAuthorizedPayment({
      authorizationId: request.gatewayReference,
      paypalRequestId: request.idempotencyKey,
      prefer: "return=representation",
      // A final capture: the rest of the hold is released.
      body: { amount: { currencyCode: request.currency, value }, finalCapture: true },
    });

  const refundCall = (request: RefundRequest, value: string) => (payments: PaymentsController) =>
    payments.refundCapturedPayment({
      captureId: request.gatewayReference,
      paypalRequestId: request.idempotencyKey,
      prefer: "return=representation",
      // custom_id finds the refund again; invoice_id is unique per refund, as for orders.
      body: { amount: { currencyCode: request.currency, value }, customId: request.refundId, invoiceId: request.refundId },
    });

  /** The answer of a replay that PayPal answers with the stored capture or refund, checked against what we asked. */
  async function replayed<T extends { customId?: string; amount?: { currencyCode: string; value: string } }>(
    call: (payments: PaymentsController) => Promise<{ result: T }>,
    map: (answer: T) => OperationOutcome,
    target: { customId: string; currency: string; value: string },
  ): Promise<LookupOutcome> {
    const api = await paymentsApi();
    if ("outcome" in api) return { kind: "unknown", reason: `paypal_lookup_failed: ${api.outcome.kind}` };
    const step = await send(() => call(api.payments));
    if ("answer" in step) return mapOperationRecord(step.answer, map(step.answer), target);
    return { kind: "unknown", reason: `paypal_lookup_failed: ${reasonOf(step.outcome)}` };
  }

  async function lookupOperation(lookup: OperationLookupRequest): Promise<LookupOutcome> {
    const { request } = lookup;
    const amount = paypalAmount(lookup.operation === "void" ? lookup.request.authorizedAmount : lookup.request.amount, request.currency);
    if (!amount.ok) return { kind: "unknown", reason: `paypal_lookup_impossible: ${amount.code}` };
    // A replay after PayPal forgot the request id could run the operation a second time.
    const replayable = Date.now() - lookup.firstAttemptAt.getTime() < REQUEST_ID_WINDOW_MS;
    if (lookup.operation === "refund") {
      // Refunds cannot be searched by our ids: a replay under the request id answers the stored
      // refund, or (if the first request never arrived) makes the one refund asked for.
      if (!replayable) return { kind: "unknown", reason: "paypal_request_id_expired: look the refund id up in PayPal" };
      return replayed(refundCall(lookup.request, amount.value), mapRefund, { customId: lookup.request.refundId, currency: request.currency, value: amount.value });
    }
    const api = await paymentsApi();
    if ("outcome" in api) return { kind: "unknown", reason: `paypal_lookup_failed: ${api.outcome.kind}` };
    const shown = await send(() => api.payments.getAuthorizedPayment({ authorizationId: request.gatewayReference }));
    if ("outcome" in shown) return { kind: "unknown", reason: `paypal_lookup_failed: ${reasonOf(shown.outcome)}` };
    const found = mapAuthorizationLookup(shown.answer, lookup.operation, { customId: request.paymentId, currency: request.currency });
    if (found !== null) return found;
    // Captured: the authorization does not name its capture; the capture's replay does.
    if (lookup.operation !== "capture" || !replayable) return { kind: "unknown", reason: "paypal_authorization_captured: the capture cannot be read back" };
    return replayed(captureCall(lookup.request, amount.value), mapAuthorizationCapture, { customId: request.paymentId, currency: request.currency, value: amount.value });
  }

  const reported = configurationErrorReporter(options.log, "paypal");

  /** The refund PayPal knows by this id (Payments v2 show refund details). */
  async function retrieveRefund(refundId: string) {
    const api = await paymentsApi();
    if ("outcome" in api) return { kind: "unknown" as const, reason: `paypal_retrieve_failed: ${api.outcome.kind}` };
    try {
      return mapRefundRecord((await api.payments.getRefund({ refundId })).result);
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 404) return { kind: "not_found" as const };
      const failed = mapPaypalError(error);
      return { kind: "unknown" as const, reason: `paypal_retrieve_failed: ${"reason" in failed ? failed.reason : failed.kind}` };
    }
  }

  /**
   * The dispute PayPal knows by this id. The server SDK has no Customer Disputes API, so this is a
   * plain authenticated GET /v1/customer/disputes/{id} with the adapter's own OAuth token.
   */
  async function retrieveDispute(disputeId: string) {
    let token: string;
    try {
      token = (await currentSession()).token.accessToken;
    } catch (error) {
      return { kind: "unknown" as const, reason: `paypal_retrieve_failed: ${mapTokenError(error).kind}` };
    }
    const base = options.apiBase ?? (options.environment === "production" ? "https://api-m.paypal.com" : "https://api-m.sandbox.paypal.com");
    try {
      const response = await fetch(`${base.replace(/\/$/, "")}/v1/customer/disputes/${encodeURIComponent(disputeId)}`, {
        headers: { authorization: `Bearer ${token}`, accept: "application/json" },
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (response.status === 404) return { kind: "not_found" as const };
      if (!response.ok) return { kind: "unknown" as const, reason: `paypal_retrieve_failed: HTTP ${response.status}` };
      return mapDisputeRecord(await response.json(), isoAmountFromPaypal);
    } catch (error) {
      return { kind: "unknown" as const, reason: `paypal_retrieve_failed: ${error instanceof Error ? error.name : "error"}` };
    }
  }

  async function charge(request: ChargeRequest): Promise<ChargeOutcome> {
    const first = await placeOrder(request);
    if (first.kind !== "unknown") return first;
    // PayPal answers a repeated PayPal-Request-Id with the stored order (and capture), so one
    // replay recovers a lost answer without ever creating a second order.
    const replay = await placeOrder(request);
    return replay.kind === "approved" || replay.kind === "declined" || replay.kind === "requires_action" ? replay : first;
  }

  return {
    name: "paypal",
    toGatewayAmount: paypalAmount,
    acceptsCardData: acceptsEveryCard,
    charge: (request) => reported(request, "charge", charge(request)),
    lookup,
    checkAction,
    cancelAction,

    async capture(request) {
      const amount = paypalAmount(request.amount, request.currency);
      if (!amount.ok) return declineUnchargeable(amount);
      return reported(request, "capture", operate(captureCall(request, amount.value), mapAuthorizationCapture));
    },

    voidAuthorization(request) {
      return reported(request, "void", operate(
        (payments) =>
          payments.voidPayment({ authorizationId: request.gatewayReference, paypalRequestId: request.idempotencyKey, prefer: "return=representation" }),
        (authorization) => mapVoid(authorization, request.gatewayReference),
      ));
    },

    async refund(request) {
      const amount = paypalAmount(request.amount, request.currency);
      if (!amount.ok) return declineUnchargeable(amount);
      return reported(request, "refund", operate(refundCall(request, amount.value), mapRefund));
    },

    lookupOperation,
    retrieveRefund,
    retrieveDispute,
  };
}

/** `value` is the amount as PayPal takes it (see paypal-units.ts). */
function orderRequest(request: ChargeRequest, value: string): OrderRequest {
  return {
    intent: request.capture ? CheckoutPaymentIntent.Capture : CheckoutPaymentIntent.Authorize,
    purchaseUnits: [
      {
        amount: { currencyCode: request.currency, value },
        customId: request.paymentId,
        // PayPal refuses a second order with the same invoice_id (DUPLICATE_INVOICE_ID): a guard
        // against double charges should a PayPal-Request-Id ever expire (stored 6 hours by default).
        invoiceId: request.paymentId,
        ...(request.description === null ? {} : { description: request.description.slice(0, MAX_DESCRIPTION_LENGTH) }),
      },
    ],
    paymentSource: paymentSource(request),
  };
}

/**
 * What pays the order. PayPal Checkout (`wallet`): `payment_source.paypal` with an experience
 * context that sends the buyer back to returnUrl (or cancelUrl) and asks for PAY_NOW: PayPal
 * answers PAYER_ACTION_REQUIRED with the buyer's `payer-action` link. A card (or vaulted card)
 * sent with a returnUrl asks for 3-D Secure when the issuer requires it (SCA_WHEN_REQUIRED) and
 * where to send the buyer back; without one, PayPal's request for 3-D Secure is a decline.
 */
function paymentSource(request: ChargeRequest): PaypalPaymentSource {
  const returnUrl = request.returnUrl ?? null;
  const back = returnUrl === null ? {} : { returnUrl, cancelUrl: request.cancelUrl ?? returnUrl };
  if (request.wallet !== undefined) {
    return {
      paypal: {
        experienceContext: { ...back, userAction: PaypalExperienceUserAction.PayNow, shippingPreference: PaypalWalletContextShippingPreference.NoShipping },
      },
    };
  }
  const card = cardSource(request);
  if (returnUrl === null) return { card };
  return { card: { ...card, attributes: { verification: { method: OrdersCardVerificationMethod.ScaWhenRequired } }, experienceContext: back } };
}

/**
 * The card as PayPal's Orders v2 takes it: a vault payment token id (`payment_source.card.vault_id`,
 * a card the merchant vaulted earlier), or the card's data. Both need card processing on the account.
 */
function cardSource(request: ChargeRequest): CardRequest {
  if (request.paymentMethod !== undefined) return { vaultId: request.paymentMethod };
  const { card } = request;
  // The port's union leaves a card here; PayPal Checkout and continued orders are handled before.
  if (card === undefined) return {};
  return {
    number: card.number,
    expiry: `${card.expYear}-${String(card.expMonth).padStart(2, "0")}`,
    // A look-up's replay has no CVC (SECURITY.md, card data): PayPal answers the stored order for
    // the PayPal-Request-Id; security_code is optional in Orders v2's card.
    securityCode: card.cvc ?? undefined,
    name: card.holderName ?? request.customer.name,
  };
}

/** Whether a charge could wait for its buyer: it had a return URL, or (null) its card data is gone, as once a payment waits. */
function waitedForPayer(charge: ChargeRequest | null): boolean {
  return charge === null || (charge.returnUrl ?? null) !== null;
}

/**
 * The order after its capture or authorization: the step's answer (status, payments), with what
 * the order PayPal showed before carries and the answer may leave out (the purchase unit's ids
 * and amount, who paid).
 */
function afterStep(shown: OrderLike, answer: OrderLike): OrderLike {
  const [unit, ...others] = shown.purchaseUnits ?? [];
  const payments = answer.purchaseUnits?.[0]?.payments;
  return {
    ...answer,
    purchaseUnits: unit === undefined ? answer.purchaseUnits : [{ ...unit, ...(payments === undefined ? {} : { payments }) }, ...others],
    paymentSource: answer.paymentSource ?? shown.paymentSource,
    payer: answer.payer ?? shown.payer,
  };
}

/** An unknown outcome names the order, so that a lookup can read it. */
function withOrderReference(outcome: OperationOutcome, orderId: string): OperationOutcome {
  return outcome.kind === "unknown" ? { ...outcome, gatewayReference: orderId } : outcome;
}

function reasonOf(outcome: ChargeOutcome): string {
  return "reason" in outcome ? outcome.reason : outcome.kind;
}

/**
 * The SDK has no base-URL option: `environment` alone picks api-m.paypal.com or
 * api-m.sandbox.paypal.com. Its documented escape hatch `unstable_httpClientOptions` is merged
 * into the underlying axios config, and axios' `transport` option lets every request (path and
 * query unchanged) go to `apiBase` instead — a local fake or a PayPal-compatible proxy.
 */
function apiBaseTransport(apiBase: string) {
  const base = new URL(apiBase);
  const transport = base.protocol === "https:" ? https : http;
  const pathPrefix = base.pathname.replace(/\/$/, "");
  return {
    request(options: http.RequestOptions, callback?: (response: http.IncomingMessage) => void): http.ClientRequest {
      return transport.request(
        {
          ...options,
          protocol: base.protocol,
          host: undefined,
          hostname: base.hostname,
          port: base.port || undefined,
          path: `${pathPrefix}${options.path ?? "/"}`,
          // axios picks an agent for PayPal's https URL; let the transport use its own.
          agent: undefined,
        },
        callback,
      );
    },
  };
}
