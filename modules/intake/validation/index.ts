/** Pure validation of payment intake requests: no I/O, safe on any JSON-parsed input. */

export {
  type CardBrand,
  type CardNumberCheck,
  checkCardNumber,
  detectBrand,
  isExpired,
  isExpiryTooFar,
  isValidCvc,
  isValidExpMonth,
  isValidExpYear,
  isValidLengthForBrand,
  MAX_EXPIRY_YEARS_AHEAD,
  normalizeCardNumber,
  passesLuhn,
} from "./card";
export { currencyExponent, isSupportedCurrency, normalizeCurrencyCode, SUPPORTED_CURRENCY_CODES } from "./currency";
export {
  FORBIDDEN_METADATA_KEYS,
  MAX_AMOUNT,
  MAX_DESCRIPTION_LENGTH,
  MAX_DOMAIN_LABEL_LENGTH,
  MAX_EMAIL_LENGTH,
  MAX_EMAIL_LOCAL_LENGTH,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_KEYS,
  MAX_METADATA_VALUE_LENGTH,
  MAX_NAME_LENGTH,
  MAX_REFERENCE_LENGTH,
  MIN_AMOUNT,
  type FieldError,
  type ValidationResult,
  type ValidPaymentRequest,
  validatePaymentRequest,
  validateGatewayUnits,
  validateMetadata,
  ownValue,
} from "./payment-request";
export {
  type BodyValidation,
  MERCHANT_CANCELLATION_REASONS,
  optionalAmount,
  optionalOneOf,
  validateBody,
  validateCancelRequest,
  validateCaptureRequest,
} from "./operation-requests";
