/**
 * What the adapters share about the merchant's gateway account being unable to do what was asked
 * (docs/CONTRACT.md §9): such an answer is an operator's problem, never the payer's.
 */

import { type CardDataAcceptance, GATEWAY_CONFIGURATION_ERROR, type GatewayErrorLog, type GatewayName, type OperationOutcome } from "./port";

/** For a gateway whose account takes whatever card data intake accepted. */
export function acceptsEveryCard(): CardDataAcceptance {
  return { ok: true };
}

/**
 * Logs a configuration error at error level: an operator must change the account or the settings,
 * and no retry or other card will help. The message is the gateway's, already scrubbed of digit runs.
 */
export function reportConfigurationError<Outcome extends OperationOutcome>(
  log: GatewayErrorLog | undefined,
  gateway: GatewayName,
  context: { paymentId: string; operation: string },
  outcome: Outcome,
): Outcome {
  if (outcome.kind === "declined" && outcome.code === GATEWAY_CONFIGURATION_ERROR) {
    log?.error({ gateway, ...context, code: outcome.code, gatewayMessage: outcome.message }, "the gateway account refused the request: a configuration error");
  }
  return outcome;
}
