import { Elysia } from "elysia";
import { type FieldError, jsonResponse, type MerchantGuard, pathIdOf, Problem, QueryParameters, readJsonBody, takeNoQueryParameters } from "../http";
import { PAYMENT_ID } from "../payments";
import { EVENT_ID } from "./ids";
import { docs, ENDPOINT_BODY_MAX_BYTES } from "./model";
import type { WebhookService } from "./service";

export interface WebhookRouteDeps {
  service: WebhookService;
  merchantOf: MerchantGuard;
}

function parseEventQuery(request: Request) {
  const query = new QueryParameters(request, ["paymentId", "limit", "startingAfter"]);
  const paymentId = query.id("paymentId", PAYMENT_ID);
  const limit = query.limit();
  const startingAfter = query.id("startingAfter", EVENT_ID);
  query.finish();
  return { paymentId, limit, startingAfter };
}

/** The merchant-facing webhook API: one endpoint per merchant, its events and their delivery log. */
export function webhookRoutes({ service, merchantOf }: WebhookRouteDeps) {
  return new Elysia({ name: "webhooks" })
    .put(
      "/v1/webhook-endpoint",
      async ({ request }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        const result = await service.registerEndpoint(merchant.id, await readJsonBody(request, { maxBytes: ENDPOINT_BODY_MAX_BYTES }));
        if (result.kind === "invalid") throw new Problem("validation", "The webhook endpoint URL is not acceptable", {
            errors: result.errors,
            title: "Invalid webhook endpoint",
          });
        return jsonResponse(result.endpoint);
      },
      { parse: "none", detail: docs.putEndpoint },
    )
    .get(
      "/v1/webhook-endpoint",
      async ({ request }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        const endpoint = await service.getEndpoint(merchant.id);
        if (!endpoint) throw new Problem("not_found", "No webhook endpoint is registered");
        return jsonResponse(endpoint);
      },
      { detail: docs.getEndpoint },
    )
    .post(
      "/v1/webhook-endpoint/enable",
      async ({ request }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        const endpoint = await service.enableEndpoint(merchant.id);
        if (!endpoint) throw new Problem("not_found", "No webhook endpoint is registered");
        return jsonResponse(endpoint);
      },
      { parse: "none", detail: docs.enableEndpoint },
    )
    .delete(
      "/v1/webhook-endpoint",
      async ({ request }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        if (!(await service.deleteEndpoint(merchant.id))) throw new Problem("not_found", "No webhook endpoint is registered");
        return new Response(null, { status: 204 });
      },
      { detail: docs.deleteEndpoint },
    )
    .get(
      "/v1/webhook-events",
      async ({ request }) => {
        const merchant = merchantOf(request);
        return jsonResponse(await service.listEvents(merchant.id, parseEventQuery(request)));
      },
      { detail: docs.listEvents },
    )
    .get(
      "/v1/webhook-events/:id/deliveries",
      async ({ request, params }) => {
        const merchant = merchantOf(request);
        takeNoQueryParameters(request);
        const id = pathIdOf(params.id, EVENT_ID, "webhook event");
        const attempts = await service.listDeliveryAttempts(merchant.id, id);
        // Another merchant's event is indistinguishable from a missing one.
        if (!attempts) throw new Problem("not_found", `No webhook event ${id}`);
        return jsonResponse(attempts);
      },
      { detail: docs.listDeliveries },
    );
}
