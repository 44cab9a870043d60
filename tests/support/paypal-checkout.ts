/** Requests of payments that wait for their buyer (PayPal Checkout, 3-D Secure), as the worker and reconciler send them. */

import type { ChargeRequest, LookupRequest } from "../../modules/gateways/port";
import { lookupRequest, paymentMethodChargeRequest } from "./gateway-conformance";

export const RETURN_URL = "https://shop.example/paypal/return?cart=7";
export const CANCEL_URL = "https://shop.example/paypal/cancel";

export type Overrides = Partial<Pick<ChargeRequest, "amount" | "currency" | "capture" | "returnUrl" | "cancelUrl" | "description">>;

/** A PayPal Checkout charge: no card, the buyer approves at PayPal and comes back to RETURN_URL. */
export function checkoutRequest(overrides: Overrides = {}): ChargeRequest {
  const { paymentMethod: _none, card: _card, wallet: _wallet, continues: _continues, ...fields } = paymentMethodChargeRequest("unused", { returnUrl: RETURN_URL, cancelUrl: CANCEL_URL, ...overrides });
  return { ...fields, wallet: "paypal" };
}

/** The charge that continues the order the buyer acted on, as the worker sends it: no card, no wallet. */
export function continued(charge: ChargeRequest, orderId: string, attempt = 2): ChargeRequest {
  const { wallet: _wallet, card: _card, paymentMethod: _pm, continues: _c, ...fields } = charge;
  return { ...fields, attempt, continues: orderId };
}

/** The reconciler's lookup once the payment waited for its buyer: the order's id, and no card to replay. */
export function orderLookup(charge: ChargeRequest, orderId: string): LookupRequest {
  return lookupRequest(charge, { gatewayReference: orderId, replay: () => null });
}

