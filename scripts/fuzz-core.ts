/**
 * HTTP fuzzing of POST /v1/payments against a running paystream, with an oracle.
 *
 * fast-check generates the requests (bodies, content types, Idempotency-Key and Authorization
 * headers) from a seed, so a run is reproducible. Each request is sent as raw bytes and its
 * answer is compared with what the contract says it must be, computed independently of the
 * service except for the field rules, which come from the pure validator the service uses
 * (`validatePaymentRequest`): the point is to prove the HTTP path — parsing, limits,
 * idempotency, storage — never answers differently from that validator, never answers 5xx,
 * and never echoes a card number.
 */
import fc from "fast-check";
import postgres from "postgres";
import { passesLuhn, validatePaymentRequest } from "../modules/intake";
import { createPostgresDatabase } from "../tests/support/db";
import { startService } from "../tests/support/service-process";

export interface FuzzOptions {
  baseUrl: string;
  runs: number;
  seed: number;
  /** Rows in the `payments` table, read directly from the database. */
  countPaymentRows: () => Promise<number>;
  apiKey?: string;
  /** Requests in flight at once. Requests sharing an Idempotency-Key are always sent one after another. */
  concurrency?: number;
  onProgress?: (done: number, runs: number) => void;
}

export type ViolationKind =
  | "server_error"
  | "no_answer"
  | "not_problem_json"
  | "verdict_mismatch"
  | "card_number_exposed"
  | "row_count";

export interface Violation {
  kind: ViolationKind;
  run: number;
  detail: string;
  request?: string;
}

export interface FuzzReport {
  runs: number;
  seed: number;
  durationMs: number;
  statusHistogram: Record<string, number>;
  casesByKind: Record<string, number>;
  created: number;
  replayed: number;
  rowsBefore: number;
  rowsAfter: number;
  violationCounts: Partial<Record<ViolationKind, number>>;
  /** The first violations of each kind, for the report; the counts above are complete. */
  violations: Violation[];
  /** Every Luhn-valid card number sent in `card.number`, so callers can also search logs for them. */
  cardNumbersSent: string[];
}

// ---------------------------------------------------------------------------------------------
// Limits the HTTP layer enforces before the validator runs (modules/intake/body.ts, routes.ts).

const MAX_BODY_BYTES = 64 * 1024;
const MAX_JSON_DEPTH = 8;
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;
/** Fetch strips these from both ends of every header value before it is sent. */
const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** Shown per kind in the report; more would drown the first, most telling ones. */
const VIOLATIONS_KEPT_PER_KIND = 8;

// ---------------------------------------------------------------------------------------------
// Building JSON text that JSON.stringify cannot produce

/** Number text kept verbatim in the body (`1e400`, `-0`, `1.0`), to reach the parser's corners. */
class RawJson {
  constructor(readonly text: string) {}
}

/** Defines an own enumerable key, so `__proto__` is a real key of the object and not its prototype. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function serialize(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(serialize).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object)
      .map((key) => `${JSON.stringify(key)}:${serialize(object[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function deepClone<T>(value: T): T {
  if (value instanceof RawJson || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(deepClone) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) setOwn(copy, key, deepClone((value as Record<string, unknown>)[key]));
  return copy as T;
}

// ---------------------------------------------------------------------------------------------
// Card numbers

interface BrandSpec {
  prefixes: string[];
  lengths: number[];
}

/** IIN prefixes and lengths per brand (docs/CONTRACT.md §3), plus prefixes of no supported brand. */
const BRANDS: BrandSpec[] = [
  { prefixes: ["4"], lengths: [13, 16, 19] },
  { prefixes: ["51", "53", "55", "2221", "2500", "2720"], lengths: [16] },
  { prefixes: ["34", "37"], lengths: [15] },
  { prefixes: ["6011", "65", "644", "649", "622126", "622925"], lengths: [16, 17, 19] },
  { prefixes: ["300", "305", "36", "38", "39"], lengths: [14, 16, 19] },
  { prefixes: ["3528", "3589"], lengths: [16, 19] },
  { prefixes: ["62", "81"], lengths: [16, 19] },
  { prefixes: ["5018", "5020", "6304", "6759", "6763"], lengths: [12, 13, 16, 19] },
  { prefixes: ["1", "7", "9", "2220", "2721", "56", "60", "3000"], lengths: [16] },
];

const SIMULATOR_TEST_CARDS = [
  "4242424242424242",
  "5555555555554444",
  "378282246310005",
  "4000000000000002",
  "4000000000009995",
  "4000000000000127",
  "4000000000000119",
];

function luhnCheckDigit(partial: string): number {
  let sum = 0;
  for (let i = 0; i < partial.length; i++) {
    // The check digit will be appended, so doubling starts with the rightmost digit of `partial`.
    const digit = partial.charCodeAt(partial.length - 1 - i) - 48;
    const doubled = i % 2 === 0 ? digit * 2 : digit;
    sum += doubled > 9 ? doubled - 9 : doubled;
  }
  return (10 - (sum % 10)) % 10;
}

/** Card digits of a random brand (or of none); valid in length and checksum unless `broken`. */
function cardDigits(broken: boolean): fc.Arbitrary<string> {
  return fc
    .record({
      spec: fc.constantFrom(...(broken ? BRANDS : BRANDS.slice(0, -1))),
      prefixIndex: fc.nat(),
      lengthIndex: fc.nat(),
      lengthSkew: broken ? fc.integer({ min: -3, max: 3 }) : fc.constant(0),
      body: fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 24, maxLength: 24 }),
      luhnValid: broken ? fc.boolean() : fc.constant(true),
    })
    .map(({ spec, prefixIndex, lengthIndex, lengthSkew, body, luhnValid }) => {
      const prefix = spec.prefixes[prefixIndex % spec.prefixes.length] as string;
      const length = Math.max(prefix.length + 1, (spec.lengths[lengthIndex % spec.lengths.length] as number) + lengthSkew);
      const partial = (prefix + body).slice(0, length - 1);
      const check = luhnCheckDigit(partial);
      return partial + String(luhnValid ? check : (check + 1) % 10);
    });
}

/** How a person types the digits; the broken styles are not card numbers at all. */
function typed(digits: string, style: string): string {
  const groups = digits.match(/.{1,4}/g) ?? [digits];
  switch (style) {
    case "spaces":
      return groups.join(" ");
    case "dashes":
      return groups.join("-");
    case "padded":
      return ` ${digits}\t`;
    case "double-space":
      return groups.join("  ");
    case "fullwidth":
      return [...digits].map((d) => String.fromCharCode(0xff10 + Number(d))).join("");
    case "letter":
      return `${digits.slice(0, 6)}O${digits.slice(7)}`;
    case "mixed-separators":
      return groups.join(" -");
    default:
      return digits;
  }
}

const validCardNumber: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof({ arbitrary: cardDigits(false), weight: 3 }, { arbitrary: fc.constantFrom(...SIMULATOR_TEST_CARDS), weight: 1 }),
    fc.constantFrom("plain", "plain", "spaces", "dashes", "padded"),
  )
  .map(([digits, style]) => typed(digits, style));

const brokenCardNumber: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(cardDigits(true), cardDigits(false)),
    fc.constantFrom("plain", "plain", "plain", "spaces", "double-space", "fullwidth", "letter", "mixed-separators"),
  )
  .map(([digits, style]) => typed(digits, style));

// ---------------------------------------------------------------------------------------------
// Field values

const NASTY_CHARACTERS = [
  "\u0000", "\u0001", "\u001f", "\u007f", "\u00a0", "\u200b", "\u202e", "\u2028", "\ufeff", "\ud800", "\udfff",
  "😀", "é", "ß", "İ", "𝟘", "٣", "\n", "\t", "\\", '"', "'", "<", "%", "$", "{",
];

const weirdString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: fc.constantFrom(...NASTY_CHARACTERS), maxLength: 8 }),
  fc.constantFrom("", " ", "null", "undefined", "NaN", "-1", "<script>alert(1)</script>", "' or 1=1--", "../../etc/passwd", "${jndi:ldap://x}"),
  fc.integer({ min: 190, max: 1_200 }).map((n) => "x".repeat(n)),
);

const edgeNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 1, 1.5, 0.1, 99_999_999, 100_000_000, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e21, 1e308, 5e-324),
  fc.constantFrom("1e400", "-1e400", "-0", "1.0", "1E2", "0.0000001", "123456789012345678901234567890", "1999.00").map(
    (text) => new RawJson(text),
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const DANGEROUS_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "__defineGetter__"];

const dangerousObject: fc.Arbitrary<Record<string, unknown>> = fc
  .array(fc.tuple(fc.constantFrom(...DANGEROUS_KEYS), fc.oneof(fc.constant({ polluted: true }), fc.jsonValue({ maxDepth: 1 }))), {
    minLength: 1,
    maxLength: 3,
  })
  .map((entries) => {
    const object: Record<string, unknown> = {};
    for (const [key, value] of entries) setOwn(object, key, value);
    return object;
  });

const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  edgeNumber,
  weirdString,
  fc.boolean(),
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(weirdString, { maxLength: 3 }),
  dangerousObject,
);

const VALID_CURRENCIES = ["USD", "usd", "Eur", "JPY", "KRW", "GBP", "chf", "BHD"];
const INVALID_CURRENCIES = ["CLF", "XYZ", "US", "USDD", "", "XXX", "XTS", "XAU", "VES", "ZWL", "HRK", "usd ", "ÜSD"];

/** Odd addresses: RFC-valid ones outside the accepted subset, and plain mistakes. */
const odderEmail: fc.Arbitrary<string> = fc.oneof(
  fc.emailAddress(),
  fc.constantFrom("no-at-sign", "a@b", "a@b.c", "a@@b.com", "a@-b.com", " jane@example.com ", "jané@example.com", "a@[127.0.0.1]"),
  weirdString,
);

const plainMetadata = fc.dictionary(fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }), fc.string({ unit: "grapheme", maxLength: 40 }), { maxKeys: 5 });
const oddMetadata: fc.Arbitrary<unknown> = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 50 }), fc.oneof(fc.string({ maxLength: 600 }), weirdValue), { maxKeys: 24 }),
  fc.dictionary(weirdString, weirdString, { maxKeys: 3 }),
  weirdValue,
);

/** Mostly the valid arbitrary, now and then the other: a body of ~11 such fields is valid about half the time. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: valid, weight: 14 }, { arbitrary: other, weight: 1 }) as fc.Arbitrary<T | U>;
const absent = fc.constant(undefined);

/** A request body that is valid about half the time and one or two fields off the rest. */
const plausibleBody: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    amount: mostly(fc.integer({ min: 1, max: 99_999_999 }), edgeNumber),
    currency: mostly(fc.constantFrom(...VALID_CURRENCIES), fc.constantFrom(...INVALID_CURRENCIES)),
    number: mostly(validCardNumber, brokenCardNumber),
    monthsAhead: mostly(fc.integer({ min: 0, max: 20 * 12 - 1 }), fc.integer({ min: -14, max: 20 * 12 + 14 })),
    monthOverride: mostly(absent, fc.constantFrom(0, 13, -1, 1.5, "12")),
    cvcLength: mostly(fc.constant("right"), fc.constantFrom(2, 3, 4, 5)),
    holderName: mostly(fc.oneof(absent, fc.constant("Jane Doe"), fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 })), weirdString),
    email: mostly(fc.constantFrom("jane@example.com", "a.b+tag@sub.example.co", "JANE@EXAMPLE.COM"), odderEmail),
    name: mostly(fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }), weirdString),
    reference: mostly(fc.oneof(absent, fc.string({ maxLength: 30 })), weirdString),
    description: mostly(fc.oneof(absent, fc.string({ unit: "grapheme", maxLength: 60 })), weirdString),
    metadata: mostly(fc.oneof(absent, plainMetadata), oddMetadata),
  })
  .map((f) => {
    const now = new Date();
    const monthIndex = now.getUTCFullYear() * 12 + now.getUTCMonth() + f.monthsAhead;
    const amexLike = /^\s*3[47]/.test(f.number);
    const cvc = "7".repeat(f.cvcLength === "right" ? (amexLike ? 4 : 3) : f.cvcLength);
    const card: Record<string, unknown> = {
      number: f.number,
      expMonth: f.monthOverride ?? (monthIndex % 12) + 1,
      expYear: Math.floor(monthIndex / 12),
      cvc,
    };
    if (f.holderName !== undefined) card.holderName = f.holderName;
    const customer: Record<string, unknown> = { email: f.email, name: f.name };
    if (f.reference !== undefined) customer.reference = f.reference;
    const body: Record<string, unknown> = { amount: f.amount, currency: f.currency, card, customer };
    if (f.description !== undefined) body.description = f.description;
    if (f.metadata !== undefined) body.metadata = f.metadata;
    return body;
  });

// ---------------------------------------------------------------------------------------------
// Mutations of a body: one field changed, removed or added

const FIELD_PATHS = [
  ["amount"], ["currency"], ["card"], ["card", "number"], ["card", "expMonth"], ["card", "expYear"], ["card", "cvc"],
  ["card", "holderName"], ["customer"], ["customer", "email"], ["customer", "name"], ["customer", "reference"],
  ["description"], ["metadata"],
];

type Mutation =
  | { op: "set"; path: string[]; value: unknown }
  | { op: "delete"; path: string[] }
  | { op: "add"; parent: string[]; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), path: fc.constantFrom(...FIELD_PATHS), value: weirdValue }),
  fc.record({ op: fc.constant("delete" as const), path: fc.constantFrom(...FIELD_PATHS) }),
  fc.record({
    op: fc.constant("add" as const),
    parent: fc.constantFrom<string[]>([], ["card"], ["customer"], ["metadata"]),
    key: fc.oneof(fc.constantFrom(...DANGEROUS_KEYS), fc.string({ maxLength: 70 })),
    value: weirdValue,
  }),
);

function containerAt(body: Record<string, unknown>, path: string[]): Record<string, unknown> | undefined {
  let node: unknown = body;
  for (const key of path) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
    node = Object.getOwnPropertyDescriptor(node, key)?.value;
  }
  return node !== null && typeof node === "object" && !Array.isArray(node) ? (node as Record<string, unknown>) : undefined;
}

function applyMutation(original: Record<string, unknown>, m: Mutation): Record<string, unknown> {
  const body = deepClone(original);
  if (m.op === "add") {
    const parent = m.parent.length === 0 ? body : containerAt(body, m.parent);
    if (parent) setOwn(parent, m.key, m.value);
    return body;
  }
  const parent = containerAt(body, m.path.slice(0, -1));
  const key = m.path[m.path.length - 1] as string;
  if (!parent) return body;
  if (m.op === "delete") delete parent[key];
  else setOwn(parent, key, m.value);
  return body;
}

/** Parsed payment bodies as this fuzz run sends them (plausible, or up to five fields changed), for checks of other judges of the body (the OpenAPI schema). */
export const fuzzedPaymentBody: fc.Arbitrary<unknown> = fc
  .oneof(plausibleBody, fc.tuple(plausibleBody, fc.array(mutation, { minLength: 1, maxLength: 5 })).map(([b, ms]) => ms.reduce(applyMutation, b)))
  .map((body) => JSON.parse(serialize(body)) as unknown);

// ---------------------------------------------------------------------------------------------
// Whole requests

interface FuzzRequest {
  kind: string;
  contentType: string | undefined;
  body: Uint8Array;
  idempotencyKey: string | undefined;
  /** undefined: the right key. */
  authorization?: string;
}

const encoder = new TextEncoder();
const jsonRequest = (kind: string, text: string, contentType = "application/json"): Omit<FuzzRequest, "idempotencyKey"> => ({
  kind,
  contentType,
  body: encoder.encode(text),
});

/** Bodies nested far deeper than any payment, at depths around the parser's limit and well beyond. */
const deepBody = fc
  .record({ depth: fc.oneof(fc.integer({ min: 6, max: 11 }), fc.integer({ min: 12, max: 3_000 })), inArray: fc.boolean(), under: fc.constantFrom("", "metadata", "card") })
  .map(({ depth, inArray, under }) => {
    let text = '"leaf"';
    for (let i = 0; i < depth; i++) text = inArray ? `[${text}]` : `{"a":${text}}`;
    return under === "" ? text : `{"amount":1,"currency":"USD","${under}":${text}}`;
  });

/** Text that is mostly not JSON: truncated, spliced, with JS-only syntax, or not JSON at all. */
const malformedText = fc.oneof(
  fc.tuple(plausibleBody, fc.nat()).map(([body, cut]) => {
    const text = serialize(body);
    return text.slice(0, cut % text.length);
  }),
  fc.tuple(plausibleBody, fc.nat(), fc.constantFrom(",", "}", "]", '"', "'", "\\", "\u0000", ":", "NaN", "undefined", "/*x*/")).map(
    ([body, at, insert]) => {
      const text = serialize(body);
      const i = at % (text.length + 1);
      return text.slice(0, i) + insert + text.slice(i);
    },
  ),
  plausibleBody.map((body) => `\ufeff${serialize(body)}`),
  plausibleBody.map((body) => serialize(body).replace('"amount":', '"amount":"dup","amount":')),
  plausibleBody.map((body) => serialize(body).replaceAll('"', "'")),
  fc.constantFrom("", " ", "null", "true", "0", '""', "[]", "{}", "{", "}", "[", "NaN", "Infinity", "{a:1}", "{\"amount\":1,}", "\u0000"),
  fc.string({ maxLength: 100 }),
  fc.string({ unit: "binary", maxLength: 60 }),
);

const CONTENT_TYPES = [
  undefined, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
  "application/jsonx", "application/json-patch+json", "application/problem+json", "application/vnd.api+json", "json",
  "application/json; charset=utf-8", "APPLICATION/JSON", "application/json ;charset=latin1", "application/json;", "*/*",
];

const requestWithoutKey: fc.Arbitrary<Omit<FuzzRequest, "idempotencyKey">> = fc.oneof(
  { arbitrary: plausibleBody.map((b) => jsonRequest("plausible", serialize(b))), weight: 20 },
  {
    arbitrary: fc.tuple(plausibleBody, mutation).map(([b, m]) => jsonRequest(`mutated:${m.op}`, serialize(applyMutation(b, m)))),
    weight: 30,
  },
  {
    arbitrary: fc.tuple(plausibleBody, fc.array(mutation, { minLength: 2, maxLength: 5 })).map(([b, ms]) =>
      jsonRequest("mutated:many", serialize(ms.reduce(applyMutation, b))),
    ),
    weight: 8,
  },
  {
    arbitrary: fc.tuple(plausibleBody, dangerousObject, fc.constantFrom<string[]>([], ["card"], ["customer"], ["metadata"])).map(([b, danger, where]) => {
      const body = deepClone(b);
      const target = where.length === 0 ? body : containerAt(body, where);
      if (target) for (const key of Object.keys(danger)) setOwn(target, key, danger[key]);
      return jsonRequest("prototype-keys", serialize(body));
    }),
    weight: 8,
  },
  { arbitrary: fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.object({ maxDepth: 3 })).map((v) => jsonRequest("random-json", serialize(v))), weight: 6 },
  { arbitrary: deepBody.map((text) => jsonRequest("deep", text)), weight: 5 },
  { arbitrary: malformedText.map((text) => jsonRequest("malformed", text)), weight: 10 },
  {
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => ({ kind: "bytes", contentType: "application/json", body: bytes })),
    weight: 2,
  },
  {
    arbitrary: fc.tuple(plausibleBody, fc.constantFrom(...CONTENT_TYPES)).map(([b, type]) => jsonRequest("content-type", serialize(b), type)),
    weight: 7,
  },
  {
    // Over the 64 KiB limit, and now and then over 1 MiB, Bun's default cap on request bodies.
    arbitrary: fc
      .tuple(plausibleBody, fc.oneof({ arbitrary: fc.integer({ min: 60_000, max: 200_000 }), weight: 9 }, { arbitrary: fc.integer({ min: 1_048_000, max: 1_300_000 }), weight: 1 }))
      .map(([b, size]) => jsonRequest("oversize", serialize({ ...b, description: "d".repeat(size) }))),
    weight: 2,
  },
);

const PRINTABLE_ASCII = fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code));

interface KeyPlan {
  key: string | undefined;
  /** Index into the shared valid bodies, for requests built to replay or collide. */
  pooledBody?: number;
}

/**
 * Idempotency keys: mostly none; random ones of every length up to well past the limit; and a
 * small shared pool so keys are reused — with the same body (a replay), a re-ordered copy of it
 * (still a replay), or another body (409).
 */
function keyPlan(poolPrefix: string): fc.Arbitrary<KeyPlan> {
  const pooled = fc.integer({ min: 0, max: 11 }).map((i) => `${poolPrefix}-${i}`);
  return fc.oneof(
    { arbitrary: fc.constant({ key: undefined }), weight: 50 },
    { arbitrary: fc.string({ unit: PRINTABLE_ASCII, minLength: 1, maxLength: 255 }).map((key) => ({ key })), weight: 12 },
    { arbitrary: fc.string({ unit: PRINTABLE_ASCII, minLength: 256, maxLength: 4_000 }).map((key) => ({ key })), weight: 4 },
    { arbitrary: fc.constantFrom("", " ", "\t", "  x  ").map((key) => ({ key })), weight: 2 },
    { arbitrary: pooled.map((key) => ({ key })), weight: 4 },
    { arbitrary: fc.tuple(pooled, fc.integer({ min: 0, max: 2 })).map(([key, pooledBody]) => ({ key, pooledBody })), weight: 12 },
  );
}

const AUTHORIZATIONS = ["", "Bearer", "Bearer ", "Basic c2tfdGVzdF9sb2NhbDo=", "Bearer sk_test_wrong", "Token sk_test_local", `Bearer ${"k".repeat(3_000)}`];

/** Three fixed valid bodies; the third is the first with its keys in another order. */
function pooledBodies(): string[] {
  const first = {
    amount: 4200,
    currency: "EUR",
    card: { number: "4242 4242 4242 4242", expMonth: 12, expYear: new Date().getUTCFullYear() + 3, cvc: "123" },
    customer: { email: "pool@example.com", name: "Pool" },
    metadata: { pool: "1" },
  };
  const second = { ...first, amount: 4201 };
  const reordered = { metadata: { pool: "1" }, customer: { name: "Pool", email: "pool@example.com" }, card: first.card, currency: "EUR", amount: 4200 };
  return [first, second, reordered].map(serialize);
}

function requestArbitrary(poolPrefix: string): fc.Arbitrary<FuzzRequest> {
  const pool = pooledBodies();
  return fc
    .tuple(
      requestWithoutKey,
      keyPlan(poolPrefix),
      fc.oneof({ arbitrary: fc.constant(undefined), weight: 40 }, { arbitrary: fc.constantFrom(...AUTHORIZATIONS), weight: 1 }),
    )
    .map(([request, plan, authorization]) => {
      const base = plan.pooledBody === undefined ? request : jsonRequest("pooled-key", pool[plan.pooledBody] as string);
      return { ...base, idempotencyKey: plan.key, authorization };
    });
}

// ---------------------------------------------------------------------------------------------
// The oracle

type Expected =
  | { status: 401 | 400 | 413 | 409; code: string }
  | { status: 422; errors: string[] }
  | { status: 202; create: { key: string | undefined; canonical: string } }
  | { status: 202; replayOf: string };

/** Nesting depth as the intake counts it: edges from the root to the deepest value. */
function nestingDepth(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, 1 + nestingDepth(child));
  return deepest;
}

/** Equal for equal JSON values whatever the key order: what "the same body" means for idempotency. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(object[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

const errorSet = (errors: { field: string; code: string }[]) => errors.map((e) => `${e.field}: ${e.code}`).sort();

/** What the contract says the answer must be, given the keys the service has already seen. */
function expectedAnswer(request: FuzzRequest, knownKeys: Map<string, { canonical: string; paymentId: string }>): Expected {
  if (request.authorization !== undefined) return { status: 401, code: "unauthorized" };
  const key = request.idempotencyKey?.replace(HTTP_WHITESPACE, "");
  if (key !== undefined && (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH))
    return { status: 422, errors: ["Idempotency-Key: invalid_length"] };
  if (request.contentType === undefined || !JSON_MEDIA_TYPE.test(request.contentType))
    return { status: 400, code: "unsupported_media_type" };
  if (request.body.byteLength > MAX_BODY_BYTES) return { status: 413, code: "payload_too_large" };
  let parsed: unknown;
  try {
    // The service reads the bytes as UTF-8 exactly like this, keeping a byte-order mark.
    parsed = JSON.parse(Buffer.from(request.body).toString("utf8"));
  } catch {
    return { status: 400, code: "malformed_request" };
  }
  if (nestingDepth(parsed) > MAX_JSON_DEPTH) return { status: 400, code: "malformed_request" };
  const body = canonical(parsed);
  const earlier = key === undefined ? undefined : knownKeys.get(key);
  if (earlier) return earlier.canonical === body ? { status: 202, replayOf: earlier.paymentId } : { status: 409, code: "idempotency_key_reused" };
  const verdict = validatePaymentRequest(parsed, new Date());
  return verdict.ok ? { status: 202, create: { key, canonical: body } } : { status: 422, errors: errorSet(verdict.errors) };
}

/** The `card.number` the request carried, as digits, when it could be a full card number. */
function cardDigitsSent(request: FuzzRequest): string | undefined {
  try {
    const number = (JSON.parse(Buffer.from(request.body).toString("utf8")) as { card?: { number?: unknown } })?.card?.number;
    if (typeof number !== "string") return undefined;
    const digits = number.replace(/[^0-9]/g, "");
    return digits.length >= 12 ? digits : undefined;
  } catch {
    return undefined;
  }
}

function describeRequest(request: FuzzRequest): string {
  const text = Buffer.from(request.body).toString("utf8");
  const shown = text.length > 400 ? `${text.slice(0, 400)}… (${request.body.byteLength} bytes)` : text;
  const key = request.idempotencyKey === undefined ? "none" : JSON.stringify(request.idempotencyKey.slice(0, 80)) + (request.idempotencyKey.length > 80 ? `… (${request.idempotencyKey.length} chars)` : "");
  return `kind=${request.kind} content-type=${JSON.stringify(request.contentType ?? null)} idempotency-key=${key} authorization=${request.authorization === undefined ? "valid" : JSON.stringify(request.authorization.slice(0, 40))} body=${JSON.stringify(shown)}`;
}

// ---------------------------------------------------------------------------------------------
// Running

/** FNV-1a: a stable lane for each key, so the requests sharing a key go out in generated order. */
function laneOf(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { baseUrl, runs, seed } = options;
  const apiKey = options.apiKey ?? "sk_test_local";
  const lanes = options.concurrency ?? 8;
  const started = performance.now();
  // Pooled keys are unique to this seed so several runs against one service do not interfere.
  const requests = fc.sample(requestArbitrary(`fuzz-${seed.toString(36)}-${Date.now().toString(36)}`), { seed, numRuns: runs });

  const statusHistogram: Record<string, number> = {};
  const casesByKind: Record<string, number> = {};
  const violationCounts: Partial<Record<ViolationKind, number>> = {};
  const violations: Violation[] = [];
  const knownKeys = new Map<string, { canonical: string; paymentId: string }>();
  const cardNumbersSent = new Set<string>();
  let created = 0;
  let replayed = 0;
  let done = 0;

  const violation = (kind: ViolationKind, run: number, detail: string, request?: FuzzRequest) => {
    violationCounts[kind] = (violationCounts[kind] ?? 0) + 1;
    if ((violationCounts[kind] ?? 0) <= VIOLATIONS_KEPT_PER_KIND)
      violations.push({ kind, run, detail, ...(request ? { request: describeRequest(request) } : {}) });
  };

  async function send(run: number, request: FuzzRequest): Promise<void> {
    casesByKind[request.kind] = (casesByKind[request.kind] ?? 0) + 1;
    const expected = expectedAnswer(request, knownKeys);
    const cardDigits = cardDigitsSent(request);
    if (cardDigits && passesLuhn(cardDigits)) cardNumbersSent.add(cardDigits);
    const headers: Record<string, string> = { authorization: request.authorization ?? `Bearer ${apiKey}` };
    if (request.authorization === "") delete headers.authorization;
    if (request.contentType !== undefined) headers["content-type"] = request.contentType;
    if (request.idempotencyKey !== undefined) headers["idempotency-key"] = request.idempotencyKey;

    let response: Response;
    let text: string;
    try {
      response = await fetch(`${baseUrl}/v1/payments`, { method: "POST", headers, body: request.body });
      text = await response.text();
    } catch (error) {
      violation("no_answer", run, String(error), request);
      return;
    }
    const status = response.status;
    statusHistogram[status] = (statusHistogram[status] ?? 0) + 1;
    if (status >= 500) violation("server_error", run, `${status} ${text.slice(0, 300)}`, request);
    if (cardDigits && text.includes(cardDigits)) violation("card_number_exposed", run, `answer ${status} contains the card number`, request);

    let answer: Record<string, unknown> | undefined;
    try {
      answer = JSON.parse(text) as Record<string, unknown>;
    } catch {
      answer = undefined;
    }
    if (status < 200 || status > 299) {
      const type = response.headers.get("content-type") ?? "";
      if (!type.startsWith("application/problem+json") || answer?.status !== status)
        violation("not_problem_json", run, `${status} content-type=${JSON.stringify(type)} body=${JSON.stringify(text.slice(0, 200))}`, request);
    }

    const mismatch = (detail: string) => violation("verdict_mismatch", run, `expected ${describeExpected(expected)}, got ${status}: ${detail}`, request);
    // A 5xx is already reported as such; counting it twice would only blur the figures.
    if (status >= 500) return;
    // A wrong key may be throttled (429) once the client has failed often enough; that is its verdict too.
    if (expected.status === 401 && status === 429 && answer?.code === "rate_limited") return;
    if (status !== expected.status) return mismatch(text.slice(0, 300));
    if (expected.status === 422) {
      const got = errorSet(Array.isArray(answer?.errors) ? (answer.errors as { field: string; code: string }[]) : []);
      if (JSON.stringify(got) !== JSON.stringify(expected.errors)) mismatch(`errors ${JSON.stringify(got)}`);
    } else if (expected.status === 202) {
      const id = typeof answer?.id === "string" ? answer.id : undefined;
      const isReplay = response.headers.get("idempotent-replayed") === "true";
      if ("replayOf" in expected) {
        replayed++;
        if (!isReplay || id !== expected.replayOf) mismatch(`id ${id}, idempotent-replayed=${isReplay}`);
      } else {
        if (isReplay || id === undefined || answer?.status !== "PENDING") return mismatch(`id ${id}, status ${String(answer?.status)}, idempotent-replayed=${isReplay}`);
        created++;
        if (expected.create.key !== undefined) knownKeys.set(expected.create.key, { canonical: expected.create.canonical, paymentId: id });
      }
    } else if (answer !== undefined && answer.code !== expected.code) {
      mismatch(`code ${String(answer?.code)}`);
    }
  }

  const rowsBefore = await options.countPaymentRows();
  const queues: { run: number; request: FuzzRequest }[][] = Array.from({ length: lanes }, () => []);
  requests.forEach((request, run) => {
    const key = request.idempotencyKey?.replace(HTTP_WHITESPACE, "");
    queues[key ? laneOf(key, lanes) : run % lanes]?.push({ run, request });
  });
  await Promise.all(
    queues.map(async (queue) => {
      for (const { run, request } of queue) {
        await send(run, request);
        done++;
        if (done % 500 === 0) options.onProgress?.(done, runs);
      }
    }),
  );
  const rowsAfter = await options.countPaymentRows();
  if (rowsAfter - rowsBefore !== created)
    violation("row_count", -1, `${rowsAfter - rowsBefore} payment rows were written, but ${created} answers created a payment`);

  return {
    runs,
    seed,
    durationMs: Math.round(performance.now() - started),
    statusHistogram,
    casesByKind,
    created,
    replayed,
    rowsBefore,
    rowsAfter,
    violationCounts,
    violations,
    cardNumbersSent: [...cardNumbersSent],
  };
}

function describeExpected(expected: Expected): string {
  if (expected.status === 422) return `422 ${JSON.stringify(expected.errors)}`;
  if (expected.status === 202) return "replayOf" in expected ? `202 replay of ${expected.replayOf}` : "202 created";
  return `${expected.status} ${expected.code}`;
}

export function totalViolations(report: FuzzReport): number {
  return Object.values(report.violationCounts).reduce((sum, n) => sum + (n ?? 0), 0);
}

/** The human-readable report: figures first, then the first violations of each kind. */
export function formatFuzzReport(report: FuzzReport): string {
  const lines = [
    `fuzz: ${report.runs} requests, seed ${report.seed}, ${(report.durationMs / 1000).toFixed(1)} s (${Math.round(report.runs / (report.durationMs / 1000))} req/s)`,
    `  statuses:   ${Object.entries(report.statusHistogram).map(([s, n]) => `${s}×${n}`).join("  ")}`,
    `  cases:      ${Object.entries(report.casesByKind).sort(([, a], [, b]) => b - a).map(([k, n]) => `${k}×${n}`).join("  ")}`,
    `  payments:   ${report.created} created, ${report.replayed} idempotent replays; rows ${report.rowsBefore} → ${report.rowsAfter} (+${report.rowsAfter - report.rowsBefore})`,
    `  violations: ${totalViolations(report)}${totalViolations(report) ? ` (${Object.entries(report.violationCounts).map(([k, n]) => `${k}: ${n}`).join(", ")})` : ""}`,
  ];
  for (const v of report.violations) {
    lines.push(`  - [${v.kind}] run ${v.run}: ${v.detail}`);
    if (v.request) lines.push(`      ${v.request}`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The real program to fuzz

export interface FuzzTarget {
  baseUrl: string;
  countPaymentRows(): Promise<number>;
  /** Everything the program logged so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** The real program (`--role=all`) on a fresh PostgreSQL database, rate limiting and the failed-authentication throttle off. */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  const database = await createPostgresDatabase();
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    const service = await startService({ role: "all", env: { DATABASE_URL: database.url, RATE_LIMIT_RPS: "0", AUTH_FAILURE_LIMIT: "0", SIMULATOR_LATENCY_MS: "1" } });
    return {
      baseUrl: service.url,
      countPaymentRows: async () => ((await sql`select count(*)::int as n from payments`)[0]?.n as number) ?? 0,
      logs: () => service.output(),
      async stop() {
        await service.stop();
        await sql.end();
        await database.drop();
      },
    };
  } catch (error) {
    await sql.end();
    await database.drop();
    throw error;
  }
}

/** The card numbers of a run that appear in a log text (the contract: never logged). */
export function cardNumbersInLogs(report: FuzzReport, logs: string): string[] {
  return report.cardNumbersSent.filter((digits) => logs.includes(digits));
}
