export {
  createIntakeService,
  type IntakeService,
  type CreatePaymentResult,
  type IntakeDeps,
  type PaymentRequestKind,
  type PaymentRequestResult,
} from "./service";
export { intakeRoutes, type IntakeRouteDeps } from "./routes";
export {
  createRefundService,
  type CreateRefundResult,
  type RefundDeps,
  type RefundRequest,
  type RefundService,
  validateRefundRequest,
} from "./refund-service";
export { refundRoutes, type RefundRouteDeps } from "./refund-routes";
export { RefundRequestSchema } from "./refund-model";
export { canonicalJson } from "./canonical-json";
export { IDEMPOTENT_REPLAYED_HEADER, idempotencyKeyParameter, MetadataSchema, optionalAmountSchema, PAYMENT_ID_PARAMETER } from "./model";
export {
  type BodyValidation,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_KEYS,
  MAX_METADATA_VALUE_LENGTH,
  optionalAmount,
  optionalOneOf,
  ownValue,
  passesLuhn,
  validateBody,
  validateGatewayUnits,
  validateMetadata,
  validatePaymentRequest,
  type FieldError,
  type ValidPaymentRequest,
} from "./validation";
