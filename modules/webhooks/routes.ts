import { Elysia } from "elysia";
import { type FieldError, type MerchantGuard, Problem, readJsonBody } from "../http";
import { docs, ENDPOINT_BODY_MAX_BYTES } from "./model";
import type { WebhookService } from "./service";

export interface WebhookRouteDeps {
  service: WebhookService;
  merchantOf: MerchantGuard;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function parseEventQuery(query: Record<string, string | undefined>) {
  const errors: FieldError[] = [];
  const { paymentId, startingAfter } = query;
  if (paymentId !== undefined && !/^pay_[0-9a-z]{26}$/.test(paymentId))
    errors.push({ field: "paymentId", code: "invalid_value", message: "paymentId must be a payment id" });
  const limit = query.limit === undefined ? 20 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    errors.push({ field: "limit", code: "invalid_value", message: "limit must be an integer from 1 to 100" });
  if (startingAfter !== undefined && !/^evt_[0-9a-z]{26}$/.test(startingAfter))
    errors.push({ field: "startingAfter", code: "invalid_value", message: "startingAfter must be an event id" });
  if (errors.length > 0) throw new Problem("validation", `${errors.length} query parameter(s) are invalid`, { errors, title: "Invalid query parameters" });
  return { paymentId, limit, startingAfter };
}

/** The merchant-facing webhook API: one endpoint per merchant, its events and their delivery log. */
export function webhookRoutes({ service, merchantOf }: WebhookRouteDeps) {
  return new Elysia({ name: "webhooks" })
    .put(
      "/v1/webhook-endpoint",
      async ({ request }) => {
        const merchant = merchantOf(request);
        const result = await service.registerEndpoint(merchant.id, await readJsonBody(request, { maxBytes: ENDPOINT_BODY_MAX_BYTES }));
        if (result.kind === "invalid") throw new Problem("validation", "The webhook endpoint URL is not acceptable", {
            errors: result.errors,
            title: "Invalid webhook endpoint",
          });
        return json(result.endpoint);
      },
      { parse: "none", detail: docs.putEndpoint },
    )
    .get(
      "/v1/webhook-endpoint",
      async ({ request }) => {
        const merchant = merchantOf(request);
        const endpoint = await service.getEndpoint(merchant.id);
        if (!endpoint) throw new Problem("not_found", "No webhook endpoint is registered");
        return json(endpoint);
      },
      { detail: docs.getEndpoint },
    )
    .delete(
      "/v1/webhook-endpoint",
      async ({ request }) => {
        const merchant = merchantOf(request);
        if (!(await service.deleteEndpoint(merchant.id))) throw new Problem("not_found", "No webhook endpoint is registered");
        return new Response(null, { status: 204 });
      },
      { detail: docs.deleteEndpoint },
    )
    .get(
      "/v1/webhook-events",
      async ({ request, query }) => {
        const merchant = merchantOf(request);
        return json(await service.listEvents(merchant.id, parseEventQuery(query)));
      },
      { detail: docs.listEvents },
    )
    .get(
      "/v1/webhook-events/:id/deliveries",
      async ({ request, params }) => {
        const merchant = merchantOf(request);
        const attempts = await service.listDeliveryAttempts(merchant.id, params.id);
        // Another merchant's event is indistinguishable from a missing one.
        if (!attempts) throw new Problem("not_found", `No webhook event ${params.id}`);
        return json(attempts);
      },
      { detail: docs.listDeliveries },
    );
}
