/**
 * The one contract every payment gateway adapter implements.
 *
 * Adapters classify every result into exactly one of four outcomes; the worker
 * decides what to do with each (final state, retry, or resolve-then-retry).
 */

export type GatewayName = "simulator" | "stripe" | "paypal";

export interface ChargeRequest {
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
  card: {
    number: string;
    expMonth: number;
    expYear: number;
    cvc: string;
    holderName: string | null;
  };
  customer: { email: string; name: string; reference: string | null };
  description: string | null;
  /** 1-based attempt number of this payment (for logs; never part of the idempotency key). */
  attempt: number;
}

export type ChargeOutcome =
  /** The gateway took the money. */
  | { kind: "approved"; gatewayReference: string }
  /** A final refusal: the payment fails with `code`. Never retried. */
  | { kind: "declined"; code: string; message: string; gatewayReference: string | null }
  /** Nothing was charged (the request never took effect): safe to retry later. */
  | { kind: "transient"; reason: string }
  /** The request may have reached the gateway but no answer came back: replay with the same key. */
  | { kind: "unknown"; reason: string };

/**
 * Our amount in the units a gateway's API takes, or why that gateway cannot charge it exactly
 * (contract §6): intake answers 422 with the refusal, and nothing is ever rounded.
 */
export type GatewayAmount<Value = number | string> =
  | { ok: true; value: Value }
  | { ok: false; code: "currency_not_supported_by_gateway" | "amount_not_supported_by_gateway"; message: string };

export interface Gateway {
  readonly name: GatewayName;
  /**
   * `amount` (ISO 4217 minor units of `currency`) as this gateway takes it. Pure, synchronous and
   * cheap: intake asks it on every request.
   */
  toGatewayAmount(amount: number, currency: string): GatewayAmount;
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
}
