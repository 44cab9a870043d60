/**
 * Validation of the payment intake request body (already JSON-parsed, so of unknown shape).
 *
 * Every field is checked and all problems are reported together. The validator never
 * throws, reads own data properties only (so "__proto__"/"constructor" keys and getters are
 * inert), and never puts a submitted value into an error message: messages are fixed
 * text, so card numbers and CVCs cannot leak into logs or responses through them.
 */

import {
  type CardBrand,
  checkCardNumber,
  isExpired,
  isExpiryTooFar,
  isValidCvc,
  isValidExpMonth,
  isValidExpYear,
  MAX_EXPIRY_YEARS_AHEAD,
  normalizeCardNumber,
} from "./card";
import type { Gateway } from "../../gateways";
import { MAX_AMOUNT, MIN_AMOUNT, normalizeCurrencyCode } from "../../money";
import type { FieldError } from "../../http";

export type { FieldError };

export interface ValidCard {
  number: string /* digits only */;
  brand: CardBrand;
  last4: string;
  expMonth: number;
  expYear: number;
  cvc: string;
  holderName: string | null;
}

/** What pays: exactly one of a card and a payment method id, or `paypal` (docs/CONTRACT.md §9, §12). */
export type ValidPaymentSource = { card: ValidCard; paymentMethod: null } | { card: null; paymentMethod: string };

/** `"paymentMethod": "paypal"`: PayPal Checkout, the buyer approves at PayPal (docs/CONTRACT.md §12). */
export const PAYPAL_CHECKOUT = "paypal";
/** The gateways that can take PayPal Checkout: PayPal itself, and the simulator's demonstration of it. */
const CHECKOUT_GATEWAYS: ReadonlySet<string> = new Set(["paypal", "simulator"]);

/** Where customers are sent back to: a URL of at most this many characters (Stripe's limit for return_url is 2048 too). */
export const MAX_RETURN_URL_LENGTH = 2048;

/**
 * What a request's URLs may be: https, or http to a loopback host (a developer's own machine)
 * when `allowLoopbackHttp` (outside production).
 */
export interface UrlPolicy {
  allowLoopbackHttp: boolean;
}

export type ValidPaymentRequest = ValidPaymentSource & {
  amount: number; // integer minor units (whole units for zero-decimal currencies)
  currency: string; // upper-case ISO code
  customer: { email: string; name: string; reference: string | null };
  description: string | null;
  metadata: Record<string, string>;
  /** false: authorize only, to be captured or canceled later (docs/CONTRACT.md §8). */
  capture: boolean;
  /** Where the gateway sends the customer back after authenticating or approving (docs/CONTRACT.md §9). */
  returnUrl: string | null;
  /** PayPal Checkout: where a buyer who cancels is sent. */
  cancelUrl: string | null;
};

export type ValidationResult = { ok: true; value: ValidPaymentRequest } | { ok: false; errors: FieldError[] };

export const MAX_NAME_LENGTH = 200;
export const MAX_REFERENCE_LENGTH = 200;
export const MAX_DESCRIPTION_LENGTH = 1000;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_EMAIL_LOCAL_LENGTH = 64;
export const MAX_DOMAIN_LABEL_LENGTH = 63;
export const MAX_METADATA_KEYS = 20;
export const MAX_METADATA_KEY_LENGTH = 40;
export const MAX_METADATA_VALUE_LENGTH = 500;
/** Client-chosen keys end up in error field paths; cap them so they cannot bloat responses or logs. */
const MAX_FIELD_KEY_LENGTH = 64;

/**
 * A payment method id as the gateway issued it (Stripe `pm_…`, a PayPal vault token id): printable
 * ASCII without spaces, checked before it reaches any statement or gateway.
 */
export const MAX_PAYMENT_METHOD_LENGTH = 255;
export const PAYMENT_METHOD_PATTERN = `^[!-~]{1,${MAX_PAYMENT_METHOD_LENGTH}}$`;
const PAYMENT_METHOD = new RegExp(PAYMENT_METHOD_PATTERN);

const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set([
  "amount",
  "currency",
  "card",
  "paymentMethod",
  "customer",
  "description",
  "metadata",
  "capture",
  "returnUrl",
  "cancelUrl",
]);
const CARD_KEYS: ReadonlySet<string> = new Set(["number", "expMonth", "expYear", "cvc", "holderName"]);
const CUSTOMER_KEYS: ReadonlySet<string> = new Set(["email", "name", "reference"]);
/** Keys that mean something to JavaScript objects; refused so metadata can be spread or merged safely downstream. */
export const FORBIDDEN_METADATA_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

export type JsonObject = Record<string, unknown>;

// ---------------------------------------------------------------------------------------
// Reading untrusted input

/** True for `{...}` objects (what JSON.parse produces); false for arrays, null, class instances. */
export function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An own data property's value: never inherited, and a getter is never invoked (it reads as absent). */
export function ownValue(object: JsonObject, key: string): unknown {
  return Object.getOwnPropertyDescriptor(object, key)?.value;
}

/** JSON null and a missing key both mean "not provided". */
export function isAbsent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

/**
 * A client-chosen key made safe to put in an error's `field`: at most 64 code points, with
 * control, formatting (e.g. bidi override) and lone-surrogate characters replaced.
 */
function sanitizeKey(key: string): string {
  // Slice first so a huge key costs nothing; 2 UTF-16 units per code point at most.
  const codePoints = Array.from(key.slice(0, MAX_FIELD_KEY_LENGTH * 2)).slice(0, MAX_FIELD_KEY_LENGTH);
  return codePoints.join("").replace(/[\p{Cc}\p{Cf}\p{Cs}]/gu, "\uFFFD");
}

// ---------------------------------------------------------------------------------------
// Error collection

/** Records an error; returns undefined so validators can `return fail(...)` as their "invalid" result. */
export function fail(errors: FieldError[], field: string, code: string, message: string): undefined {
  errors.push({ field, code, message });
  return undefined;
}

function failRequired(errors: FieldError[], field: string): undefined {
  return fail(errors, field, "required", "is required");
}

export function failType(errors: FieldError[], field: string, expected: string): undefined {
  return fail(errors, field, "invalid_type", `must be ${expected}`);
}

export function reportUnknownKeys(
  object: JsonObject,
  allowed: ReadonlySet<string>,
  pathPrefix: string,
  errors: FieldError[],
): void {
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) fail(errors, pathPrefix + sanitizeKey(key), "unknown_field", "is not a recognised field");
  }
}

/**
 * Validators below share one convention: they return the normalised value, or undefined after
 * recording at least one error. Optional fields return null when not provided.
 */

/**
 * Text PostgreSQL can store: well-formed UTF-16 (a lone surrogate has no UTF-8 encoding) and no
 * NUL character (text columns refuse it). Anything else would fail at the database as a 500.
 */
function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes("\u0000");
}

function failCharacters(errors: FieldError[], field: string): undefined {
  return fail(errors, field, "invalid_characters", "must be valid Unicode text without NUL characters");
}

function requiredString(value: unknown, field: string, errors: FieldError[]): string | undefined {
  if (isAbsent(value)) return failRequired(errors, field);
  if (typeof value !== "string") return failType(errors, field, "a string");
  if (!isStorableText(value)) return failCharacters(errors, field);
  return value;
}

function optionalString(value: unknown, field: string, errors: FieldError[]): string | null | undefined {
  if (isAbsent(value)) return null;
  if (typeof value !== "string") return failType(errors, field, "a string");
  if (!isStorableText(value)) return failCharacters(errors, field);
  return value;
}

function requiredNumber(value: unknown, field: string, errors: FieldError[]): number | undefined {
  if (isAbsent(value)) return failRequired(errors, field);
  if (typeof value !== "number") return failType(errors, field, "a number");
  return value;
}

// ---------------------------------------------------------------------------------------
// Top-level fields

export function validateAmount(value: unknown, errors: FieldError[]): number | undefined {
  const amount = requiredNumber(value, "amount", errors);
  if (amount === undefined) return undefined;
  // NaN and ±Infinity are not integers either; 1e308 is, and is caught as too large.
  if (!Number.isInteger(amount)) {
    return fail(errors, "amount", "amount_not_integer", "must be a whole number of minor currency units");
  }
  if (amount < MIN_AMOUNT) return fail(errors, "amount", "amount_too_small", `must be at least ${MIN_AMOUNT}`);
  if (amount > MAX_AMOUNT) return fail(errors, "amount", "amount_too_large", `must be at most ${MAX_AMOUNT}`);
  return amount;
}

function validateCurrency(value: unknown, errors: FieldError[]): string | undefined {
  const code = requiredString(value, "currency", errors);
  if (code === undefined) return undefined;
  return (
    normalizeCurrencyCode(code) ??
    fail(errors, "currency", "currency_unsupported", "must be a supported ISO 4217 currency code")
  );
}

/** The field a gateway's refusal of an amount is reported on. */
const GATEWAY_REFUSAL_FIELDS = {
  currency_not_supported_by_gateway: "currency",
  amount_not_supported_by_gateway: "amount",
} as const;

/**
 * Whether the configured gateway can charge the amount exactly in the currency (docs/CONTRACT.md §6): an
 * amount is never rounded to fit. With an invalid amount (already reported) it still asks about the
 * currency, with zero, which every currency a gateway takes can express.
 */
export function validateGatewayUnits(
  amount: number | undefined,
  currency: string | undefined,
  gateway: Pick<Gateway, "toGatewayAmount">,
  errors: FieldError[],
): void {
  if (currency === undefined) return;
  const answer = gateway.toGatewayAmount(amount ?? 0, currency);
  if (!answer.ok) fail(errors, GATEWAY_REFUSAL_FIELDS[answer.code], answer.code, answer.message);
}

/** Whether the configured gateway account may be sent this card (README, "Which gateway account needs what"). */
function validateCardDataAccepted(cardNumber: string, gateway: Pick<Gateway, "acceptsCardData">, errors: FieldError[]): void {
  const answer = gateway.acceptsCardData(cardNumber);
  if (!answer.ok) fail(errors, "card", answer.code, answer.message);
}

function validateCapture(value: unknown, errors: FieldError[]): boolean | undefined {
  if (isAbsent(value)) return true;
  return typeof value === "boolean" ? value : failType(errors, "capture", "a boolean");
}

function validateDescription(value: unknown, errors: FieldError[]): string | null | undefined {
  const description = optionalString(value, "description", errors);
  if (typeof description === "string" && description.length > MAX_DESCRIPTION_LENGTH) {
    return fail(errors, "description", "too_long", `must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  }
  return description;
}

export function validateMetadata(value: unknown, errors: FieldError[]): Record<string, string> | undefined {
  if (isAbsent(value)) return {};
  if (!isPlainObject(value)) return failType(errors, "metadata", "an object");
  const errorsBefore = errors.length;
  const keys = Object.keys(value);
  if (keys.length > MAX_METADATA_KEYS) {
    fail(errors, "metadata", "too_many_keys", `must have at most ${MAX_METADATA_KEYS} keys`);
  }
  const entries: Array<[string, string]> = [];
  for (const key of keys) {
    const field = `metadata.${sanitizeKey(key)}`;
    if (FORBIDDEN_METADATA_KEYS.has(key)) {
      fail(errors, field, "invalid_key", "is a reserved key name");
      continue;
    }
    if (key.length === 0) fail(errors, field, "invalid_key", "key must not be empty");
    if (!isStorableText(key)) failCharacters(errors, field);
    if (key.length > MAX_METADATA_KEY_LENGTH) {
      fail(errors, field, "key_too_long", `key must be at most ${MAX_METADATA_KEY_LENGTH} characters`);
    }
    const entryValue = ownValue(value, key);
    if (typeof entryValue !== "string") failType(errors, field, "a string");
    else if (!isStorableText(entryValue)) failCharacters(errors, field);
    else if (entryValue.length > MAX_METADATA_VALUE_LENGTH) {
      fail(errors, field, "invalid_value", `must be at most ${MAX_METADATA_VALUE_LENGTH} characters`);
    } else entries.push([key, entryValue]);
  }
  return errors.length === errorsBefore ? Object.fromEntries(entries) : undefined;
}

// ---------------------------------------------------------------------------------------
// card

/** Exactly one of `card` and `paymentMethod` (JSON null counts as absent, as everywhere). */
function validatePaymentSource(body: JsonObject, now: Date, errors: FieldError[]): ValidPaymentSource | undefined {
  const card = ownValue(body, "card");
  const paymentMethod = ownValue(body, "paymentMethod");
  if (!isAbsent(card) && !isAbsent(paymentMethod)) {
    return fail(errors, "paymentMethod", "payment_method_conflict", "send either card or paymentMethod, not both");
  }
  if (isAbsent(paymentMethod)) {
    if (isAbsent(card)) return fail(errors, "card", "payment_source_required", "is required unless a paymentMethod is sent");
    const valid = validateCard(card, now, errors);
    return valid === undefined ? undefined : { card: valid, paymentMethod: null };
  }
  if (typeof paymentMethod !== "string") return failType(errors, "paymentMethod", "a string");
  if (!PAYMENT_METHOD.test(paymentMethod)) {
    return fail(errors, "paymentMethod", "invalid_format", `must be 1–${MAX_PAYMENT_METHOD_LENGTH} printable ASCII characters without spaces`);
  }
  return { card: null, paymentMethod };
}

function validateCard(value: unknown, now: Date, errors: FieldError[]): ValidCard | undefined {
  if (isAbsent(value)) return failRequired(errors, "card");
  if (!isPlainObject(value)) return failType(errors, "card", "an object");
  const errorsBefore = errors.length;
  reportUnknownKeys(value, CARD_KEYS, "card.", errors);

  const number = validateCardNumber(ownValue(value, "number"), errors);
  const expiry = validateExpiry(ownValue(value, "expMonth"), ownValue(value, "expYear"), now, errors);
  // An unreadable number has no brand; the CVC check then accepts either length.
  const cvc = validateCvc(ownValue(value, "cvc"), number?.brand, errors);
  const holderName = validateHolderName(ownValue(value, "holderName"), errors);

  const incomplete =
    number?.digits === undefined || expiry === undefined || cvc === undefined || holderName === undefined;
  if (errors.length !== errorsBefore || incomplete) return undefined;
  return {
    number: number.digits,
    brand: number.brand,
    last4: number.digits.slice(-4),
    expMonth: expiry.month,
    expYear: expiry.year,
    cvc,
    holderName,
  };
}

const CARD_NUMBER_MESSAGES = {
  card_brand_unsupported: "is not from a supported card brand",
  invalid_length: "has the wrong number of digits for its card brand",
  luhn_check_failed: "is not a valid card number (checksum mismatch)",
} as const;

/**
 * `brand` is reported whenever it could be detected, even if the number is otherwise invalid,
 * so the CVC can be checked against it; `digits` is set only for a fully valid number.
 */
function validateCardNumber(
  value: unknown,
  errors: FieldError[],
): { digits: string; brand: CardBrand } | { digits: undefined; brand: CardBrand | undefined } | undefined {
  const raw = requiredString(value, "card.number", errors);
  if (raw === undefined) return undefined;
  const digits = normalizeCardNumber(raw);
  if (digits === undefined) {
    const message = "must contain only digits, optionally grouped by single spaces or dashes";
    return fail(errors, "card.number", "invalid_format", message);
  }
  const check = checkCardNumber(digits);
  if (check.ok) return { digits, brand: check.brand };
  fail(errors, "card.number", check.code, CARD_NUMBER_MESSAGES[check.code]);
  return { digits: undefined, brand: check.brand };
}

function validateExpiry(
  monthValue: unknown,
  yearValue: unknown,
  now: Date,
  errors: FieldError[],
): { month: number; year: number } | undefined {
  const month = validateExpMonth(monthValue, errors);
  const year = validateExpYear(yearValue, errors);
  if (month === undefined || year === undefined) return undefined;
  if (isExpired(month, year, now)) return fail(errors, "card", "card_expired", "has expired");
  if (isExpiryTooFar(year, now)) {
    const message = `must be at most ${MAX_EXPIRY_YEARS_AHEAD} years in the future`;
    return fail(errors, "card.expYear", "exp_year_too_far", message);
  }
  return { month, year };
}

function validateExpMonth(value: unknown, errors: FieldError[]): number | undefined {
  const month = requiredNumber(value, "card.expMonth", errors);
  if (month === undefined || isValidExpMonth(month)) return month;
  return fail(errors, "card.expMonth", "invalid_exp_month", "must be an integer from 1 to 12");
}

function validateExpYear(value: unknown, errors: FieldError[]): number | undefined {
  const year = requiredNumber(value, "card.expYear", errors);
  if (year === undefined || isValidExpYear(year)) return year;
  return fail(errors, "card.expYear", "invalid_exp_year", "must be a four-digit year");
}

function validateCvc(value: unknown, brand: CardBrand | undefined, errors: FieldError[]): string | undefined {
  const cvc = requiredString(value, "card.cvc", errors);
  if (cvc === undefined) return undefined;
  if (isValidCvc(cvc, brand)) return cvc;
  const expected = brand === undefined ? "3 or 4 digits" : brand === "amex" ? "4 digits" : "3 digits";
  return fail(errors, "card.cvc", "invalid_cvc", `must be ${expected}`);
}

function validateHolderName(value: unknown, errors: FieldError[]): string | null | undefined {
  const holderName = optionalString(value, "card.holderName", errors);
  if (typeof holderName !== "string") return holderName;
  return (
    trimmedWithinLength(holderName, MAX_NAME_LENGTH) ??
    fail(errors, "card.holderName", "invalid_length", `must be 1 to ${MAX_NAME_LENGTH} characters`)
  );
}

/** The trimmed text when it is 1..max characters long, else undefined. */
function trimmedWithinLength(text: string, max: number): string | undefined {
  const trimmed = text.trim();
  return trimmed.length >= 1 && trimmed.length <= max ? trimmed : undefined;
}

// ---------------------------------------------------------------------------------------
// returnUrl, cancelUrl

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["localhost", "[::1]"]);

function isLoopbackHost(hostname: string): boolean {
  // WHATWG URL has already turned every IPv4 spelling (0x7f.1, 2130706433, …) into dotted decimal.
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * A URL the customer's browser is sent to (paystream itself never fetches it): absolute, https
 * (http only to a loopback host outside production), without credentials, at most 2048 characters.
 * Returns it as the WHATWG URL parser normalises it.
 */
function validateRedirectUrl(value: unknown, field: string, policy: UrlPolicy, errors: FieldError[]): string | null | undefined {
  const text = optionalString(value, field, errors);
  if (typeof text !== "string") return text;
  if (text.length > MAX_RETURN_URL_LENGTH) return fail(errors, field, "too_long", `must be at most ${MAX_RETURN_URL_LENGTH} characters`);
  const url = URL.parse(text);
  if (url === null || (url.protocol !== "https:" && url.protocol !== "http:")) return fail(errors, field, "invalid_url", "must be an absolute https URL");
  if (url.username !== "" || url.password !== "") return fail(errors, field, "invalid_url", "must not carry credentials");
  if (url.protocol === "http:" && !(policy.allowLoopbackHttp && isLoopbackHost(url.hostname))) {
    return fail(errors, field, "https_required", policy.allowLoopbackHttp ? "must be https (http only to a loopback host)" : "must be https");
  }
  const normalized = url.href;
  return normalized.length > MAX_RETURN_URL_LENGTH ? fail(errors, field, "too_long", `must be at most ${MAX_RETURN_URL_LENGTH} characters`) : normalized;
}

/** `paypal` needs a returnUrl (the buyer comes back there) and a gateway that takes PayPal Checkout. */
function validateCheckout(source: ValidPaymentSource | undefined, returnUrl: string | null | undefined, gateway: { name?: string } | undefined, errors: FieldError[]): void {
  if (source?.paymentMethod !== PAYPAL_CHECKOUT) return;
  if (gateway?.name !== undefined && !CHECKOUT_GATEWAYS.has(gateway.name)) {
    fail(errors, "paymentMethod", "payment_method_unsupported", `paypal (PayPal Checkout) needs GATEWAY=paypal; this service's gateway is ${gateway.name}`);
    return;
  }
  if (returnUrl === null) fail(errors, "returnUrl", "return_url_required", "is required with paymentMethod paypal: PayPal sends the buyer back there after approving");
}

// ---------------------------------------------------------------------------------------
// customer

function validateCustomer(value: unknown, errors: FieldError[]): ValidPaymentRequest["customer"] | undefined {
  if (isAbsent(value)) return failRequired(errors, "customer");
  if (!isPlainObject(value)) return failType(errors, "customer", "an object");
  const errorsBefore = errors.length;
  reportUnknownKeys(value, CUSTOMER_KEYS, "customer.", errors);

  const email = validateEmail(ownValue(value, "email"), errors);
  const name = validateCustomerName(ownValue(value, "name"), errors);
  const reference = validateReference(ownValue(value, "reference"), errors);

  if (errors.length !== errorsBefore || email === undefined || name === undefined || reference === undefined) {
    return undefined;
  }
  return { email, name, reference };
}

function validateEmail(value: unknown, errors: FieldError[]): string | undefined {
  const raw = requiredString(value, "customer.email", errors);
  if (raw === undefined) return undefined;
  return normalizeEmail(raw) ?? fail(errors, "customer.email", "invalid_email", "must be a valid email address");
}

function validateCustomerName(value: unknown, errors: FieldError[]): string | undefined {
  const name = requiredString(value, "customer.name", errors);
  if (name === undefined) return undefined;
  return (
    trimmedWithinLength(name, MAX_NAME_LENGTH) ??
    fail(errors, "customer.name", "invalid_length", `must be 1 to ${MAX_NAME_LENGTH} characters`)
  );
}

function validateReference(value: unknown, errors: FieldError[]): string | null | undefined {
  const reference = optionalString(value, "customer.reference", errors);
  if (typeof reference === "string" && reference.length > MAX_REFERENCE_LENGTH) {
    return fail(errors, "customer.reference", "invalid_length", `must be at most ${MAX_REFERENCE_LENGTH} characters`);
  }
  return reference;
}

/** RFC 5322 dot-atom local part: no quoted strings or comments, which real senders don't use. */
const EMAIL_LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const TOP_LEVEL_DOMAIN = /^[A-Za-z]{2,}$/;

/**
 * A practical subset of RFC 5322 addresses, local@label.tld (ASCII only, no IP literals).
 * Returns the trimmed address with its domain lower-cased (domains are case-insensitive;
 * local parts formally are not, so they are kept as given), or undefined when invalid.
 */
function normalizeEmail(raw: string): string | undefined {
  const email = raw.trim();
  if (email.length > MAX_EMAIL_LENGTH) return undefined;
  const at = email.lastIndexOf("@");
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  // A second "@" in `local` fails the local-part pattern, so lastIndexOf is enough.
  if (at < 0 || local.length > MAX_EMAIL_LOCAL_LENGTH || !EMAIL_LOCAL_PART.test(local)) return undefined;
  const labels = domain.split(".");
  const tld = labels[labels.length - 1];
  if (labels.length < 2 || tld === undefined || !TOP_LEVEL_DOMAIN.test(tld)) return undefined;
  const labelsValid = labels.every((label) => label.length <= MAX_DOMAIN_LABEL_LENGTH && DOMAIN_LABEL.test(label));
  return labelsValid ? `${local}@${domain.toLowerCase()}` : undefined;
}

// ---------------------------------------------------------------------------------------
// Entry point

/**
 * Validates and normalises a parsed request body. `now` decides card expiry; `gateway`, when
 * given, whether its units can express the amount and its account may be sent the card. Never throws.
 */
export function validatePaymentRequest(
  body: unknown,
  now: Date,
  gateway?: Pick<Gateway, "toGatewayAmount" | "acceptsCardData"> & { name?: Gateway["name"] },
  urls: UrlPolicy = { allowLoopbackHttp: false },
): ValidationResult {
  if (!isPlainObject(body)) {
    return { ok: false, errors: [{ field: "", code: "invalid_type", message: "request body must be a JSON object" }] };
  }
  const errors: FieldError[] = [];
  reportUnknownKeys(body, TOP_LEVEL_KEYS, "", errors);

  const amount = validateAmount(ownValue(body, "amount"), errors);
  const currency = validateCurrency(ownValue(body, "currency"), errors);
  if (gateway !== undefined) validateGatewayUnits(amount, currency, gateway, errors);
  const source = validatePaymentSource(body, now, errors);
  if (gateway !== undefined && source?.card) validateCardDataAccepted(source.card.number, gateway, errors);
  const customer = validateCustomer(ownValue(body, "customer"), errors);
  const description = validateDescription(ownValue(body, "description"), errors);
  const metadata = validateMetadata(ownValue(body, "metadata"), errors);
  const capture = validateCapture(ownValue(body, "capture"), errors);
  const returnUrl = validateRedirectUrl(ownValue(body, "returnUrl"), "returnUrl", urls, errors);
  const cancelUrl = validateRedirectUrl(ownValue(body, "cancelUrl"), "cancelUrl", urls, errors);
  validateCheckout(source, returnUrl, gateway, errors);

  // Any undefined part already recorded an error; the checks are here for type narrowing.
  if (
    errors.length > 0 ||
    amount === undefined ||
    currency === undefined ||
    source === undefined ||
    customer === undefined ||
    description === undefined ||
    metadata === undefined ||
    capture === undefined ||
    returnUrl === undefined ||
    cancelUrl === undefined
  ) {
    return { ok: false, errors };
  }
  return { ok: true, value: { ...source, amount, currency, customer, description, metadata, capture, returnUrl, cancelUrl } };
}
