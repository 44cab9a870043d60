/**
 * A local stand-in for the Stripe API, answering the PaymentIntents and Refunds calls the Stripe
 * adapter makes the way Stripe documents them: form-encoded requests, PaymentIntent and Refund
 * JSON, Stripe's error envelope, Request-Id headers, and idempotency keys that replay the first
 * stored answer of any POST (with `Idempotent-Replayed: true`).
 *
 * Like an ordinary Stripe account, it refuses raw card numbers (`payment_method_data[card]`) with
 * Stripe's "Sending credit card numbers directly to the Stripe API is generally unsafe" 400, unless
 * started with `rawCardData: true` (an account with raw card data APIs enabled); it takes Stripe's
 * test PaymentMethods (`payment_method=pm_card_visa`, …) with the outcomes of their card numbers,
 * and refuses create parameters the API version the SDK pins does not document.
 *
 * 3-D Secure as Stripe's test cards show it (docs.stripe.com/testing, "3D Secure authentication"):
 * a create confirmed with `return_url` rests at `requires_action` with `next_action.redirect_to_url`
 * naming this fake's own authentication page (`/3d_secure_2/hosted?payment_intent=…`, like
 * Stripe's hooks.stripe.com page). That page offers "Complete" and "Fail" as Stripe's test page
 * does; either sends the customer back to the return_url with `payment_intent`,
 * `payment_intent_client_secret` and `redirect_status`. Completed, the PaymentIntent is
 * `succeeded` (`requires_capture` for capture_method=manual); failed, it is back at
 * `requires_payment_method` with last_payment_error `payment_intent_authentication_failure`.
 * With `error_on_requires_action=true` the confirm fails at once with a 402 card_error
 * `authentication_required`; with neither, it rests at `requires_action` with `use_stripe_sdk`
 * (an action only Stripe.js can take).
 *
 * Built on node:http (node:https with `tls: true`) rather than Bun.serve because the
 * `connection-reset` fault needs the socket.
 */

import { createHash, createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { stripeAmount } from "../../modules/gateways/stripe/stripe-units";
import { type Delivery, deliver, type FakeServerOptions, header, listenOnLoopback, readBody } from "./fake-http";
import { FaultQueue, TEST_CARDS, type GatewayFault } from "./gateway-conformance";

export type StripeEndpoint = "create" | "search" | "retrieve" | "capture" | "cancel" | "refund" | "refunds" | "refund-retrieve" | "dispute-retrieve";

export interface FakeRequest {
  method: string;
  path: string;
  idempotencyKey: string | null;
  fault: GatewayFault | null;
  replayed: boolean;
  /** HTTP status answered; null when the fault left the request unanswered. */
  status: number | null;
}

export interface FakeStripe {
  url: string;
  secretKey: string;
  requests: FakeRequest[];
  /** What each PaymentIntent create that got as far as its card paid with: a test PaymentMethod's name, or "raw_card_data". */
  paymentSources: string[];
  chargesFor(paymentId: string): number;
  /** The PaymentIntents created for a payment (metadata paystream_payment_id), as Stripe stores them. */
  intentsFor(paymentId: string): PaymentIntent[];
  /** The refunds made for a payment (metadata paystream_payment_id), oldest first. */
  refundsFor(paymentId: string): Refund[];
  failNext(n: number, fault: GatewayFault, endpoint?: StripeEndpoint): void;
  /**
   * The next create answers 500 and Stripe keeps that answer for its idempotency key: every later
   * request with the key gets the same 500 replayed (docs.stripe.com/api/idempotent_requests:
   * "including 500 errors"). `charged` says whether the PaymentIntent was created before the error.
   */
  storeServerErrorOnNextCreate(charged: boolean): void;
  /** The signing secret of the webhook endpoint (`whsec_…`): STRIPE_WEBHOOK_SECRET. */
  webhookSecret: string;
  /** Where events are delivered (the service's /v1/gateway-events/stripe), once the service runs. */
  setWebhookUrl(url: string): void;
  /** Every event made, oldest first. */
  events: StripeEvent[];
  /**
   * Makes an event about `object` as Stripe does (docs.stripe.com/api/events/object) and delivers
   * it, signed (`Stripe-Signature: t=…,v1=…`). `object` is sent as given: a test may send a body
   * that disagrees with this fake's own record of the object.
   */
  sendEvent(type: string, object: Record<string, unknown>): Promise<Delivery>;
  /** Delivers an event made before again, freshly signed, as Stripe's retries do. */
  redeliver(event: StripeEvent): Promise<Delivery>;
  /** Delivers `body` with the given Stripe-Signature header (or none), for forged deliveries. */
  deliverRaw(body: string, signature: string | null): Promise<Delivery>;
  /** Signs `body` as Stripe would, with `secret` and `timestamp` (seconds) if given. */
  sign(body: string, options?: { secret?: string; timestamp?: number }): string;
  /** The card could not take a succeeded refund back: the refund turns `failed`, and `refund.failed` is sent. */
  failRefund(refundId: string): Promise<Delivery>;
  /** The card holder disputes the payment: a dispute `needs_response`, and `charge.dispute.created` is sent. */
  openDispute(paymentIntentId: string, options?: { reason?: string; amount?: number }): Promise<{ dispute: StripeDispute; delivery: Delivery }>;
  /** The dispute moves to `status`: `charge.dispute.updated`, or `charge.dispute.closed` for won and lost. */
  updateDispute(disputeId: string, status: string): Promise<Delivery>;
  dispute(disputeId: string): StripeDispute | undefined;
  stop(): Promise<void>;
}

export type StripeEvent = Record<string, unknown> & { id: string; type: string; data: { object: Record<string, unknown> } };
export type StripeDispute = Record<string, unknown> & { id: string; status: string; amount: number };
export type { Delivery } from "./fake-http";

type CardBehaviour =
  | { result: "succeeded" }
  | { result: "requires_action" }
  | { result: "card_error"; code: string; declineCode: string; message: string };

const CARD_BEHAVIOUR: Readonly<Record<string, CardBehaviour>> = {
  [TEST_CARDS.cardDeclined]: { result: "card_error", code: "card_declined", declineCode: "generic_decline", message: "Your card was declined." },
  [TEST_CARDS.insufficientFunds]: { result: "card_error", code: "card_declined", declineCode: "insufficient_funds", message: "Your card has insufficient funds." },
  [TEST_CARDS.lostCard]: { result: "card_error", code: "card_declined", declineCode: "lost_card", message: "Your card was declined." },
  [TEST_CARDS.stolenCard]: { result: "card_error", code: "card_declined", declineCode: "stolen_card", message: "Your card was declined." },
  [TEST_CARDS.expiredCard]: { result: "card_error", code: "expired_card", declineCode: "expired_card", message: "Your card has expired." },
  [TEST_CARDS.incorrectCvc]: { result: "card_error", code: "incorrect_cvc", declineCode: "incorrect_cvc", message: "Your card's security code is incorrect." },
  [TEST_CARDS.processingError]: {
    result: "card_error",
    code: "processing_error",
    declineCode: "processing_error",
    message: "An error occurred while processing your card. Try again in a little bit.",
  },
  [TEST_CARDS.authenticationRequired]: { result: "requires_action" },
  // Stripe's "always authenticate" and "3DS2 required" cards (pm_card_authenticationRequired, pm_card_threeDSecure2Required).
  "4000002760003184": { result: "requires_action" },
  "4000000000003220": { result: "requires_action" },
};

/** Where this fake's authentication page is: Stripe's is hooks.stripe.com/3d_secure_2/hosted. */
const AUTHENTICATION_PAGE = "/3d_secure_2/hosted";

/** The reasons a PaymentIntent may be canceled with (docs.stripe.com/api/payment_intents/cancel). */
const CANCELLATION_REASONS = new Set(["duplicate", "fraudulent", "requested_by_customer", "abandoned"]);

interface StoredAnswer {
  status: number;
  body: unknown;
  /** Stripe refuses a key reused with different parameters. */
  parameters: string;
}

export type PaymentIntent = Record<string, unknown> & { id: string; status: string; metadata: Record<string, string> };
export type Refund = Record<string, unknown> & { id: string; status: string; amount: number; metadata: Record<string, string> };

/**
 * Stripe's "refunds fail" card: its refunds start `succeeded` and turn `failed` later
 * (docs.stripe.com/testing#refunds); this fake answers the final state at once. No Stripe card
 * refuses a capture: the simulator's capture-refused number is answered as an issuer decline.
 */
const FAILS_LATER: Readonly<Record<string, "refund" | "capture">> = {
  [TEST_CARDS.refundFails]: "refund",
  [TEST_CARDS.captureRefused]: "capture",
};

/** The states from which a PaymentIntent may be canceled (docs.stripe.com/api/payment_intents/cancel). */
const CANCELABLE = new Set(["requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"]);

interface Answer {
  status: number;
  body: unknown;
  replayed?: boolean;
}

/**
 * Stripe's test PaymentMethods and the card each stands for (docs.stripe.com/testing: "Cards by
 * brand", "Declined payments", "Refunds", "3D Secure authentication"), transcribed here on their
 * own so that the adapter's table is checked against it, not copied. The declines have a current
 * name (pm_card_visa_chargeDeclined…) and an older one (pm_card_chargeDeclined…): Stripe takes both.
 */
const TEST_PAYMENT_METHODS: Readonly<Record<string, { number: string; brand: string }>> = {
  pm_card_visa: { number: "4242424242424242", brand: "visa" },
  pm_card_visa_debit: { number: "4000056655665556", brand: "visa" },
  pm_card_mastercard: { number: "5555555555554444", brand: "mastercard" },
  pm_card_mastercard_debit: { number: "5200828282828210", brand: "mastercard" },
  pm_card_mastercard_prepaid: { number: "5105105105105100", brand: "mastercard" },
  pm_card_amex: { number: "378282246310005", brand: "amex" },
  pm_card_discover: { number: "6011111111111117", brand: "discover" },
  pm_card_diners: { number: "3056930009020004", brand: "diners" },
  pm_card_jcb: { number: "3566002020360505", brand: "jcb" },
  pm_card_unionpay: { number: "6200000000000005", brand: "unionpay" },
  pm_card_chargeDeclined: { number: "4000000000000002", brand: "visa" },
  pm_card_visa_chargeDeclined: { number: "4000000000000002", brand: "visa" },
  pm_card_chargeDeclinedInsufficientFunds: { number: "4000000000009995", brand: "visa" },
  pm_card_visa_chargeDeclinedInsufficientFunds: { number: "4000000000009995", brand: "visa" },
  pm_card_chargeDeclinedLostCard: { number: "4000000000009987", brand: "visa" },
  pm_card_visa_chargeDeclinedLostCard: { number: "4000000000009987", brand: "visa" },
  pm_card_chargeDeclinedStolenCard: { number: "4000000000009979", brand: "visa" },
  pm_card_visa_chargeDeclinedStolenCard: { number: "4000000000009979", brand: "visa" },
  pm_card_chargeDeclinedExpiredCard: { number: "4000000000000069", brand: "visa" },
  pm_card_chargeDeclinedIncorrectCvc: { number: "4000000000000127", brand: "visa" },
  pm_card_chargeDeclinedProcessingError: { number: "4000000000000119", brand: "visa" },
  pm_card_refundFail: { number: "4000000000005126", brand: "visa" },
  pm_card_authenticationRequiredOnSetup: { number: "4000002500003155", brand: "visa" },
  pm_card_authenticationRequired: { number: "4000002760003184", brand: "visa" },
  pm_card_threeDSecure2Required: { number: "4000000000003220", brand: "visa" },
};

/** Test PaymentMethods exist only in test mode (docs.stripe.com/keys). */
const TEST_MODE_KEY = /^(sk|rk)_test_/;

/**
 * The parameters of POST /v1/payment_intents that API version 2026-10-28 (the one the SDK pins)
 * documents; Stripe answers any other with 400 parameter_unknown.
 */
const CREATE_PARAMETERS = new Set([
  "amount", "currency", "allowed_payment_method_types", "amount_details", "application_fee_amount", "automatic_payment_methods",
  "capture_method", "confirm", "confirmation_method", "confirmation_token", "customer", "customer_account", "description",
  "error_on_requires_action", "excluded_payment_method_types", "expand", "hooks", "mandate", "mandate_data", "metadata",
  "off_session", "on_behalf_of", "payment_details", "payment_method", "payment_method_configuration", "payment_method_data",
  "payment_method_options", "radar_options", "receipt_email", "return_url", "setup_future_usage", "shipping",
  "statement_descriptor", "statement_descriptor_suffix", "transfer_data", "transfer_group", "use_stripe_sdk",
]);

export interface FakeStripeOptions extends FakeServerOptions {
  secretKey?: string;
  /** The account has raw card data APIs enabled: `payment_method_data[card]` is taken. */
  rawCardData?: boolean;
}

export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const secretKey = options.secretKey ?? `sk_test_fake_${randomBytes(12).toString("hex")}`;
  const rawCardData = options.rawCardData ?? false;
  const faults = new FaultQueue<StripeEndpoint>();
  const requests: FakeRequest[] = [];
  const paymentSources: string[] = [];
  const answers = new Map<string, StoredAnswer>();
  let storedServerError: { charged: boolean } | null = null;
  const intents = new Map<string, PaymentIntent>();
  const refunds: Refund[] = [];
  const webhookSecret = `whsec_${randomBytes(24).toString("base64url")}`;
  let webhookUrl: string | null = null;
  const events: StripeEvent[] = [];
  const disputes = new Map<string, StripeDispute>();

  /** Stripe's signature scheme (docs.stripe.com/webhooks#verify-manually): v1 = HMAC-SHA256 of `${t}.${body}`, hex. */
  function sign(body: string, options: { secret?: string; timestamp?: number } = {}): string {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const v1 = createHmac("sha256", options.secret ?? webhookSecret).update(`${timestamp}.${body}`).digest("hex");
    return `t=${timestamp},v1=${v1}`;
  }

  const deliverRaw = (body: string, signature: string | null) =>
    deliver(webhookUrl, body, {
      "content-type": "application/json; charset=utf-8",
      "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
      ...(signature === null ? {} : { "stripe-signature": signature }),
    });

  /** An event as Stripe sends it; a retry sends the same bytes under a fresh signature. */
  const bodies = new Map<string, string>();
  function redeliver(event: StripeEvent): Promise<Delivery> {
    const body = bodies.get(event.id) ?? JSON.stringify(event);
    return deliverRaw(body, sign(body));
  }
  function sendEvent(type: string, object: Record<string, unknown>): Promise<Delivery> {
    const event: StripeEvent = {
      id: id("evt"),
      object: "event",
      api_version: "2026-10-28.clover",
      created: Math.floor(Date.now() / 1000),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    events.push(event);
    bodies.set(event.id, JSON.stringify(event));
    return redeliver(event);
  }

  /** What a PaymentIntent's card does to later captures or refunds (Stripe knows its card; the JSON does not show it). */
  const failsLater = new Map<string, "refund" | "capture">();
  /** Each PaymentIntent's PaymentMethod object, answered in place of its id for `expand[]=payment_method`. */
  const paymentMethodObjects = new Map<string, Record<string, unknown>>();
  /** This server's origin, known once it listens: the authentication page's URL starts with it. */
  let origin = "";

  /** The card a create pays with: raw card data (where the account allows it) or a test PaymentMethod. */
  function cardOf(form: URLSearchParams): { card: { number: string; brand: string; expMonth: number; expYear: number } } | { refused: Answer } {
    const number = form.get("payment_method_data[card][number]");
    const paymentMethod = form.get("payment_method");
    if (number !== null && paymentMethod !== null) {
      return { refused: invalidRequest("parameter_invalid_empty", "payment_method_data", "You cannot provide both payment_method and payment_method_data.") };
    }
    if (number !== null) {
      paymentSources.push("raw_card_data");
      if (!rawCardData) return { refused: rawCardDataRefusal(secretKey) };
      if (form.get("payment_method_data[card][cvc]") === null) {
        return { refused: invalidRequest("parameter_missing", "payment_method_data[card][cvc]", "Missing required param: payment_method_data[card][cvc].") };
      }
      const expMonth = Number(form.get("payment_method_data[card][exp_month]"));
      const expYear = Number(form.get("payment_method_data[card][exp_year]"));
      return { card: { number, brand: "visa", expMonth, expYear } };
    }
    if (paymentMethod !== null) {
      paymentSources.push(paymentMethod);
      const test = TEST_MODE_KEY.test(secretKey) ? TEST_PAYMENT_METHODS[paymentMethod] : undefined;
      if (test === undefined) {
        return {
          refused: {
            status: 400,
            body: { error: { type: "invalid_request_error", code: "resource_missing", param: "payment_method", message: `No such PaymentMethod: '${paymentMethod}'`, doc_url: "https://docs.stripe.com/error-codes/resource-missing" } },
          },
        };
      }
      return { card: { ...test, expMonth: 12, expYear: new Date().getUTCFullYear() + 3 } };
    }
    return { refused: invalidRequest("parameter_missing", "payment_method", "Missing required param: payment_method.") };
  }

  function createPaymentIntent(form: URLSearchParams): Answer {
    const unknown = [...form.keys()].map((key) => key.split("[")[0] ?? key).find((name) => !CREATE_PARAMETERS.has(name));
    if (unknown !== undefined) return invalidRequest("parameter_unknown", unknown, `Received unknown parameter: ${unknown}`);
    const amount = Number(form.get("amount"));
    const currency = form.get("currency");
    if (!Number.isInteger(amount) || amount < 1) {
      return invalidRequest("parameter_invalid_integer", "amount", "Invalid positive integer");
    }
    if (currency === null || !/^[a-z]{3}$/.test(currency)) {
      return invalidRequest("parameter_invalid_string_empty", "currency", "Invalid currency: must be a lowercase ISO code");
    }
    const unitsError = checkUnits(amount, currency);
    if (unitsError !== null) return unitsError;
    const source = cardOf(form);
    if ("refused" in source) return source.refused;
    const { number } = source.card;
    if (form.get("confirm") !== "true") {
      return invalidRequest("parameter_missing", "confirm", "This fake only supports confirm=true.");
    }
    const returnUrl = form.get("return_url");
    if (returnUrl !== null && !URL.canParse(returnUrl)) return invalidRequest("url_invalid", "return_url", "Not a valid URL");
    const errorOnRequiresAction = form.get("error_on_requires_action") === "true";
    const manual = form.get("capture_method") === "manual";

    const cardBehaviour = CARD_BEHAVIOUR[number] ?? { result: "succeeded" };
    // error_on_requires_action: "fail the payment attempt if the PaymentIntent transitions into
    // requires_action" (docs.stripe.com/api/payment_intents/create), as Stripe answers an issuer
    // that asks for authentication it cannot get.
    const behaviour: CardBehaviour =
      cardBehaviour.result === "requires_action" && errorOnRequiresAction
        ? { result: "card_error", code: "authentication_required", declineCode: "authentication_required", message: "Your card was declined. This transaction requires authentication." }
        : cardBehaviour;
    const paymentMethod = {
      id: id("pm"),
      object: "payment_method",
      type: "card",
      card: {
        brand: source.card.brand,
        last4: number.slice(-4),
        exp_month: source.card.expMonth,
        exp_year: source.card.expYear,
        // Stripe's fingerprint: the same for every PaymentMethod of one card number on an account.
        fingerprint: createHash("sha256").update(`${secretKey}:${number}`).digest("base64url").slice(0, 16),
      },
    };
    const chargeId = behaviour.result === "requires_action" ? null : id("ch");
    const intentId = id("pi");
    const metadata = formMetadata(form);
    const cardError =
      behaviour.result === "card_error"
        ? {
            type: "card_error",
            code: behaviour.code,
            decline_code: behaviour.declineCode,
            message: behaviour.message,
            doc_url: `https://docs.stripe.com/error-codes/${behaviour.code.replaceAll("_", "-")}`,
            charge: chargeId,
            payment_method: paymentMethod,
          }
        : null;
    const status =
      behaviour.result === "succeeded"
        ? manual
          ? "requires_capture"
          : "succeeded"
        : behaviour.result === "requires_action"
          ? "requires_action"
          : "requires_payment_method";
    const intent: PaymentIntent = {
      id: intentId,
      object: "payment_intent",
      amount,
      amount_capturable: status === "requires_capture" ? amount : 0,
      amount_received: status === "succeeded" ? amount : 0,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: manual ? "manual" : "automatic_async",
      client_secret: `${intentId}_secret_${randomBytes(12).toString("hex")}`,
      confirmation_method: "automatic",
      created: Math.floor(Date.now() / 1000),
      currency,
      description: form.get("description"),
      last_payment_error: cardError,
      latest_charge: chargeId,
      livemode: false,
      metadata,
      next_action: null,
      payment_method: status === "requires_payment_method" ? null : paymentMethod.id,
      payment_method_types: ["card"],
      receipt_email: form.get("receipt_email"),
      status,
    };
    if (status === "requires_action") {
      intent.next_action =
        returnUrl === null
          ? { type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect", stripe_js: "https://hooks.stripe.com/3d_secure_2/hosted" } }
          : {
              type: "redirect_to_url",
              redirect_to_url: {
                url: `${origin}${AUTHENTICATION_PAGE}?${new URLSearchParams({ payment_intent: intentId, payment_intent_client_secret: String(intent.client_secret) })}`,
                return_url: returnUrl,
              },
            };
    }
    intents.set(intentId, intent);
    paymentMethodObjects.set(intentId, paymentMethod);
    const later = FAILS_LATER[number];
    if (later !== undefined) failsLater.set(intentId, later);

    // `expand[]=payment_method` answers the PaymentMethod object in place of its id (docs.stripe.com/api/expanding_objects).
    const expanded = [...form.entries()].some(([key, value]) => key.startsWith("expand[") && value === "payment_method");
    if (cardError !== null) {
      return { status: 402, body: { error: { ...cardError, payment_intent: intent, request_log_url: `https://dashboard.stripe.com/test/logs/${id("req")}` } } };
    }
    return { status: 200, body: expanded && intent.payment_method !== null ? { ...intent, payment_method: paymentMethod } : intent };
  }

  function searchPaymentIntents(query: string | null): Answer {
    const match = /^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$/.exec(query ?? "");
    if (match === null) {
      return invalidRequest("parameter_invalid_string_empty", "query", "This fake only supports metadata['key']:'value' queries.");
    }
    const [, key = "", rawValue = ""] = match;
    const value = rawValue.replace(/\\(.)/g, "$1");
    const data = [...intents.values()].filter((intent) => intent.metadata[key] === value).reverse();
    return { status: 200, body: { object: "search_result", data, has_more: false, next_page: null, url: "/v1/payment_intents/search" } };
  }

  /** payment_intent_unexpected_state, with the PaymentIntent as Stripe attaches it. */
  function unexpectedState(intent: PaymentIntent, action: string): Answer {
    return {
      status: 400,
      body: {
        error: {
          type: "invalid_request_error",
          code: "payment_intent_unexpected_state",
          message: `This PaymentIntent could not be ${action} because it has a status of ${intent.status}.`,
          doc_url: "https://docs.stripe.com/error-codes/payment-intent-unexpected-state",
          payment_intent: intent,
        },
      },
    };
  }

  function capturePaymentIntent(intent: PaymentIntent, form: URLSearchParams): Answer {
    if (intent.status !== "requires_capture") return unexpectedState(intent, "captured");
    const capturable = Number(intent.amount_capturable);
    const requested = form.get("amount_to_capture");
    const amount = requested === null ? capturable : Number(requested);
    if (!Number.isInteger(amount) || amount < 1) return invalidRequest("parameter_invalid_integer", "amount_to_capture", "Invalid positive integer");
    if (amount > capturable) {
      return invalidRequest("amount_too_large", "amount_to_capture", "The amount_to_capture must be less than or equal to the PaymentIntent's amount_capturable.");
    }
    if (failsLater.get(intent.id) === "capture") {
      return {
        status: 402,
        body: { error: { type: "card_error", code: "card_declined", decline_code: "generic_decline", message: "Your card was declined.", payment_intent: intent } },
      };
    }
    Object.assign(intent, { status: "succeeded", amount_received: amount, amount_capturable: 0 });
    return { status: 200, body: intent };
  }

  function cancelPaymentIntent(intent: PaymentIntent, form: URLSearchParams): Answer {
    const unknown = [...form.keys()].find((key) => key !== "cancellation_reason" && !key.startsWith("expand["));
    if (unknown !== undefined) return invalidRequest("parameter_unknown", unknown, `Received unknown parameter: ${unknown}`);
    const reason = form.get("cancellation_reason");
    if (reason !== null && !CANCELLATION_REASONS.has(reason)) {
      return invalidRequest("parameter_invalid_string", "cancellation_reason", `Invalid cancellation_reason: must be one of ${[...CANCELLATION_REASONS].join(", ")}`);
    }
    if (!CANCELABLE.has(intent.status)) return unexpectedState(intent, "canceled");
    Object.assign(intent, {
      status: "canceled",
      amount_capturable: 0,
      canceled_at: Math.floor(Date.now() / 1000),
      cancellation_reason: reason,
      next_action: null,
    });
    return { status: 200, body: intent };
  }

  function createRefund(form: URLSearchParams): Answer {
    const intentId = form.get("payment_intent");
    const intent = intentId === null ? undefined : intents.get(intentId);
    if (intent === undefined) return resourceMissing("payment_intent", intentId ?? "");
    if (intent.status !== "succeeded") return unexpectedState(intent, "refunded");
    const received = Number(intent.amount_received);
    const refunded = refunds
      .filter((r) => r.payment_intent === intent.id && (r.status === "succeeded" || r.status === "pending"))
      .reduce((sum, r) => sum + r.amount, 0);
    const requested = form.get("amount");
    const amount = requested === null ? received - refunded : Number(requested);
    if (refunded >= received) {
      return invalidRequest("charge_already_refunded", "charge", `Charge ${String(intent.latest_charge)} has already been refunded.`);
    }
    if (!Number.isInteger(amount) || amount < 1) return invalidRequest("parameter_invalid_integer", "amount", "Invalid positive integer");
    if (refunded + amount > received) {
      // Stripe answers this one without a code.
      return {
        status: 400,
        body: {
          error: {
            type: "invalid_request_error",
            param: "amount",
            message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${received - refunded})`,
          },
        },
      };
    }
    const fails = failsLater.get(intent.id) === "refund";
    const refund: Refund = {
      id: id("re"),
      object: "refund",
      amount,
      balance_transaction: id("txn"),
      charge: intent.latest_charge,
      created: Math.floor(Date.now() / 1000),
      currency: intent.currency,
      ...(fails ? { failure_reason: "expired_or_canceled_card" } : {}),
      metadata: formMetadata(form),
      payment_intent: intent.id,
      reason: form.get("reason"),
      receipt_number: null,
      status: fails ? "failed" : "succeeded",
    };
    refunds.push(refund);
    return { status: 200, body: refund };
  }

  function listRefunds(query: URLSearchParams): Answer {
    const intentId = query.get("payment_intent");
    const limit = Math.min(Number(query.get("limit") ?? 10), 100);
    const all = refunds.filter((r) => intentId === null || r.payment_intent === intentId).reverse();
    return { status: 200, body: { object: "list", data: all.slice(0, limit), has_more: all.length > limit, url: "/v1/refunds" } };
  }

  /** A POST under Stripe's idempotency rules: the first answer per key is stored and replayed. */
  function idempotently(key: string | null, path: string, body: string, run: (form: URLSearchParams) => Answer): Answer {
    const form = new URLSearchParams(body);
    if (key === null) return run(form);
    const parameters = `${path}?${body}`;
    if (storedServerError !== null && path === "/v1/payment_intents" && !answers.has(key)) {
      const { charged } = storedServerError;
      storedServerError = null;
      if (charged) run(form);
      const serverError = { status: 500, body: { error: { type: "api_error", message: "An unknown error occurred" } } };
      answers.set(key, { ...serverError, parameters });
      return serverError;
    }
    const stored = answers.get(key);
    if (stored !== undefined) {
      if (stored.parameters !== parameters) {
        return {
          status: 400,
          body: {
            error: {
              type: "idempotency_error",
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            },
          },
        };
      }
      return { status: stored.status, body: stored.body, replayed: true };
    }
    const answer = run(form);
    // Validation failures are not stored: the endpoint never started executing.
    if (answer.status !== 400) answers.set(key, { status: answer.status, body: answer.body, parameters });
    return answer;
  }

  /** A POST to /v1/payment_intents/{id}/{action}. */
  function onIntent(path: string, run: (intent: PaymentIntent, form: URLSearchParams) => Answer): (form: URLSearchParams) => Answer {
    const intentId = path.split("/")[3] ?? "";
    return (form) => {
      const intent = intents.get(intentId);
      return intent === undefined ? resourceMissing("intent", intentId) : run(intent, form);
    };
  }

  /**
   * The customer's authentication page (no API key: the customer's browser opens it). GET shows
   * the PaymentIntent's amount with "Complete" and "Fail" buttons; POST result=complete|fail acts
   * and sends the browser back to the return_url (303), or answers 409 when the PaymentIntent no
   * longer waits for authentication.
   */
  function authenticationPage(req: IncomingMessage, url: URL, body: string, res: ServerResponse): void {
    const intent = intents.get(url.searchParams.get("payment_intent") ?? "");
    const html = (status: number, text: string): void => {
      res.writeHead(status, { "Content-Type": "text/html; charset=utf-8" }).end(text);
    };
    if (intent === undefined || url.searchParams.get("payment_intent_client_secret") !== intent.client_secret) {
      return html(404, "<!doctype html><title>Not found</title><p>No such PaymentIntent.</p>");
    }
    const nextAction = intent.next_action as { type?: string; redirect_to_url?: { return_url?: string } } | null;
    const waiting = intent.status === "requires_action" && nextAction?.type === "redirect_to_url";
    if (req.method === "GET") {
      if (!waiting) return html(409, `<!doctype html><title>3D Secure</title><p>This PaymentIntent is not waiting for authentication (status ${intent.status}).</p>`);
      const amount = `${(Number(intent.amount) / 100).toFixed(2)} ${String(intent.currency).toUpperCase()}`;
      return html(
        200,
        `<!doctype html><html><head><title>3D Secure 2 Test Page</title></head><body><h1>3D Secure 2 Test Page</h1>` +
          `<p id="amount">${amount}</p><form method="post"><button type="submit" name="result" value="complete" id="complete">Complete</button>` +
          `<button type="submit" name="result" value="fail" id="fail">Fail</button></form></body></html>`,
      );
    }
    const result = new URLSearchParams(body).get("result");
    if (req.method !== "POST" || (result !== "complete" && result !== "fail")) return html(400, "<!doctype html><p>Answer result=complete or result=fail.</p>");
    if (!waiting) return html(409, `<!doctype html><p>This PaymentIntent is not waiting for authentication (status ${intent.status}).</p>`);
    const returnUrl = new URL(nextAction?.redirect_to_url?.return_url ?? "");
    if (result === "complete") {
      const manual = intent.capture_method === "manual";
      Object.assign(intent, {
        status: manual ? "requires_capture" : "succeeded",
        amount_capturable: manual ? intent.amount : 0,
        amount_received: manual ? 0 : intent.amount,
        latest_charge: id("ch"),
        next_action: null,
      });
    } else {
      Object.assign(intent, {
        status: "requires_payment_method",
        next_action: null,
        payment_method: null,
        last_payment_error: {
          type: "invalid_request_error",
          code: "payment_intent_authentication_failure",
          doc_url: "https://docs.stripe.com/error-codes/payment-intent-authentication-failure",
          message:
            "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
          payment_method: paymentMethodObjects.get(intent.id) ?? null,
        },
      });
    }
    returnUrl.searchParams.set("payment_intent", intent.id);
    returnUrl.searchParams.set("payment_intent_client_secret", String(intent.client_secret));
    returnUrl.searchParams.set("redirect_status", result === "complete" ? "succeeded" : "failed");
    res.writeHead(303, { Location: returnUrl.toString() }).end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake-stripe");
    const body = await readBody(req);
    if (url.pathname === AUTHENTICATION_PAGE) return authenticationPage(req, url, body, res);
    const idempotencyKey = header(req, "idempotency-key");
    const entry: FakeRequest = { method: req.method ?? "GET", path: url.pathname, idempotencyKey, fault: null, replayed: false, status: null };
    requests.push(entry);

    const respond = (answer: Answer): void => {
      entry.status = answer.status;
      entry.replayed = answer.replayed === true;
      const headers: Record<string, string> = { "Content-Type": "application/json", "Request-Id": id("req") };
      if (answer.replayed === true) headers["Idempotent-Replayed"] = "true";
      res.writeHead(answer.status, headers).end(JSON.stringify(answer.body));
    };

    if (header(req, "authorization") !== `Bearer ${secretKey}`) {
      return respond({
        status: 401,
        body: { error: { type: "invalid_request_error", message: `Invalid API Key provided: sk_test_${"*".repeat(24)}${secretKey.slice(-4)}` } },
      });
    }

    const endpoint = endpointOf(req.method ?? "GET", url.pathname);
    if (endpoint === null) {
      return respond({ status: 404, body: { error: { type: "invalid_request_error", message: `Unrecognized request URL (${req.method}: ${url.pathname}).` } } });
    }

    const fault = faults.take(endpoint);
    entry.fault = fault;
    switch (fault) {
      case "connection-reset":
        req.socket.destroy();
        return;
      case "http429":
        return respond({
          status: 429,
          body: {
            error: {
              type: "invalid_request_error",
              code: "rate_limit",
              message: "Request rate limit exceeded. Learn more about rate limits here https://docs.stripe.com/rate-limits.",
            },
          },
        });
      case "http500":
        return respond({ status: 500, body: { error: { type: "api_error", message: "An unknown error occurred" } } });
    }

    const path = url.pathname;
    const answer = (() => {
      switch (endpoint) {
        case "create":
          return idempotently(idempotencyKey, path, body, createPaymentIntent);
        case "capture":
          return idempotently(idempotencyKey, path, body, onIntent(path, capturePaymentIntent));
        case "cancel":
          return idempotently(idempotencyKey, path, body, onIntent(path, cancelPaymentIntent));
        case "refund":
          return idempotently(idempotencyKey, path, body, createRefund);
        case "refunds":
          return listRefunds(url.searchParams);
        case "refund-retrieve": {
          const refund = refunds.find((r) => r.id === path.split("/").pop());
          return refund === undefined ? resourceMissing("id", path.split("/").pop() ?? "") : { status: 200, body: refund };
        }
        case "dispute-retrieve": {
          const dispute = disputes.get(path.split("/").pop() ?? "");
          return dispute === undefined ? resourceMissing("dispute", path.split("/").pop() ?? "") : { status: 200, body: dispute };
        }
        case "search":
          return searchPaymentIntents(url.searchParams.get("query"));
        case "retrieve": {
          const found = retrieve(intents, path.split("/").pop() ?? "");
          // `expand[]=payment_method` answers the PaymentMethod object in place of its id.
          const expanded = [...url.searchParams.entries()].some(([key, value]) => key.startsWith("expand[") && value === "payment_method");
          const intent = found.body as PaymentIntent;
          const paymentMethod = found.status === 200 ? paymentMethodObjects.get(intent.id) : undefined;
          return expanded && paymentMethod !== undefined && intent.payment_method !== null ? { ...found, body: { ...intent, payment_method: paymentMethod } } : found;
        }
      }
    })();

    if (fault === "timeout-after-commit") {
      // Processed, never answered: the socket stays open until the client gives up or we stop.
      return;
    }
    if (fault === "malformed") {
      entry.status = 200;
      const malformedBody = faults.nextMalformedIsText()
        ? "<html><body><h1>502 Bad Gateway</h1></body></html>"
        : JSON.stringify({ object: "payment_intent", unexpected: true });
      res.writeHead(200, { "Content-Type": "application/json", "Request-Id": id("req") }).end(malformedBody);
      return;
    }
    respond(answer);
  }

  const listening = await listenOnLoopback((req, res) => void handle(req, res), options);
  const server = listening.server;
  origin = listening.url;

  return {
    url: origin,
    secretKey,
    requests,
    paymentSources,
    chargesFor(paymentId) {
      return [...intents.values()].filter((intent) => intent.metadata.paystream_payment_id === paymentId && intent.status === "succeeded").length;
    },
    intentsFor(paymentId) {
      return [...intents.values()].filter((intent) => intent.metadata.paystream_payment_id === paymentId);
    },
    refundsFor(paymentId) {
      return refunds.filter((refund) => refund.metadata.paystream_payment_id === paymentId);
    },
    failNext(n, fault, endpoint) {
      faults.set(n, fault, endpoint ?? null);
    },
    storeServerErrorOnNextCreate(charged) {
      storedServerError = { charged };
    },
    webhookSecret,
    setWebhookUrl(url) {
      webhookUrl = url;
    },
    events,
    sendEvent,
    redeliver,
    deliverRaw,
    sign,
    failRefund(refundId) {
      const refund = refunds.find((r) => r.id === refundId);
      if (refund === undefined) throw new Error(`fake Stripe: no refund ${refundId}`);
      Object.assign(refund, { status: "failed", failure_reason: "expired_or_canceled_card", failure_balance_transaction: id("txn") });
      return sendEvent("refund.failed", refund);
    },
    async openDispute(paymentIntentId, options = {}) {
      const intent = intents.get(paymentIntentId);
      if (intent === undefined) throw new Error(`fake Stripe: no PaymentIntent ${paymentIntentId}`);
      const created = Math.floor(Date.now() / 1000);
      // docs.stripe.com/api/disputes/object
      const dispute: StripeDispute = {
        id: id("dp"),
        object: "dispute",
        amount: options.amount ?? Number(intent.amount_received),
        balance_transactions: [],
        charge: intent.latest_charge,
        created,
        currency: intent.currency,
        evidence: {},
        evidence_details: { due_by: created + 21 * 86_400, has_evidence: false, past_due: false, submission_count: 0 },
        is_charge_refundable: false,
        livemode: false,
        metadata: {},
        payment_intent: intent.id,
        reason: options.reason ?? "fraudulent",
        status: "needs_response",
      };
      disputes.set(dispute.id, dispute);
      return { dispute, delivery: await sendEvent("charge.dispute.created", dispute) };
    },
    updateDispute(disputeId, status) {
      const dispute = disputes.get(disputeId);
      if (dispute === undefined) throw new Error(`fake Stripe: no dispute ${disputeId}`);
      dispute.status = status;
      return sendEvent(status === "won" || status === "lost" ? "charge.dispute.closed" : "charge.dispute.updated", dispute);
    },
    dispute: (disputeId) => disputes.get(disputeId),
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** Stripe's amount rules (https://docs.stripe.com/currencies), refused as Stripe refuses them. */
const THREE_DECIMAL = new Set(["bhd", "jod", "kwd", "omr", "tnd"]);
const WHOLE_UNITS_AS_TWO_DECIMALS = new Set(["isk", "ugx"]);

function checkUnits(amount: number, currency: string): Answer | null {
  // Whether Stripe takes the currency at all: its presentment list has one transcription, the adapter's.
  if (stripeAmount(0, currency.toUpperCase()).ok === false) {
    return invalidRequest("parameter_invalid_string", "currency", `Invalid currency: ${currency}. Stripe currently supports these currencies: usd, aed, afn, …`);
  }
  if (WHOLE_UNITS_AS_TWO_DECIMALS.has(currency) && amount % 100 !== 0) {
    const upper = currency.toUpperCase();
    return invalidRequest(
      "invalid_charge_amount",
      "amount",
      `Invalid amount. Currency ${upper} has become effectively zero-decimal and charged amounts must be evenly divisible by 100. See https://stripe.com/docs/currencies#special-cases for more information.`,
    );
  }
  if (THREE_DECIMAL.has(currency) && amount % 10 !== 0) {
    return invalidRequest("invalid_charge_amount", "amount", `Invalid amount. Amounts in ${currency.toUpperCase()} must have 0 as their last digit.`);
  }
  return null;
}

function endpointOf(method: string, path: string): StripeEndpoint | null {
  if (method === "POST") {
    if (path === "/v1/payment_intents") return "create";
    if (/^\/v1\/payment_intents\/[^/]+\/capture$/.test(path)) return "capture";
    if (/^\/v1\/payment_intents\/[^/]+\/cancel$/.test(path)) return "cancel";
    if (path === "/v1/refunds") return "refund";
  }
  if (method === "GET") {
    if (path === "/v1/payment_intents/search") return "search";
    if (/^\/v1\/payment_intents\/[^/]+$/.test(path)) return "retrieve";
    if (path === "/v1/refunds") return "refunds";
    if (/^\/v1\/refunds\/[^/]+$/.test(path)) return "refund-retrieve";
    if (/^\/v1\/disputes\/[^/]+$/.test(path)) return "dispute-retrieve";
  }
  return null;
}

function retrieve(intents: ReadonlyMap<string, PaymentIntent>, intentId: string): Answer {
  const intent = intents.get(intentId);
  return intent === undefined ? resourceMissing("intent", intentId) : { status: 200, body: intent };
}

function resourceMissing(param: string, objectId: string): Answer {
  return { status: 404, body: { error: { type: "invalid_request_error", code: "resource_missing", param, message: `No such payment_intent: '${objectId}'` } } };
}

function formMetadata(form: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of form) {
    const match = /^metadata\[(.+)\]$/.exec(key);
    if (match?.[1] !== undefined) metadata[match[1]] = value;
  }
  return metadata;
}

/**
 * Stripe's refusal of raw card numbers on an account without raw card data APIs, as Stripe answers
 * it (HTTP 400, type invalid_request_error, no code). The test-mode text is the one Stripe sent in
 * github.com/flutter-stripe/flutter_stripe/issues/1638; the live-mode text the one in
 * github.com/flutter-stripe/flutter_stripe/issues/1452.
 */
function rawCardDataRefusal(secretKey: string): Answer {
  const testMode = TEST_MODE_KEY.test(secretKey);
  const message = testMode
    ? "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest you use test tokens that map to the test card you are using, see https://stripe.com/docs/testing. To enable raw card data APIs in test mode, see https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis."
    : "Sending credit card numbers directly to the Stripe API is generally unsafe. To continue processing use Stripe.js, the Stripe mobile bindings, or Stripe Elements. For more information, see https://dashboard.stripe.com/account/integration/settings. If you are qualified to handle card data directly, see https://support.stripe.com/questions/enabling-access-to-raw-card-data-apis.";
  const requestLog = `https://dashboard.stripe.com/${testMode ? "test/" : ""}logs/${id("req")}?t=${Math.floor(Date.now() / 1000)}`;
  return { status: 400, body: { error: { message, request_log_url: requestLog, type: "invalid_request_error" } } };
}

function invalidRequest(code: string, param: string, message: string): Answer {
  return { status: 400, body: { error: { type: "invalid_request_error", code, param, message, doc_url: `https://docs.stripe.com/error-codes/${code.replaceAll("_", "-")}` } } };
}

function id(prefix: string): string {
  return `${prefix}_${randomBytes(18).toString("base64url").replace(/[-_]/g, "x").slice(0, 24)}`;
}

/**
 * Completes or fails a PaymentIntent's 3-D Secure at the fake's authentication page (the
 * `requires_action` answer's URL) as a customer's browser would: the form's POST. Answers where
 * the page sent the customer back (the return_url with payment_intent and redirect_status).
 */
export async function authenticateAtFakeStripe(pageUrl: string, result: "complete" | "fail"): Promise<string> {
  const res = await fetch(pageUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ result }),
    redirect: "manual",
  });
  const location = res.headers.get("location");
  if (res.status !== 303 || location === null) throw new Error(`the fake Stripe's authentication page answered ${res.status}: ${await res.text()}`);
  return location;
}
