import Type from "typebox";
import { AUTHENTICATED_PROBLEMS, bodyProblems, component, jsonContent, nullable, operation, PAGE_LIMIT_PARAMETER, problemResponses, stringEnum } from "../http";
import { DisputeSchema, PAYMENT_ID, PaymentSchema, RefundSchema } from "../payments";
import { MAX_URL_LENGTH } from "./endpoint-url";
import { EVENT_ID } from "./ids";
import { DELIVERY_STATUSES, WEBHOOK_EVENT_TYPES } from "./schema";

/** OpenAPI documentation of the webhook API (requests are checked by the service, which reports errors as Problems). */

/** An endpoint registration is one URL: a few KiB is plenty, and a small limit bounds what we read. */
export const ENDPOINT_BODY_MAX_BYTES = 8 * 1024;

const EndpointRequestSchema = component(
  "WebhookEndpointRequest",
  Type.Object(
    {
      url: Type.String({
        maxLength: MAX_URL_LENGTH,
        // The WHATWG URL parser the service uses ignores leading C0 controls and spaces and any letter case in the scheme.
        pattern: "^[\\u0000-\\u0020]*[Hh][Tt][Tt][Pp][Ss]?:",
        description:
          "An absolute http or https URL (https only in production) without credentials, not pointing at private or reserved addresses (loopback only outside production)",
      }),
    },
    { examples: [{ url: "https://shop.example.com/paystream/webhooks" }] },
  ),
);

const EndpointSchema = component(
  "WebhookEndpoint",
  Type.Object(
    {
      url: Type.String({ examples: ["https://shop.example.com/paystream/webhooks"] }),
      createdAt: Type.String({ format: "date-time", description: "When this URL and secret were set" }),
      status: stringEnum(["enabled", "disabled"] as const, {
        description:
          "`disabled` once every delivery attempt has failed for longer than the service's limit (3 days by default): nothing is sent, new events are listed with delivery `failed`, until it is enabled again (POST /v1/webhook-endpoint/enable) or a new URL is registered",
      }),
      failingSince: nullable(Type.String({ format: "date-time", description: "Since when every attempt has failed; null while the endpoint answers with 2xx" })),
      disabledAt: nullable(Type.String({ format: "date-time" })),
      disabledReason: nullable(Type.String({ description: "Why it was disabled", examples: ["every delivery attempt failed for more than 3 days (last: timeout); …"] })),
    },
    { additionalProperties: false },
  ),
);

const EndpointWithSecretSchema = component(
  "WebhookEndpointWithSecret",
  Type.Object(
    {
      url: Type.String(),
      secret: Type.String({
        pattern: "^whsec_",
        examples: ["whsec_3q2-7wEXAMPLEa1SWc0xTa0bWg6Ji8aQd2Pq9uCk8xYz"],
        description: "Signing secret. Shown only in this answer; store it now. PUT again to rotate it.",
      }),
      createdAt: Type.String({ format: "date-time" }),
    },
    { additionalProperties: false },
  ),
);

const DeliverySchema = component(
  "WebhookDelivery",
  Type.Object(
    {
      status: stringEnum(DELIVERY_STATUSES),
      attempts: Type.Integer({ minimum: 0, description: "Attempts started so far" }),
      nextAttemptAt: nullable(Type.String({ format: "date-time" })),
      lastStatusCode: nullable(Type.Integer()),
      lastError: nullable(Type.String({ examples: ["timed out after 10000 ms"] })),
      deliveredAt: nullable(Type.String({ format: "date-time" })),
    },
    { additionalProperties: false },
  ),
);

const EventSchema = component(
  "WebhookEvent",
  Type.Object(
    {
      id: Type.String({ ...EVENT_ID.doc, description: "Unique; receivers deduplicate by it" }),
      type: stringEnum(WEBHOOK_EVENT_TYPES),
      createdAt: Type.String({ format: "date-time" }),
      paymentId: Type.String(PAYMENT_ID.doc),
      data: Type.Union([
        Type.Object(
          { payment: PaymentSchema },
          { additionalProperties: false, description: "`payment.*` events: the payment as it was when the event was recorded" },
        ),
        Type.Object(
          { refund: RefundSchema },
          { additionalProperties: false, description: "`refund.*` events: the refund as it was when the event was recorded" },
        ),
        Type.Object(
          { dispute: DisputeSchema },
          { additionalProperties: false, description: "`dispute.*` events: the dispute as it was when the event was recorded" },
        ),
      ]),
      delivery: DeliverySchema,
    },
    {
      additionalProperties: false,
      description: "An event as sent (id, type, createdAt, data) with the state of its delivery",
    },
  ),
);

const AttemptSchema = component(
  "WebhookDeliveryAttempt",
  Type.Object(
    {
      attempt: Type.Integer({ minimum: 1 }),
      attemptedAt: Type.String({ format: "date-time" }),
      url: Type.String(),
      statusCode: nullable(Type.Integer({ description: "The endpoint's answer; null when none came" })),
      error: nullable(Type.String({ description: "Why no answer came (timeout, connection error)" })),
      durationMs: Type.Integer({ minimum: 0 }),
    },
    { additionalProperties: false },
  ),
);

const tags = ["Webhooks"];

export const docs = {
  putEndpoint: operation({
    operationId: "putWebhookEndpoint",
    summary: "Register or rotate the webhook endpoint",
    description:
      "One endpoint per merchant. Creates it, or replaces its URL and signing secret (and enables it if it was disabled). paystream then POSTs `payment.completed`, `payment.failed`, `payment.authorized`, `payment.canceled`, `payment.requires_action`, `refund.succeeded` and `refund.failed` events to it, signed in the `Paystream-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">`). Pending deliveries go to the new URL with the new secret.",
    tags,
    requestBody: { required: true, content: jsonContent(EndpointRequestSchema) },
    responses: {
      200: { description: "The endpoint and its new secret (shown only here)", content: jsonContent(EndpointWithSecretSchema) },
      ...problemResponses({
        ...bodyProblems(ENDPOINT_BODY_MAX_BYTES),
        validation: "the URL is not acceptable; `errors` says why",
        ...AUTHENTICATED_PROBLEMS,
      }),
    },
  }),
  getEndpoint: operation({
    operationId: "getWebhookEndpoint",
    summary: "Retrieve the webhook endpoint",
    description: "The secret is never shown again; rotate it with PUT if it is lost.",
    tags,
    responses: {
      200: { description: "The endpoint", content: jsonContent(EndpointSchema) },
      ...problemResponses({ not_found: "no endpoint is registered", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
  enableEndpoint: operation({
    operationId: "enableWebhookEndpoint",
    summary: "Enable the webhook endpoint again after it was disabled",
    description:
      "An endpoint whose every delivery attempt failed for longer than the service's limit is disabled (`status: disabled`). This enables it again with its URL and secret unchanged and its failure record cleared; events recorded while it was disabled are not resent (they are listed with delivery `failed`). Enabling an endpoint that is enabled changes nothing. PUT with a URL enables it too.",
    tags,
    responses: {
      200: { description: "The endpoint, enabled", content: jsonContent(EndpointSchema) },
      ...problemResponses({ not_found: "no endpoint is registered", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
  deleteEndpoint: operation({
    operationId: "deleteWebhookEndpoint",
    summary: "Delete the webhook endpoint",
    description: "No more events are recorded; deliveries still pending are given up (status `failed`).",
    tags,
    responses: {
      204: { description: "Deleted" },
      ...problemResponses({ not_found: "no endpoint is registered", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
  listEvents: operation({
    operationId: "listWebhookEvents",
    summary: "List webhook events, newest first, with their delivery state",
    tags,
    parameters: [
      { name: "paymentId", in: "query", description: "Only the events of this payment", schema: { type: "string", ...PAYMENT_ID.doc } },
      PAGE_LIMIT_PARAMETER,
      {
        name: "startingAfter",
        in: "query",
        description: "Cursor: the id of the last event of the previous page",
        schema: { type: "string", ...EVENT_ID.doc },
      },
    ],
    responses: {
      200: {
        description: "A page of events",
        content: jsonContent(component("WebhookEventList", Type.Object({ data: Type.Array(EventSchema), hasMore: Type.Boolean() }, { additionalProperties: false }))),
      },
      ...problemResponses({ validation: "invalid query parameters; `errors` lists each", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
  listDeliveries: operation({
    operationId: "listWebhookDeliveryAttempts",
    summary: "The delivery log of one event",
    description: "Every attempt, oldest first: when, where, the endpoint's status code or the error, and how long it took.",
    tags,
    parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", examples: EVENT_ID.doc.examples } }],
    responses: {
      200: {
        description: "The attempts",
        content: jsonContent(component("WebhookDeliveryAttemptList", Type.Object({ data: Type.Array(AttemptSchema) }, { additionalProperties: false }))),
      },
      ...problemResponses({ not_found: "no event with this id for this merchant", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
};
