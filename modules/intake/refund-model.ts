import Type from "typebox";
import {
  AUTHENTICATED_PROBLEMS,
  bodyProblems,
  component,
  nullable,
  jsonContent,
  operation,
  PAGE_LIMIT_PARAMETER,
  problemResponses,
  stringEnum,
} from "../http";
import { REFUND_ID, REFUND_REASONS, RefundSchema } from "../payments";
import { IDEMPOTENT_REPLAYED_HEADER, idempotencyKeyParameter, MetadataSchema, optionalAmountSchema, PAYMENT_ID_PARAMETER } from "./model";

/**
 * The refund request. Validated by ./refund-service.ts's validateRefundRequest (every error at once);
 * documented here with the same limits (metadata: a payment's).
 */
export const RefundRequestSchema = component(
  "RefundRequest",
  Type.Object(
    {
      amount: optionalAmountSchema(
        "Minor units of the payment's currency; absent: everything still refundable. Together with the payment's other refunds that are not FAILED it may not pass `amountCaptured` (else 409 `refund_exceeds_captured`).",
      ),
      reason: Type.Optional(nullable(stringEnum(REFUND_REASONS))),
      metadata: Type.Optional(nullable(MetadataSchema)),
    },
    { additionalProperties: false, examples: [{ amount: 500, reason: "requested_by_customer", metadata: { ticket: "T-42" } }], description: "Absent optional fields and JSON null mean the same" },
  ),
);

const RefundListSchema = component(
  "RefundList",
  Type.Object(
    { data: Type.Array(RefundSchema), hasMore: Type.Boolean({ description: "True when a next page exists: pass the last id as startingAfter" }) },
    { additionalProperties: false },
  ),
);

const tags = ["Refunds"];

export const docs = {
  create: operation({
    operationId: "createRefund",
    summary: "Refund a payment",
    description:
      "Refunds all or part of a COMPLETED payment. The amount is reserved at once (the payment's `amountRefunded` rises), atomically: concurrent refunds never together pass `amountCaptured`. Answers at once with the refund PENDING; a worker refunds at the gateway and the refund becomes SUCCEEDED or FAILED (a FAILED refund's amount is refundable again), with a `refund.succeeded` / `refund.failed` webhook. The body is optional.",
    tags,
    parameters: [
      PAYMENT_ID_PARAMETER,
      idempotencyKeyParameter(
        "The same key with the same payment and body returns the same refund (same status code) for at least 24 h and refunds nothing more; another payment or body answers 409. Keys of refunds and of payments are separate.",
      ),
    ],
    requestBody: { required: false, content: jsonContent(RefundRequestSchema) },
    responses: {
      202: {
        description: "Accepted: the refund is PENDING (or, for a replay, as it is now). `Location` points at it.",
        headers: {
          Location: { description: "`/v1/refunds/{id}`", required: true, schema: { type: "string", pattern: `^/v1/refunds/${REFUND_ID.doc.pattern.slice(1)}` } },
          "Idempotent-Replayed": IDEMPOTENT_REPLAYED_HEADER,
        },
        content: jsonContent(RefundSchema),
      },
      ...problemResponses({
        ...bodyProblems(),
        not_found: "no payment with this id for this merchant",
        idempotency_key_reused: "this Idempotency-Key was used with another payment or body",
        invalid_state: "the payment is not COMPLETED; `detail` says its status",
        refund_exceeds_captured: "the amount is more than is still refundable; `detail` says how much is",
        validation: "the body or the Idempotency-Key header is invalid; `errors` lists every invalid field",
        ...AUTHENTICATED_PROBLEMS,
      }),
    },
  }),
  list: operation({
    operationId: "listPaymentRefunds",
    summary: "List a payment's refunds, newest first",
    tags,
    parameters: [
      PAYMENT_ID_PARAMETER,
      PAGE_LIMIT_PARAMETER,
      { name: "startingAfter", in: "query", description: "Cursor: the id of the last refund of the previous page", schema: { type: "string", ...REFUND_ID.doc } },
    ],
    responses: {
      200: { description: "A page of the payment's refunds", content: jsonContent(RefundListSchema) },
      ...problemResponses({
        not_found: "no payment with this id for this merchant",
        validation: "invalid query parameters; `errors` lists each",
        ...AUTHENTICATED_PROBLEMS,
      }),
    },
  }),
  get: operation({
    operationId: "getRefund",
    summary: "Retrieve a refund",
    tags,
    parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", examples: REFUND_ID.doc.examples } }],
    responses: {
      200: { description: "The refund", content: jsonContent(RefundSchema) },
      ...problemResponses({ not_found: "no refund with this id for this merchant", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
};
