import { type DocumentDecoration, t } from "elysia";
import { problemResponse } from "../http";

/** OpenAPI documentation of the intake API (validation itself is done by ./validation, which reports every error at once). */

const exampleRequest = {
  amount: 1999,
  currency: "USD",
  card: { number: "4242 4242 4242 4242", expMonth: 12, expYear: 2030, cvc: "123", holderName: "Jane Doe" },
  customer: { email: "jane@example.com", name: "Jane Doe", reference: "cus_42" },
  description: "Order #1001",
  metadata: { orderId: "1001" },
};

export const PaymentRequestSchema = t.Object(
  {
    amount: t.Integer({ minimum: 1, maximum: 99_999_999, description: "Integer minor units (whole units for zero-decimal currencies such as JPY)" }),
    currency: t.String({ pattern: "^[A-Za-z]{3}$", description: "ISO 4217 code of a currency in use; case-insensitive" }),
    card: t.Object({
      number: t.String({ description: "Digits with optional spaces or dashes; Luhn-checked; brand from the IIN" }),
      expMonth: t.Integer({ minimum: 1, maximum: 12 }),
      expYear: t.Integer({ minimum: 1000, maximum: 9999 }),
      cvc: t.String({ pattern: "^[0-9]{3,4}$", description: "3 digits, 4 for amex" }),
      holderName: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    }),
    customer: t.Object({
      email: t.String({ format: "email" }),
      name: t.String({ minLength: 1, maxLength: 200 }),
      reference: t.Optional(t.String({ maxLength: 200 })),
    }),
    description: t.Optional(t.String({ maxLength: 1000 })),
    metadata: t.Optional(t.Record(t.String({ maxLength: 40 }), t.String({ maxLength: 500 }), { maxProperties: 20 })),
  },
  { examples: [exampleRequest] },
);

const Nullable = <T extends Parameters<typeof t.Union>[0][number]>(schema: T) => t.Union([schema, t.Null()]);

export const PaymentSchema = t.Object(
  {
    id: t.String({ examples: ["pay_01jd6z2k8m3q4r5s6t7v8w9x0y"] }),
    status: t.Union([t.Literal("PENDING"), t.Literal("PROCESSING"), t.Literal("COMPLETED"), t.Literal("FAILED")]),
    amount: t.Integer(),
    currency: t.String(),
    description: Nullable(t.String()),
    metadata: t.Record(t.String(), t.String()),
    card: t.Object({
      brand: t.String({ examples: ["visa"] }),
      last4: t.String({ examples: ["4242"] }),
      expMonth: t.Integer(),
      expYear: t.Integer(),
      fingerprint: t.String({ description: "Keyed hash of the card number: equal for the same card, not reversible" }),
    }),
    customer: t.Object({ email: t.String(), name: t.String(), reference: Nullable(t.String()) }),
    gateway: t.String({ examples: ["simulator"] }),
    gatewayReference: Nullable(t.String()),
    failureCode: Nullable(t.String({ examples: ["card_declined", "insufficient_funds", "gateway_unavailable"] })),
    failureMessage: Nullable(t.String()),
    attempts: t.Integer(),
    outcome: Nullable(
      t.Literal("unknown", {
        description:
          "unknown: an attempt's outcome is unknown and the card may have been charged; the payment stays PROCESSING until the gateway answers",
      }),
    ),
    nextCheckAt: Nullable(t.String({ format: "date-time", description: "While the outcome is unknown: when the gateway is asked next" })),
    createdAt: t.String({ format: "date-time" }),
    updatedAt: t.String({ format: "date-time" }),
    completedAt: Nullable(t.String({ format: "date-time" })),
  },
  { description: "A payment. The full card number and the CVC are never returned." },
);

const problem = problemResponse;

export const commonProblems = {
  401: problem("Missing or unknown API key"),
  429: problem("Rate limited; see Retry-After"),
  503: problem("A dependency is down; see Retry-After"),
};

/** typebox schemas are JSON Schema, which is what OpenAPI 3.1 takes; the OpenAPI types lag behind. */
const operation = (spec: object) => spec as DocumentDecoration;

export const docs = {
  create: operation({
    summary: "Create a payment",
    description:
      "Validates the payment, stores it as PENDING and answers at once; a worker charges the card in the background. Poll GET /v1/payments/{id} for the final status.",
    tags: ["Payments"],
    security: [{ bearer: [] }],
    parameters: [
      {
        name: "Idempotency-Key",
        in: "header",
        required: false,
        description: "1–255 characters. The same key with the same body returns the same payment for at least 24 h.",
        schema: { type: "string", minLength: 1, maxLength: 255 },
      },
    ],
    requestBody: {
      required: true,
      content: { "application/json": { schema: PaymentRequestSchema, example: exampleRequest } },
    },
    responses: {
      202: {
        description: "Accepted; the payment is PENDING. `Location` points at it.",
        headers: { Location: { schema: { type: "string" } } },
        content: { "application/json": { schema: PaymentSchema } },
      },
      400: problem("Malformed JSON or wrong content type"),
      409: problem("Idempotency-Key reused with a different body"),
      413: problem("Body over 64 KiB"),
      422: problem("Validation failed; every invalid field is listed"),
      ...commonProblems,
    },
  }),
  get: operation({
    summary: "Retrieve a payment",
    tags: ["Payments"],
    security: [{ bearer: [] }],
    responses: {
      200: { description: "The payment", content: { "application/json": { schema: PaymentSchema } } },
      404: problem("No payment with this id for this merchant"),
      ...commonProblems,
    },
  }),
  list: operation({
    summary: "List payments, newest first",
    tags: ["Payments"],
    security: [{ bearer: [] }],
    parameters: [
      { name: "status", in: "query", schema: { type: "string", enum: ["PENDING", "PROCESSING", "COMPLETED", "FAILED"] } },
      { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
      { name: "startingAfter", in: "query", description: "Cursor: the id of the last payment of the previous page", schema: { type: "string" } },
    ],
    responses: {
      200: {
        description: "A page of payments",
        content: {
          "application/json": { schema: t.Object({ data: t.Array(PaymentSchema), hasMore: t.Boolean() }) },
        },
      },
      422: problem("Invalid query parameters"),
      ...commonProblems,
    },
  }),
};
