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
export { currencyExponent, isSupportedCurrency, normalizeCurrencyCode } from "./currency";
export {
  type FieldError,
  type ValidationResult,
  type ValidPaymentRequest,
  validatePaymentRequest,
} from "./payment-request";
