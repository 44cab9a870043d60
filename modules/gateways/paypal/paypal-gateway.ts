import http from "node:http";
import https from "node:https";
import {
  ApiError,
  type CardRequest,
  CheckoutPaymentIntent,
  Client,
  Environment,
  OrdersController,
  type OAuthToken,
  type OrderRequest,
  PaymentsController,
} from "@paypal/paypal-server-sdk";
import { acceptsEveryCard, configurationErrorReporter } from "../configuration";
import {
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
  mapAuthorizationCapture,
  mapAuthorizationLookup,
  mapLookupOrder,
  mapOperationRecord,
  mapOrder,
  mapVaultedCardOrder,
  mapPaypalError,
  mapDisputeRecord,
  mapRefund,
  mapRefundRecord,
  mapTokenError,
  mapVoid,
  type OrderLike,
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
  /** Where configuration errors (the account refusing what was asked) are reported. */
  log?: GatewayErrorLog;
}

/** Renew the OAuth token this long before PayPal says it expires. */
const TOKEN_RENEWAL_MARGIN_SECONDS = 60;
/** purchase_units[].description is limited to 127 characters. */
const MAX_DESCRIPTION_LENGTH = 127;

type Step<T> = { answer: T } | { outcome: ChargeOutcome };

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

  /** One API call: what it answered, or the outcome its failure means. */
  async function send<T>(request: () => Promise<{ result: T }>): Promise<Step<T>> {
    try {
      return { answer: (await request()).result };
    } catch (error) {
      // A refused token is dropped so that the next charge fetches a new one.
      if (error instanceof ApiError && error.statusCode === 401) session = undefined;
      return { outcome: mapPaypalError(error) };
    }
  }

  /** Creates (or, under a known PayPal-Request-Id, replays) the order and captures (or authorizes) it. */
  async function placeOrder(request: ChargeRequest): Promise<ChargeOutcome> {
    return (await placeOrderReading(request)).outcome;
  }

  /** placeOrder, with the last order PayPal showed on the way, if any. */
  async function placeOrderReading(request: ChargeRequest): Promise<{ outcome: ChargeOutcome; order?: OrderLike }> {
    const value = paypalAmount(request.amount, request.currency);
    if (!value.ok) return { outcome: declineUnchargeable(value) };
    let orders: OrdersController;
    try {
      orders = (await currentSession()).orders;
    } catch (error) {
      return { outcome: mapTokenError(error) };
    }

    const created = await send(() =>
      orders.createOrder({
        body: orderRequest(request, value.value),
        paypalRequestId: request.idempotencyKey,
        // The default (minimal) answer leaves out the captures that say whether the card was charged.
        prefer: "return=representation",
      }),
    );
    if ("outcome" in created) return { outcome: created.outcome };
    const order = created.answer;
    // An order paid with a vaulted card answers the card behind the token.
    const outcomeOf = request.paymentMethod === undefined ? mapOrder : mapVaultedCardOrder;
    if (!isAwaitingCapture(order)) return { outcome: outcomeOf(order, request.capture), order };

    // The second step: capture the order, or (intent AUTHORIZE) authorize it.
    const step = { id: order.id, paypalRequestId: `${request.idempotencyKey}-${request.capture ? "capture" : "authorize"}`, prefer: "return=representation" };
    const captured: Step<OrderLike> = await send<OrderLike>(() => (request.capture ? orders.captureOrder(step) : orders.authorizeOrder(step)));
    if (!("outcome" in captured)) return { outcome: outcomeOf(captured.answer, request.capture), order: captured.answer };
    // The order exists: a lookup can read it by its id.
    return {
      outcome: captured.outcome.kind === "unknown" ? { ...captured.outcome, gatewayReference: order.id } : captured.outcome,
      order,
    };
  }

  async function lookup(request: LookupRequest): Promise<LookupOutcome> {
    const amount = paypalAmount(request.amount, request.currency);
    if (!amount.ok) return { kind: "unknown", reason: `paypal_lookup_impossible: ${amount.code}` };
    const target = { paymentId: request.paymentId, currency: request.currency, value: amount.value, capture: request.capture };
    if (request.gatewayReference !== null) {
      let orders: OrdersController;
      try {
        orders = (await currentSession()).orders;
      } catch (error) {
        return { kind: "unknown", reason: `paypal_lookup_failed: ${mapTokenError(error).kind}` };
      }
      const found = await send(() => orders.getOrder({ id: request.gatewayReference as string }));
      if ("answer" in found) return mapLookupOrder(found.answer, target);
      return { kind: "unknown", reason: `paypal_lookup_failed: ${"reason" in found.outcome ? found.outcome.reason : found.outcome.kind}` };
    }
    // Orders v2 cannot be searched by our ids. While PayPal still holds the PayPal-Request-Id, the
    // same create is answered with the stored order and capture instead of running again; after
    // that, a replay could start a second order, so the payment is left to an operator.
    if (Date.now() - request.firstAttemptAt.getTime() >= REQUEST_ID_WINDOW_MS) {
      return { kind: "unknown", reason: "paypal_request_id_expired: look the invoice id up in PayPal" };
    }
    const charge = request.replay();
    if (charge === null) return { kind: "unknown", reason: "paypal_lookup_impossible: no order id and no card data to replay" };
    // Answered with the stored order, or (if the first request never arrived) the one charge the
    // payment asked for: never a second one, as the request id and the invoice id both guard.
    const replay = await placeOrderReading(charge);
    if (replay.order !== undefined) return mapLookupOrder(replay.order, target);
    return replay.outcome.kind === "declined" ? replay.outcome : { kind: "unknown", reason: "reason" in replay.outcome ? replay.outcome.reason : "paypal_no_order" };
  }

  /** The Payments API of the current session, or why none could be had (no request was sent). */
  async function paymentsApi(): Promise<{ payments: PaymentsController } | { outcome: ChargeOutcome }> {
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
    return { kind: "unknown", reason: `paypal_lookup_failed: ${"reason" in step.outcome ? step.outcome.reason : step.outcome.kind}` };
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
    if ("outcome" in shown) return { kind: "unknown", reason: `paypal_lookup_failed: ${"reason" in shown.outcome ? shown.outcome.reason : shown.outcome.kind}` };
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
    return replay.kind === "approved" || replay.kind === "declined" ? replay : first;
  }

  return {
    name: "paypal",
    toGatewayAmount: paypalAmount,
    acceptsCardData: acceptsEveryCard,
    charge: (request) => reported(request, "charge", charge(request)),
    lookup,

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
    paymentSource: { card: cardSource(request) },
  };
}

/**
 * The card as PayPal's Orders v2 takes it: a vault payment token id (`payment_source.card.vault_id`,
 * a card the merchant vaulted earlier), or the card's data. Both need card processing on the account.
 */
function cardSource(request: ChargeRequest): CardRequest {
  if (request.paymentMethod !== undefined) return { vaultId: request.paymentMethod };
  const { card } = request;
  return {
    number: card.number,
    expiry: `${card.expYear}-${String(card.expMonth).padStart(2, "0")}`,
    securityCode: card.cvc,
    name: card.holderName ?? request.customer.name,
  };
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
