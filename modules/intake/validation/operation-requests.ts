/**
 * Validation of the small bodies of the requests on an existing payment (capture, cancel) and the
 * building blocks other modules' request bodies share (the refund's): the rules and conventions of
 * payment-request.ts — every error at once, own data properties only, no submitted value echoed.
 */

import type { FieldError } from "../../http";
import { CANCELLATION_REASONS, type CancellationReason } from "../../payments";
import { fail, failType, isAbsent, isPlainObject, type JsonObject, ownValue, reportUnknownKeys, validateAmount } from "./payment-request";

export type BodyValidation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/**
 * An optional JSON body of the fields `keys`: none at all reads as `{}`, anything but an object is
 * one error, unknown fields are errors. `read` validates the fields; its undefined means it
 * recorded an error.
 */
export function validateBody<T>(
  body: unknown,
  keys: ReadonlySet<string>,
  read: (body: JsonObject, errors: FieldError[]) => T | undefined,
): BodyValidation<T> {
  const object = body === undefined ? {} : body;
  if (!isPlainObject(object)) {
    return { ok: false, errors: [{ field: "", code: "invalid_type", message: "request body must be a JSON object" }] };
  }
  const errors: FieldError[] = [];
  reportUnknownKeys(object, keys, "", errors);
  const value = read(object, errors);
  return errors.length > 0 || value === undefined ? { ok: false, errors } : { ok: true, value };
}

/** An optional amount: null when absent, else what `amount` of a payment must be (an integer from 1 to MAX_AMOUNT). */
export function optionalAmount(value: unknown, errors: FieldError[]): number | null | undefined {
  return isAbsent(value) ? null : validateAmount(value, errors);
}

/** An optional choice among `allowed`: null when absent. */
export function optionalOneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], errors: FieldError[]): T | null | undefined {
  if (isAbsent(value)) return null;
  if (typeof value !== "string") return failType(errors, field, "a string");
  const found = allowed.find((choice) => choice === value);
  return found ?? fail(errors, field, "invalid_value", `must be one of ${allowed.join(", ")}`);
}

/** The reasons a merchant may give for a cancel; `expired` is the service's own. */
export const MERCHANT_CANCELLATION_REASONS = CANCELLATION_REASONS.filter(
  (reason): reason is Exclude<CancellationReason, "expired"> => reason !== "expired",
);

const CAPTURE_KEYS: ReadonlySet<string> = new Set(["amount"]);
const CANCEL_KEYS: ReadonlySet<string> = new Set(["reason"]);

/** `{ "amount"?: n }`: null means the whole authorized amount. */
export function validateCaptureRequest(body: unknown): BodyValidation<{ amount: number | null }> {
  return validateBody(body, CAPTURE_KEYS, (object, errors) => {
    const amount = optionalAmount(ownValue(object, "amount"), errors);
    return amount === undefined ? undefined : { amount };
  });
}

/** `{ "reason"?: … }`. */
export function validateCancelRequest(body: unknown): BodyValidation<{ reason: CancellationReason | null }> {
  return validateBody(body, CANCEL_KEYS, (object, errors) => {
    const reason = optionalOneOf(ownValue(object, "reason"), "reason", MERCHANT_CANCELLATION_REASONS, errors);
    return reason === undefined ? undefined : { reason };
  });
}
