/**
 * A local stand-in for the PayPal REST API, answering the calls the PayPal adapter makes the way
 * PayPal documents them: client-credentials OAuth, Orders v2 create / capture / authorize / show
 * with card payment sources, Payments v2 authorizations (show, capture, void) and captures
 * (refund), `Prefer: return=minimal|representation`, PayPal's error envelope
 * `{ name, message, debug_id, details[{ issue, description }] }`, Paypal-Debug-Id headers, and
 * PayPal-Request-Id keys that replay the first stored answer.
 *
 * By default a create with a card is captured (intent CAPTURE) or authorized (intent AUTHORIZE)
 * at once, as PayPal does for a single-step card order; `captureOnCreate: false` answers APPROVED
 * and captures or authorizes on POST .../capture or .../authorize instead.
 *
 * Like an ordinary PayPal business account, it refuses `payment_source.card` with PayPal's 422
 * PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING unless started with `cardProcessing: true` (an account
 * with Advanced Credit and Debit Card Payments).
 *
 * PayPal Checkout (every business account): an order paid with `payment_source.paypal` answers
 * PAYER_ACTION_REQUIRED with a `payer-action` link to an approval page this fake serves
 * (`/checkoutnow?token=<order id>`): its Approve button makes the order APPROVED with the chosen
 * test payer (FAKE_PAYPAL_PAYERS) and redirects the buyer to the experience context's return_url
 * (`?token=<order id>&PayerID=<payer id>`), its Cancel button to cancel_url (`?token=<order id>`),
 * the order unchanged, as PayPal does. Tests may also call `POST /_test/orders/{id}/approve`
 * (`{"payer": "funded" | "fundingFails"}`) or `/_test/orders/{id}/void` (PayPal voiding the order).
 * A capture before approval is 422 ORDER_NOT_APPROVED; a payer whose funding fails is 422
 * INSTRUMENT_DECLINED on capture (the order stays APPROVED).
 *
 * 3-D Secure: a card sent with `attributes.verification.method` SCA_WHEN_REQUIRED (the
 * authenticationRequired test card) or SCA_ALWAYS (any card) answers PAYER_ACTION_REQUIRED with a
 * `payer-action` link to the fake's 3-D Secure page (`/webapps/helios?action=verify&flow=3ds&cart_id=<order id>`):
 * completing it makes the order APPROVED (authentication_result liability_shift POSSIBLE) and sends
 * the buyer to the card's experience_context.return_url; the order is then captured or authorized
 * by POST .../capture or .../authorize. The same test control approves it.
 *
 * Built on node:http (node:https with `tls: true`) rather than Bun.serve because the
 * `connection-reset` fault needs the socket.
 */

import { createSign, createVerify, generateKeyPairSync, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Delivery, deliver, type FakeServerOptions, header, listenOnLoopback, readBody } from "./fake-http";
import { FaultQueue, type GatewayFault, type OperationLedger, TEST_CARDS } from "./gateway-conformance";

export type PaypalEndpoint =
  | "token"
  | "create"
  | "capture"
  | "authorize"
  | "retrieve"
  | "authorization"
  | "capture-authorization"
  | "void"
  | "refund"
  | "refund-retrieve"
  | "dispute-retrieve"
  | "verify-webhook-signature"
  | "cert";

export interface FakeRequest {
  method: string;
  path: string;
  paypalRequestId: string | null;
  /** The JSON body sent, if any (a test double's record: it may hold test card numbers). */
  body: unknown;
  fault: GatewayFault | null;
  replayed: boolean;
  /** HTTP status answered; null when the fault left the request unanswered. */
  status: number | null;
}

export interface FakePaypal {
  url: string;
  clientId: string;
  clientSecret: string;
  requests: FakeRequest[];
  chargesFor(paymentId: string): number;
  /** The orders created for a payment (custom_id), as GET /v2/checkout/orders/:id shows them. */
  ordersFor(paymentId: string): Json[];
  /** Captures of the payment's authorizations, voids, and refunds (in ISO minor units). */
  ledgerFor(paymentId: string): OperationLedger;
  /** Faults apply to Orders requests; name the "token" endpoint to fail OAuth token requests. */
  failNext(n: number, fault: GatewayFault, endpoint?: PaypalEndpoint): void;
  /**
   * Vaults a card as a buyer's saved card would be (Payment Method Tokens API) and answers its
   * payment token id, which an order pays with as `payment_source.card.vault_id`.
   */
  vaultCard(number: string, expiry?: string): string;
  /** Invalidates every access token issued so far (as PayPal does when an app's credentials change). */
  revokeTokens(): void;
  /** The id PayPal gave the registered webhook: PAYPAL_WEBHOOK_ID. */
  webhookId: string;
  /** Where events are delivered (the service's /v1/gateway-events/paypal), once the service runs. */
  setWebhookUrl(url: string): void;
  events: PaypalEvent[];
  /**
   * Makes an event about `resource` as PayPal does (developer.paypal.com/api/rest/webhooks/) and
   * delivers it with its transmission headers, signed with this fake's key (SHA256withRSA over
   * `transmission_id|transmission_time|webhook_id|crc32(body)`), which its verify-webhook-signature checks.
   */
  sendEvent(type: string, resourceType: string, resource: Json): Promise<PaypalDelivery>;
  /** Delivers an event made before again, with a new transmission (PayPal's retries). */
  redeliver(event: PaypalEvent): Promise<PaypalDelivery>;
  /** Delivers `body` with the given headers, for forged deliveries. */
  deliverRaw(body: string, headers: Record<string, string>): Promise<PaypalDelivery>;
  /** The transmission headers of a delivery of `body`, signed for `webhookId` (this webhook's by default). */
  transmissionHeaders(body: string, webhookId?: string): Record<string, string>;
  /** The buyer disputes a capture: a dispute WAITING_FOR_SELLER_RESPONSE, and CUSTOMER.DISPUTE.CREATED is sent. */
  openDispute(captureId: string, options?: { reason?: string }): Promise<{ dispute: Json & { dispute_id: string }; delivery: PaypalDelivery }>;
  /** The dispute moves to `status` (RESOLVED with `outcome`): CUSTOMER.DISPUTE.UPDATED or .RESOLVED is sent. */
  updateDispute(disputeId: string, status: string, outcome?: string): Promise<PaypalDelivery>;
  /** The capture ids of a payment's orders. */
  capturesFor(paymentId: string): string[];
  /** The buyer approves a PayPal Checkout order (or completes 3-D Secure for a card order), as the approval page's button does. */
  approve(orderId: string, payer?: FakePayerName): Json;
  /** PayPal voids the order (it can then never be captured). */
  voidOrder(orderId: string): Json;
  /** The order as GET /v2/checkout/orders/{id} shows it, or null. */
  order(orderId: string): Json | null;
  stop(): Promise<void>;
}

export type PaypalEvent = Json & { id: string; event_type: string; resource: Json };
export type PaypalDelivery = Delivery;

type CardBehaviour =
  | { result: "captured" }
  | { result: "declined"; responseCode: string }
  | { result: "payer_action_required" }
  | { result: "unprocessable"; issue: string; description: string };

/** Stripe's test numbers, answered with PayPal's processor response codes and issues. */
const CARD_BEHAVIOUR: Readonly<Record<string, CardBehaviour>> = {
  [TEST_CARDS.cardDeclined]: { result: "declined", responseCode: "0500" }, // DO_NOT_HONOR
  [TEST_CARDS.insufficientFunds]: { result: "declined", responseCode: "5120" }, // INSUFFICIENT_FUNDS
  [TEST_CARDS.lostCard]: { result: "declined", responseCode: "9520" }, // LOST_OR_STOLEN
  [TEST_CARDS.stolenCard]: { result: "declined", responseCode: "9520" },
  [TEST_CARDS.expiredCard]: { result: "unprocessable", issue: "CARD_EXPIRED", description: "The card is expired." },
  [TEST_CARDS.incorrectCvc]: { result: "declined", responseCode: "00N7" }, // CVV2 failure
  [TEST_CARDS.processingError]: { result: "declined", responseCode: "9100" }, // DECLINED_PLEASE_RETRY
  [TEST_CARDS.authenticationRequired]: { result: "payer_action_required" },
};

/**
 * Cards whose charge succeeds but a later step does not: a capture of their authorization is
 * DECLINED by the processor, or their refunds end FAILED (PayPal's refund statuses).
 */
const FAILS_LATER: Readonly<Record<string, "capture" | "refund">> = {
  [TEST_CARDS.captureRefused]: "capture",
  [TEST_CARDS.refundFails]: "refund",
};

/** The fake's PayPal test buyers: the approval page offers both. */
export const FAKE_PAYPAL_PAYERS = {
  /** Approves and pays. */
  funded: { payerId: "FAKEBUYER0001", email: "buyer@example.com", givenName: "Grace", surname: "Hopper", fundingFails: false },
  /** Approves, but PayPal refuses the funding source at capture: 422 INSTRUMENT_DECLINED. */
  fundingFails: { payerId: "FAKEBUYER0002", email: "declined-funding@example.com", givenName: "Alan", surname: "Turing", fundingFails: true },
} as const;

export type FakePayerName = keyof typeof FAKE_PAYPAL_PAYERS;
type FakePayer = (typeof FAKE_PAYPAL_PAYERS)[FakePayerName];

/** Captures that took the money (and may have been refunded since). */
const CAPTURED = new Set(["COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"]);

/** Currencies PayPal accepts, with the decimals it allows (https://developer.paypal.com/docs/api/reference/currency-codes/). */
const CURRENCY_DECIMALS: Readonly<Record<string, number>> = {
  AUD: 2, BRL: 2, CAD: 2, CHF: 2, CNY: 2, CZK: 2, DKK: 2, EUR: 2, GBP: 2, HKD: 2, HUF: 0, ILS: 2, JPY: 0,
  MXN: 2, MYR: 2, NOK: 2, NZD: 2, PHP: 2, PLN: 2, RUB: 2, SEK: 2, SGD: 2, THB: 2, TWD: 0, USD: 2,
};

interface Card {
  number: string;
  expiry: string;
  name: string | null;
}

interface StoredOrder {
  id: string;
  intent: "CAPTURE" | "AUTHORIZE";
  status: "APPROVED" | "COMPLETED" | "PAYER_ACTION_REQUIRED" | "VOIDED";
  amount: { currency_code: string; value: string };
  customId: string | null;
  invoiceId: string | null;
  description: string | null;
  /** Null for a PayPal Checkout order. */
  card: Card | null;
  /** PayPal Checkout: where the buyer is sent back, and (once approved) who pays. */
  wallet: { returnUrl: string | null; cancelUrl: string | null; payer: FakePayer | null } | null;
  /** A card order's 3-D Secure: where the buyer is sent back, and whether they completed it. */
  threeDs: { returnUrl: string | null; cancelUrl: string | null; authenticated: boolean } | null;
  capture: Json | null;
  authorization: Json | null;
  createTime: string;
  updateTime: string;
}

/** A capture (of an order, or of an authorization) and what refunds need to know about it. */
interface StoredCapture {
  json: Json & { id: string; status: string; amount: { currency_code: string; value: string } };
  paymentId: string | null;
  card: Card | null;
  ofAuthorization: boolean;
}

interface StoredRefund {
  json: Json & { status: string; amount: { currency_code: string; value: string } };
  paymentId: string | null;
}

interface Answer {
  status: number;
  body: unknown;
  replayed?: boolean;
}

export type Json = Record<string, unknown>;

const UNPROCESSABLE_MESSAGE = "The requested action could not be performed, semantically incorrect, or failed business validation.";

export interface FakePaypalOptions extends FakeServerOptions {
  clientId?: string;
  clientSecret?: string;
  captureOnCreate?: boolean;
  /**
   * Capture and authorize answers show each purchase unit with only its reference_id and payments
   * (no amount, custom_id or invoice_id), as PayPal's capture examples do; the order (GET) shows all.
   */
  leanStepAnswers?: boolean;
  /** The account has Advanced Credit and Debit Card Payments: orders paid by card are taken. */
  cardProcessing?: boolean;
}

export async function startFakePaypal(options: FakePaypalOptions = {}): Promise<FakePaypal> {
  const clientId = options.clientId ?? `fake-client-${randomBytes(8).toString("hex")}`;
  const clientSecret = options.clientSecret ?? `fake-secret-${randomBytes(16).toString("hex")}`;
  const captureOnCreate = options.captureOnCreate ?? true;
  const faults = new FaultQueue<PaypalEndpoint>();
  const requests: FakeRequest[] = [];
  const tokens = new Set<string>();
  const orders = new Map<string, StoredOrder>();
  /** Authorizations by id, with the order they belong to. */
  const authorizations = new Map<string, { json: Json & { id: string; status: string }; order: StoredOrder }>();
  const captures = new Map<string, StoredCapture>();
  const refunds: StoredRefund[] = [];
  const answers = new Map<string, Answer>();
  /** Vaulted cards by payment token id. */
  const vault = new Map<string, Card>();
  let baseUrl = "";
  const webhookId = randomBytes(8).toString("hex").toUpperCase();
  let webhookUrl: string | null = null;
  const events: PaypalEvent[] = [];
  const eventBodies = new Map<string, string>();
  const disputes = new Map<string, Json & { dispute_id: string }>();
  const signing = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const certId = `CERT-${randomBytes(6).toString("hex")}`;

  /** What PayPal signs for a delivery (developer.paypal.com/api/rest/webhooks/rest/#link-eventheadervalidation). */
  const signedText = (transmissionId: string, time: string, forWebhook: string, body: string) => `${transmissionId}|${time}|${forWebhook}|${crc32(body)}`;

  function transmissionHeaders(body: string, forWebhook = webhookId): Record<string, string> {
    const transmissionId = crypto.randomUUID();
    const time = new Date().toISOString();
    const signature = createSign("RSA-SHA256").update(signedText(transmissionId, time, forWebhook, body)).sign(signing.privateKey, "base64");
    return {
      "paypal-auth-algo": "SHA256withRSA",
      "paypal-cert-url": `${baseUrl}/v1/notifications/certs/${certId}`,
      "paypal-transmission-id": transmissionId,
      "paypal-transmission-sig": signature,
      "paypal-transmission-time": time,
    };
  }

  /** PayPal's verify-webhook-signature: SUCCESS when the headers sign this event for this webhook. */
  function verifySignature(body: unknown): Answer {
    if (!isJson(body) || !isJson(body.webhook_event)) return invalidRequest("/webhook_event", "MISSING_REQUIRED_PARAMETER", "A required field is missing.");
    const { transmission_id: id, transmission_time: time, transmission_sig: sig, cert_url: cert, auth_algo: algo, webhook_id: forWebhook } = body;
    if ([id, time, sig, cert, algo, forWebhook].some((v) => typeof v !== "string")) {
      return invalidRequest("/", "MISSING_REQUIRED_PARAMETER", "A required field is missing.");
    }
    const ok =
      forWebhook === webhookId &&
      algo === "SHA256withRSA" &&
      cert === `${baseUrl}/v1/notifications/certs/${certId}` &&
      createVerify("RSA-SHA256")
        .update(signedText(String(id), String(time), webhookId, JSON.stringify(body.webhook_event)))
        .verify(signing.publicKey, String(sig), "base64");
    return { status: 200, body: { verification_status: ok ? "SUCCESS" : "FAILURE" } };
  }

  const deliverRaw = (body: string, headers: Record<string, string>) => deliver(webhookUrl, body, headers);

  function redeliver(event: PaypalEvent): Promise<PaypalDelivery> {
    const body = eventBodies.get(event.id) ?? JSON.stringify(event);
    return deliverRaw(body, transmissionHeaders(body));
  }

  function sendEvent(type: string, resourceType: string, resource: Json): Promise<PaypalDelivery> {
    const event: PaypalEvent = {
      id: `WH-${randomBytes(9).toString("hex").toUpperCase()}`,
      event_version: "1.0",
      create_time: new Date().toISOString(),
      resource_type: resourceType,
      event_type: type,
      summary: type,
      resource: structuredClone(resource),
      links: [],
    };
    events.push(event);
    eventBodies.set(event.id, JSON.stringify(event));
    return redeliver(event);
  }

  function issueToken(req: IncomingMessage, body: string): Answer {
    const expected = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`;
    if (header(req, "authorization") !== expected) {
      return { status: 401, body: { error: "invalid_client", error_description: "Client Authentication failed" } };
    }
    if (new URLSearchParams(body).get("grant_type") !== "client_credentials") {
      return { status: 400, body: { error: "unsupported_grant_type", error_description: "Grant Type is NULL" } };
    }
    const accessToken = `A21AA${randomBytes(32).toString("base64url")}`;
    tokens.add(accessToken);
    return {
      status: 200,
      body: {
        scope: "https://uri.paypal.com/services/payments/payment/authcapture openid",
        access_token: accessToken,
        token_type: "Bearer",
        app_id: "APP-80W284485P519543T",
        expires_in: 32400,
        nonce: `${new Date().toISOString()}${randomBytes(8).toString("hex")}`,
      },
    };
  }

  function createOrder(body: unknown, representation: boolean): Answer {
    const request = isJson(body) ? body : {};
    const unit = Array.isArray(request.purchase_units) && isJson(request.purchase_units[0]) ? request.purchase_units[0] : null;
    const amount = unit !== null && isJson(unit.amount) ? unit.amount : null;
    const card = cardSource(request);
    const wallet = paypalSource(request);

    if (request.intent !== "CAPTURE" && request.intent !== "AUTHORIZE") {
      return invalidRequest("/intent", "INVALID_PARAMETER_VALUE", "The value of a field is invalid.");
    }
    if (amount === null || typeof amount.currency_code !== "string" || typeof amount.value !== "string") {
      return invalidRequest("/purchase_units/0/amount", "MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.");
    }
    if (!/^\d{1,10}(\.\d{1,})?$/.test(amount.value)) {
      return invalidRequest("/purchase_units/0/amount/value", "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.");
    }
    if (wallet !== null) return createCheckoutOrder(request.intent, wallet, unit, { currency_code: amount.currency_code, value: amount.value }, representation);
    const vaulted = card !== null && typeof card.vault_id === "string" ? vault.get(card.vault_id) : undefined;
    if (card !== null && typeof card.vault_id === "string" && vaulted === undefined) {
      return invalidRequest("/payment_source/card/vault_id", "INVALID_PARAMETER_VALUE", "The value of a field is invalid.");
    }
    if (vaulted === undefined && (card === null || typeof card.number !== "string" || typeof card.expiry !== "string" || typeof card.security_code !== "string")) {
      return invalidRequest("/payment_source/card", "MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.");
    }
    if (vaulted === undefined && !/^\d{4}-(0[1-9]|1[0-2])$/.test(String(card?.expiry))) {
      return invalidRequest("/payment_source/card/expiry", "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.");
    }
    if (options.cardProcessing !== true) {
      // The issue and its description as PayPal's Orders v2 API answers them on such an account.
      return unprocessable("PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING", "Payee account is not setup to be able to process card payments. Please contact PayPal customer support.");
    }
    const refused = amountRefusal(amount.currency_code, amount.value) ?? duplicateInvoice(unit);
    if (refused !== null) return refused;

    const stored: Card = vaulted ?? { number: String(card?.number), expiry: String(card?.expiry), name: typeof card?.name === "string" ? card.name : null };
    const behaviour = behaviourOf(stored);
    if (behaviour.result === "unprocessable" && captureOnCreate) return unprocessable(behaviour.issue, behaviour.description);
    // 3-D Secure: SCA_ALWAYS asks it of every card, SCA_WHEN_REQUIRED (the default) of the cards whose issuer requires it.
    const verification = isJson(card?.attributes) && isJson(card.attributes.verification) ? card.attributes.verification.method : undefined;
    const needsAuthentication = behaviour.result === "payer_action_required" || verification === "SCA_ALWAYS";
    const context = isJson(card?.experience_context) ? card.experience_context : {};

    const order: StoredOrder = {
      ...newOrder(request.intent, unit, { currency_code: amount.currency_code, value: amount.value }),
      status: needsAuthentication ? "PAYER_ACTION_REQUIRED" : "APPROVED",
      card: stored,
      threeDs: needsAuthentication ? { returnUrl: stringOrNull(context.return_url), cancelUrl: stringOrNull(context.cancel_url), authenticated: false } : null,
    };
    orders.set(order.id, order);
    if (captureOnCreate && order.status === "APPROVED") (order.intent === "CAPTURE" ? capture : authorize)(order, behaviour);
    return { status: 201, body: orderJson(order, representation) };
  }

  /** Why PayPal refuses this amount (currency, decimals), or null. */
  function amountRefusal(currency: string, value: string): Answer | null {
    const decimals = CURRENCY_DECIMALS[currency];
    if (decimals === undefined) return unprocessable("CURRENCY_NOT_SUPPORTED", "Currency code is not currently supported.");
    const fraction = value.split(".")[1] ?? "";
    if (decimals === 0 && fraction !== "") return unprocessable("DECIMALS_NOT_SUPPORTED", "Currency does not support decimals.");
    if (fraction.length > decimals) return unprocessable("DECIMAL_PRECISION", "If the currency supports decimals, only two decimal place precision is supported.");
    return null;
  }

  /** PayPal refuses a second paid order with an invoice id already paid (the account setting the adapter relies on). */
  function duplicateInvoice(unit: Json | null): Answer | null {
    const invoiceId = typeof unit?.invoice_id === "string" ? unit.invoice_id : null;
    const taken = (o: StoredOrder) => o.capture?.status === "COMPLETED" || (o.authorization !== null && o.authorization.status !== "DENIED");
    if (invoiceId !== null && [...orders.values()].some((o) => o.invoiceId === invoiceId && taken(o))) {
      return unprocessable("DUPLICATE_INVOICE_ID", "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account setting requires that Invoice ID be unique for each transaction.");
    }
    return null;
  }

  function newOrder(intent: StoredOrder["intent"], unit: Json | null, amount: StoredOrder["amount"]): Omit<StoredOrder, "status" | "card"> {
    const now = new Date().toISOString();
    return {
      id: paypalId(),
      intent,
      amount,
      customId: typeof unit?.custom_id === "string" ? unit.custom_id : null,
      invoiceId: typeof unit?.invoice_id === "string" ? unit.invoice_id : null,
      description: typeof unit?.description === "string" ? unit.description : null,
      wallet: null,
      threeDs: null,
      capture: null,
      authorization: null,
      createTime: now,
      updateTime: now,
    };
  }

  /** PayPal Checkout (payment_source.paypal): every business account takes it; the buyer approves at PayPal first. */
  function createCheckoutOrder(intent: StoredOrder["intent"], wallet: Json, unit: Json | null, amount: StoredOrder["amount"], representation: boolean): Answer {
    const refused = amountRefusal(amount.currency_code, amount.value) ?? duplicateInvoice(unit);
    if (refused !== null) return refused;
    const context = isJson(wallet.experience_context) ? wallet.experience_context : {};
    const order: StoredOrder = {
      ...newOrder(intent, unit, amount),
      status: "PAYER_ACTION_REQUIRED",
      card: null,
      wallet: { returnUrl: stringOrNull(context.return_url), cancelUrl: stringOrNull(context.cancel_url), payer: null },
    };
    orders.set(order.id, order);
    return { status: 201, body: orderJson(order, representation) };
  }

  /** The buyer approves (PayPal Checkout) or completes 3-D Secure (a card): the order becomes APPROVED. */
  function approveOrder(orderId: string, payerName: FakePayerName = "funded"): Answer {
    const order = orders.get(orderId);
    if (order === undefined) return notFound();
    if (order.status !== "PAYER_ACTION_REQUIRED" && order.status !== "APPROVED") {
      return unprocessable("ORDER_CANNOT_BE_APPROVED", `The order is ${order.status} and can no longer be approved.`);
    }
    if (order.wallet !== null) order.wallet.payer = FAKE_PAYPAL_PAYERS[payerName];
    if (order.threeDs !== null) order.threeDs.authenticated = true;
    order.status = "APPROVED";
    order.updateTime = new Date().toISOString();
    return { status: 200, body: orderJson(order, true) };
  }

  function voidOrderNow(orderId: string): Answer {
    const order = orders.get(orderId);
    if (order === undefined) return notFound();
    if (order.status === "COMPLETED") return unprocessable("ORDER_ALREADY_COMPLETED", "A completed order cannot be voided.");
    order.status = "VOIDED";
    order.updateTime = new Date().toISOString();
    return { status: 200, body: orderJson(order, true) };
  }

  /** POST /v2/checkout/orders/:id/capture or /authorize: the order's second step. */
  function completeOrder(orderId: string, intent: StoredOrder["intent"], representation: boolean): Answer {
    const order = orders.get(orderId);
    if (order === undefined) return notFound();
    if (order.intent !== intent) return unprocessable("ACTION_DOES_NOT_MATCH_INTENT", `Order was created with an intent of '${order.intent}'.`);
    if (order.status === "COMPLETED") {
      return intent === "CAPTURE"
        ? unprocessable("ORDER_ALREADY_CAPTURED", "Order already captured. If 'intent=CAPTURE' only one capture per order is allowed.")
        : unprocessable("ORDER_ALREADY_AUTHORIZED", "Order already authorized. If 'intent=AUTHORIZE' only one authorization per order is allowed.");
    }
    if (order.wallet !== null && order.status !== "APPROVED") {
      return unprocessable(
        "ORDER_NOT_APPROVED",
        "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.",
      );
    }
    if (order.status === "PAYER_ACTION_REQUIRED" || order.status === "VOIDED") {
      return unprocessable("PAYER_ACTION_REQUIRED", "Payer needs to perform the following action before proceeding with payment.");
    }
    if (order.wallet?.payer?.fundingFails === true) {
      // The order stays APPROVED: PayPal lets the buyer choose another funding source.
      return unprocessable("INSTRUMENT_DECLINED", "The instrument presented was either declined by the processor or bank, or it can't be used for this payment.");
    }
    // A card that asked for 3-D Secure and completed it is captured.
    const behaviour: CardBehaviour = order.card === null || order.threeDs?.authenticated === true ? { result: "captured" } : behaviourOf(order.card);
    if (behaviour.result === "unprocessable") return unprocessable(behaviour.issue, behaviour.description);
    (intent === "CAPTURE" ? capture : authorize)(order, behaviour);
    const body = orderJson(order, representation);
    if (options.leanStepAnswers === true && Array.isArray(body.purchase_units)) {
      body.purchase_units = (body.purchase_units as Json[]).map(({ reference_id, payments }) => ({ reference_id, payments }));
    }
    return { status: 201, body };
  }

  function capture(order: StoredOrder, behaviour: CardBehaviour): void {
    order.status = "COMPLETED";
    order.updateTime = new Date().toISOString();
    const declined = behaviour.result === "declined" ? behaviour.responseCode : null;
    order.capture = newCapture(order, order.amount, declined, `${baseUrl}/v2/checkout/orders/${order.id}`, false).json;
  }

  function newCapture(order: StoredOrder, amount: Json, declinedCode: string | null, up: string, ofAuthorization: boolean): StoredCapture {
    const responseCode = declinedCode ?? "0000";
    const captureId = paypalId();
    const now = new Date().toISOString();
    const json = {
      id: captureId,
      status: declinedCode === null ? "COMPLETED" : "DECLINED",
      amount: amount as StoredCapture["json"]["amount"],
      final_capture: true,
      disbursement_mode: "INSTANT",
      seller_protection: { status: "NOT_ELIGIBLE" },
      ...(order.customId === null ? {} : { custom_id: order.customId }),
      ...(order.invoiceId === null ? {} : { invoice_id: order.invoiceId }),
      ...processorFields(order, responseCode),
      links: [
        { href: `${baseUrl}/v2/payments/captures/${captureId}`, rel: "self", method: "GET" },
        { href: `${baseUrl}/v2/payments/captures/${captureId}/refund`, rel: "refund", method: "POST" },
        { href: up, rel: "up", method: "GET" },
      ],
      create_time: now,
      update_time: now,
    };
    const stored: StoredCapture = { json, paymentId: order.customId, card: order.card, ofAuthorization };
    captures.set(captureId, stored);
    return stored;
  }

  function authorize(order: StoredOrder, behaviour: CardBehaviour): void {
    order.status = "COMPLETED";
    order.updateTime = new Date().toISOString();
    const responseCode = behaviour.result === "declined" ? behaviour.responseCode : "0000";
    const authorizationId = paypalId();
    const json = {
      id: authorizationId,
      status: behaviour.result === "declined" ? "DENIED" : "CREATED",
      amount: order.amount,
      ...(order.customId === null ? {} : { custom_id: order.customId }),
      ...(order.invoiceId === null ? {} : { invoice_id: order.invoiceId }),
      seller_protection: { status: "NOT_ELIGIBLE" },
      ...processorFields(order, responseCode),
      expiration_time: new Date(Date.now() + 29 * 86_400_000).toISOString(),
      links: [
        { href: `${baseUrl}/v2/payments/authorizations/${authorizationId}`, rel: "self", method: "GET" },
        { href: `${baseUrl}/v2/payments/authorizations/${authorizationId}/capture`, rel: "capture", method: "POST" },
        { href: `${baseUrl}/v2/payments/authorizations/${authorizationId}/void`, rel: "void", method: "POST" },
        { href: `${baseUrl}/v2/checkout/orders/${order.id}`, rel: "up", method: "GET" },
      ],
      create_time: order.updateTime,
      update_time: order.updateTime,
    };
    order.authorization = json;
    authorizations.set(authorizationId, { json, order });
  }

  /** POST /v2/payments/authorizations/:id/capture */
  function captureAuthorization(authorizationId: string, body: unknown, representation: boolean): Answer {
    const found = authorizations.get(authorizationId);
    if (found === undefined) return notFound();
    const { json: authorization, order } = found;
    if (authorization.status === "VOIDED") return unprocessable("AUTHORIZATION_VOIDED", "A voided authorization cannot be captured or reauthorized.");
    if (authorization.status === "CAPTURED") return unprocessable("AUTHORIZATION_ALREADY_CAPTURED", "Authorization has already been captured.");
    if (authorization.status !== "CREATED") return unprocessable("AUTHORIZATION_DENIED", "A denied authorization cannot be captured.");
    const requested = isJson(body) && isJson(body.amount) ? body.amount : order.amount;
    const amount = moneyOf(requested);
    if (amount === null) return invalidRequest("/amount", "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.");
    if (amount.currency_code !== order.amount.currency_code) return unprocessable("CURRENCY_MISMATCH", "Currency of capture must be the same as currency of authorization.");
    if (Number(amount.value) > Number(order.amount.value)) return unprocessable("MAX_CAPTURE_AMOUNT_EXCEEDED", "Capture amount exceeds allowable limit.");
    const refused = FAILS_LATER[order.card?.number ?? ""] === "capture" ? "0500" : null;
    const stored = newCapture(order, amount, refused, `${baseUrl}/v2/payments/authorizations/${authorizationId}`, true);
    if (refused === null) {
      authorization.status = "CAPTURED";
      authorization.update_time = stored.json.update_time;
    }
    return { status: 201, body: representation ? stored.json : { id: stored.json.id, status: stored.json.status, links: stored.json.links } };
  }

  /** POST /v2/payments/authorizations/:id/void */
  function voidAuthorization(authorizationId: string, representation: boolean): Answer {
    const found = authorizations.get(authorizationId);
    if (found === undefined) return notFound();
    const authorization = found.json;
    if (authorization.status === "CAPTURED") return unprocessable("PREVIOUSLY_CAPTURED", "Authorization has been previously captured and hence cannot be voided.");
    if (authorization.status === "VOIDED") return unprocessable("PREVIOUSLY_VOIDED", "Authorization has been previously voided and hence cannot be voided again.");
    authorization.status = "VOIDED";
    authorization.update_time = new Date().toISOString();
    return representation ? { status: 200, body: authorization } : { status: 204, body: null };
  }

  /** POST /v2/payments/captures/:id/refund */
  function refundCapture(captureId: string, body: unknown, representation: boolean): Answer {
    const stored = captures.get(captureId);
    if (stored === undefined) return notFound();
    const captured = stored.json;
    if (captured.status === "REFUNDED") return unprocessable("CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded.");
    if (!CAPTURED.has(captured.status)) return unprocessable("REFUND_NOT_ALLOWED", "Refund cannot be issued for this capture.");
    const decimals = CURRENCY_DECIMALS[captured.amount.currency_code] ?? 2;
    const minor = (money: { value: string }) => Math.round(Number(money.value) * 10 ** decimals);
    const refunded = refunds
      .filter((r) => r.json.capture_id === captureId && (r.json.status === "COMPLETED" || r.json.status === "PENDING"))
      .reduce((sum, r) => sum + minor(r.json.amount), 0);
    const request = isJson(body) ? body : {};
    const amount = isJson(request.amount)
      ? moneyOf(request.amount)
      : { currency_code: captured.amount.currency_code, value: ((minor(captured.amount) - refunded) / 10 ** decimals).toFixed(decimals) };
    if (amount === null) return invalidRequest("/amount", "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.");
    if (amount.currency_code !== captured.amount.currency_code) return unprocessable("CURRENCY_MISMATCH", "Refund must be in the same currency as the capture.");
    if (refunded + minor(amount) > minor(captured.amount)) {
      return unprocessable("REFUND_AMOUNT_EXCEEDED", "The refund amount must be less than or equal to the capture amount that has not yet been refunded.");
    }
    const fails = FAILS_LATER[stored.card?.number ?? ""] === "refund";
    const refundId = paypalId();
    const now = new Date().toISOString();
    const json = {
      id: refundId,
      status: fails ? "FAILED" : "COMPLETED",
      amount,
      ...(typeof request.custom_id === "string" ? { custom_id: request.custom_id } : {}),
      ...(typeof request.invoice_id === "string" ? { invoice_id: request.invoice_id } : {}),
      capture_id: captureId,
      links: [
        { href: `${baseUrl}/v2/payments/refunds/${refundId}`, rel: "self", method: "GET" },
        { href: `${baseUrl}/v2/payments/captures/${captureId}`, rel: "up", method: "GET" },
      ],
      create_time: now,
      update_time: now,
    };
    refunds.push({ json, paymentId: stored.paymentId });
    if (!fails) captured.status = refunded + minor(amount) === minor(captured.amount) ? "REFUNDED" : "PARTIALLY_REFUNDED";
    const { capture_id: _internal, ...shown } = json;
    return { status: 201, body: representation ? shown : { id: refundId, status: json.status, links: json.links } };
  }

  function orderJson(order: StoredOrder, representation: boolean): Json {
    const links = [{ href: `${baseUrl}/v2/checkout/orders/${order.id}`, rel: "self", method: "GET" }];
    const step = order.intent === "CAPTURE" ? "capture" : "authorize";
    if (order.status === "APPROVED") links.push({ href: `${baseUrl}/v2/checkout/orders/${order.id}/${step}`, rel: step, method: "POST" });
    if (order.status === "PAYER_ACTION_REQUIRED") {
      const page = order.wallet !== null ? `${baseUrl}/checkoutnow?token=${order.id}` : `${baseUrl}/webapps/helios?action=verify&flow=3ds&cart_id=${order.id}`;
      links.push({ href: page, rel: "payer-action", method: "GET" });
    }
    if (!representation) return { id: order.id, status: order.status, links };
    const payer = order.wallet?.payer ?? null;
    return {
      id: order.id,
      intent: order.intent,
      status: order.status,
      payment_source: paymentSourceJson(order),
      ...(payer === null
        ? {}
        : { payer: { name: { given_name: payer.givenName, surname: payer.surname }, email_address: payer.email, payer_id: payer.payerId, address: { country_code: "US" } } }),
      purchase_units: [
        {
          reference_id: "default",
          amount: order.amount,
          payee: { email_address: "merchant@example.com", merchant_id: "FAKEMERCHANT01" },
          ...(order.description === null ? {} : { description: order.description }),
          ...(order.customId === null ? {} : { custom_id: order.customId }),
          ...(order.invoiceId === null ? {} : { invoice_id: order.invoiceId }),
          ...(order.capture === null ? {} : { payments: { captures: [order.capture] } }),
          ...(order.authorization === null ? {} : { payments: { authorizations: [order.authorization] } }),
        },
      ],
      create_time: order.createTime,
      update_time: order.updateTime,
      links,
    };
  }

  function paymentSourceJson(order: StoredOrder): Json {
    if (order.card === null) {
      const payer = order.wallet?.payer ?? null;
      return {
        paypal:
          payer === null
            ? {}
            : { email_address: payer.email, account_id: payer.payerId, account_status: "VERIFIED", name: { given_name: payer.givenName, surname: payer.surname }, address: { country_code: "US" } },
      };
    }
    const authenticated = order.threeDs?.authenticated === true;
    return {
      card: {
        ...(order.card.name === null ? {} : { name: order.card.name }),
        last_digits: order.card.number.slice(-4),
        expiry: order.card.expiry,
        brand: "VISA",
        type: "CREDIT",
        ...(authenticated ? { authentication_result: { liability_shift: "POSSIBLE", three_d_secure: { enrollment_status: "Y", authentication_status: "Y" } } } : {}),
      },
    };
  }

  /** Card orders carry the card network's reference and the processor's answer; PayPal Checkout orders do not. */
  function processorFields(order: StoredOrder, responseCode: string): Json {
    if (order.card === null) return {};
    return {
      network_transaction_reference: { id: randomBytes(8).toString("hex").toUpperCase(), network: "VISA" },
      processor_response: { avs_code: "Y", cvv_code: responseCode === "00N7" ? "N" : "M", response_code: responseCode },
    };
  }

  /**
   * The buyer's side, served like PayPal's pages (no API token): the PayPal Checkout approval page
   * and the 3-D Secure page, each with an Approve (Authenticate) and a Cancel button, and the test
   * controls. Null when the request is an API call.
   */
  async function buyerPage(req: IncomingMessage, url: URL, res: ServerResponse): Promise<boolean> {
    const method = req.method ?? "GET";
    const control = /^\/_test\/orders\/([^/]+)\/(approve|void)$/.exec(url.pathname);
    if (method === "POST" && control !== null) {
      const body = parseJson(await readBody(req));
      const payer = isJson(body) && body.payer === "fundingFails" ? "fundingFails" : "funded";
      const answer = control[2] === "approve" ? approveOrder(control[1] ?? "", payer) : voidOrderNow(control[1] ?? "");
      res.writeHead(answer.status, { "Content-Type": "application/json" }).end(JSON.stringify(answer.body));
      return true;
    }
    const checkout = url.pathname === "/checkoutnow";
    const threeDs = url.pathname === "/webapps/helios";
    if (!checkout && !threeDs) return false;
    if (method === "GET") {
      const order = orders.get(url.searchParams.get(checkout ? "token" : "cart_id") ?? "");
      if (order === undefined || order.status !== "PAYER_ACTION_REQUIRED") {
        res.writeHead(order === undefined ? 404 : 409, { "Content-Type": "text/html; charset=utf-8" }).end(page("Order unavailable", "<p>This order cannot be approved.</p>"));
        return true;
      }
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(checkout ? approvalPage(order) : authenticationPage(order));
      return true;
    }
    if (method !== "POST") return false;
    const form = new URLSearchParams(await readBody(req));
    const order = orders.get(form.get("token") ?? "");
    const back = order?.wallet ?? order?.threeDs ?? null;
    if (order === undefined || back === null) {
      res.writeHead(404, { "Content-Type": "text/html; charset=utf-8" }).end(page("Order unavailable", "<p>No such order.</p>"));
      return true;
    }
    if (form.get("action") === "cancel") {
      // PayPal sends a buyer who cancels back to cancel_url (else return_url); the order stays as it was.
      res.writeHead(303, { Location: withQuery(back.cancelUrl ?? back.returnUrl, { token: order.id }) }).end();
      return true;
    }
    const answer = approveOrder(order.id, form.get("payer") === "fundingFails" ? "fundingFails" : "funded");
    if (answer.status !== 200) {
      res.writeHead(answer.status, { "Content-Type": "text/html; charset=utf-8" }).end(page("Order unavailable", "<p>This order can no longer be approved.</p>"));
      return true;
    }
    const payerId = order.wallet?.payer?.payerId;
    res.writeHead(303, { Location: withQuery(back.returnUrl, { token: order.id, ...(payerId === undefined ? {} : { PayerID: payerId }) }) }).end();
    return true;
  }

  function approvalPage(order: StoredOrder): string {
    const options = Object.entries(FAKE_PAYPAL_PAYERS)
      .map(([name, payer]) => `<option value="${name}">${escapeHtml(`${payer.givenName} ${payer.surname} <${payer.email}>`)}${payer.fundingFails ? " (funding fails)" : ""}</option>`)
      .join("");
    return page(
      "Pay with PayPal",
      `<p>Pay <strong>${escapeHtml(`${order.amount.value} ${order.amount.currency_code}`)}</strong>${order.description === null ? "" : ` for ${escapeHtml(order.description)}`}.</p>
<form method="post" action="/checkoutnow"><input type="hidden" name="token" value="${order.id}">
<label>Log in as <select id="payer" name="payer">${options}</select></label>
<button type="submit" id="pay-now" name="action" value="approve">Pay Now</button>
<button type="submit" id="cancel" name="action" value="cancel">Cancel and return to merchant</button></form>`,
    );
  }

  function authenticationPage(order: StoredOrder): string {
    return page(
      "3-D Secure",
      `<p>Authenticate the payment of <strong>${escapeHtml(`${order.amount.value} ${order.amount.currency_code}`)}</strong> with the card ending ${escapeHtml(order.card?.number.slice(-4) ?? "")}.</p>
<form method="post" action="/webapps/helios"><input type="hidden" name="token" value="${order.id}">
<button type="submit" id="complete" name="action" value="approve">Complete authentication</button>
<button type="submit" id="cancel" name="action" value="cancel">Cancel</button></form>`,
    );
  }

  /** Runs `process` once per PayPal-Request-Id; repeats get the stored answer. */
  function idempotent(key: string | null, process: () => Answer): Answer {
    if (key === null) return process();
    const stored = answers.get(key);
    if (stored !== undefined) return { ...stored, replayed: true };
    const answer = process();
    // Schema violations are rejected before processing and not stored.
    if (answer.status !== 400) answers.set(key, answer);
    return answer;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake-paypal");
    if (await buyerPage(req, url, res)) return;
    const body = await readBody(req);
    const paypalRequestId = header(req, "paypal-request-id");
    const entry: FakeRequest = { method: req.method ?? "GET", path: url.pathname, paypalRequestId, body: parseJson(body) ?? null, fault: null, replayed: false, status: null };
    requests.push(entry);
    const debugId = randomBytes(7).toString("hex");

    const respond = (answer: Answer): void => {
      entry.status = answer.status;
      entry.replayed = answer.replayed === true;
      if (answer.status === 204) {
        res.writeHead(204, { "Paypal-Debug-Id": debugId }).end();
        return;
      }
      res.writeHead(answer.status, { "Content-Type": "application/json", "Paypal-Debug-Id": debugId });
      // Error envelopes carry the response's debug id (OAuth errors have their own format).
      const body = answer.body;
      res.end(JSON.stringify(answer.status >= 400 && isJson(body) && "name" in body ? { ...body, debug_id: debugId } : body));
    };

    const route = routeOf(req.method ?? "GET", url.pathname);
    if (route === null) return respond(errorAnswer(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist."));
    const { endpoint, id: resourceId } = route;

    if (endpoint !== "token") {
      const bearer = /^Bearer (.+)$/.exec(header(req, "authorization") ?? "")?.[1];
      if (bearer === undefined || !tokens.has(bearer)) {
        return respond(errorAnswer(401, "AUTHENTICATION_FAILURE", "Authentication failed due to invalid authentication credentials or a missing Authorization header."));
      }
    }

    const fault = faults.take(endpoint, endpoint === "token");
    entry.fault = fault;
    switch (fault) {
      case "connection-reset":
        req.socket.destroy();
        return;
      case "http429":
        return respond(errorAnswer(429, "RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."));
      case "http500":
        return respond(errorAnswer(500, "INTERNAL_SERVER_ERROR", "An internal server error occurred."));
    }

    const representation = header(req, "prefer") === "return=representation";
    let answer: Answer;
    if (endpoint === "token") {
      answer = issueToken(req, body);
    } else if (endpoint === "create") {
      const parsed = parseJson(body);
      answer =
        parsed === undefined
          ? invalidRequest("/", "MALFORMED_REQUEST_JSON", "The request JSON is not well formed.")
          : cardSource(parsed) !== null && paypalRequestId === null
            ? unprocessable("PAYPAL_REQUEST_ID_REQUIRED", "A PayPal-Request-Id is required if you are trying to process payment for an Order.")
            : idempotent(paypalRequestId, () => createOrder(parsed, representation));
    } else if (endpoint === "capture" || endpoint === "authorize") {
      answer = idempotent(paypalRequestId, () => completeOrder(resourceId, endpoint === "capture" ? "CAPTURE" : "AUTHORIZE", representation));
    } else if (endpoint === "capture-authorization") {
      answer = idempotent(paypalRequestId, () => captureAuthorization(resourceId, parseJson(body), representation));
    } else if (endpoint === "void") {
      answer = idempotent(paypalRequestId, () => voidAuthorization(resourceId, representation));
    } else if (endpoint === "refund") {
      answer = idempotent(paypalRequestId, () => refundCapture(resourceId, parseJson(body), representation));
    } else if (endpoint === "verify-webhook-signature") {
      answer = verifySignature(parseJson(body));
    } else if (endpoint === "refund-retrieve") {
      const refund = refunds.find((r) => r.json.id === resourceId);
      if (refund === undefined) answer = notFound();
      else {
        const { capture_id: _internal, ...shown } = refund.json;
        answer = { status: 200, body: shown };
      }
    } else if (endpoint === "dispute-retrieve") {
      const dispute = disputes.get(resourceId);
      answer = dispute === undefined ? errorAnswer(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID") : { status: 200, body: dispute };
    } else if (endpoint === "cert") {
      answer = { status: 200, body: signing.publicKey.export({ type: "spki", format: "pem" }) };
    } else if (endpoint === "authorization") {
      const authorization = authorizations.get(resourceId);
      answer = authorization === undefined ? notFound() : { status: 200, body: authorization.json };
    } else {
      const order = orders.get(resourceId);
      answer = order === undefined ? errorAnswer(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID") : { status: 200, body: orderJson(order, true) };
    }

    if (fault === "timeout-after-commit") {
      // Processed, never answered: the socket stays open until the client gives up or we stop.
      return;
    }
    if (fault === "malformed") {
      entry.status = 200;
      res.writeHead(200, { "Content-Type": "application/json", "Paypal-Debug-Id": debugId });
      res.end(faults.nextMalformedIsText() ? "<html><body><h1>502 Bad Gateway</h1></body></html>" : JSON.stringify({ unexpected: true }));
      return;
    }
    respond(answer);
  }

  const listening = await listenOnLoopback((req, res) => void handle(req, res), options);
  const server = listening.server;
  baseUrl = listening.url;

  return {
    url: baseUrl,
    clientId,
    clientSecret,
    requests,
    vaultCard(number, expiry = `${new Date().getUTCFullYear() + 3}-12`) {
      const token = randomBytes(4).toString("hex");
      vault.set(token, { number, expiry, name: null });
      return token;
    },
    chargesFor(paymentId) {
      return [...captures.values()].filter((c) => c.paymentId === paymentId && CAPTURED.has(c.json.status)).length;
    },
    ledgerFor(paymentId) {
      const minor = (money: { currency_code: string; value: string }) => Math.round(Number(money.value) * 10 ** (CURRENCY_DECIMALS[money.currency_code] ?? 2));
      return {
        captures: [...captures.values()].filter((c) => c.ofAuthorization && c.paymentId === paymentId && CAPTURED.has(c.json.status)).map((c) => minor(c.json.amount)),
        voids: [...authorizations.values()].filter((a) => a.order.customId === paymentId && a.json.status === "VOIDED").length,
        refunds: refunds.filter((r) => r.paymentId === paymentId && (r.json.status === "COMPLETED" || r.json.status === "PENDING")).map((r) => minor(r.json.amount)),
      };
    },
    ordersFor(paymentId) {
      return [...orders.values()].filter((o) => o.customId === paymentId).map((o) => orderJson(o, true));
    },
    failNext(n, fault, endpoint) {
      faults.set(n, fault, endpoint ?? null);
    },
    revokeTokens() {
      tokens.clear();
    },
    webhookId,
    setWebhookUrl(url) {
      webhookUrl = url;
    },
    events,
    sendEvent,
    redeliver,
    deliverRaw,
    transmissionHeaders,
    async openDispute(captureId, options = {}) {
      const capture = captures.get(captureId);
      if (capture === undefined) throw new Error(`fake PayPal: no capture ${captureId}`);
      const now = new Date();
      // developer.paypal.com/docs/api/customer-disputes/v1/#disputes_get
      const disputeId = `PP-D-${randomBytes(4).readUInt32BE() % 100000}`;
      const dispute = {
        dispute_id: disputeId,
        create_time: now.toISOString(),
        update_time: now.toISOString(),
        disputed_transactions: [{ seller_transaction_id: captureId, seller: { merchant_id: "FAKEMERCHANT01" }, seller_protection_eligible: true }],
        reason: options.reason ?? "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        status: "WAITING_FOR_SELLER_RESPONSE",
        dispute_amount: { ...capture.json.amount },
        dispute_life_cycle_stage: "CHARGEBACK",
        dispute_channel: "EXTERNAL",
        seller_response_due_date: new Date(now.getTime() + 10 * 86_400_000).toISOString(),
        links: [{ href: `${baseUrl}/v1/customer/disputes/${disputeId}`, rel: "self", method: "GET" }],
      };
      disputes.set(dispute.dispute_id, dispute);
      return { dispute, delivery: await sendEvent("CUSTOMER.DISPUTE.CREATED", "dispute", dispute) };
    },
    updateDispute(disputeId, status, outcome) {
      const dispute = disputes.get(disputeId);
      if (dispute === undefined) throw new Error(`fake PayPal: no dispute ${disputeId}`);
      Object.assign(dispute, { status, update_time: new Date().toISOString() }, outcome === undefined ? {} : { dispute_outcome: { outcome_code: outcome } });
      return sendEvent(status === "RESOLVED" ? "CUSTOMER.DISPUTE.RESOLVED" : "CUSTOMER.DISPUTE.UPDATED", "dispute", dispute);
    },
    capturesFor(paymentId) {
      return [...captures.values()].filter((c) => c.paymentId === paymentId).map((c) => c.json.id);
    },
    approve(orderId, payer) {
      const answer = approveOrder(orderId, payer);
      if (answer.status !== 200) throw new Error(`fake PayPal: order ${orderId} cannot be approved (${answer.status})`);
      return answer.body as Json;
    },
    voidOrder(orderId) {
      const answer = voidOrderNow(orderId);
      if (answer.status !== 200) throw new Error(`fake PayPal: order ${orderId} cannot be voided (${answer.status})`);
      return answer.body as Json;
    },
    order(orderId) {
      const order = orders.get(orderId);
      return order === undefined ? null : orderJson(order, true);
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

const ROUTES: ReadonlyArray<{ method: string; pattern: RegExp; endpoint: PaypalEndpoint }> = [
  { method: "POST", pattern: /^\/v1\/oauth2\/token$/, endpoint: "token" },
  { method: "POST", pattern: /^\/v2\/checkout\/orders$/, endpoint: "create" },
  { method: "POST", pattern: /^\/v2\/checkout\/orders\/([^/]+)\/capture$/, endpoint: "capture" },
  { method: "POST", pattern: /^\/v2\/checkout\/orders\/([^/]+)\/authorize$/, endpoint: "authorize" },
  { method: "GET", pattern: /^\/v2\/checkout\/orders\/([^/]+)$/, endpoint: "retrieve" },
  { method: "GET", pattern: /^\/v2\/payments\/authorizations\/([^/]+)$/, endpoint: "authorization" },
  { method: "POST", pattern: /^\/v2\/payments\/authorizations\/([^/]+)\/capture$/, endpoint: "capture-authorization" },
  { method: "POST", pattern: /^\/v2\/payments\/authorizations\/([^/]+)\/void$/, endpoint: "void" },
  { method: "POST", pattern: /^\/v2\/payments\/captures\/([^/]+)\/refund$/, endpoint: "refund" },
  { method: "GET", pattern: /^\/v2\/payments\/refunds\/([^/]+)$/, endpoint: "refund-retrieve" },
  { method: "GET", pattern: /^\/v1\/customer\/disputes\/([^/]+)$/, endpoint: "dispute-retrieve" },
  { method: "POST", pattern: /^\/v1\/notifications\/verify-webhook-signature$/, endpoint: "verify-webhook-signature" },
  { method: "GET", pattern: /^\/v1\/notifications\/certs\/([^/]+)$/, endpoint: "cert" },
];

function routeOf(method: string, path: string): { endpoint: PaypalEndpoint; id: string } | null {
  for (const route of ROUTES) {
    const match = method === route.method ? route.pattern.exec(path) : null;
    if (match !== null) return { endpoint: route.endpoint, id: match[1] ?? "" };
  }
  return null;
}

function moneyOf(value: Json): { currency_code: string; value: string } | null {
  return typeof value.currency_code === "string" && typeof value.value === "string" && /^\d{1,10}(\.\d{1,})?$/.test(value.value)
    ? { currency_code: value.currency_code, value: value.value }
    : null;
}

function notFound(): Answer {
  return errorAnswer(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID", "Specified resource ID does not exist. Please check the resource ID and try again.");
}

function behaviourOf(card: Card): CardBehaviour {
  return CARD_BEHAVIOUR[card.number] ?? { result: "captured" };
}

function cardSource(body: unknown): Json | null {
  return isJson(body) && isJson(body.payment_source) && isJson(body.payment_source.card) ? body.payment_source.card : null;
}

function paypalSource(body: unknown): Json | null {
  return isJson(body) && isJson(body.payment_source) && isJson(body.payment_source.paypal) ? body.payment_source.paypal : null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** `base` with `params` added to its query (PayPal appends token and PayerID to the merchant's URLs). */
function withQuery(base: string | null, params: Record<string, string>): string {
  // An order created without a return URL: PayPal would keep the buyer; the fake sends them to its root.
  const url = new URL(base ?? "http://fake-paypal.invalid/");
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function errorAnswer(status: number, name: string, message: string, issue?: string, description?: string): Answer {
  return {
    status,
    body: {
      name,
      message,
      ...(issue === undefined ? {} : { details: [{ issue, ...(description === undefined ? {} : { description }) }] }),
      links: [{ href: `https://developer.paypal.com/api/rest/reference/orders/v2/errors/#${(issue ?? name).toLowerCase()}`, rel: "information_link", method: "GET" }],
    },
  };
}

function unprocessable(issue: string, description: string): Answer {
  return errorAnswer(422, "UNPROCESSABLE_ENTITY", UNPROCESSABLE_MESSAGE, issue, description);
}

function invalidRequest(field: string, issue: string, description: string): Answer {
  return {
    status: 400,
    body: {
      name: "INVALID_REQUEST",
      message: "Request is not well-formed, syntactically incorrect, or violates schema.",
      details: [{ field, location: "body", issue, description }],
      links: [{ href: `https://developer.paypal.com/api/rest/reference/orders/v2/errors/#${issue.toLowerCase()}`, rel: "information_link", method: "GET" }],
    },
  };
}

/** Order and capture ids: 17 upper-case letters and digits. */
function paypalId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  return Array.from(randomBytes(17), (byte) => alphabet[byte % alphabet.length]).join("");
}

function isJson(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
