import { type FieldError, Problem } from "./problem";

/**
 * Everything a route reads from the URL is checked here before it can reach a query: a path id
 * against its kind's one pattern, each query parameter against its rule. Text the database
 * cannot store (NUL, unpaired surrogates) or has no use for (megabytes of it) never fits.
 */

/** What a path or cursor id must look like (modules/payments' IdKind fits). */
export interface IdShape {
  readonly prefix: string;
  matches(text: string): boolean;
}

/**
 * The id in a path, when it has the shape of `kind`. Any other text cannot name anything the
 * API issued, so it is 404 like an unknown id (docs/CONTRACT.md §3), answered without a query and
 * without repeating the text.
 */
export function pathIdOf(text: string | undefined, kind: IdShape, noun: string): string {
  if (text === undefined || !kind.matches(text)) throw new Problem("not_found", `No ${noun} with this id`);
  return text;
}

const DEFAULT_PAGE_LIMIT = 20;
const MAX_PAGE_LIMIT = 100;
/** How list routes document `limit`: the bounds QueryParameters.limit enforces. */
export const PAGE_LIMIT_PARAMETER = {
  name: "limit",
  in: "query",
  schema: { type: "integer", minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT },
};
/** An error list is for a person to read; past this many a hostile query only makes it long. */
const MAX_QUERY_ERRORS = 10;
/** Parameter names repeated in an error's `field`; anything else is not echoed. */
const ECHOABLE_NAME = /^[A-Za-z0-9_.[\]-]{1,64}$/;

/**
 * The query string of one route, read strictly and reported all at once (422, like a body):
 * unknown and repeated parameters are errors rather than silently ignored, so a typo such as
 * `?stauts=FAILED` cannot quietly list everything.
 */
export class QueryParameters {
  private readonly values = new Map<string, string>();
  private readonly errors: FieldError[] = [];

  constructor(request: Request, accepted: readonly string[]) {
    const start = request.url.indexOf("?");
    if (start < 0) return;
    // URLSearchParams never throws: malformed %-sequences stay literal and bytes that are not
    // UTF-8 become U+FFFD; what is left is judged by each parameter's rule below.
    for (const [name, value] of new URLSearchParams(request.url.slice(start + 1))) {
      if (!accepted.includes(name)) {
        const echo = ECHOABLE_NAME.test(name);
        const takes = accepted.length > 0 ? `it takes ${accepted.join(", ")}` : "it takes none";
        this.fail(echo ? name : "query", "unknown_parameter", echo ? `is not a parameter of this route (${takes})` : `holds a parameter this route does not take (${takes})`);
      } else if (this.values.has(name)) this.fail(name, "repeated_parameter", "must be given at most once");
      else this.values.set(name, value);
    }
  }

  private fail(field: string, code: string, message: string): undefined {
    if (this.errors.length < MAX_QUERY_ERRORS && !this.errors.some((e) => e.field === field && e.code === code))
      this.errors.push({ field, code, message });
    return undefined;
  }

  /** `limit`: an integer written in plain digits, 1 to MAX_PAGE_LIMIT; DEFAULT_PAGE_LIMIT when absent. */
  limit(): number {
    const text = this.values.get("limit");
    if (text === undefined) return DEFAULT_PAGE_LIMIT;
    const limit = /^[0-9]{1,3}$/.test(text) ? Number(text) : Number.NaN;
    if (limit >= 1 && limit <= MAX_PAGE_LIMIT) return limit;
    this.fail("limit", "invalid_value", `must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
    return DEFAULT_PAGE_LIMIT;
  }

  /** An id parameter (a cursor, a filter): exactly the shape of `kind`, or an error. */
  id(name: string, kind: IdShape): string | undefined {
    const text = this.values.get(name);
    if (text === undefined || kind.matches(text)) return text;
    return this.fail(name, "invalid_value", `must be an id starting with ${kind.prefix}_`);
  }

  /** One of `allowed`, compared without regard to case; the canonical spelling is returned. */
  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const text = this.values.get(name);
    if (text === undefined) return undefined;
    const found = allowed.find((value) => value.toUpperCase() === text.toUpperCase());
    return found ?? this.fail(name, "invalid_value", `must be one of ${allowed.join(", ")}`);
  }

  /** Throws one 422 naming every invalid parameter, if any was. */
  finish(): void {
    if (this.errors.length > 0)
      throw new Problem("validation", `${this.errors.length} query parameter(s) are invalid`, {
        errors: this.errors,
        title: "Invalid query parameters",
      });
  }
}

/** For routes that take no query parameters: any is an error, as on every other route. */
export function takeNoQueryParameters(request: Request): void {
  new QueryParameters(request, []).finish();
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * The `Idempotency-Key` header, when sent: 1 to 255 printable ASCII characters (what every
 * client can send, and what a log or a support ticket can quote as it is). Otherwise 422.
 */
export function idempotencyKeyOf(request: Request): string | undefined {
  const key = request.headers.get("idempotency-key") ?? undefined;
  if (key === undefined) return undefined;
  const invalid = (code: string, message: string) =>
    new Problem("validation", `Idempotency-Key ${message}`, { errors: [{ field: "Idempotency-Key", code, message }] });
  if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) throw invalid("invalid_length", `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  if (!/^[\x20-\x7e]+$/.test(key)) throw invalid("invalid_characters", "must be printable ASCII characters");
  return key;
}
