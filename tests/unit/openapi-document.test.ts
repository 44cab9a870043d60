import { describe, expect, it } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Elysia, t } from "elysia";
import Type from "typebox";
import { buildOpenApiDocument, component, type DocumentedRoute, nullable, operation, problemResponses } from "../../modules/http";

const base = { info: { title: "t", version: "1", description: "d" }, tags: [] };
const documentOf = (app: Elysia<any, any, any, any, any, any, any>) => buildOpenApiDocument(app.routes as unknown as DocumentedRoute[], base);
const ok = { responses: { 200: { description: "ok" } } };

describe("the OpenAPI document built from an app's routes", () => {
  it("refuses a route that is neither documented nor hidden, naming it", () => {
    const app = new Elysia().get("/documented", () => "", { detail: operation(ok) }).post("/forgotten", () => "");
    expect(() => documentOf(app)).toThrow("POST /forgotten has no OpenAPI detail");
  });

  it("leaves hidden routes out and writes path parameters in OpenAPI form", () => {
    const app = new Elysia().get("/page", () => "", { detail: { hide: true } }).get("/v1/things/:id", () => "", { detail: operation(ok) });
    const document = documentOf(app);
    expect(Object.keys(document.paths)).toEqual(["/v1/things/{id}"]);
    expect(document.paths["/v1/things/{id}"]!.get).toMatchObject({ parameters: [{ name: "id", in: "path", required: true }] });
  });

  it("documents Elysia-validated query integers as integers, not as 'string or integer'", () => {
    const app = new Elysia().get("/v1/list", () => "", {
      query: t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 100 })), cursor: t.String({ pattern: "^c_" }) }),
      detail: operation(ok),
    });
    const parameters = (documentOf(app).paths["/v1/list"]!.get as { parameters: unknown[] }).parameters;
    expect(parameters).toEqual([
      { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 100 } },
      { name: "cursor", in: "query", required: true, schema: { type: "string", pattern: "^c_" } },
    ]);
  });

  it("writes named schemas once under components and refers to them; nullables as type [x, null]; X-Request-Id on every answer", async () => {
    const Thing = component("Thing", Type.Object({ note: nullable(Type.String()), size: Type.Integer() }, { additionalProperties: false }));
    const app = new Elysia()
      .get("/a", () => "", { detail: operation({ responses: { 200: { description: "a", content: { "application/json": { schema: Thing } } } } }) })
      .get("/b", () => "", { detail: operation({ responses: { 200: { description: "b", content: { "application/json": { schema: Type.Array(Thing) } } }, ...problemResponses({ not_found: "none" }) } }) });
    const document = documentOf(app);
    expect(document.components.schemas).toEqual({
      Problem: expect.any(Object),
      FieldError: expect.any(Object),
      Thing: {
        type: "object",
        required: ["note", "size"],
        properties: { note: { type: ["string", "null"] }, size: { type: "integer" } },
        additionalProperties: false,
      },
    });
    const b = document.paths["/b"]!.get as { responses: Record<string, { headers: Record<string, unknown>; content: Record<string, { schema: unknown }> }> };
    expect(b.responses["200"]!.content["application/json"]!.schema).toEqual({ type: "array", items: { $ref: "#/components/schemas/Thing" } });
    expect(Object.keys(b.responses).sort()).toEqual(["200", "404", "500"]);
    for (const response of Object.values(b.responses)) expect(response.headers["X-Request-Id"]).toBeDefined();
    expect(await new Validator().validate(document as unknown as Parameters<Validator["validate"]>[0])).toEqual({ valid: true });
  });

  it("keys problem responses by the status of their code, with Retry-After where the service sends it", () => {
    const responses = problemResponses({ malformed_request: "bad JSON", unsupported_media_type: "not JSON", rate_limited: "slow down" }) as Record<
      string,
      { headers?: Record<string, unknown>; content: Record<string, { schema: { allOf: unknown[] } }> }
    >;
    expect(Object.keys(responses)).toEqual(["400", "429"]);
    expect(responses["400"]!.content["application/problem+json"]!.schema.allOf[1]).toEqual({
      properties: { status: { const: 400 }, code: { enum: ["malformed_request", "unsupported_media_type"] } },
    });
    expect(responses["400"]!.headers).toBeUndefined();
    expect(responses["429"]!.headers).toHaveProperty("Retry-After");
  });
});
