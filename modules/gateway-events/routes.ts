import { Elysia } from "elysia";
import Type from "typebox";
import {
  AUTHENTICATED_PROBLEMS,
  childListHandler,
  clientOf,
  component,
  jsonContent,
  jsonResponse,
  type MerchantGuard,
  operation,
  PAGE_LIMIT_PARAMETER,
  Problem,
  problemResponses,
  readBodyText,
  readByIdHandler,
  requireJsonContentType,
  stringEnum,
  takeNoQueryParameters,
} from "../http";
import { DISPUTE_ID, DisputeSchema, PAYMENT_ID } from "../payments";
import type { EventGateway, GatewayEvent } from "./events";
import { GATEWAY_EVENT_RESULTS } from "./schema";
import { type GatewayEventService, GatewayRecordUnavailable } from "./service";

/**
 * Verifies a delivery's signature and reads the event from it; null when the signature is missing
 * or wrong. Throws GatewayRecordUnavailable when the gateway's verification service cannot be asked
 * (PayPal's): the delivery then answers 503, and the gateway delivers it again.
 */
export type EventVerifier = (delivery: { body: string; header(name: string): string | null }) => Promise<GatewayEvent | null>;

export interface GatewayEventRouteDeps {
  service: GatewayEventService;
  /** The verifier of each gateway whose events are taken (its gateway configured, with its webhook secret or id). */
  verifiers: Partial<Record<EventGateway, EventVerifier>>;
  merchantOf: MerchantGuard;
  /** A delivery that failed verification (counted with result `invalid_signature`). */
  rejected?: (gateway: EventGateway) => void;
  /**
   * The per-client throttle of failed authentications (the API keys' one): a client that sent too
   * many deliveries with bad signatures gets 429 before its next one is verified, so forged
   * deliveries cannot make paystream call PayPal's verification API without end.
   */
  failedSignatures?: { hasFailures(): boolean; retryAfterSeconds(client: string): number; recordFailure(client: string): void };
}

/** Gateway events are larger than merchants' requests: a Stripe event carries a whole object. */
const MAX_EVENT_BYTES = 512 * 1024;

const ReceivedSchema = component(
  "GatewayEventReceived",
  Type.Object(
    {
      received: Type.Literal(true),
      result: stringEnum([...GATEWAY_EVENT_RESULTS, "duplicate"], {
        description:
          "`applied`: the gateway's record changed something (or made a look-up due now); `unchanged`: the gateway's record agrees with paystream's; `ignored`: not about anything paystream created, or a type it does not act on; `duplicate`: this event was handled before",
      }),
    },
    { additionalProperties: false },
  ),
);

const DisputeListSchema = component(
  "DisputeList",
  Type.Object(
    { data: Type.Array(DisputeSchema), hasMore: Type.Boolean({ description: "True when a next page exists: pass the last id as startingAfter" }) },
    { additionalProperties: false },
  ),
);

const eventDocs = (gateway: EventGateway, summary: string, description: string) =>
  operation({
    operationId: `receive${gateway === "stripe" ? "Stripe" : "Paypal"}Event`,
    summary,
    description,
    tags: ["Gateway events"],
    // The signature is the authentication: no API key.
    security: [],
    requestBody: { required: true, content: { "application/json": { schema: { type: "object", description: `A ${gateway === "stripe" ? "Stripe" : "PayPal"} webhook event, exactly as sent` } } } },
    responses: {
      200: { description: "Received (also for a duplicate, and for an event about nothing paystream created)", content: jsonContent(ReceivedSchema) },
      ...problemResponses({
        invalid_signature: "the signature is missing, wrong or stale: nothing was changed",
        rate_limited: "too many deliveries with bad signatures from this client; see Retry-After",
        unsupported_media_type: "Content-Type is not application/json",
        validation: "query parameters are not taken here",
        not_found: `${gateway === "stripe" ? "Stripe" : "PayPal"} events are not taken here (another GATEWAY, or no ${gateway === "stripe" ? "STRIPE_WEBHOOK_SECRET" : "PAYPAL_WEBHOOK_ID"})`,
        payload_too_large: `the body is over ${MAX_EVENT_BYTES / 1024} KiB`,
        dependency_unavailable: "the database, or the gateway's API the event is checked against, is unavailable: nothing was recorded, the gateway delivers it again",
      }),
    },
  });

const docs = {
  stripe: eventDocs(
    "stripe",
    "Receive a Stripe webhook event",
    "Register this URL as a Stripe webhook endpoint (README). Authenticated by the `Stripe-Signature` header (HMAC-SHA256 under STRIPE_WEBHOOK_SECRET, 5 minutes' tolerance). The event is a hint: the object it names is fetched from Stripe, and only Stripe's record changes anything.",
  ),
  paypal: eventDocs(
    "paypal",
    "Receive a PayPal webhook event",
    "Register this URL as a PayPal webhook (README). Authenticated by PayPal's transmission headers, verified by PayPal's verify-webhook-signature API for PAYPAL_WEBHOOK_ID. The event is a hint: the object it names is fetched from PayPal, and only PayPal's record changes anything.",
  ),
  getDispute: operation({
    operationId: "getDispute",
    summary: "Retrieve a dispute",
    tags: ["Disputes"],
    parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", examples: DISPUTE_ID.doc.examples } }],
    responses: {
      200: { description: "The dispute", content: jsonContent(DisputeSchema) },
      ...problemResponses({ not_found: "no dispute with this id for this merchant", validation: "query parameters are not taken here", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
  listDisputes: operation({
    operationId: "listPaymentDisputes",
    summary: "List a payment's disputes, newest first",
    tags: ["Disputes"],
    parameters: [
      { name: "id", in: "path", required: true, description: "The payment's id", schema: { type: "string", ...PAYMENT_ID.doc } },
      PAGE_LIMIT_PARAMETER,
      { name: "startingAfter", in: "query", description: "Cursor: the id of the last dispute of the previous page", schema: { type: "string", ...DISPUTE_ID.doc } },
    ],
    responses: {
      200: { description: "A page of the payment's disputes", content: jsonContent(DisputeListSchema) },
      ...problemResponses({ not_found: "no payment with this id for this merchant", validation: "invalid query parameters; `errors` lists each", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
};

/** The gateways' webhook endpoints and the merchant's dispute reads (docs/CONTRACT.md §10). */
export function gatewayEventRoutes({ service, verifiers, merchantOf, rejected, failedSignatures }: GatewayEventRouteDeps) {
  const receive = (gateway: EventGateway) => async ({ request }: { request: Request }) => {
    // What the request itself gets wrong is answered first, as on every route; then whether this gateway's events are taken.
    takeNoQueryParameters(request);
    requireJsonContentType(request);
    const verify = verifiers[gateway];
    if (!verify) throw new Problem("not_found", `${gateway} events are not taken by this service`);
    const client = failedSignatures?.hasFailures() ? clientOf(request) : undefined;
    const wait = client === undefined ? 0 : (failedSignatures?.retryAfterSeconds(client) ?? 0);
    if (wait > 0) throw new Problem("rate_limited", "Too many deliveries with bad signatures from this client; try again later", { retryAfterSeconds: wait });
    const body = await readBodyText(request, MAX_EVENT_BYTES);
    try {
      const event = await verify({ body, header: (name) => request.headers.get(name) });
      if (!event) {
        failedSignatures?.recordFailure(client ?? clientOf(request));
        rejected?.(gateway);
        throw new Problem("invalid_signature", "The event's signature is missing, wrong or outside its time tolerance");
      }
      const handled = await service.handle(event);
      return jsonResponse({ received: true, result: handled.result });
    } catch (error) {
      if (error instanceof GatewayRecordUnavailable) throw new Problem("dependency_unavailable", error.message, { retryAfterSeconds: 60 });
      throw error;
    }
  };
  return new Elysia({ name: "gateway-events" })
    .post("/v1/gateway-events/stripe", receive("stripe"), { parse: "none", detail: docs.stripe })
    .post("/v1/gateway-events/paypal", receive("paypal"), { parse: "none", detail: docs.paypal })
    .get("/v1/disputes/:id", readByIdHandler(merchantOf, DISPUTE_ID, "dispute", service.getDispute), { detail: docs.getDispute })
    .get("/v1/payments/:id/disputes", childListHandler(merchantOf, { kind: PAYMENT_ID, noun: "payment" }, DISPUTE_ID, service.listDisputes), {
      detail: docs.listDisputes,
    });
}
