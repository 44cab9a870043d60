export { Problem, PROBLEM_TYPES, type FieldError, type ProblemBody, type ProblemType } from "./problem";
export { requestIdOf } from "./request-context";
export { createMerchantGuard, type MerchantGuard } from "./merchant-guard";
export { readJsonBody, MAX_BODY_BYTES } from "./body";
export { ProblemSchema, problemResponse } from "./openapi";
export { type IdShape, idempotencyKeyOf, pathIdOf, QueryParameters, takeNoQueryParameters } from "./request-input";
