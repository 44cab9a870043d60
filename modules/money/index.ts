/** Money: ISO 4217 currencies and their minor units, and the amounts a payment may be for. Imports no other module. */
export { formatDecimal, MAX_AMOUNT, MIN_AMOUNT } from "./amount";
export { currencyExponent, isSupportedCurrency, normalizeCurrencyCode, SUPPORTED_CURRENCY_CODES } from "./currency";
