import { Elysia } from "elysia";
import { PAYMENT_ID, PAYMENT_STATUSES } from "../payments";
import { docs } from "./model";
import {
  acceptedResponse,
  idempotencyKeyOf,
  jsonResponse,
  type MerchantGuard,
  pathIdOf,
  Problem,
  QueryParameters,
  readJsonBody,
  readByIdHandler,
  readOptionalJsonBody,
  requestIdOf,
  takeNoQueryParameters,
  validationProblem,
} from "../http";
import type { IntakeService, PaymentRequestResult } from "./service";

export interface IntakeRouteDeps {
  service: IntakeService;
  merchantOf: MerchantGuard;
}

function parseListQuery(request: Request) {
  const query = new QueryParameters(request, ["status", "limit", "startingAfter"]);
  const status = query.oneOf("status", PAYMENT_STATUSES);
  const limit = query.limit();
  const startingAfter = query.id("startingAfter", PAYMENT_ID);
  query.finish();
  return { status, limit, startingAfter };
}

/** What each request on an existing payment needs the payment to be, for the 409's detail. */
const REQUIRED_STATE = {
  capture: "only an AUTHORIZED payment can be captured",
  cancel: "only a PENDING or an AUTHORIZED payment can be canceled",
} as const;

/** The answer to a capture or a cancel: 202 with the payment as it is now, or the problem. */
function paymentRequestAnswer(result: PaymentRequestResult, id: string, request: keyof typeof REQUIRED_STATE): Response {
  switch (result.kind) {
    case "invalid":
      throw validationProblem(result.errors);
    case "not_found":
      throw new Problem("not_found", `No payment ${id}`);
    case "invalid_state":
      throw new Problem("invalid_state", `Payment ${id} is ${result.status}: ${REQUIRED_STATE[request]}`);
    case "idempotency_key_reused":
      throw new Problem("idempotency_key_reused", "This Idempotency-Key was already used with a different payment or request body");
    case "replayed":
      return acceptedResponse(result.payment, result.statusCode, `/v1/payments/${id}`, true);
    default:
      return acceptedResponse(result.payment, 202, `/v1/payments/${id}`, false);
  }
}

/** The merchant-facing payments API (docs/CONTRACT.md §3, and §8's captures and cancels). */
export function intakeRoutes({ service, merchantOf }: IntakeRouteDeps) {
  /** A capture or a cancel: the request's own checks first (query, path id, Idempotency-Key, body), then the service. */
  const paymentRequest =
    (request: keyof typeof REQUIRED_STATE, run: IntakeService["capturePayment"]) =>
    async ({ request: http, params }: { request: Request; params: { id: string } }) => {
      const merchant = merchantOf(http);
      takeNoQueryParameters(http);
      const id = pathIdOf(params.id, PAYMENT_ID, "payment");
      const idempotencyKey = idempotencyKeyOf(http);
      const body = await readOptionalJsonBody(http);
      return paymentRequestAnswer(await run({ merchantId: merchant.id, id, body, idempotencyKey, requestId: requestIdOf(http) }), id, request);
    };

  return new Elysia({ name: "intake" })
    .post(
      "/v1/payments",
      async ({ request }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        const idempotencyKey = idempotencyKeyOf(request);
        const body = await readJsonBody(request);
        const result = await service.createPayment({
          merchantId: merchant.id,
          body,
          idempotencyKey,
          requestId: requestIdOf(request),
        });
        switch (result.kind) {
          case "invalid":
            throw validationProblem(result.errors);
          case "idempotency_key_reused":
            throw new Problem("idempotency_key_reused", "This Idempotency-Key was already used with a different request body");
          default:
            return acceptedResponse(result.payment, result.statusCode, `/v1/payments/${result.payment.id}`, result.kind === "replayed");
        }
      },
      { parse: "none", detail: docs.create },
    )
    .get("/v1/payments/:id", readByIdHandler(merchantOf, PAYMENT_ID, "payment", service.getPayment), { detail: docs.get })
    .get(
      "/v1/payments",
      async ({ request }) => {
        const merchant = merchantOf(request);
        return jsonResponse(await service.listPayments(merchant.id, parseListQuery(request)));
      },
      { detail: docs.list },
    )
    .post("/v1/payments/:id/capture", paymentRequest("capture", service.capturePayment), { parse: "none", detail: docs.capture })
    .post("/v1/payments/:id/cancel", paymentRequest("cancel", service.cancelPayment), { parse: "none", detail: docs.cancel });
}
