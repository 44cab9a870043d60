/**
 * What the adapters share about the merchant's gateway account being unable to do what was asked
 * (README, "Which gateway account needs what"): such an answer is an operator's problem, never the payer's.
 */

import { type CardDataAcceptance, type ChargeOutcome, GATEWAY_CONFIGURATION_ERROR, type GatewayErrorLog, type GatewayName } from "./port";

/** For a gateway whose account takes whatever card data intake accepted. */
export function acceptsEveryCard(): CardDataAcceptance {
  return { ok: true };
}

/**
 * Wraps an adapter's operations: a configuration error is logged at error level (an operator must
 * change the account or the settings; no retry or other card will help), and the outcome passes
 * through unchanged. The message is the gateway's, already scrubbed of digit runs.
 */
export function configurationErrorReporter(log: GatewayErrorLog | undefined, gateway: GatewayName) {
  return async <Outcome extends ChargeOutcome>(request: { paymentId: string }, operation: string, outcome: Promise<Outcome>): Promise<Outcome> => {
    const settled = await outcome;
    if (settled.kind === "declined" && settled.code === GATEWAY_CONFIGURATION_ERROR) {
      log?.error(
        { gateway, paymentId: request.paymentId, operation, code: settled.code, gatewayMessage: settled.message },
        "the gateway account refused the request: a configuration error",
      );
    }
    return settled;
  };
}
