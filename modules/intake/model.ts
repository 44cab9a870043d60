import Type from "typebox";
import {
  AUTHENTICATED_PROBLEMS,
  bodyProblems,
  caseInsensitivePattern,
  component,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  nullable,
  PAGE_LIMIT_PARAMETER,
  problemResponses,
  stringEnum,
  trimmedLengthPattern,
  jsonContent,
  operation,
} from "../http";
import { MAX_AMOUNT, MIN_AMOUNT, SUPPORTED_CURRENCY_CODES } from "../money";
import { PAYMENT_ID, PAYMENT_STATUSES, PaymentSchema } from "../payments";
import {
  FORBIDDEN_METADATA_KEYS,
  MAX_DESCRIPTION_LENGTH,
  MAX_DOMAIN_LABEL_LENGTH,
  MAX_EMAIL_LENGTH,
  MAX_EMAIL_LOCAL_LENGTH,
  MAX_EXPIRY_YEARS_AHEAD,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_KEYS,
  MAX_METADATA_VALUE_LENGTH,
  MAX_NAME_LENGTH,
  MAX_REFERENCE_LENGTH,
  MERCHANT_CANCELLATION_REASONS,
  PAYMENT_METHOD_PATTERN,
  MAX_RETURN_URL_LENGTH,
} from "./validation";

/**
 * OpenAPI documentation of the intake API. The request body is validated by ./validation, which
 * reports every error at once (typebox/Elysia validation stops at the first); the documented limits
 * are that validator's own constants, and tests/unit/openapi-request-schema.test.ts holds the two
 * to the same verdicts. Semantic checks a schema cannot express (Luhn, brand lengths, expiry, the
 * gateway's currencies) are described and answered with 422.
 */

const exampleRequest = {
  amount: 1999,
  currency: "USD",
  card: { number: "4242 4242 4242 4242", expMonth: 12, expYear: 2030, cvc: "123", holderName: "Jane Doe" },
  customer: { email: "jane@example.com", name: "Jane Doe", reference: "cus_42" },
  description: "Order #1001",
  metadata: { orderId: "1001" },
};

/** Text PostgreSQL can store: no NUL, no lone UTF-16 surrogate (the validator refuses both). */
const STORABLE_CHAR = "[^\\u0000\\uD800-\\uDFFF]";
const STORABLE_NON_BLANK = "[^\\s\\u0000\\uD800-\\uDFFF]";
const storableText = (maxLength: number, options: object = {}) =>
  Type.String({ maxLength, pattern: `^${STORABLE_CHAR}*$`, ...options });
/** 1..max characters once trimmed, as the validator measures names. */
const trimmedText = (max: number, options: object = {}) =>
  Type.String({ pattern: trimmedLengthPattern(max, STORABLE_CHAR, STORABLE_NON_BLANK), ...options });

/** The validator's e-mail subset (local@label.tld, ASCII, trimmed) as one pattern. */
const EMAIL_PATTERN = (() => {
  const atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
  const local = `${atext}+(?:\\.${atext}+)*`;
  const label = `(?=[A-Za-z0-9-]{1,${MAX_DOMAIN_LABEL_LENGTH}}\\.)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?`;
  const tld = `[A-Za-z]{2,${MAX_DOMAIN_LABEL_LENGTH}}`;
  return `^\\s*(?=\\S{1,${MAX_EMAIL_LENGTH}}\\s*$)(?=[^@]{1,${MAX_EMAIL_LOCAL_LENGTH}}@)${local}@(?:${label}\\.)+${tld}\\s*$`;
})();

/** Card numbers are 12 to 19 digits across the supported brands, grouped by single spaces or dashes. */
const CARD_NUMBER_PATTERN = "^\\s*(?=(?:[ -]?[0-9]){12,19}\\s*$)[0-9]+(?:[ -][0-9]+)*\\s*$";

/** A request's own key–value notes, as payments and refunds take them. */
export const MetadataSchema = Type.Object(
  {},
  {
    maxProperties: MAX_METADATA_KEYS,
    propertyNames: {
      minLength: 1,
      maxLength: MAX_METADATA_KEY_LENGTH,
      pattern: `^${STORABLE_CHAR}*$`,
      not: { enum: [...FORBIDDEN_METADATA_KEYS] },
    },
    additionalProperties: storableText(MAX_METADATA_VALUE_LENGTH),
    description: `Up to ${MAX_METADATA_KEYS} string values of at most ${MAX_METADATA_VALUE_LENGTH} characters, under keys of 1–${MAX_METADATA_KEY_LENGTH} characters`,
  },
);

export const PaymentRequestSchema = component(
  "PaymentRequest",
  Type.Object(
    {
      amount: Type.Integer({
        minimum: MIN_AMOUNT,
        maximum: MAX_AMOUNT,
        description: "Integer minor units (whole units for zero-decimal currencies such as JPY)",
      }),
      currency: Type.String({
        pattern: caseInsensitivePattern(SUPPORTED_CURRENCY_CODES),
        description: `ISO 4217 code of a currency in use, any letter case (answered upper-case): ${SUPPORTED_CURRENCY_CODES.join(", ")}. The configured gateway may support fewer (422 \`currency_not_supported_by_gateway\`).`,
        examples: ["USD"],
      }),
      card: Type.Optional(nullable(Type.Object(
        {
          number: Type.String({
            pattern: CARD_NUMBER_PATTERN,
            description:
              "Digits, optionally grouped by single spaces or dashes. The brand (visa, mastercard, amex, discover, diners, jcb, unionpay, maestro) comes from the IIN; the length must fit the brand and the Luhn checksum must hold (else 422 `card_brand_unsupported`, `invalid_length`, `luhn_check_failed`).",
            examples: ["4242 4242 4242 4242"],
          }),
          expMonth: Type.Integer({ minimum: 1, maximum: 12 }),
          expYear: Type.Integer({
            minimum: 1000,
            maximum: 9999,
            description: `Four digits. The card must not have expired (end of the expiry month, UTC) nor expire more than ${MAX_EXPIRY_YEARS_AHEAD} years ahead.`,
          }),
          cvc: Type.String({ pattern: "^[0-9]{3,4}$", description: "3 digits; 4 for amex" }),
          holderName: Type.Optional(nullable(trimmedText(MAX_NAME_LENGTH, { description: `1–${MAX_NAME_LENGTH} characters once trimmed` }))),
        },
        {
          additionalProperties: false,
          description:
            "Exactly one of `card` and `paymentMethod` (both: 422 `payment_method_conflict`; neither: 422 `payment_source_required`). The configured gateway account may not take raw card data (a Stripe account without raw card data APIs takes only Stripe's test card numbers, with a test key): any other card is 422 `card_data_not_accepted`; send a `paymentMethod` instead.",
        },
      ))),
      paymentMethod: Type.Optional(nullable(
        Type.String({
          pattern: PAYMENT_METHOD_PATTERN,
          description:
            "Instead of `card`: the id of a payment method the configured gateway holds for you (Stripe `pm_…` from Stripe.js/Elements; a PayPal vault payment token id; the simulator takes Stripe's test PaymentMethods such as `pm_card_visa`). An id the gateway does not hold fails the payment with `payment_method_not_found`. `paypal`: PayPal Checkout, the buyer approves at PayPal (GATEWAY=paypal or the simulator; needs `returnUrl`, else 422 `return_url_required`; another gateway: 422 `payment_method_unsupported`).",
          examples: ["pm_card_visa", "paypal"],
        }),
      )),
      returnUrl: Type.Optional(nullable(
        Type.String({
          maxLength: MAX_RETURN_URL_LENGTH,
          format: "uri",
          description:
            "Where the gateway sends the customer back after 3-D Secure or PayPal approval (https; http only to a loopback host outside production). With it, a payment the gateway wants the customer to authenticate waits in REQUIRES_ACTION with `nextAction`; without it, such a payment ends FAILED `authentication_required`.",
          examples: ["https://shop.example.com/checkout/done"],
        }),
      )),
      cancelUrl: Type.Optional(nullable(
        Type.String({ maxLength: MAX_RETURN_URL_LENGTH, format: "uri", description: "PayPal Checkout: where PayPal sends a buyer who cancels (default: returnUrl). Same rules as returnUrl." }),
      )),
      customer: Type.Object(
        {
          email: Type.String({ pattern: EMAIL_PATTERN, description: "local@domain.tld (ASCII); the domain is answered lower-case", examples: ["jane@example.com"] }),
          name: trimmedText(MAX_NAME_LENGTH, { description: `1–${MAX_NAME_LENGTH} characters once trimmed` }),
          reference: Type.Optional(nullable(storableText(MAX_REFERENCE_LENGTH, { description: "Your own customer id" }))),
        },
        { additionalProperties: false },
      ),
      description: Type.Optional(nullable(storableText(MAX_DESCRIPTION_LENGTH))),
      metadata: Type.Optional(nullable(MetadataSchema)),
      capture: Type.Optional(
        nullable(
          Type.Boolean({
            description:
              "`true` (also when absent): charge at once. `false`: authorize only (`captureMethod: manual`); the payment rests AUTHORIZED until captured (POST /v1/payments/{id}/capture) or canceled, and is voided when not captured in time",
          }),
        ),
      ),
    },
    {
      additionalProperties: false,
      examples: [exampleRequest],
      description: "Absent optional fields and JSON null mean the same",
      // Exactly one of the two that is not null (null means absent, as for every field).
      oneOf: [
        { required: ["card"], properties: { card: { not: { type: "null" } } } },
        { required: ["paymentMethod"], properties: { paymentMethod: { not: { type: "null" } } } },
      ],
    },
  ),
);

const PaymentListSchema = component(
  "PaymentList",
  Type.Object(
    { data: Type.Array(PaymentSchema), hasMore: Type.Boolean({ description: "True when a next page exists: pass the last id as startingAfter" }) },
    { additionalProperties: false },
  ),
);

/** An optional amount in minor units (what a payment's `amount` may be), as captures and refunds take it. */
export const optionalAmountSchema = (description: string) =>
  Type.Optional(nullable(Type.Integer({ minimum: MIN_AMOUNT, maximum: MAX_AMOUNT, description })));

export const CaptureRequestSchema = component(
  "CaptureRequest",
  Type.Object(
    {
      amount: optionalAmountSchema(
        "Minor units to capture, at most the authorized amount (else 422 `amount_exceeds_authorized`); absent: all of it. The rest of the hold is released. A partial amount the gateway cannot express exactly is 422 `amount_not_supported_by_gateway`.",
      ),
    },
    { additionalProperties: false, examples: [{ amount: 1500 }] },
  ),
);

export const CancelRequestSchema = component(
  "CancelRequest",
  Type.Object(
    { reason: Type.Optional(nullable(stringEnum(MERCHANT_CANCELLATION_REASONS, { description: "Recorded as the payment's `cancellationReason`" }))) },
    { additionalProperties: false, examples: [{ reason: "requested_by_customer" }] },
  ),
);

/** The `{id}` of a payment's path. */
export const PAYMENT_ID_PARAMETER = { name: "id", in: "path", required: true, schema: { type: "string", examples: PAYMENT_ID.doc.examples } };
const locationHeader = { description: "`/v1/payments/{id}`", required: true, schema: { type: "string", pattern: `^/v1/payments/${PAYMENT_ID.doc.pattern.slice(1)}` } };
/** The answer header of the routes that take an Idempotency-Key. */
export const IDEMPOTENT_REPLAYED_HEADER = {
  description: "`true` when this answer replays an earlier request with the same Idempotency-Key and body (nothing new was created)",
  schema: { type: "string", enum: ["true"] },
};

/** The optional `Idempotency-Key` header; `meaning` says what a replay answers on the route. */
export const idempotencyKeyParameter = (meaning: string) => ({
  name: "Idempotency-Key",
  in: "header",
  required: false,
  description: `1–${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters. ${meaning}`,
  schema: { type: "string", minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH },
});

const tags = ["Payments"];

export const docs = {
  create: operation({
    operationId: "createPayment",
    summary: "Create a payment",
    description:
      "Validates the payment, stores it as PENDING and answers at once; a worker charges the card in the background. Poll GET /v1/payments/{id} for the final status. Every invalid field is reported in one 422.",
    tags,
    parameters: [idempotencyKeyParameter("The same key with the same body returns the same payment (same status code) for at least 24 h; another body answers 409.")],
    requestBody: { required: true, content: { "application/json": { schema: PaymentRequestSchema, example: exampleRequest } } },
    responses: {
      202: {
        description: "Accepted: the payment is PENDING (or, for a replay, as it is now). `Location` points at it.",
        headers: { Location: locationHeader, "Idempotent-Replayed": IDEMPOTENT_REPLAYED_HEADER },
        content: jsonContent(PaymentSchema),
      },
      ...problemResponses({
        ...bodyProblems(),
        idempotency_key_reused: "this Idempotency-Key was used with another body",
        validation: "the body or the Idempotency-Key header is invalid; `errors` lists every invalid field",
        ...AUTHENTICATED_PROBLEMS,
      }),
    },
  }),
  get: operation({
    operationId: "getPayment",
    summary: "Retrieve a payment",
    tags,
    parameters: [PAYMENT_ID_PARAMETER],
    responses: {
      200: { description: "The payment", content: jsonContent(PaymentSchema) },
      ...problemResponses({ not_found: "no payment with this id for this merchant", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
  list: operation({
    operationId: "listPayments",
    summary: "List payments, newest first",
    tags,
    parameters: [
      {
        name: "status",
        in: "query",
        description: `Only payments in this status: ${PAYMENT_STATUSES.join(", ")} (any letter case)`,
        schema: { type: "string", pattern: caseInsensitivePattern(PAYMENT_STATUSES), examples: ["COMPLETED"] },
      },
      PAGE_LIMIT_PARAMETER,
      {
        name: "startingAfter",
        in: "query",
        description: "Cursor: the id of the last payment of the previous page",
        schema: { type: "string", ...PAYMENT_ID.doc },
      },
    ],
    responses: {
      200: { description: "A page of payments", content: jsonContent(PaymentListSchema) },
      ...problemResponses({ validation: "invalid query parameters; `errors` lists each", ...AUTHENTICATED_PROBLEMS }),
    },
  }),
  capture: operation({
    operationId: "capturePayment",
    summary: "Capture an authorized payment",
    description:
      "For a payment created with `capture: false` once it is AUTHORIZED: captures the whole authorization, or `amount` of it, and releases the rest. Answers at once with the payment PROCESSING; a worker captures at the gateway and the payment becomes COMPLETED (or, should the gateway refuse, AUTHORIZED again with a failureCode). The body is optional.",
    tags,
    parameters: [
      PAYMENT_ID_PARAMETER,
      idempotencyKeyParameter(
        "The same key, payment and body replay the first capture's answer (same status code) for at least 24 h, even once the payment has moved on; another payment or body answers 409.",
      ),
    ],
    requestBody: { required: false, content: jsonContent(CaptureRequestSchema) },
    responses: {
      202: {
        description: "Accepted: the payment is PROCESSING its capture",
        headers: { Location: locationHeader, "Idempotent-Replayed": IDEMPOTENT_REPLAYED_HEADER },
        content: jsonContent(PaymentSchema),
      },
      ...problemResponses({
        ...bodyProblems(),
        idempotency_key_reused: "this Idempotency-Key was used with another payment or body",
        not_found: "no payment with this id for this merchant",
        invalid_state: "the payment is not AUTHORIZED; `detail` says its status",
        validation: "the body or the Idempotency-Key header is invalid; `errors` lists every invalid field",
        ...AUTHENTICATED_PROBLEMS,
      }),
    },
  }),
  cancel: operation({
    operationId: "cancelPayment",
    summary: "Cancel a payment",
    description:
      "A PENDING payment no worker has taken yet is CANCELED at once: nothing reached the gateway. An AUTHORIZED payment is voided at the gateway by a worker: the answer shows it PROCESSING, and it becomes CANCELED. Any other status (PROCESSING, COMPLETED, FAILED, CANCELED) answers 409: a completed payment is refunded instead. The body is optional.",
    tags,
    parameters: [
      PAYMENT_ID_PARAMETER,
      idempotencyKeyParameter(
        "The same key, payment and body replay the first cancel's answer (same status code) for at least 24 h, even once the payment has moved on; another payment or body answers 409.",
      ),
    ],
    requestBody: { required: false, content: jsonContent(CancelRequestSchema) },
    responses: {
      202: {
        description: "Accepted: the payment is CANCELED (it was PENDING) or PROCESSING its void (it was AUTHORIZED)",
        headers: { Location: locationHeader, "Idempotent-Replayed": IDEMPOTENT_REPLAYED_HEADER },
        content: jsonContent(PaymentSchema),
      },
      ...problemResponses({
        ...bodyProblems(),
        idempotency_key_reused: "this Idempotency-Key was used with another payment or body",
        not_found: "no payment with this id for this merchant",
        invalid_state: "the payment is neither PENDING nor AUTHORIZED; `detail` says its status",
        validation: "the body or the Idempotency-Key header is invalid; `errors` lists every invalid field",
        ...AUTHENTICATED_PROBLEMS,
      }),
    },
  }),
};
