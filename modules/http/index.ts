export { Problem, PROBLEM_TYPES, type FieldError, type ProblemBody, type ProblemType, validationProblem } from "./problem";
export { requestIdOf } from "./request-context";
export { createMerchantGuard, type MerchantGuard } from "./merchant-guard";
export { readBodyText, readJsonBody, readOptionalJsonBody, requireJsonContentType, MAX_BODY_BYTES, MAX_JSON_DEPTH } from "./body";
export {
  AUTHENTICATED_PROBLEMS,
  bodyProblems,
  buildOpenApiDocument,
  caseInsensitivePattern,
  component,
  type DocumentBase,
  type DocumentedRoute,
  nullable,
  OPENAPI_VERSION,
  jsonContent,
  operation,
  problemResponses,
  ProblemSchema,
  stringEnum,
  trimmedLengthPattern,
} from "./openapi";
export { clientOf, rememberPeer } from "./client-address";
export {
  type IdShape,
  idempotencyKeyOf,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  PAGE_LIMIT_PARAMETER,
  pathIdOf,
  QueryParameters,
  takeNoQueryParameters,
} from "./request-input";
export { acceptedResponse, jsonResponse } from "./json-response";
export { childListHandler, readByIdHandler } from "./read-by-id";
