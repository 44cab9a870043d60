import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
import { isConnectionError } from "../modules/database";
import { Problem, requestIdOf } from "../modules/http";
import type { Logger } from "./logger";
import type { Metrics } from "./metrics";

export interface HttpAppDeps {
  logger: Logger;
  metrics: Metrics;
  version: string;
  /** Throws naming the dependency that is down. */
  readiness: () => Promise<void>;
  routes: Elysia<any, any, any, any, any, any, any>[];
}

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

function toProblem(error: unknown, code: string | number, request: Request): Problem {
  if (error instanceof Problem) return error;
  // The client hung up mid-request (a body cut short): nothing failed here, and no one is left to answer.
  if (request.signal.aborted) return new Problem("malformed_request", "The client closed the connection before the request was complete");
  if (code === "NOT_FOUND") return new Problem("not_found", "No such route");
  if (code === "PARSE") return new Problem("malformed_request", "The request could not be parsed");
  if (code === "VALIDATION") return new Problem("malformed_request", "The request is malformed");
  // The framework's own readers failing on what a client sent are bad requests, never our fault.
  if (code === "INVALID_COOKIE_SIGNATURE" || error instanceof URIError) return new Problem("malformed_request", "The request could not be parsed");
  if (code === "INVALID_FILE_TYPE") return new Problem("unsupported_media_type", "This content type is not accepted here");
  if (isConnectionError(error))
    return new Problem("dependency_unavailable", "The database is unavailable; try again shortly", { retryAfterSeconds: 5 });
  return new Problem("internal", "An unexpected error occurred");
}

/** The HTTP surface: one error envelope, security headers, request ids, docs, health, then the feature routes. */
export function createHttpApp(deps: HttpAppDeps) {
  const { logger, metrics } = deps;
  const started = new WeakMap<Request, number>();

  const app = new Elysia()
    .use(
      swagger({
        path: "/docs",
        specPath: "/docs/json",
        provider: "swagger-ui",
        exclude: ["/docs", "/docs/json", "/metrics"],
        documentation: {
          info: {
            title: "paystream",
            version: deps.version,
            description:
              "Asynchronous card payments: POST a payment, get 202 PENDING at once, poll until COMPLETED or FAILED. Money is integer minor units; errors are RFC 9457 problem+json.",
          },
          tags: [
            { name: "Payments", description: "Create and read payments" },
            { name: "Operations", description: "Health and metrics" },
          ],
          components: {
            securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "API key, e.g. sk_test_local" } },
          },
        },
      }),
    )
    .onRequest(({ request }) => {
      started.set(request, performance.now());
    })
    .onAfterResponse(({ request, route, set }) => {
      const began = started.get(request);
      const status = typeof set.status === "number" ? set.status : 200;
      if (began !== undefined) metrics.observeHttp(request.method, route || "unmatched", status, (performance.now() - began) / 1000);
    })
    .mapResponse(({ request, response, set }) => {
      const headers = { ...SECURITY_HEADERS, "x-request-id": requestIdOf(request) };
      if (response instanceof Response) {
        for (const [k, v] of Object.entries(headers)) if (!response.headers.has(k)) response.headers.set(k, v);
        set.status = response.status;
        return response;
      }
      Object.assign(set.headers, headers);
      return undefined;
    })
    .onError(({ request, error, code, route }) => {
      const problem = toProblem(error, code, request);
      const requestId = requestIdOf(request);
      if (problem.status >= 500)
        logger.error({ err: error, requestId, route, method: request.method }, "request failed");
      // Bad input is the client's business: debug at most, so no one can fill the error log at will.
      else logger.debug({ requestId, route, method: request.method, code: problem.type }, "request rejected");
      return problem.toResponse(requestId);
    })
    .get("/health/live", () => ({ status: "ok" }), { detail: { tags: ["Operations"], summary: "Liveness" } })
    .get(
      "/health/ready",
      async () => {
        try {
          await deps.readiness();
          return { status: "ready" };
        } catch (error) {
          const detail = error instanceof Error ? error.message : String(error);
          throw new Problem("dependency_unavailable", detail, { retryAfterSeconds: 5 });
        }
      },
      { detail: { tags: ["Operations"], summary: "Readiness: the database and the broker answer" } },
    )
    .get(
      "/metrics",
      async () =>
        new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } }),
    );

  for (const routes of deps.routes) app.use(routes);
  return app;
}
