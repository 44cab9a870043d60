export { createIntakeService, type IntakeService, type CreatePaymentResult, type IntakeDeps } from "./service";
export { intakeRoutes, type IntakeRouteDeps } from "./routes";
export { idempotencyKeys } from "./schema";
export { currencyExponent, passesLuhn, validatePaymentRequest, type FieldError, type ValidPaymentRequest } from "./validation";
