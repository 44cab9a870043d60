/**
 * The OpenAPI 3.1 document, built from the routes themselves: every route that is not hidden must
 * carry a `detail` (its operation), and the document is assembled from the running app's route
 * table, so a route cannot exist without being documented (tests/unit/openapi-document.test.ts).
 *
 * Schemas are typebox, i.e. plain JSON Schema 2020-12, which is what OpenAPI 3.1 uses. Named
 * schemas (`component`) are written once under `components.schemas` and referenced by `$ref`.
 */
import type { DocumentDecoration } from "elysia";
import Type, { type Static, type TSchema } from "typebox";
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from "./body";
import { PROBLEM_TYPES, type ProblemType } from "./problem";

export const OPENAPI_VERSION = "3.1.0";

// ---------------------------------------------------------------------------------------
// Schema helpers

const COMPONENT_NAME = Symbol.for("paystream.openapi.component");

/** Names a schema: the document holds it once under `components.schemas` and refers to it by `$ref`. */
export function component<T extends TSchema>(name: string, schema: T): T {
  // Enumerable, so copies typebox makes (Optional, …) keep the name; JSON ignores symbol keys.
  return Object.defineProperty(schema, COMPONENT_NAME, { value: name, enumerable: true });
}

/** A string that is one of `values` (JSON Schema `enum`, which generated clients turn into a union). */
export function stringEnum<const T extends readonly string[]>(values: T, options: object = {}) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

/** `schema` or JSON null, written the OpenAPI 3.1 way: `type: [x, "null"]` (enums also list null). */
export function nullable<T extends TSchema>(schema: T) {
  const { type, enum: values, ...rest } = schema as TSchema & { type?: unknown; enum?: unknown[] };
  if (COMPONENT_NAME in schema || type === undefined)
    return Type.Unsafe<Static<T> | null>({ anyOf: [schema, { type: "null" }] });
  return Type.Unsafe<Static<T> | null>({
    ...rest,
    type: [...(Array.isArray(type) ? type : [type]), "null"],
    ...(values ? { enum: [...values, null] } : {}),
  });
}

/** Escapes a literal for use inside a regular expression. */
const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A `pattern` matching exactly `words`, letter case ignored. JSON Schema patterns take no flags,
 * so each letter becomes a class (`[Uu][Ss][Dd]`).
 */
export function caseInsensitivePattern(words: readonly string[]): string {
  const anyCase = (word: string) =>
    [...word].map((c) => (c.toLowerCase() === c.toUpperCase() ? escapeRegex(c) : `[${c.toUpperCase()}${c.toLowerCase()}]`)).join("");
  return `^(?:${words.map(anyCase).join("|")})$`;
}

/**
 * A pattern for text that is 1..max characters once trimmed (what the validators check): a
 * non-blank character at both ends of the trimmed text and at most max-2 of `char` between.
 * `\s` in a JSON Schema (ECMA-262) pattern is the same set String.prototype.trim removes.
 */
export function trimmedLengthPattern(max: number, char = "[\\s\\S]", nonBlank = "\\S"): string {
  return `^\\s*${nonBlank}(?:${char}{0,${max - 2}}${nonBlank})?\\s*$`;
}

/** Elysia's route `detail` type follows OpenAPI 3.0; ours are 3.1 operations (JSON Schema 2020-12). */
export const operation = (spec: object) => spec as DocumentDecoration;

/** An operation's JSON `content`: the media type and its schema. */
export const jsonContent = (schema: object) => ({ "application/json": { schema } });

// ---------------------------------------------------------------------------------------
// Problems (RFC 9457)

export const FieldErrorSchema = component(
  "FieldError",
  Type.Object(
    {
      field: Type.String({ description: "Dotted path of the invalid field, e.g. `card.number`; empty for the whole body", examples: ["card.number"] }),
      code: Type.String({ description: "Machine-readable reason", examples: ["luhn_check_failed"] }),
      message: Type.String({ description: "Human-readable reason; never echoes the submitted value" }),
    },
    { additionalProperties: false },
  ),
);

const PROBLEM_CODES = Object.keys(PROBLEM_TYPES) as ProblemType[];

export const ProblemSchema = component(
  "Problem",
  Type.Object(
    {
      type: Type.String({ description: "`/errors/<code with dashes>`", examples: ["/errors/validation"] }),
      title: Type.String(),
      status: Type.Integer({ minimum: 400, maximum: 599 }),
      detail: Type.String(),
      code: stringEnum(PROBLEM_CODES),
      errors: Type.Optional(Type.Array(FieldErrorSchema, { description: "Every invalid field (422 only)" })),
      requestId: Type.Optional(Type.String({ description: "The request's X-Request-Id" })),
    },
    {
      additionalProperties: false,
      description: "RFC 9457 problem details (`application/problem+json`)",
      examples: [
        {
          type: "/errors/validation",
          title: "Invalid payment request",
          status: 422,
          detail: "2 fields are invalid",
          code: "validation",
          errors: [
            { field: "card.number", code: "luhn_check_failed", message: "is not a valid card number (checksum mismatch)" },
            { field: "amount", code: "amount_too_small", message: "must be at least 1" },
          ],
          requestId: "req_5f0c6d3b9a2e4c8f8a1b2c3d4e5f6a7b",
        },
      ],
    },
  ),
);

/** Problems answered with a `Retry-After` header (seconds). */
const RETRY_AFTER: ReadonlySet<ProblemType> = new Set(["rate_limited", "dependency_unavailable", "commit_unknown"]);

const retryAfterHeader = {
  description: "Seconds to wait before trying again",
  required: true,
  schema: { type: "string", pattern: "^[0-9]+$" },
};

/** The codes and reasons each problem response was built from, so the document can add to them. */
const REASONS = new WeakMap<object, [ProblemType, string][]>();

/**
 * OpenAPI responses for problems, keyed by the HTTP status each problem code has in the one
 * table (PROBLEM_TYPES), with `code` and `status` pinned per response.
 */
export function problemResponses(reasons: Partial<Record<ProblemType, string>>): Record<string, object> {
  const byStatus = new Map<number, [ProblemType, string][]>();
  for (const [code, reason] of Object.entries(reasons) as [ProblemType, string][]) {
    const status = PROBLEM_TYPES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), [code, reason]]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, entries]) => {
      const codes = entries.map(([code]) => code);
      const response = {
        description: entries.map(([code, reason]) => `\`${code}\`: ${reason}`).join("; "),
        ...(codes.some((code) => RETRY_AFTER.has(code)) ? { headers: { "Retry-After": retryAfterHeader } } : {}),
        content: {
          "application/problem+json": {
            schema: { allOf: [ProblemSchema, { properties: { status: { const: status }, code: { enum: codes } } }] },
          },
        },
      };
      REASONS.set(response, entries);
      return [String(status), response];
    }),
  );
}

const COMMIT_UNKNOWN_REASON =
  "the database stopped answering after the write was sent: it may or may not have been applied; retry with the same Idempotency-Key; see Retry-After";

/**
 * A write that can meet an unavailable database can also lose the database's answer after it was
 * sent: every such operation may answer `commit_unknown`, whichever module declared it.
 */
function withCommitUnknown(method: string, responses: Record<string, object>): Record<string, object> {
  const unavailable = responses["503"];
  const reasons = unavailable && REASONS.get(unavailable);
  if (method === "GET" || method === "HEAD" || !reasons || reasons.some(([code]) => code === "commit_unknown")) return responses;
  return { ...responses, ...problemResponses({ ...Object.fromEntries(reasons), commit_unknown: COMMIT_UNKNOWN_REASON }) };
}

/** What every authenticated (`/v1`) route may answer besides its own responses. */
export const AUTHENTICATED_PROBLEMS = {
  unauthorized: "missing or unknown API key",
  rate_limited: "too many requests for this API key; see Retry-After",
  dependency_unavailable: "the database is unavailable; see Retry-After",
} satisfies Partial<Record<ProblemType, string>>;

/** What every route that reads a JSON body may answer about the body itself. */
export function bodyProblems(maxBytes = MAX_BODY_BYTES) {
  return {
    malformed_request: `the body is not JSON, or nests deeper than ${MAX_JSON_DEPTH} levels`,
    unsupported_media_type: "Content-Type is not application/json",
    payload_too_large: `the body is over ${maxBytes / 1024} KiB`,
  } satisfies Partial<Record<ProblemType, string>>;
}

// ---------------------------------------------------------------------------------------
// The document

export interface DocumentedRoute {
  method: string;
  path: string;
  hooks: { detail?: { hide?: boolean } & Record<string, unknown>; params?: unknown; query?: unknown; headers?: unknown };
}

export interface DocumentBase {
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
}

/** Elysia's `t.Integer`/`t.Numeric` accept numeric strings for coercion; documented, they are integers/numbers. */
function unwrapCoercion(schema: Record<string, unknown>): Record<string, unknown> {
  const anyOf = schema.anyOf as Record<string, unknown>[] | undefined;
  const numeric = anyOf?.find((s) => s.type === "integer" || s.type === "number");
  if (anyOf?.length === 2 && numeric && anyOf.some((s) => s.type === "string" && (s.format === "integer" || s.format === "numeric"))) {
    const { anyOf: _, ...rest } = schema;
    return { ...rest, ...numeric };
  }
  return schema;
}

/** OpenAPI parameters from an Elysia route's validated `params`, `query` or `headers` schema. */
interface Parameter {
  name: string;
  in: string;
  [key: string]: unknown;
}

function parametersOf(where: "path" | "query" | "header", schema: unknown): Parameter[] {
  const object = schema as { properties?: Record<string, Record<string, unknown>>; required?: string[] } | undefined;
  return Object.entries(object?.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = unwrapCoercion(property);
    return {
      name,
      in: where,
      required: where === "path" || (object?.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

/** Deep copy for JSON, with named schemas hoisted into `components` and replaced by `$ref`. */
function hoist(value: unknown, components: Record<string, unknown>): unknown {
  if (Array.isArray(value)) return value.map((item) => hoist(item, components));
  if (value === null || typeof value !== "object") return value;
  const name = (value as Record<symbol, unknown>)[COMPONENT_NAME];
  const copy = Object.fromEntries(Object.entries(value).map(([key, child]) => [key, hoist(child, components)]));
  if (typeof name !== "string") return copy;
  if (components[name] !== undefined && JSON.stringify(components[name]) !== JSON.stringify(copy))
    throw new Error(`two different schemas are named ${name}`);
  components[name] = copy;
  return { $ref: `#/components/schemas/${name}` };
}

const requestIdHeader = {
  description: "The request's id: the caller's `X-Request-Id` when it is 1–128 of `A-Z a-z 0-9 . _ : -`, else a new one",
  required: true,
  schema: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" },
};

const unexpectedError = problemResponses({ internal: "an unexpected error (a defect; never an answer to bad input)" });

/**
 * Builds the document from the app's routes, refusing a route that is neither documented nor
 * hidden. Every response gets `X-Request-Id` (the app sets it on every answer) and every operation
 * the 500 the error handler may give.
 */
export function buildOpenApiDocument(routes: readonly DocumentedRoute[], base: DocumentBase) {
  const components: Record<string, unknown> = {};
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const detail = route.hooks.detail;
    if (!detail)
      throw new Error(`${route.method} ${route.path} has no OpenAPI detail: document it, or mark it { detail: { hide: true } } if it is not API`);
    if (detail.hide) continue;
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    const declared = (detail.parameters as Parameter[] | undefined) ?? [];
    const derived = [
      ...parametersOf("path", route.hooks.params),
      ...parametersOf("query", route.hooks.query),
      ...parametersOf("header", route.hooks.headers),
    ];
    const pathNames = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    const implicit: Parameter[] = pathNames.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } }));
    const parameters = [...declared];
    for (const parameter of [...derived, ...implicit])
      if (!parameters.some((p) => p.name.toLowerCase() === parameter.name.toLowerCase() && p.in === parameter.in)) parameters.push(parameter);

    const responses = Object.fromEntries(
      Object.entries({ ...withCommitUnknown(route.method, detail.responses as Record<string, object>), ...unexpectedError } as Record<string, { headers?: object }>).map(([status, response]) => [
        status,
        { ...response, headers: { "X-Request-Id": requestIdHeader, ...response.headers } },
      ]),
    );
    const { hide: _, ...operation } = detail;
    paths[path] ??= {};
    paths[path]![route.method.toLowerCase()] = hoist({ ...operation, ...(parameters.length ? { parameters } : {}), responses }, components);
  }
  const sortedComponents = Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b)));
  return {
    openapi: OPENAPI_VERSION,
    info: base.info,
    tags: base.tags,
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: sortedComponents,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API key, e.g. `sk_test_local` outside production" },
      },
    },
  };
}
