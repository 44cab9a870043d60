export { IDEMPOTENCY_SCOPES, type IdempotencyScope, idempotencyKeys } from "./schema";
export {
  claimIdempotencyKey,
  findIdempotencyRecord,
  type IdempotencyRecord,
  type IdempotentReplay,
  idempotencyKeyClaims,
  type NewIdempotencyRecord,
  replayIdempotentRequest,
} from "./keys";
