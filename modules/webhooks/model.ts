import { type DocumentDecoration, t } from "elysia";
import { problemResponse } from "../http";

/** OpenAPI documentation of the webhook API (requests are checked by the service, which reports errors as Problems). */

const Nullable = <T extends Parameters<typeof t.Union>[0][number]>(schema: T) => t.Union([schema, t.Null()]);

const problem = problemResponse;

const commonProblems = {
  401: problem("Missing or unknown API key"),
  429: problem("Rate limited; see Retry-After"),
  503: problem("A dependency is down; see Retry-After"),
};

const EndpointRequestSchema = t.Object(
  {
    url: t.String({
      maxLength: 2048,
      format: "uri",
      description:
        "https (http too outside production); no credentials; no loopback, private, reserved or internal-only host (the host's addresses are checked again at every delivery)",
    }),
  },
  { examples: [{ url: "https://shop.example.com/paystream/webhooks" }] },
);

const EndpointSchema = t.Object({
  url: t.String({ examples: ["https://shop.example.com/paystream/webhooks"] }),
  createdAt: t.String({ format: "date-time", description: "When this URL and secret were set" }),
});

const EndpointWithSecretSchema = t.Object({
  url: t.String(),
  secret: t.String({
    examples: ["whsec_3q2-7wEXAMPLEa1SWc0xTa0bWg6Ji8aQd2Pq9uCk8xYz"],
    description: "Signing secret. Shown only in this answer; store it now. PUT again to rotate it.",
  }),
  createdAt: t.String({ format: "date-time" }),
});

const DeliverySchema = t.Object({
  status: t.Union([t.Literal("pending"), t.Literal("delivered"), t.Literal("failed")]),
  attempts: t.Integer({ description: "Attempts started so far" }),
  nextAttemptAt: Nullable(t.String({ format: "date-time" })),
  lastStatusCode: Nullable(t.Integer()),
  lastError: Nullable(t.String({ examples: ["timeout", "destination_blocked"] })),
  deliveredAt: Nullable(t.String({ format: "date-time" })),
});

const EventSchema = t.Object(
  {
    id: t.String({ examples: ["evt_01jd6z2k8m3q4r5s6t7v8w9x0y"], description: "Unique; receivers deduplicate by it" }),
    type: t.Union([t.Literal("payment.completed"), t.Literal("payment.failed")]),
    createdAt: t.String({ format: "date-time" }),
    paymentId: t.String(),
    data: t.Object({ payment: t.Object({}, { additionalProperties: true, description: "The payment object, as GET /v1/payments/{id} returns it" }) }),
    delivery: DeliverySchema,
  },
  { description: "An event as sent (id, type, createdAt, data) with the state of its delivery" },
);

const AttemptSchema = t.Object({
  attempt: t.Integer({ minimum: 1 }),
  attemptedAt: t.String({ format: "date-time" }),
  url: t.String(),
  statusCode: Nullable(t.Integer({ description: "The endpoint's answer; null when none came" })),
  error: Nullable(
    t.String({
      description: "Why no answer came: destination_blocked, https_required, timeout, tls_failed or connection_failed",
    }),
  ),
  durationMs: t.Integer(),
});

/** typebox schemas are JSON Schema, which is what OpenAPI 3.1 takes; the OpenAPI types lag behind. */
const operation = (spec: object) => spec as DocumentDecoration;

const tags = ["Webhooks"];
const security = [{ bearer: [] }];

export const docs = {
  putEndpoint: operation({
    summary: "Register or rotate the webhook endpoint",
    description:
      "One endpoint per merchant. Creates it, or replaces its URL and signing secret. paystream then POSTs `payment.completed` and `payment.failed` events to it, signed in the `Paystream-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">`). Pending deliveries go to the new URL with the new secret.",
    tags,
    security,
    requestBody: { required: true, content: { "application/json": { schema: EndpointRequestSchema } } },
    responses: {
      200: { description: "The endpoint and its new secret (shown only here)", content: { "application/json": { schema: EndpointWithSecretSchema } } },
      400: problem("Malformed JSON or wrong content type"),
      413: problem("Body over 8 KiB"),
      422: problem("The URL is not acceptable"),
      ...commonProblems,
    },
  }),
  getEndpoint: operation({
    summary: "Retrieve the webhook endpoint",
    description: "The secret is never shown again; rotate it with PUT if it is lost.",
    tags,
    security,
    responses: {
      200: { description: "The endpoint", content: { "application/json": { schema: EndpointSchema } } },
      404: problem("No endpoint registered"),
      ...commonProblems,
    },
  }),
  deleteEndpoint: operation({
    summary: "Delete the webhook endpoint",
    description: "No more events are recorded; deliveries still pending are given up (status `failed`).",
    tags,
    security,
    responses: { 204: { description: "Deleted" }, 404: problem("No endpoint registered"), ...commonProblems },
  }),
  listEvents: operation({
    summary: "List webhook events, newest first, with their delivery state",
    tags,
    security,
    parameters: [
      { name: "paymentId", in: "query", description: "Only the events of this payment", schema: { type: "string" } },
      { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
      { name: "startingAfter", in: "query", description: "Cursor: the id of the last event of the previous page", schema: { type: "string" } },
    ],
    responses: {
      200: {
        description: "A page of events",
        content: { "application/json": { schema: t.Object({ data: t.Array(EventSchema), hasMore: t.Boolean() }) } },
      },
      422: problem("Invalid query parameters"),
      ...commonProblems,
    },
  }),
  listDeliveries: operation({
    summary: "The delivery log of one event",
    description: "Every attempt, oldest first: when, where, the endpoint's status code or the error, and how long it took.",
    tags,
    security,
    responses: {
      200: { description: "The attempts", content: { "application/json": { schema: t.Object({ data: t.Array(AttemptSchema) }) } } },
      404: problem("No event with this id for this merchant"),
      ...commonProblems,
    },
  }),
};
