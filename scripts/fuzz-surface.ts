/**
 * HTTP fuzzing of everything around the bodies: path ids, query strings, headers and framing,
 * on every route of a running paystream.
 *
 * The routes come from the service itself (its OpenAPI document, plus the few undocumented
 * pages), so a route added later is fuzzed without anyone listing it here. fast-check builds
 * each request from a seed; requests fetch cannot send (control characters or bytes above 0xFF
 * in a header, raw bytes in the target, a Content-Length that lies) go over a plain socket.
 *
 * What every answer must satisfy:
 * - never 5xx, whoever answers (the application or Bun's HTTP parser);
 * - from the application: a sane `X-Request-Id` (the caller's only when it is a safe token), and
 *   every error as problem+json carrying its own status (the dashboard's sign-in page excepted);
 * - the verdict the contract gives, where the request decides it: a wrong key 401 (before
 *   anything else is looked at), a path id that cannot be an id 404, an unknown, repeated or
 *   unreadable query parameter on a /v1 route 422, a bad Idempotency-Key 422, a body that is
 *   not JSON by its Content-Type 400 (or 415).
 * The program's log is checked separately (fuzz.ts, tests): nothing a client sends may produce
 * an error-level line.
 */
import fc from "fast-check";
import { type RawOutcome, type RawRequest, sendRaw } from "../tests/support/raw-http";

export interface SurfaceRoute {
  method: string;
  /** OpenAPI-style template: `/v1/payments/{id}`. */
  template: string;
  /** Query parameters the route documents. */
  query: string[];
  /** Takes a body (documented request body). */
  body: boolean;
  /** Documents an Idempotency-Key header. */
  idempotencyKey: boolean;
  /** Takes no API key (OpenAPI `security: []`): a wrong key decides nothing. */
  keyless?: boolean;
  /** The id prefix each path parameter takes, where the document's example shows it (`pay` for `/v1/payments/{id}`). */
  idPrefixes?: Record<string, string>;
  /** For people, not programs (dashboard pages and forms): its errors may be HTML or text, not problem+json. */
  page?: boolean;
}

/** Routes the OpenAPI document leaves out on purpose; fuzzed all the same (a route not served is 404, also fine). */
const UNDOCUMENTED_ROUTES: SurfaceRoute[] = [
  { method: "GET", template: "/dashboard", query: ["key"], body: false, idempotencyKey: false, page: true },
  { method: "GET", template: "/dashboard/events", query: ["key"], body: false, idempotencyKey: false },
  { method: "POST", template: "/dashboard/sign-in", query: [], body: true, idempotencyKey: false, page: true },
  { method: "POST", template: "/dashboard/sign-out", query: [], body: true, idempotencyKey: false, page: true },
  { method: "GET", template: "/metrics", query: [], body: false, idempotencyKey: false },
  { method: "GET", template: "/docs", query: [], body: false, idempotencyKey: false, page: true },
  { method: "GET", template: "/docs/json", query: [], body: false, idempotencyKey: false },
];

interface OpenApiOperation {
  parameters?: { name: string; in: string; schema?: { examples?: unknown[] } }[];
  requestBody?: unknown;
  /** `[]`: the route takes no API key (the gateways' event routes, authenticated by their signatures). */
  security?: unknown[];
}

/** Every route of the service: its OpenAPI document plus the undocumented pages. */
export async function discoverRoutes(baseUrl: string): Promise<SurfaceRoute[]> {
  const response = await fetch(`${baseUrl}/docs/json`);
  if (!response.ok) throw new Error(`GET /docs/json answered ${response.status}`);
  const spec = (await response.json()) as { paths: Record<string, Record<string, OpenApiOperation>> };
  const routes: SurfaceRoute[] = [];
  for (const [template, operations] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const parameters = operation.parameters ?? [];
      routes.push({
        method: method.toUpperCase(),
        template,
        query: parameters.filter((p) => p.in === "query").map((p) => p.name),
        body: operation.requestBody !== undefined,
        keyless: Array.isArray(operation.security) && operation.security.length === 0,
        idempotencyKey: parameters.some((p) => p.in === "header" && p.name.toLowerCase() === "idempotency-key"),
        idPrefixes: Object.fromEntries(
          parameters.flatMap((p) => {
            const example = p.schema?.examples?.[0];
            return p.in === "path" && typeof example === "string" && ID_SHAPE.test(example) ? [[p.name, example.slice(0, example.indexOf("_"))]] : [];
          }),
        ),
      });
    }
  }
  return [...routes, ...UNDOCUMENTED_ROUTES];
}

// ---------------------------------------------------------------------------------------------
// Bytes and their spellings

const HEX = (byte: number) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
const UNRESERVED = /[A-Za-z0-9_.~-]/;

/** UTF-8 of every code unit, lone surrogates included (as WTF-8 writes them: ED A0 80 …). */
function wtf8(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    if (code < 0x80) out.push(code);
    else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else out.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
  }
  return out;
}

/** Percent-encodes everything but unreserved ASCII, so the text survives any URL parser intact. */
const encodeAll = (text: string) =>
  wtf8(text)
    .map((b) => (b < 0x80 && UNRESERVED.test(String.fromCharCode(b)) ? String.fromCharCode(b) : HEX(b)))
    .join("");

/** Percent sequences that decode to something a database or a decoder chokes on, and broken ones. */
const NASTY_SEQUENCES = [
  "%00", "%01", "%1F", "%7F", "%C0%80", "%C0%AF", "%E0%80%80", "%ED%A0%80", "%ED%BF%BF", "%ED%A0%80%ED%B0%80",
  "%F4%90%80%80", "%F8%88%80%80%80", "%FF", "%FE%FF", "%C3", "%E2%80%AE", "%E2%80%8B", "%EF%BB%BF", "%EF%BF%BF",
  "%0D%0A", "%2F", "%5C", "%2E%2E%2F", "%25", "%25%30%30", "%", "%Z", "%0", "%%", "%u0000", "%G0", "%22", "%27",
  "%3Cscript%3E", "%3B", "%2C", "%20", "+", "*", "'%20or%201%3D1--", "%24%7Bjndi%7D",
];

const ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const PREFIXES = ["pay", "evt", "re", "whe", "del", "cus"];
/** What any id of the API looks like (modules/payments/ids.ts): prefix, underscore, 26 of ID_ALPHABET. */
const ID_SHAPE = /^[a-z]{2,8}_[0-9a-hjkmnp-tv-z]{26}$/;

const idBody = fc.string({ unit: fc.constantFrom(...ID_ALPHABET), minLength: 26, maxLength: 26 });
const wellFormedId = fc.tuple(fc.constantFrom(...PREFIXES), idBody).map(([prefix, body]) => `${prefix}_${body}`);

interface Segment {
  /** As it goes on the wire (after `/`): percent-encoded, or raw Latin-1 bytes for the socket. */
  wire: string;
  label: string;
  /** Needs the socket: raw bytes fetch would re-encode. */
  raw: boolean;
}

const seg = (label: string, raw = false) => (wire: string): Segment => ({ wire, label, raw });

const hostileSegment: fc.Arbitrary<Segment> = fc.oneof(
  // A valid-looking id with one nasty sequence put in or swapped for one character.
  fc
    .tuple(wellFormedId, fc.nat(), fc.constantFrom(...NASTY_SEQUENCES), fc.boolean())
    .map(([id, at, nasty, replace]) => {
      const i = 4 + (at % 27);
      return id.slice(0, i) + nasty + id.slice(replace ? i + 1 : i);
    })
    .map(seg("id+nasty")),
  fc.array(fc.constantFrom(...NASTY_SEQUENCES, "pay_", "a", "0", "_"), { minLength: 1, maxLength: 8 }).map((parts) => parts.join("")).map(seg("nasty")),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => [...b].map(HEX).join("")).map(seg("bytes")),
  fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 40 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }))
    .map(encodeAll)
    .map(seg("unicode")),
  fc
    .tuple(fc.constantFrom("a", "0", "%00", "%ED%A0%80", "pay_", "%C0%80"), fc.integer({ min: 100, max: 4_000 }))
    .map(([unit, n]) => unit.repeat(n))
    .map(seg("long")),
  fc
    .tuple(wellFormedId, fc.constantFrom("upper", "short", "long", "excluded-letter", "no-prefix", "double-underscore", "trailing-dot"))
    .map(([id, how]) => {
      switch (how) {
        case "upper":
          return id.toUpperCase();
        case "short":
          return id.slice(0, -1);
        case "long":
          return `${id}0`;
        case "excluded-letter":
          return `${id.slice(0, -1)}u`;
        case "no-prefix":
          return id.slice(id.indexOf("_") + 1);
        case "double-underscore":
          return id.replace("_", "__");
        default:
          return `${id}.`;
      }
    })
    .map(seg("near-miss")),
  // Unencoded bytes: UTF-8 and Latin-1 as they are, which only a socket sends unchanged.
  fc
    .array(fc.oneof(fc.integer({ min: 0x80, max: 0xff }), fc.constantFrom(...[..."azAZ09_-.~!$&'()*+,;=:@"].map((c) => c.charCodeAt(0)))), {
      minLength: 1,
      maxLength: 40,
    })
    .map((b) => String.fromCharCode(...b))
    .map(seg("raw-bytes", true)),
);

const segmentFor: fc.Arbitrary<Segment> = fc.oneof(
  { arbitrary: hostileSegment, weight: 8 },
  { arbitrary: wellFormedId.map(seg("well-formed")), weight: 1 },
);

/** What the server's router will hand the route as the id, as far as it can be known. */
function decodedSegment(segment: Segment): string | undefined {
  if (segment.raw) return undefined;
  try {
    return decodeURIComponent(segment.wire);
  } catch {
    return undefined;
  }
}

/** A segment a URL parser would resolve away (`.`, `..`) or drop: it would address another route. */
function movesTheRoute(segment: Segment): boolean {
  const decoded = segment.raw ? segment.wire : segment.wire.replace(/%2e/gi, ".");
  return decoded === "" || decoded === "." || decoded === "..";
}

// ---------------------------------------------------------------------------------------------
// Query strings

const QUERY_VALUES: fc.Arbitrary<{ wire: string; label: string }> = fc.oneof(
  fc
    .constantFrom(
      "0", "1", "20", "100", "101", "-1", "1.5", "1e2", "0x10", "+5", " 5", "5 ", "007", "99999999999999999999999", "-0", "NaN",
      "Infinity", "", "١٠", "５", "1,2", "[1]", "true", "null",
    )
    .map((v) => ({ wire: encodeAll(v), label: "number" })),
  fc
    .constantFrom("completed", "COMPLETED", "Failed", "pending", "complete", "FAILED,COMPLETED", "ＣＯＭＰＬＥＴＥＤ", "İ", "*", "%")
    .map((v) => ({ wire: encodeAll(v), label: "enum" })),
  wellFormedId.map((id) => ({ wire: id, label: "id" })),
  hostileSegment.filter((s) => !s.raw).map((s) => ({ wire: s.wire, label: `hostile:${s.label}` })),
  fc.integer({ min: 2_000, max: 12_000 }).map((n) => ({ wire: "9".repeat(n), label: "long" })),
);

interface QueryPart {
  wire: string;
  label: string;
}

function queryPart(accepted: string[]): fc.Arbitrary<QueryPart> {
  const known = accepted.length > 0 ? fc.constantFrom(...accepted) : fc.constant("limit");
  const name: fc.Arbitrary<{ wire: string; label: string }> = fc.oneof(
    { arbitrary: known.map((n) => ({ wire: n, label: "known" })), weight: 6 },
    { arbitrary: known.map((n) => ({ wire: `${n}%5B%5D`, label: "array" })), weight: 1 },
    { arbitrary: known.map((n) => ({ wire: `${n}[0]`, label: "array" })), weight: 1 },
    { arbitrary: fc.constantFrom("key", "expand", "stauts", "Limit", "id", "_", "__proto__", "constructor").map((n) => ({ wire: n, label: "unknown" })), weight: 1 },
    { arbitrary: fc.constantFrom(...NASTY_SEQUENCES).map((n) => ({ wire: n, label: "nasty-name" })), weight: 1 },
  );
  return fc.oneof(
    { arbitrary: fc.tuple(name, QUERY_VALUES).map(([n, v]) => ({ wire: `${n.wire}=${v.wire}`, label: `${n.label}=${v.label}` })), weight: 12 },
    { arbitrary: name.map((n) => ({ wire: n.wire, label: `${n.label}-no-value` })), weight: 1 },
    { arbitrary: fc.constantFrom("", "=", "==x", "&", "%", "=%00", "a=b=c").map((w) => ({ wire: w, label: "structure" })), weight: 1 },
  );
}

function queryFor(route: SurfaceRoute): fc.Arbitrary<QueryPart[]> {
  return fc.oneof({ arbitrary: fc.constant<QueryPart[]>([]), weight: 2 }, { arbitrary: fc.array(queryPart(route.query), { minLength: 1, maxLength: 5 }), weight: 5 });
}

/**
 * Whether a /v1 route must refuse this query with 422 (contract: malformed → 422, consistently):
 * a parameter it does not take, one given twice, or a value no parameter could have (empty,
 * or holding anything but letters, digits and `_`). Other values may be right or wrong.
 */
function queryIsInvalid(wire: string, accepted: string[]): boolean {
  const params = new URLSearchParams(wire);
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (!accepted.includes(name) || seen.has(name)) return true;
    seen.add(name);
    if (!/^[A-Za-z0-9_]+$/.test(value)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Headers

interface HeaderValue {
  value: string;
  label: string;
}

const hv = (label: string) => (value: string): HeaderValue => ({ value, label });
const CONTROL = fc.integer({ min: 0, max: 0x1f }).filter((c) => c !== 0x09).map((c) => String.fromCharCode(c));
const LATIN1_HIGH = fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c));
/** Above 0xFF: cannot be a header value at all; the socket sends its UTF-8 bytes (as a client would). */
const WIDE = fc.constantFrom("€", "😀", "\u2028", "\ud800", "Ā");

/** A hostile piece: the characters HTTP headers are worst at. */
const hostilePiece: fc.Arbitrary<string> = fc.oneof(
  CONTROL,
  fc.constant("\u0000"),
  fc.constant("\u007f"),
  LATIN1_HIGH,
  WIDE,
  fc.constantFrom("\r\nX-Injected: 1", "\n", "\r", '"', "\\", ",", ";", "<script>", "${jndi:ldap://x}"),
);

function withHostilePiece(base: string): fc.Arbitrary<string> {
  return fc.tuple(fc.nat(), hostilePiece).map(([at, piece]) => {
    const i = at % (base.length + 1);
    return base.slice(0, i) + piece + base.slice(i);
  });
}

function authorizationValues(apiKey: string): fc.Arbitrary<HeaderValue> {
  return fc.oneof(
    fc.constantFrom("", "Bearer", "Bearer ", "Basic c2tfdGVzdF9sb2NhbDo=", "Token x", `${apiKey}`, `Bearer ${apiKey} extra`, `Bearer ${apiKey},${apiKey}`).map(hv("shape")),
    withHostilePiece(`Bearer ${apiKey}`)
      .filter((v) => v.trim() !== `Bearer ${apiKey}`)
      .map(hv("hostile-key")),
    fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).map((s) => `Bearer ${s}`).filter((v) => v.trim() !== `Bearer ${apiKey}`).map(hv("random-key")),
    fc.integer({ min: 513, max: 9_000 }).map((n) => `Bearer ${"k".repeat(n)}`).map(hv("long-key")),
  );
}

const PRINTABLE = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));

const idempotencyKeys: fc.Arbitrary<HeaderValue> = fc.oneof(
  { arbitrary: fc.string({ unit: PRINTABLE, minLength: 1, maxLength: 255 }).filter((k) => k.trim().length > 0).map(hv("printable")), weight: 2 },
  { arbitrary: fc.integer({ min: 256, max: 6_000 }).map((n) => "k".repeat(n)).map(hv("too-long")), weight: 1 },
  { arbitrary: fc.constantFrom("", " ", "\t").map(hv("empty")), weight: 1 },
  { arbitrary: withHostilePiece("order-1001").map(hv("hostile")), weight: 3 },
);

const contentTypes: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc
    .constantFrom(
      "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=", "application/jsonx",
      "application/json-seq", "json", "*/*", "application/*", "application/json;;;", "application/json; charset=utf-16",
      "application/json; charset=\"\"", "application/json ; x=\"unterminated", "APPLICATION/JSON", ";", "/", "a/b/c",
    )
    .map(hv("odd")),
  withHostilePiece("application/json").map(hv("hostile")),
  fc.integer({ min: 1_000, max: 8_000 }).map((n) => `application/json; x=${"y".repeat(n)}`).map(hv("long")),
);

const requestIds: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc.constantFrom("trace-1", "a:b.c_d-e").map(hv("safe")),
  fc.constantFrom("<script>alert(1)</script>", "' or 1=1--", "../../etc", "a b", "{}", "x".repeat(129), "").map(hv("odd")),
  withHostilePiece("trace-1").map(hv("hostile")),
  fc.integer({ min: 1_000, max: 8_000 }).map((n) => "r".repeat(n)).map(hv("long")),
);

const cookies: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc.constantFrom("session=", "session=x; session=y", "=", ";;;", "a=b; c", "session=%00", "session=\"unterminated").map(hv("odd")),
  // The dashboard's session cookie (and a generic name), with a token that is hostile or merely wrong.
  fc.constantFrom("paystream_dashboard=", "session=").chain((name) => withHostilePiece(`${name}abcdefghijklmnopqrstuvwxyz012345`)).map(hv("hostile")),
  fc.tuple(fc.constantFrom("paystream_dashboard=", "session="), fc.string({ unit: "binary", maxLength: 60 })).map(([name, token]) => name + token).map(hv("random")),
  fc.integer({ min: 1_000, max: 8_000 }).map((n) => `s=${"c".repeat(n)}`).map(hv("long")),
);

/** Whether a value can go through fetch unchanged (fetch refuses CTLs and anything above 0xFF). */
const fetchable = (value: string) => !/[^\t\x20-\x7e\x80-\xff]/.test(value);

/** The value as the server sees it: HTTP parsers strip surrounding spaces and tabs. */
const trimmed = (value: string) => value.replace(/^[\t ]+|[\t ]+$/g, "");

/** Socket bytes for a header value: Latin-1 where it fits, otherwise UTF-8 (what a client would send). */
function headerBytes(value: string): string | Uint8Array {
  return /[^\x00-\xff]/.test(value) ? new Uint8Array(wtf8(value)) : value;
}

// ---------------------------------------------------------------------------------------------
// Framing (socket only)

const FRAMINGS = ["cl-too-long", "cl-too-short", "cl-not-a-number", "cl-twice", "chunked-and-cl", "chunked-broken"] as const;
type Framing = (typeof FRAMINGS)[number];

// ---------------------------------------------------------------------------------------------
// Whole requests

interface SurfaceRequest {
  route: SurfaceRoute;
  method: string;
  target: string;
  /** Labels of what was made hostile, for the report. */
  aspects: string[];
  headers: [string, string][];
  body: string | undefined;
  framing: Framing | undefined;
  transport: "fetch" | "raw";
  /** Statuses the contract allows; undefined: any below 500. */
  expected: Set<number> | undefined;
}

const OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

function bodyFor(route: SurfaceRoute, paymentBody: string): fc.Arbitrary<string> {
  if (route.page) return fc.constantFrom("key=", "key=%00", "key=%ED%A0%80", "key=sk_wrong", `key=${"k".repeat(5_000)}`, "key", "%", "{}", "\u0000");
  if (route.template === "/v1/payments") return fc.oneof(fc.constant(paymentBody), fc.constantFrom("{}", "[]", "{", "\u0000", ""));
  // No body here registers a reachable endpoint or otherwise changes state a later request depends on.
  return fc.constantFrom("{}", '{"url":1}', '{"url":"not a url"}', "[]", "{", "", "\u0000", '{"url":"http://\\u0000/"}');
}

function requestFor(route: SurfaceRoute, documented: Map<string, Map<string, SurfaceRoute>>, apiKey: string, paymentBody: string): fc.Arbitrary<SurfaceRequest> {
  const params = [...route.template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
  const isApi = route.template.startsWith("/v1/");
  const optional = <T>(arbitrary: fc.Arbitrary<T>, weightAbsent: number) =>
    fc.oneof({ arbitrary: fc.constant(undefined), weight: weightAbsent }, { arbitrary, weight: 1 });
  return fc
    .record({
      method: fc.oneof({ arbitrary: fc.constant(route.method), weight: 15 }, { arbitrary: fc.constantFrom(...OTHER_METHODS), weight: 1 }),
      segments: fc.array(segmentFor, { minLength: params.length, maxLength: params.length }),
      query: queryFor(route),
      authorization: optional(authorizationValues(apiKey), 10),
      idempotencyKey: optional(idempotencyKeys, route.idempotencyKey ? 2 : 12),
      contentType: optional(contentTypes, route.body ? 4 : 12),
      requestId: optional(requestIds, 3),
      cookie: optional(cookies, 8),
      body: bodyFor(route, paymentBody),
      framing: optional(fc.constantFrom(...FRAMINGS), route.body ? 10 : 40),
      forceRaw: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    })
    .filter(({ segments }) => !segments.some(movesTheRoute))
    .map((r) => {
      const aspects: string[] = [];
      let path = route.template;
      params.forEach((param, i) => {
        const segment = r.segments[i] as Segment;
        path = path.replace(`{${param}}`, segment.wire);
        aspects.push(`path:${segment.label}`);
      });
      const queryWire = r.query.map((p) => p.wire).join("&");
      for (const part of r.query) aspects.push(`query:${part.label}`);
      const target = r.query.length > 0 ? `${path}?${queryWire}` : path;

      const headers: [string, string][] = [];
      const authorization = r.authorization?.value ?? `Bearer ${apiKey}`;
      if (r.authorization === undefined || r.authorization.value !== "") headers.push(["Authorization", authorization]);
      if (r.authorization) aspects.push(`authorization:${r.authorization.label}`);
      if (r.idempotencyKey) {
        headers.push(["Idempotency-Key", r.idempotencyKey.value]);
        aspects.push(`idempotency-key:${r.idempotencyKey.label}`);
      }
      const sendsBody = r.method !== "GET" && r.method !== "HEAD";
      const contentType = r.contentType?.value ?? "application/json";
      if (sendsBody) headers.push(["Content-Type", contentType]);
      if (r.contentType && sendsBody) aspects.push(`content-type:${r.contentType.label}`);
      if (r.requestId) {
        headers.push(["X-Request-Id", r.requestId.value]);
        aspects.push(`x-request-id:${r.requestId.label}`);
      }
      if (r.cookie) {
        headers.push(["Cookie", r.cookie.value]);
        aspects.push(`cookie:${r.cookie.label}`);
      }
      const framing = sendsBody ? r.framing : undefined;
      if (framing) aspects.push(`framing:${framing}`);

      const transport =
        r.forceRaw || framing !== undefined || r.segments.some((s) => s.raw) || headers.some(([, v]) => !fetchable(v)) ? "raw" : "fetch";

      // The oracle. Only what the request itself decides; the rest must merely stay below 500.
      let expected: Set<number> | undefined;
      // The route that serves this method on this path: another one when the method was swapped.
      const served = documented.get(route.template)?.get(r.method);
      const headerReachesApp = headers.every(([, v]) => fetchable(v));
      if (isApi && headerReachesApp && framing === undefined && !r.segments.some((s) => s.raw)) {
        // No route has this method on this path (HEAD may be served by GET, so it is left open).
        if (!served) expected = r.method === "HEAD" ? undefined : new Set([404, 405]);
        // The key is checked first, so an unauthenticated client learns nothing about ids or parameters.
        else if (!served.keyless && trimmed(authorization) !== `Bearer ${apiKey}`) expected = new Set([401, 429]);
        else {
          const bad = new Set<number>();
          if (queryIsInvalid(queryWire, served.query)) bad.add(422);
          r.segments.forEach((segment, i) => {
            const id = decodedSegment(segment);
            // An id of another kind names nothing on this route either (a refund's id where a payment's goes).
            const prefix = served.idPrefixes?.[params[i]!];
            if (id === undefined || !ID_SHAPE.test(id) || (prefix !== undefined && !id.startsWith(`${prefix}_`))) bad.add(404);
          });
          const key = r.idempotencyKey === undefined ? undefined : trimmed(r.idempotencyKey.value);
          if (served.idempotencyKey && key !== undefined && !/^[\x20-\x7e]{1,255}$/.test(key)) bad.add(422);
          if (served.body && sendsBody && !/^application\/json\s*(;|$)/i.test(trimmed(contentType))) bad.add(400).add(415);
          if (bad.size > 0) expected = bad;
        }
      }
      return { route: served ?? route, method: r.method, target, aspects, headers, body: sendsBody ? r.body : undefined, framing, transport, expected } satisfies SurfaceRequest;
    });
}

// ---------------------------------------------------------------------------------------------
// Sending

interface Answer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

type Outcome = { kind: "answer"; answer: Answer } | { kind: "closed" } | { kind: "timeout" } | { kind: "error"; detail: string };

async function sendWithFetch(baseUrl: string, request: SurfaceRequest): Promise<Outcome> {
  const headers = new Headers();
  for (const [name, value] of request.headers) headers.append(name, value);
  try {
    const response = await fetch(`${baseUrl}${request.target}`, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      signal: AbortSignal.timeout(10_000),
    });
    const type = response.headers.get("content-type") ?? "";
    // An event stream never ends on its own: the status and headers are the answer.
    const body = type.startsWith("text/event-stream") ? (await response.body?.cancel(), "") : await response.text();
    return { kind: "answer", answer: { status: response.status, headers: new Map(response.headers), body } };
  } catch (error) {
    return { kind: "error", detail: String(error) };
  }
}

async function sendWithSocket(port: number, request: SurfaceRequest): Promise<Outcome> {
  const body = Buffer.from(request.body ?? "", "utf8");
  const headers: RawRequest["headers"] = request.headers.map(([name, value]) => [name, headerBytes(value)]);
  let payload: Uint8Array = body;
  switch (request.framing) {
    case "cl-too-long":
      headers.push(["Content-Length", String(body.length + 10)]);
      break;
    case "cl-too-short":
      headers.push(["Content-Length", String(Math.max(0, body.length - 5))]);
      break;
    case "cl-not-a-number":
      headers.push(["Content-Length", "12abc"]);
      break;
    case "cl-twice":
      headers.push(["Content-Length", String(body.length)], ["Content-Length", String(body.length + 1)]);
      break;
    case "chunked-and-cl":
      headers.push(["Transfer-Encoding", "chunked"], ["Content-Length", String(body.length)]);
      payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")]);
      break;
    case "chunked-broken":
      headers.push(["Transfer-Encoding", "chunked"]);
      payload = Buffer.concat([Buffer.from("zz\r\n"), body, Buffer.from("\r\n")]);
      break;
    default:
      if (request.method !== "GET" && request.method !== "HEAD") headers.push(["Content-Length", String(body.length)]);
  }
  const outcome: RawOutcome = await sendRaw(port, {
    method: request.method,
    target: request.target,
    headers,
    body: payload,
    endAfterBody: request.framing === "cl-too-long" || request.framing === "chunked-broken",
    timeoutMs: request.framing ? 2_000 : 5_000,
  });
  return outcome.kind === "answer" ? { kind: "answer", answer: outcome.response } : outcome;
}

// ---------------------------------------------------------------------------------------------
// Running

export type SurfaceViolationKind = "server_error" | "no_answer" | "not_problem_json" | "unsafe_request_id" | "verdict_mismatch";

export interface SurfaceFuzzOptions {
  baseUrl: string;
  runs: number;
  seed: number;
  apiKey?: string;
  /** A valid POST /v1/payments body, so that route is reached past its body checks too. */
  paymentBody: string;
  concurrency?: number;
  onProgress?: (done: number, runs: number) => void;
}

export interface SurfaceFuzzReport {
  runs: number;
  seed: number;
  durationMs: number;
  routes: string[];
  statusHistogram: Record<string, number>;
  /** How many requests made each thing hostile (one request usually makes several). */
  aspects: Record<string, number>;
  byTransport: Record<"fetch" | "raw", number>;
  /** Answers from Bun's HTTP parser (no request id: the application never saw the request). */
  parserAnswers: number;
  /** Sockets closed or left waiting without an answer; only requests whose framing lies about the body. */
  unanswered: number;
  violationCounts: Partial<Record<SurfaceViolationKind, number>>;
  violations: { kind: SurfaceViolationKind; run: number; detail: string; request: string }[];
}

const VIOLATIONS_KEPT_PER_KIND = 8;
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function describe(request: SurfaceRequest): string {
  const show = (text: string) => JSON.stringify(text.length > 160 ? `${text.slice(0, 160)}… (${text.length} chars)` : text);
  const headers = request.headers.map(([n, v]) => `${n}: ${show(v)}`).join(", ");
  return `${request.transport} ${request.method} ${show(request.target)} [${request.aspects.join(" ")}] headers {${headers}}${request.framing ? ` framing=${request.framing}` : ""}`;
}

export async function runSurfaceFuzz(options: SurfaceFuzzOptions): Promise<SurfaceFuzzReport> {
  const { baseUrl, runs, seed } = options;
  const apiKey = options.apiKey ?? "sk_test_local";
  const port = Number(new URL(baseUrl).port);
  const started = performance.now();
  const routes = await discoverRoutes(baseUrl);
  const documented = new Map<string, Map<string, SurfaceRoute>>();
  for (const route of routes) documented.set(route.template, (documented.get(route.template) ?? new Map()).set(route.method, route));
  const requests = fc.sample(
    // Routes with path ids and the /v1 API get more of the requests: that is where input meets SQL.
    fc.oneof(
      ...routes.map((route) => ({
        arbitrary: requestFor(route, documented, apiKey, options.paymentBody),
        weight: route.template.includes("{") ? 4 : route.template.startsWith("/v1/") ? 2 : 1,
      })),
    ),
    { seed, numRuns: runs },
  );

  const report: SurfaceFuzzReport = {
    runs,
    seed,
    durationMs: 0,
    routes: routes.map((r) => `${r.method} ${r.template}`),
    statusHistogram: {},
    aspects: {},
    byTransport: { fetch: 0, raw: 0 },
    parserAnswers: 0,
    unanswered: 0,
    violationCounts: {},
    violations: [],
  };
  const violation = (kind: SurfaceViolationKind, run: number, detail: string, request: SurfaceRequest) => {
    report.violationCounts[kind] = (report.violationCounts[kind] ?? 0) + 1;
    if ((report.violationCounts[kind] ?? 0) <= VIOLATIONS_KEPT_PER_KIND) report.violations.push({ kind, run, detail, request: describe(request) });
  };

  async function check(run: number, request: SurfaceRequest): Promise<void> {
    report.byTransport[request.transport]++;
    for (const aspect of request.aspects) report.aspects[aspect] = (report.aspects[aspect] ?? 0) + 1;
    const outcome = request.transport === "fetch" ? await sendWithFetch(baseUrl, request) : await sendWithSocket(port, request);
    if (outcome.kind !== "answer") {
      // A body promised and never sent may leave the server waiting; every other request must be answered.
      if (request.framing === "cl-too-long" || request.framing === "chunked-broken") report.unanswered++;
      else violation("no_answer", run, outcome.kind === "error" ? outcome.detail : outcome.kind, request);
      return;
    }
    const { status, headers, body } = outcome.answer;
    report.statusHistogram[status] = (report.statusHistogram[status] ?? 0) + 1;
    if (status >= 500) violation("server_error", run, `${status} ${body.slice(0, 300)}`, request);
    const requestId = headers.get("x-request-id");
    if (requestId === undefined) {
      // Bun refused the bytes before the application saw them.
      report.parserAnswers++;
      return;
    }
    if (!SAFE_REQUEST_ID.test(requestId)) violation("unsafe_request_id", run, `x-request-id ${JSON.stringify(requestId.slice(0, 200))}`, request);
    const type = headers.get("content-type") ?? "";
    if (status >= 400 && request.method !== "HEAD" && !request.route.page) {
      let problemStatus: unknown;
      try {
        problemStatus = (JSON.parse(body) as { status?: unknown }).status;
      } catch {
        problemStatus = undefined;
      }
      if (!type.startsWith("application/problem+json") || problemStatus !== status)
        violation("not_problem_json", run, `${status} content-type=${JSON.stringify(type)} body=${JSON.stringify(body.slice(0, 200))}`, request);
    }
    if (request.expected && !request.expected.has(status))
      violation("verdict_mismatch", run, `expected ${[...request.expected].join(" or ")}, got ${status}: ${body.slice(0, 300)}`, request);
  }

  const lanes = options.concurrency ?? 8;
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < requests.length) {
        const run = next++;
        await check(run, requests[run] as SurfaceRequest);
        done++;
        if (done % 500 === 0) options.onProgress?.(done, runs);
      }
    }),
  );
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

export function totalSurfaceViolations(report: SurfaceFuzzReport): number {
  return Object.values(report.violationCounts).reduce((sum, n) => sum + (n ?? 0), 0);
}

/** Aspect counts folded to their class (`path:bytes` → `path`), for a short report line. */
function aspectClasses(report: SurfaceFuzzReport): Record<string, number> {
  const classes: Record<string, number> = {};
  for (const [aspect, n] of Object.entries(report.aspects)) {
    const name = aspect.slice(0, aspect.indexOf(":"));
    classes[name] = (classes[name] ?? 0) + n;
  }
  return classes;
}

export function formatSurfaceReport(report: SurfaceFuzzReport): string {
  const total = totalSurfaceViolations(report);
  const lines = [
    `surface fuzz: ${report.runs} requests, seed ${report.seed}, ${(report.durationMs / 1000).toFixed(1)} s, ${report.routes.length} routes`,
    `  statuses:   ${Object.entries(report.statusHistogram).map(([s, n]) => `${s}×${n}`).join("  ")}`,
    `  hostile:    ${Object.entries(aspectClasses(report)).sort(([, a], [, b]) => b - a).map(([k, n]) => `${k}×${n}`).join("  ")}`,
    `  transport:  fetch×${report.byTransport.fetch}  socket×${report.byTransport.raw}; ${report.parserAnswers} answered by Bun's HTTP parser, ${report.unanswered} lying-framing requests left unanswered`,
    `  violations: ${total}${total ? ` (${Object.entries(report.violationCounts).map(([k, n]) => `${k}: ${n}`).join(", ")})` : ""}`,
  ];
  for (const v of report.violations) {
    lines.push(`  - [${v.kind}] run ${v.run}: ${v.detail}`);
    lines.push(`      ${v.request}`);
  }
  return lines.join("\n");
}

/** Error-level (or worse) lines of a pino log: what no client input may ever cause. */
export function errorLogLines(logs: string): string[] {
  return logs.split("\n").filter((line) => /"level":(?:"(?:error|fatal)"|5\d|6\d)[,}]/.test(line));
}
