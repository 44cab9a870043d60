import { Elysia } from "elysia";
import { PAYMENT_STATUSES, type PaymentStatus } from "../payments";
import { docs } from "./model";
import { type MerchantGuard, Problem, readJsonBody, requestIdOf } from "../http";
import type { IntakeService } from "./service";
import type { FieldError } from "./validation";

export interface IntakeRouteDeps {
  service: IntakeService;
  merchantOf: MerchantGuard;
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

function parseListQuery(query: Record<string, string | undefined>) {
  const errors: FieldError[] = [];
  const status = query.status?.toUpperCase();
  if (status !== undefined && !PAYMENT_STATUSES.includes(status as PaymentStatus))
    errors.push({ field: "status", code: "invalid_value", message: `status must be one of ${PAYMENT_STATUSES.join(", ")}` });
  const limit = query.limit === undefined ? 20 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    errors.push({ field: "limit", code: "invalid_value", message: "limit must be an integer from 1 to 100" });
  const startingAfter = query.startingAfter;
  if (startingAfter !== undefined && !/^pay_[0-9a-z]{26}$/.test(startingAfter))
    errors.push({ field: "startingAfter", code: "invalid_value", message: "startingAfter must be a payment id" });
  if (errors.length > 0)
    throw new Problem("validation", `${errors.length} query parameter(s) are invalid`, { errors, title: "Invalid query parameters" });
  return { status: status as PaymentStatus | undefined, limit, startingAfter };
}

/** The merchant-facing payments API (contract §3). */
export function intakeRoutes({ service, merchantOf }: IntakeRouteDeps) {
  return new Elysia({ name: "intake" })
    .post(
      "/v1/payments",
      async ({ request }) => {
        const merchant = merchantOf(request);
        const idempotencyKey = request.headers.get("idempotency-key") ?? undefined;
        if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 255))
          throw new Problem("validation", "Idempotency-Key must be 1 to 255 characters", {
            errors: [{ field: "Idempotency-Key", code: "invalid_length", message: "must be 1 to 255 characters" }],
          });
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
            return json(result.payment, result.statusCode, {
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
        const payment = await service.getPayment(merchant.id, params.id);
        // Another merchant's payment is indistinguishable from a missing one.
        if (!payment) throw new Problem("not_found", `No payment ${params.id}`);
        return json(payment);
      },
      { detail: docs.get },
    )
    .get(
      "/v1/payments",
      async ({ request, query }) => {
        const merchant = merchantOf(request);
        return json(await service.listPayments(merchant.id, parseListQuery(query)));
      },
      { detail: docs.list },
    );
}
