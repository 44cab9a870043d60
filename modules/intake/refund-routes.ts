import { Elysia } from "elysia";
import {
  acceptedResponse,
  childListHandler,
  idempotencyKeyOf,
  jsonResponse,
  type MerchantGuard,
  pathIdOf,
  Problem,
  readByIdHandler,
  readOptionalJsonBody,
  requestIdOf,
  takeNoQueryParameters,
  validationProblem,
} from "../http";
import { PAYMENT_ID, REFUND_ID } from "../payments";
import { docs } from "./refund-model";
import type { RefundService } from "./refund-service";

export interface RefundRouteDeps {
  service: RefundService;
  merchantOf: MerchantGuard;
}

/** How much is left to refund, in the payment's minor units, for the 409's detail. */
const refundable = (amount: number) => `${amount} (minor units) of the captured amount ${amount === 1 ? "is" : "are"} still refundable`;

/** The merchant-facing refunds API (docs/CONTRACT.md §8). Every input is checked before any query. */
export function refundRoutes({ service, merchantOf }: RefundRouteDeps) {
  return new Elysia({ name: "refunds" })
    .post(
      "/v1/payments/:id/refunds",
      async ({ request, params }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        const paymentId = pathIdOf(params.id, PAYMENT_ID, "payment");
        const idempotencyKey = idempotencyKeyOf(request);
        const body = await readOptionalJsonBody(request);
        const result = await service.createRefund({ merchantId: merchant.id, paymentId, body, idempotencyKey, requestId: requestIdOf(request) });
        switch (result.kind) {
          case "invalid":
            throw validationProblem(result.errors, "Invalid refund request");
          case "idempotency_key_reused":
            throw new Problem("idempotency_key_reused", "This Idempotency-Key was already used with a different payment or request body");
          case "payment_not_found":
            throw new Problem("not_found", `No payment ${paymentId}`);
          case "invalid_state":
            throw new Problem("invalid_state", `Payment ${paymentId} is ${result.status}: only a COMPLETED payment can be refunded`);
          case "refund_exceeds_captured":
            throw new Problem("refund_exceeds_captured", `The refund would exceed the captured amount: ${refundable(result.refundable)}`);
          default:
            return acceptedResponse(result.refund, result.statusCode, `/v1/refunds/${result.refund.id}`, result.kind === "replayed");
        }
      },
      { parse: "none", detail: docs.create },
    )
    .get("/v1/payments/:id/refunds", childListHandler(merchantOf, { kind: PAYMENT_ID, noun: "payment" }, REFUND_ID, service.listRefunds), { detail: docs.list })
    .get("/v1/refunds/:id", readByIdHandler(merchantOf, REFUND_ID, "refund", service.getRefund), { detail: docs.get });
}
