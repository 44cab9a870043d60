/**
 * The one contract every payment gateway adapter implements.
 *
 * Adapters classify every result into exactly one of four outcomes; the worker
 * decides what to do with each (final state, retry, or resolve-then-retry).
 */

export type GatewayName = "simulator" | "stripe" | "paypal";

/** The card data intake took, as the vault gives it back for a charge. */
export interface CardData {
  number: string;
  expMonth: number;
  expYear: number;
  /**
   * Sent with every attempt of the charge, identical each time (Stripe compares the parameters of
   * requests under one idempotency key). Null only in a look-up's replay (LookupRequest.replay):
   * the CVC is dropped when a payment is handed to the reconciler (SECURITY.md, card data).
   */
  cvc: string | null;
  holderName: string | null;
}

/**
 * What pays: the card intake took, or the id of a payment method the gateway already holds for
 * the merchant (Stripe `pm_…`, a PayPal vault payment token id; docs/CONTRACT.md §9). Exactly one.
 */
export type PaymentSource =
  | { card: CardData; paymentMethod?: never; wallet?: never; continues?: never }
  | { card?: never; paymentMethod: string; wallet?: never; continues?: never }
  /** PayPal Checkout: the buyer approves the order at PayPal (docs/CONTRACT.md §12). */
  | { card?: never; paymentMethod?: never; wallet: "paypal"; continues?: never }
  /**
   * The gateway object the customer already acted on (a PaymentIntent after 3-D Secure, a PayPal
   * order the buyer approved): the charge continues it (PayPal: captures or authorizes the
   * approved order) and sends no card or payment method again. Its id is the `gatewayReference`
   * of the `requires_action` answer.
   */
  | { card?: never; paymentMethod?: never; wallet?: never; continues: string };

/** The PayPal payer of a checkout payment as PayPal describes it: the payment's payer view instead of a card. */
export interface GatewayPayerView {
  id: string;
  email: string | null;
}

/**
 * The card behind an approved payment method as the gateway describes it: the payment's card view
 * when no card went through intake. `fingerprint` is the gateway's own, when it gives one.
 */
export interface GatewayCardView {
  brand: string;
  last4: string;
  expMonth: number;
  expYear: number;
  fingerprint: string | null;
}

export type ChargeRequest = ChargeRequestFields & PaymentSource;

interface ChargeRequestFields {
  /** Our payment id. Adapters send it as gateway metadata (custom_id / metadata). */
  paymentId: string;
  /**
   * Derived only from the payment id and identical on every attempt, so a retry or a
   * replay after a crash can never create a second charge at the gateway.
   */
  idempotencyKey: string;
  /** Integer minor units of `currency` (whole units for zero-decimal currencies). */
  amount: number;
  /** ISO 4217 alphabetic code, upper case. */
  currency: string;
  customer: { email: string; name: string; reference: string | null };
  description: string | null;
  /** 1-based attempt number of this payment (for logs; never part of the idempotency key). */
  attempt: number;
  /**
   * true: capture at once (a charge). false: authorize only, a hold the merchant captures or
   * cancels later (Stripe `capture_method=manual`, PayPal intent AUTHORIZE); `approved` then
   * means authorized, and its reference is what capture and void act on.
   */
  capture: boolean;
  /**
   * Where the gateway sends the customer back after authenticating (3-D Secure) or approving
   * (PayPal), docs/CONTRACT.md §9. Null: the payment cannot wait for the customer, and a gateway
   * that asks for authentication declines it with `authentication_required`.
   */
  returnUrl: string | null;
  /** PayPal Checkout: where PayPal sends a buyer who cancels at the approval page (defaults to returnUrl). */
  cancelUrl: string | null;
}

/**
 * What capture, void and refund share. Their idempotency keys, like a charge's, are derived from
 * our ids only (payment id + operation, or refund id): every attempt and every replay of one
 * operation sends the same key, and two operations never share one.
 */
interface OperationRequest {
  paymentId: string;
  idempotencyKey: string;
  /** ISO 4217 code of the payment, upper case. */
  currency: string;
  /**
   * The gateway's reference the operation acts on: the authorization's (capture, void) or the
   * captured charge's (refund), as an earlier `approved` outcome named it.
   */
  gatewayReference: string;
  /** 1-based attempt number of this operation (for logs; never part of the idempotency key). */
  attempt: number;
}

/** Takes `amount` of an authorization; the rest of the hold is released (final capture). */
export interface CaptureRequest extends OperationRequest {
  /** ISO 4217 minor units to capture, 1 ≤ amount ≤ authorizedAmount. */
  amount: number;
  authorizedAmount: number;
}

/** Releases an authorization's hold without taking anything. */
export interface VoidRequest extends OperationRequest {
  authorizedAmount: number;
}

/** Gives back `amount` of a captured payment (full or partial). */
export interface RefundRequest extends OperationRequest {
  /** Our refund id: sent as gateway metadata, so a lookup can find this refund and no other. */
  refundId: string;
  /** ISO 4217 minor units to refund. */
  amount: number;
  capturedAmount: number;
  reason: "duplicate" | "fraudulent" | "requested_by_customer" | null;
}

/**
 * What a charge, capture, void or refund came to: `approved` = done (its reference is the new
 * gateway object's: the charge's, the capture's or the refund's; for a void, the authorization's),
 * `declined` = the gateway refused it, nothing happened (never retried), `transient` = it did not
 * take effect (safe to retry), `unknown` = it may have taken effect.
 */
export type OperationOutcome =
  /**
   * The gateway took the money; `card` describes the payment method's card when the gateway said
   * which, `payer` the PayPal payer of a checkout payment.
   */
  | { kind: "approved"; gatewayReference: string; card?: GatewayCardView; payer?: GatewayPayerView }
  /** A final refusal: the payment fails with `code`. Never retried. */
  | { kind: "declined"; code: string; message: string; gatewayReference: string | null }
  /** Nothing was charged (the request never took effect): safe to retry later. */
  | { kind: "transient"; reason: string }
  /**
   * The request may have reached the gateway and we cannot tell what it did (no answer, an answer
   * that could not be read, a server error the gateway replays for the same key). The card may
   * have been charged: only a definite answer later (replay or lookup) may finalize the payment.
   * `gatewayReference` is the gateway's object id when the answer named one, for a later lookup.
   */
  | { kind: "unknown"; reason: string; gatewayReference?: string };

/** What a charge (or authorization) came to: an operation's outcomes, or a wait for the customer. */
export type ChargeOutcome =
  | OperationOutcome
  /**
   * Nothing is charged yet: the customer must act at the gateway first (3-D Secure, PayPal
   * approval) at `url`. `gatewayReference` is the gateway's object the customer acts on (Stripe's
   * PaymentIntent, PayPal's order); checkAction follows it. Only answered when the request had a
   * returnUrl: without one the gateway's request for authentication is a decline
   * (`authentication_required`).
   */
  | { kind: "requires_action"; gatewayReference: string; url: string };



/** What the worker knows when it asks the gateway about a payment waiting for its customer (REQUIRES_ACTION). */
export interface ActionRequest {
  paymentId: string;
  /** The key every charge attempt of this payment carried. */
  idempotencyKey: string;
  /** The gateway's object the customer acts on (the requires_action answer's reference). */
  gatewayReference: string;
  /** ISO 4217 minor units and code: a found object must match both. */
  amount: number;
  currency: string;
  /** Charge at once (true) or authorize only (false), as the payment asked. */
  capture: boolean;
  /** What paid: the payment method id, the PayPal wallet, or (null, null) a card. */
  paymentMethod: string | null;
  wallet: "paypal" | null;
}

/**
 * What became of a customer's authentication or a buyer's approval:
 * - `approved`: the gateway charged (or authorized) the payment: it is done;
 * - `ready`: the buyer approved, and the charge (PayPal's capture or authorization of the order)
 *   is still to be made: the worker continues the payment (a charge with `continues`);
 * - `failed`: the customer failed or abandoned authentication; nothing was charged;
 * - `pending`: still waiting for the customer;
 * - `unknown`: the gateway did not say (unreachable, unreadable answer): ask again later.
 */
export type ActionOutcome =
  | { kind: "approved"; gatewayReference: string; card?: GatewayCardView; payer?: GatewayPayerView }
  | { kind: "ready" }
  | { kind: "failed"; code: string; message: string }
  | { kind: "pending" }
  | { kind: "unknown"; reason: string };

/** The failure codes of a payment that waited for its customer (docs/CONTRACT.md §9). */
export const AUTHENTICATION_REQUIRED = "authentication_required";
export const AUTHENTICATION_FAILED = "authentication_failed";
export const AUTHENTICATION_EXPIRED = "authentication_expired";

/** What the reconciler knows when it asks the gateway about a payment whose outcome is unknown. */
export interface LookupRequest {
  paymentId: string;
  /** The idempotency key every charge attempt of this payment carried. */
  idempotencyKey: string;
  /** ISO 4217 minor units and code, as in ChargeRequest: a found record must match both. */
  amount: number;
  currency: string;
  /** The gateway's object id, when an earlier answer named one. */
  gatewayReference: string | null;
  /** Whether the charge was to capture at once (see ChargeRequest.capture): for an authorization, a hold counts as approved. */
  capture: boolean;
  /** No earlier than the first attempt (the payment's creation): idempotency windows start there. */
  firstAttemptAt: Date;
  /** When the first attempt with an unknown outcome was made. */
  unknownSince: Date;
  /** When the last charge attempt ended: a record it created may take a while to be searchable. */
  lastAttemptAt: Date;
  /**
   * The charge exactly as every attempt sent it, when the card can still be opened: for gateways
   * that can be asked only by replaying it under the same idempotency key (which answers the
   * stored result instead of running again). Null when the card data is gone. A function, so that
   * the card is decrypted only by a gateway that needs it.
   */
  replay(): ChargeRequest | null;
}

/** What the reconciler knows when it asks the gateway about a capture, void or refund whose outcome is unknown. */
export type OperationLookupRequest = (
  | { operation: "capture"; request: CaptureRequest }
  | { operation: "void"; request: VoidRequest }
  | { operation: "refund"; request: RefundRequest }
) & {
  /** When the operation's first attempt was made: idempotency windows start there. */
  firstAttemptAt: Date;
  /** When its last attempt ended: a record it created may take a while to be searchable. */
  lastAttemptAt: Date;
};

/**
 * For a charge: `approved` = charged (or authorized, for `capture: false`), `not_charged` = no
 * charge exists. For a capture, void or refund: `approved` = it was done, `not_charged` = the
 * gateway shows it was not done (the operation may then be retried or failed).
 */
export type LookupOutcome =
  /** The gateway holds a charge for this payment, of this amount and currency (`card`: as for a charge's approval). */
  | { kind: "approved"; gatewayReference: string; card?: GatewayCardView; payer?: GatewayPayerView }
  /** The gateway holds this payment's attempt, refused: nothing was charged. */
  | { kind: "declined"; code: string; message: string; gatewayReference: string | null }
  /** The gateway answered that no charge exists for this payment. */
  | { kind: "not_charged"; reason: string }
  /**
   * A charge: nothing is charged yet, the gateway waits for the customer to act at `url` (an
   * answer to the charge that was lost): the payment waits in REQUIRES_ACTION as if it had come.
   */
  | { kind: "requires_action"; gatewayReference: string; url: string }
  /** Still cannot tell (gateway unreachable, record not yet searchable, record in flight). */
  | { kind: "unknown"; reason: string };

/**
 * Our amount in the units a gateway's API takes, or why that gateway cannot charge it exactly
 * (docs/CONTRACT.md §6): intake answers 422 with the refusal, and nothing is ever rounded.
 */
export type GatewayAmount<Value = number | string> =
  | { ok: true; value: Value }
  | { ok: false; code: "currency_not_supported_by_gateway" | "amount_not_supported_by_gateway"; message: string };

/**
 * Whether the configured gateway account can be sent this card's data. A merchant's account
 * usually refuses raw card numbers (Stripe without raw card data APIs): intake answers 422 with
 * the refusal instead of accepting a payment the gateway will refuse.
 */
export type CardDataAcceptance = { ok: true } | { ok: false; code: "card_data_not_accepted"; message: string };

/**
 * The decline code of a gateway answer saying the merchant's account cannot do what was asked
 * (raw card data, card processing not enabled): nothing was charged, and no card is at fault.
 */
export const GATEWAY_CONFIGURATION_ERROR = "gateway_configuration_error";

/** The decline code of a payment method id the gateway does not hold for the merchant (Stripe `resource_missing`). */
export const PAYMENT_METHOD_NOT_FOUND = "payment_method_not_found";

/** Where an adapter reports a configuration error (a pino logger fits). Never given card data. */
export interface GatewayErrorLog {
  error(fields: Record<string, unknown>, message: string): void;
}

/** A gateway adapter: charges and their lookups, and the operations on what they charged (docs/CONTRACT.md §8). */
export interface Gateway extends GatewayOperations {
  readonly name: GatewayName;
  /**
   * `amount` (ISO 4217 minor units of `currency`) as this gateway takes it. Pure, synchronous and
   * cheap: intake asks it on every request.
   */
  toGatewayAmount(amount: number, currency: string): GatewayAmount;
  /** Whether a card with this number may be sent to the gateway. Pure, synchronous and cheap, like toGatewayAmount. */
  acceptsCardData(cardNumber: string): CardDataAcceptance;
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /**
   * Asks the gateway what became of a payment, by our payment id. Records that do not carry our
   * payment id, amount and currency are ignored. A gateway that can be asked only by replaying the
   * charge under its idempotency key (PayPal) may, if the first request never arrived, take the one
   * charge the payment asked for; never a second one.
   */
  lookup(request: LookupRequest): Promise<LookupOutcome>;
  /** Asks what became of the customer's authentication or approval of a payment in REQUIRES_ACTION. */
  checkAction(request: ActionRequest): Promise<ActionOutcome>;
  /**
   * Makes sure the customer can no longer complete the payment (expiry, merchant cancel): Stripe
   * cancels the PaymentIntent; a PayPal order cannot be deleted, so PayPal confirms it was never
   * captured and paystream never captures it. `approved` = it can no longer be charged;
   * `declined` = the gateway refused because the payment went on (the customer completed it
   * meanwhile: look it up with checkAction); `transient` / `unknown` as for any operation.
   */
  cancelAction(request: ActionRequest): Promise<OperationOutcome>;
}

/**
 * A refund as the gateway's record shows it now (docs/CONTRACT.md §10): what a notification about
 * it is checked against. `status` in the gateway's terms, normalized: `failed` after `succeeded`
 * is a late failure (the card could not take the money back).
 */
export type RefundRecord =
  | { kind: "found"; gatewayReference: string; status: "pending" | "succeeded" | "failed" | "canceled"; failureReason: string | null }
  | { kind: "not_found" }
  /** The gateway could not be asked (unreachable, an answer that could not be read): ask again later. */
  | { kind: "unknown"; reason: string };

/** A dispute's status, normalized from the gateway's own (Stripe `warning_needs_response` → `needs_response`, …). */
export type GatewayDisputeStatus = "needs_response" | "under_review" | "won" | "lost";

/** A dispute (chargeback) as the gateway's record shows it now. */
export interface GatewayDispute {
  gatewayReference: string;
  /**
   * What the disputed payment is at the gateway, as paystream stored it in the payment's
   * `gatewayReference` (Stripe: the PaymentIntent; PayPal: the capture).
   */
  paymentReference: string | null;
  /** ISO 4217 minor units of `currency` (converted from the gateway's own units). */
  amount: number;
  currency: string;
  reason: string;
  status: GatewayDisputeStatus;
  evidenceDueBy: Date | null;
}

export type DisputeRecord = { kind: "found"; dispute: GatewayDispute } | { kind: "not_found" } | { kind: "unknown"; reason: string };

/** The look-ups a gateway's notification is checked against: paystream acts on the gateway's record, never on the notification's body. */
export interface GatewayRecords {
  /** The refund the gateway knows by `gatewayReference` (the reference its refund answer named). */
  retrieveRefund(gatewayReference: string): Promise<RefundRecord>;
  /** The dispute the gateway knows by `gatewayReference`. A gateway without disputes answers not_found. */
  retrieveDispute(gatewayReference: string): Promise<DisputeRecord>;
}

/** The operations on an authorization or a captured payment (docs/CONTRACT.md §8). */
export interface GatewayOperations extends GatewayRecords {
  /** Captures (part of) an authorization made with `capture: false`. */
  capture(request: CaptureRequest): Promise<OperationOutcome>;
  /** Voids an authorization made with `capture: false`. */
  voidAuthorization(request: VoidRequest): Promise<OperationOutcome>;
  /** Refunds (part of) a captured payment. */
  refund(request: RefundRequest): Promise<OperationOutcome>;
  /**
   * Asks the gateway what became of a capture, void or refund whose outcome is unknown. Records
   * that do not carry our ids and the same amount and currency are ignored; like `lookup`, it may
   * replay the operation under its own idempotency key, never run it a second time.
   */
  lookupOperation(request: OperationLookupRequest): Promise<LookupOutcome>;
}

export interface GatewayLimits {
  idempotencyWindowMs: number;
  callsPerOperation: number;
  /**
   * Whether `lookup` may call `LookupRequest.replay()`: Orders v2 cannot be searched by our ids,
   * so PayPal is asked by replaying the create under its PayPal-Request-Id; Stripe searches by
   * metadata and the simulator reads its ledger. Without it a payment's sealed card is deleted
   * when the reconciler takes the payment over; with it the card is kept, without its CVC.
   */
  lookupReplaysCharge: boolean;
}

/**
 * How long each gateway keeps an idempotency key (a retry after this could charge again), and
 * how many HTTP calls one charge, capture, void, refund or lookup may make at most (timeout ×
 * calls bounds one operation).
 * Stripe keeps keys at least 24 hours (docs.stripe.com/api/idempotent_requests); PayPal keeps a
 * PayPal-Request-Id for 6 hours by default (developer.paypal.com/api/rest/reference/idempotency);
 * the simulator's ledger keeps them forever.
 */
export const GATEWAY_LIMITS: Readonly<Record<GatewayName, GatewayLimits>> = {
  simulator: { idempotencyWindowMs: Number.POSITIVE_INFINITY, callsPerOperation: 1, lookupReplaysCharge: false },
  // create, replayed create, search; an operation: the call, its replay, a retrieve or refund list
  stripe: { idempotencyWindowMs: 24 * 3_600_000, callsPerOperation: 3, lookupReplaysCharge: false },
  // (token, create, capture or authorize), then the same again as a replay; an operation: token,
  // the call, its replay; an operation lookup: token, the authorization, a replayed capture or refund
  paypal: { idempotencyWindowMs: 6 * 3_600_000, callsPerOperation: 6, lookupReplaysCharge: true },
};
