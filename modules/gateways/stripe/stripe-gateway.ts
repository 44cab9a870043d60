import Stripe from "stripe";
import { configurationErrorReporter } from "../configuration";
import {
  type ActionOutcome,
  type ActionRequest,
  type ChargeOutcome,
  type ChargeRequest,
  type Gateway,
  GATEWAY_CONFIGURATION_ERROR,
  type GatewayErrorLog,
  type LookupOutcome,
  type LookupRequest,
  type OperationLookupRequest,
  type OperationOutcome,
} from "../port";
import { declineUnchargeable } from "../units";
import {
  isIntentOf,
  mapActionIntent,
  mapCancelActionError,
  mapCancelActionIntent,
  mapDisputeRecord,
  mapLookup,
  mapOperationError,
  mapOperationIntent,
  mapOperationLookup,
  mapPaymentIntent,
  mapRefund,
  mapRefundLookup,
  mapRefundRecord,
  mapStripeError,
  PAYMENT_ID_METADATA_KEY,
  REFUND_ID_METADATA_KEY,
} from "./stripe-mapping";
import { type StripeCardRoute, stripeCardAcceptance, stripeCardRoute } from "./stripe-test-payment-methods";
import { isoAmountFromStripe, stripeAmount } from "./stripe-units";

export interface StripeGatewayOptions {
  secretKey: string;
  /** Origin to send API calls to instead of api.stripe.com, e.g. http://127.0.0.1:4010. */
  apiBase?: string;
  /** Per HTTP request; one charge, capture, void or refund makes at most three requests. */
  timeoutMs: number;
  /** How long after the last attempt an empty metadata search proves nothing was charged. */
  searchLagMs?: number;
  /**
   * STRIPE_RAW_CARD_DATA: the account has raw card data APIs enabled, so card numbers are sent as
   * they are. Otherwise only Stripe's test card numbers are sent, as their test PaymentMethods.
   */
  rawCardData: boolean;
  /** Where configuration errors (the account refusing what was asked) are reported. */
  log?: GatewayErrorLog;
}

/** Stripe: search "can be up to an hour behind during outages" (docs.stripe.com/search#data-freshness). */
export const STRIPE_SEARCH_LAG_MS = 3_600_000;

/**
 * `payment_method_data[card]` (raw card number, expiry, CVC) is accepted by the API but left out of
 * the SDK's types, because Stripe only allows it on accounts with raw card data APIs enabled
 * (support.stripe.com/questions/enabling-access-to-raw-card-data-apis). Accounts without that
 * access, test mode included, answer 400, which this adapter reports as declined
 * `gateway_configuration_error`.
 */
type RawCardPaymentMethodData = Stripe.PaymentIntentCreateParams.PaymentMethodData & {
  card: { number: string; exp_month: number; exp_year: number; cvc?: string };
};


export function createStripeGateway(options: StripeGatewayOptions): Gateway {
  const stripe = new Stripe(options.secretKey, {
    ...hostSettings(options.apiBase),
    // Our retry policy decides when to try again; the SDK must not retry on its own.
    maxNetworkRetries: 0,
    timeout: options.timeoutMs,
  });

  const cardSettings = { secretKey: options.secretKey, rawCardData: options.rawCardData };

  async function createAndConfirm(request: ChargeRequest): Promise<ChargeOutcome> {
    const amount = stripeAmount(request.amount, request.currency);
    if (!amount.ok) return declineUnchargeable(amount);
    if (request.continues !== undefined) return continueIntent(request, amount.value);
    const route = routeOf(request, cardSettings);
    // Accepted at intake under other settings than these: sending it would only be refused.
    if (route.send === "nothing") return { kind: "declined", code: GATEWAY_CONFIGURATION_ERROR, message: route.message, gatewayReference: null };
    try {
      const intent = await stripe.paymentIntents.create(paymentIntentParams(request, amount.value, route), {
        idempotencyKey: request.idempotencyKey,
      });
      return mapPaymentIntent(intent, request.capture);
    } catch (error) {
      return mapStripeError(error);
    }
  }

  /**
   * A charge that continues the PaymentIntent its customer acted on (a `requires_action` answer's
   * reference): Stripe confirmed it when the customer authenticated, so nothing is sent again; the
   * PaymentIntent is retrieved, checked to be this payment's, and mapped like a create's answer.
   */
  async function continueIntent(request: ChargeRequest & { continues: string }, amount: number): Promise<ChargeOutcome> {
    try {
      const intent = await stripe.paymentIntents.retrieve(request.continues, { expand: ["payment_method"] });
      if (!isIntentOf(intent, { paymentId: request.paymentId, amount, currency: request.currency })) {
        return { kind: "unknown", reason: `stripe_lookup_foreign_record: ${request.continues} is not this payment's PaymentIntent` };
      }
      return mapPaymentIntent(intent, request.capture);
    } catch (error) {
      // A retrieval changes nothing: whatever failed, the PaymentIntent is as it was.
      const failed = mapStripeError(error);
      return failed.kind === "transient" ? failed : { kind: "unknown", reason: `stripe_lookup_failed: ${"reason" in failed ? failed.reason : failed.kind}` };
    }
  }

  async function checkAction(request: ActionRequest): Promise<ActionOutcome> {
    const amount = stripeAmount(request.amount, request.currency);
    if (!amount.ok) return { kind: "unknown", reason: `stripe_lookup_impossible: ${amount.code}` };
    try {
      // Expanded like a charge with a payment method: an approval answers the card behind it.
      const intent = await stripe.paymentIntents.retrieve(request.gatewayReference, { expand: ["payment_method"] });
      return mapActionIntent(intent, { paymentId: request.paymentId, amount: amount.value, currency: request.currency, capture: request.capture });
    } catch (error) {
      const failed = mapStripeError(error);
      return { kind: "unknown", reason: `stripe_lookup_failed: ${"reason" in failed ? failed.reason : failed.kind}` };
    }
  }

  async function searchByPaymentId(paymentId: string): Promise<unknown[]> {
    const result = await stripe.paymentIntents.search({
      query: `metadata['${PAYMENT_ID_METADATA_KEY}']:'${escapeSearchValue(paymentId)}'`,
    });
    return Array.isArray(result.data) ? result.data : [];
  }

  async function lookup(request: LookupRequest): Promise<LookupOutcome> {
    const amount = stripeAmount(request.amount, request.currency);
    if (!amount.ok) return { kind: "unknown", reason: `stripe_lookup_impossible: ${amount.code}` };
    // Stripe holds amounts in its own units (500 ISK is 50000 there).
    const target = {
      paymentId: request.paymentId,
      amount: amount.value,
      currency: request.currency,
      lastAttemptAt: request.lastAttemptAt,
      capture: request.capture,
    };
    const known = request.gatewayReference?.startsWith("pi_") ? request.gatewayReference : null;
    try {
      // Retrieval by id is consistent at once; search lags, so it is the fallback.
      const intents = known ? [await stripe.paymentIntents.retrieve(known)] : await searchByPaymentId(request.paymentId);
      return mapLookup(intents, target, { searched: known === null, searchLagMs: options.searchLagMs ?? STRIPE_SEARCH_LAG_MS, now: new Date() });
    } catch (error) {
      const failed = mapStripeError(error);
      return { kind: "unknown", reason: `stripe_lookup_failed: ${"reason" in failed ? failed.reason : failed.kind}` };
    }
  }

  /** Runs one capture, void or refund call; every failure becomes an outcome, never a throw. */
  async function send(call: () => Promise<unknown>, map: (answer: unknown) => OperationOutcome): Promise<OperationOutcome> {
    try {
      return map(await call());
    } catch (error) {
      return mapOperationError(error);
    }
  }

  /**
   * How a charge, capture, void or refund is settled. Stripe keeps the first response per
   * idempotency key for 24 hours: an unknown first answer is replayed under the same key, which
   * returns it (Idempotent-Replayed) or runs now if the first never arrived. A failed replay proves
   * nothing about the first request, so a lookup follows (`lookup` answers what it settled, or
   * null); anything still unclear stays unknown.
   */
  async function settle<Outcome extends ChargeOutcome>(
    run: () => Promise<Outcome>,
    lookup: (references: Array<string | undefined>) => Promise<Outcome | null>,
  ): Promise<Outcome> {
    const first = await run();
    if (first.kind !== "unknown") return first;
    const replay = await run();
    // Stripe's stored answer: charged, refused, or (3-D Secure) waiting for the customer.
    if (replay.kind === "approved" || replay.kind === "declined" || replay.kind === "requires_action") return replay;
    const found = await lookup([first.gatewayReference, replay.kind === "unknown" ? replay.gatewayReference : undefined]);
    return found ?? first;
  }

  async function lookupOperation(lookup: OperationLookupRequest): Promise<LookupOutcome> {
    const { request } = lookup;
    const amount = stripeAmount(lookup.operation === "void" ? lookup.request.authorizedAmount : lookup.request.amount, request.currency);
    if (!amount.ok) return { kind: "unknown", reason: `stripe_lookup_impossible: ${amount.code}` };
    try {
      if (lookup.operation === "refund") {
        const refunds = await stripe.refunds.list({ payment_intent: request.gatewayReference, limit: 100 });
        const complete = refunds.has_more !== true;
        return mapRefundLookup(Array.isArray(refunds.data) ? refunds.data : [], { refundId: lookup.request.refundId, amount: amount.value, currency: request.currency }, complete);
      }
      const intent = await stripe.paymentIntents.retrieve(request.gatewayReference);
      return mapOperationLookup(intent, { operation: lookup.operation, paymentId: request.paymentId, amount: amount.value, currency: request.currency });
    } catch (error) {
      const failed = mapStripeError(error);
      return { kind: "unknown", reason: `stripe_lookup_failed: ${"reason" in failed ? failed.reason : failed.kind}` };
    }
  }

  const reported = configurationErrorReporter(options.log, "stripe");

  /** Retrieves one object for a notification's check; a 404 is not_found, any other failure unknown. */
  async function retrieveRecord<R>(retrieve: () => Promise<unknown>, map: (answer: unknown) => R): Promise<R | { kind: "not_found" } | { kind: "unknown"; reason: string }> {
    try {
      return map(await retrieve());
    } catch (error) {
      const { statusCode, code } = (error ?? {}) as { statusCode?: unknown; code?: unknown };
      if (statusCode === 404 || code === "resource_missing") return { kind: "not_found" };
      const failed = mapStripeError(error);
      return { kind: "unknown", reason: `stripe_retrieve_failed: ${"reason" in failed ? failed.reason : failed.kind}` };
    }
  }

  return {
    name: "stripe",
    toGatewayAmount: stripeAmount,
    acceptsCardData: (cardNumber) => stripeCardAcceptance(cardNumber, cardSettings),
    charge(request) {
      return reported(request, "charge", settle(
        () => createAndConfirm(request),
        (references) =>
          lookup({
            paymentId: request.paymentId,
            idempotencyKey: request.idempotencyKey,
            amount: request.amount,
            currency: request.currency,
            // The PaymentIntent an answer named, if any: retrieval beats the lagging search.
            gatewayReference: references.find((reference) => reference !== undefined) ?? null,
            capture: request.capture,
            firstAttemptAt: new Date(),
            unknownSince: new Date(),
            lastAttemptAt: new Date(),
            replay: () => null,
          }).then((found) => (found.kind === "approved" || found.kind === "declined" || found.kind === "requires_action" ? found : null)),
      ));
    },
    lookup,

    async capture(request) {
      const amount = stripeAmount(request.amount, request.currency);
      if (!amount.ok) return declineUnchargeable(amount);
      return reported(request, "capture", settle(
        () =>
          send(
            () => stripe.paymentIntents.capture(request.gatewayReference, { amount_to_capture: amount.value }, { idempotencyKey: request.idempotencyKey }),
            (intent) => mapOperationIntent(intent, "capture"),
          ),
        () => lookupOperation({ operation: "capture", request, firstAttemptAt: new Date(), lastAttemptAt: new Date() }).then(operationSettledBy),
      ));
    },

    voidAuthorization(request) {
      return reported(request, "void", settle(
        () =>
          send(
            () => stripe.paymentIntents.cancel(request.gatewayReference, {}, { idempotencyKey: request.idempotencyKey }),
            (intent) => mapOperationIntent(intent, "void"),
          ),
        () => lookupOperation({ operation: "void", request, firstAttemptAt: new Date(), lastAttemptAt: new Date() }).then(operationSettledBy),
      ));
    },

    async refund(request) {
      const amount = stripeAmount(request.amount, request.currency);
      if (!amount.ok) return declineUnchargeable(amount);
      const params: Stripe.RefundCreateParams = {
        payment_intent: request.gatewayReference,
        amount: amount.value,
        metadata: { [PAYMENT_ID_METADATA_KEY]: request.paymentId, [REFUND_ID_METADATA_KEY]: request.refundId },
        ...(request.reason === null ? {} : { reason: request.reason }),
      };
      return reported(request, "refund", settle(
        () => send(() => stripe.refunds.create(params, { idempotencyKey: request.idempotencyKey }), mapRefund),
        () => lookupOperation({ operation: "refund", request, firstAttemptAt: new Date(), lastAttemptAt: new Date() }).then(operationSettledBy),
      ));
    },

    lookupOperation,

    checkAction,

    /**
     * Cancels the PaymentIntent the customer was to authenticate (expiry, merchant cancel) under a
     * key of its own, derived from the payment's. Replayed once under that key when the answer was
     * lost; Stripe refusing because the customer completed it meanwhile is a decline (the caller
     * then asks checkAction).
     */
    cancelAction(request) {
      const idempotencyKey = `${request.idempotencyKey}-cancel-action`;
      const cancel = async (): Promise<OperationOutcome> => {
        try {
          return mapCancelActionIntent(await stripe.paymentIntents.cancel(request.gatewayReference, { cancellation_reason: "abandoned" }, { idempotencyKey }));
        } catch (error) {
          return mapCancelActionError(error);
        }
      };
      return reported(request, "cancel_action", (async () => {
        const first = await cancel();
        return first.kind === "unknown" ? cancel() : first;
      })());
    },

    retrieveRefund: (gatewayReference) => retrieveRecord(() => stripe.refunds.retrieve(gatewayReference), mapRefundRecord),
    retrieveDispute: (gatewayReference) =>
      retrieveRecord(() => stripe.disputes.retrieve(gatewayReference), (dispute) => mapDisputeRecord(dispute, isoAmountFromStripe)),
  };
}

/** A Stripe event whose signature checked out: only its id, type and the id of the object it names are used. */
export interface VerifiedStripeEvent {
  id: string;
  type: string;
  object: { id: string; object: string; paymentIntent: string | null; paymentId: string | null };
}

/** How long a signed Stripe event stays acceptable after its timestamp (Stripe's own default, 5 minutes). */
export const STRIPE_SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * Checks a Stripe webhook delivery's `Stripe-Signature` (`t=…,v1=…`: HMAC-SHA256 of
 * `${t}.${body}` under the endpoint's signing secret, docs.stripe.com/webhooks#verify-manually)
 * with the SDK's own verifier, within the 5-minute tolerance. The async form with WebCrypto, as Bun
 * has no synchronous HMAC provider for the SDK's worker build. Null when the signature is missing,
 * wrong or stale, or the body is not an event.
 */
export function createStripeEventVerifier(signingSecret: string): (body: string, signature: string | null) => Promise<VerifiedStripeEvent | null> {
  const cryptoProvider = Stripe.createSubtleCryptoProvider();
  return async (body, signature) => {
    if (signature === null || signature === "") return null;
    let event: Stripe.Event;
    try {
      event = await Stripe.webhooks.constructEventAsync(body, signature, signingSecret, STRIPE_SIGNATURE_TOLERANCE_SECONDS, cryptoProvider);
    } catch {
      return null;
    }
    const object = (event.data as { object?: unknown } | undefined)?.object as Record<string, unknown> | undefined;
    if (typeof event.id !== "string" || typeof event.type !== "string" || !object || typeof object.id !== "string" || typeof object.object !== "string") return null;
    const intent = typeof object.payment_intent === "string" ? object.payment_intent : null;
    const metadata = (object.metadata ?? {}) as Record<string, unknown>;
    const paymentId = typeof metadata[PAYMENT_ID_METADATA_KEY] === "string" ? (metadata[PAYMENT_ID_METADATA_KEY] as string) : null;
    return { id: event.id, type: event.type, object: { id: object.id, object: object.object, paymentIntent: intent, paymentId } };
  };
}

/** What an operation's lookup settled: done or refused; anything else leaves the operation unknown. */
function operationSettledBy(found: LookupOutcome): OperationOutcome | null {
  return found.kind === "approved" || found.kind === "declined" ? found : null;
}

/** How a charge's card or payment method goes to Stripe; a PayPal wallet never does. */
function routeOf(request: ChargeRequest, settings: { secretKey: string; rawCardData: boolean }): StripeCardRoute {
  if (request.card !== undefined) return stripeCardRoute(request.card.number, settings);
  if (request.paymentMethod !== undefined) return { send: "payment_method", paymentMethod: request.paymentMethod };
  return { send: "nothing", message: "Stripe cannot take a PayPal wallet payment." };
}

/**
 * The card as the route says: raw card data with the payer's billing details, or a test
 * PaymentMethod (which carries its own card and cannot be combined with payment_method_data).
 */
function paymentSource(
  request: ChargeRequest,
  route: Exclude<StripeCardRoute, { send: "nothing" }>,
): Pick<Stripe.PaymentIntentCreateParams, "payment_method" | "payment_method_data"> {
  if (route.send === "payment_method") return { payment_method: route.paymentMethod };
  // stripeCardRoute sends raw card data only for a request that carries a card.
  if (request.card === undefined) throw new Error(`payment ${request.paymentId}: raw card data without a card`);
  const paymentMethodData: RawCardPaymentMethodData = {
    type: "card",
    card: {
      number: request.card.number,
      exp_month: request.card.expMonth,
      exp_year: request.card.expYear,
      // Null only in a look-up's replay, which Stripe's look-up never makes (GATEWAY_LIMITS).
      ...(request.card.cvc === null ? {} : { cvc: request.card.cvc }),
    },
    billing_details: { name: request.card.holderName ?? request.customer.name, email: request.customer.email },
  };
  return { payment_method_data: paymentMethodData };
}

/** `amount` is in Stripe's units (see stripe-units.ts), not the request's ISO minor units. */
function paymentIntentParams(request: ChargeRequest, amount: number, route: Exclude<StripeCardRoute, { send: "nothing" }>): Stripe.PaymentIntentCreateParams {
  return {
    amount,
    currency: request.currency.toLowerCase(),
    confirm: true,
    // An authorization only: the PaymentIntent rests at requires_capture until captured or canceled.
    ...(request.capture ? {} : { capture_method: "manual" as const }),
    // Called payment_method_types before the API version this SDK pins (2026-10-28).
    allowed_payment_method_types: ["card"],
    ...paymentSource(request, route),
    // For the merchant's payment method the answer then holds the card behind it (brand, last 4,
    // expiry, fingerprint): the payment's card view, as no card went through intake.
    ...(request.paymentMethod === undefined ? {} : { expand: ["payment_method"] }),
    metadata: { [PAYMENT_ID_METADATA_KEY]: request.paymentId },
    ...(request.description === null ? {} : { description: request.description }),
    ...(request.customer.email === "" ? {} : { receipt_email: request.customer.email }),
    // 3-D Secure: with a returnUrl the PaymentIntent waits at requires_action with a page for the
    // customer (next_action.redirect_to_url) that sends them back there. Without one nobody could
    // authenticate: error_on_requires_action makes Stripe fail the attempt at once instead of
    // leaving it waiting (docs.stripe.com/api/payment_intents/create, "only with confirm=true").
    ...(request.returnUrl === null ? { error_on_requires_action: true } : { return_url: request.returnUrl }),
  };
}

function hostSettings(apiBase: string | undefined): Pick<Stripe.StripeConfig, "host" | "port" | "protocol"> {
  if (apiBase === undefined) return {};
  const url = new URL(apiBase);
  const protocol = url.protocol === "http:" ? "http" : "https";
  return { host: url.hostname, port: url.port || (protocol === "http" ? 80 : 443), protocol };
}

/** Search query strings are single-quoted; quotes and backslashes inside are escaped with a backslash. */
function escapeSearchValue(value: string): string {
  return value.replace(/[\\']/g, (c) => `\\${c}`);
}
