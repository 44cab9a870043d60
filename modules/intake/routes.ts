import { Elysia } from "elysia";
import { PAYMENT_ID, PAYMENT_STATUSES } from "../payments";
import { docs } from "./model";
import {
  idempotencyKeyOf,
  jsonResponse,
  type MerchantGuard,
  pathIdOf,
  Problem,
  QueryParameters,
  readJsonBody,
  requestIdOf,
  takeNoQueryParameters,
} from "../http";
import type { IntakeService } from "./service";

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

/** The merchant-facing payments API (contract §3). */
export function intakeRoutes({ service, merchantOf }: IntakeRouteDeps) {
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
            throw new Problem(
              "validation",
              result.errors.length === 1 ? "1 field is invalid" : `${result.errors.length} fields are invalid`,
              { errors: result.errors },
            );
          case "idempotency_key_reused":
            throw new Problem("idempotency_key_reused", "This Idempotency-Key was already used with a different request body");
          default:
            return jsonResponse(result.payment, result.statusCode, {
              location: `/v1/payments/${result.payment.id}`,
              ...(result.kind === "replayed" ? { "idempotent-replayed": "true" } : {}),
            });
        }
      },
      { parse: "none", detail: docs.create },
    )
    .get(
      "/v1/payments/:id",
      async ({ request, params }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        const id = pathIdOf(params.id, PAYMENT_ID, "payment");
        const payment = await service.getPayment(merchant.id, id);
        // Another merchant's payment is indistinguishable from a missing one.
        if (!payment) throw new Problem("not_found", `No payment ${id}`);
        return jsonResponse(payment);
      },
      { detail: docs.get },
    )
    .get(
      "/v1/payments",
      async ({ request }) => {
        const merchant = merchantOf(request);
        return jsonResponse(await service.listPayments(merchant.id, parseListQuery(request)));
      },
      { detail: docs.list },
    );
}
