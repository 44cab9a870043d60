import { t } from "elysia";

/** RFC 9457 problem details as documented in every route's OpenAPI responses. */
export const ProblemSchema = t.Object(
  {
    type: t.String(),
    title: t.String(),
    status: t.Integer(),
    detail: t.String(),
    code: t.String(),
    errors: t.Optional(t.Array(t.Object({ field: t.String(), code: t.String(), message: t.String() }))),
    requestId: t.Optional(t.String()),
  },
  {
    description: "RFC 9457 problem details",
    examples: [
      {
        type: "/errors/validation",
        title: "Invalid payment request",
        status: 422,
        detail: "2 fields are invalid",
        code: "validation",
        errors: [
          { field: "card.number", code: "luhn_check_failed", message: "card number fails the Luhn check" },
          { field: "amount", code: "amount_too_small", message: "amount must be at least 1" },
        ],
      },
    ],
  },
);

/** An OpenAPI response that answers problem+json. */
export const problemResponse = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});
