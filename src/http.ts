import { Elysia } from "elysia";
import Type from "typebox";
import { isConnectionError, mayHaveCommitted } from "../modules/database";
import { buildOpenApiDocument, type DocumentBase, type DocumentedRoute, jsonContent, operation, Problem, problemResponses, rememberPeer, requestIdOf } from "../modules/http";
import { SWAGGER_UI_ASSETS } from "./embedded-assets";
import type { Logger } from "./logger";
import type { Metrics } from "./metrics";

export interface HttpAppDeps {
  logger: Logger;
  metrics: Metrics;
  version: string;
  /** Throws naming the dependency that is down. */
  readiness: () => Promise<void>;
  routes: Elysia<any, any, any, any, any, any, any>[];
  /**
   * Who may read /metrics on this listener: anyone ("open", the default), nobody ("hidden": the
   * route does not exist), or whoever passes the guard, which throws a Problem otherwise.
   */
  metricsAccess?: "open" | "hidden" | ((request: Request) => unknown);
  /** Reverse proxies in front of this listener that append to X-Forwarded-For (see clientOf). */
  trustedProxyHops?: number;
}

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const COMMIT_UNKNOWN_DETAIL =
  "The database stopped answering before it confirmed this write, so it may or may not have been applied. Retry the same request with the same Idempotency-Key: it is applied at most once.";

/**
 * Every request answers within the contract's 10 s (docs/CONTRACT.md), whatever it waits for:
 * the driver bounds each statement (src/db.ts), but a request may wait for several in a row, or
 * behind a group commit's earlier batch. A request still unanswered at this deadline gets the 503
 * it would have got from a failed statement; the work it started runs on, so a write may still
 * commit, and is reported as in doubt.
 */
const ANSWER_DEADLINE_MS = 8_000;

function withAnswerDeadline(answer: Response | Promise<Response>, request: Request, logger: Logger): Response | Promise<Response> {
  if (answer instanceof Response) return answer;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<Response>((resolve) => {
    timer = setTimeout(() => {
      const write = request.method !== "GET" && request.method !== "HEAD";
      const problem = write
        ? new Problem("commit_unknown", COMMIT_UNKNOWN_DETAIL, { retryAfterSeconds: 5 })
        : new Problem("dependency_unavailable", "The service could not answer in time; try again shortly", { retryAfterSeconds: 5 });
      const requestId = requestIdOf(request);
      logger.warn({ requestId, method: request.method, url: new URL(request.url).pathname, deadlineMs: ANSWER_DEADLINE_MS }, "request unanswered at its deadline");
      const response = problem.toResponse(requestId);
      for (const [k, v] of Object.entries({ ...SECURITY_HEADERS, "x-request-id": requestId })) response.headers.set(k, v);
      resolve(response);
    }, ANSWER_DEADLINE_MS);
  });
  return Promise.race([answer, deadline]).finally(() => clearTimeout(timer));
}

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
  // A write whose database connection failed after its statement left may have been committed:
  // the client must retry it as the same request, which its idempotency key makes safe.
  if (request.method !== "GET" && request.method !== "HEAD" && mayHaveCommitted(error))
    return new Problem("commit_unknown", COMMIT_UNKNOWN_DETAIL, { retryAfterSeconds: 5 });
  if (isConnectionError(error))
    return new Problem("dependency_unavailable", "The database is unavailable; try again shortly", { retryAfterSeconds: 5 });
  return new Problem("internal", "An unexpected error occurred");
}

const operations = { tags: ["Operations"], security: [] };
const docs = {
  live: operation({
    ...operations,
    operationId: "getLiveness",
    summary: "Liveness: the process answers",
    responses: {
      200: {
        description: "Alive",
        content: jsonContent(Type.Object({ status: Type.Literal("ok") }, { additionalProperties: false })),
      },
    },
  }),
  ready: operation({
    ...operations,
    operationId: "getReadiness",
    summary: "Readiness: the database and the broker answer",
    responses: {
      200: {
        description: "Ready to take payments",
        content: jsonContent(Type.Object({ status: Type.Literal("ready") }, { additionalProperties: false })),
      },
      ...problemResponses({ dependency_unavailable: "the database or the broker is down; `detail` names which" }),
    },
  }),
  metrics: operation({
    ...operations,
    operationId: "getMetrics",
    summary: "Prometheus metrics",
    description:
      "Outside production: public. In production: served on OPS_PORT, or on the API port only with `Authorization: Bearer <METRICS_TOKEN>` (401/429 otherwise), else not at all.",
    responses: { 200: { description: "Prometheus text exposition format", content: { "text/plain": { schema: { type: "string" } } } } },
  }),
};

function documentBase(version: string): DocumentBase {
  return {
    info: {
      title: "paystream",
      version,
      description:
        "Asynchronous card payments: POST a payment, get 202 PENDING at once, poll until COMPLETED or FAILED. Money is integer minor units; errors are RFC 9457 problem+json. Every answer carries `X-Request-Id` (yours when you send a sane one).",
    },
    tags: [
      { name: "Payments", description: "Create and read payments; capture and cancel them" },
      { name: "Refunds", description: "Refund completed payments" },
      { name: "Webhooks", description: "Be told when payments become final" },
      { name: "Disputes", description: "Chargebacks of payments, as the gateway reports them" },
      { name: "Gateway events", description: "Where Stripe and PayPal send their signed webhook events (no API key: the signature authenticates)" },
      { name: "Operations", description: "Health and metrics" },
    ],
  };
}

/**
 * Swagger UI from the swagger-ui-dist package, embedded in the binary: the page loads nothing
 * from anywhere else, and its Content-Security-Policy forbids it to. The page's own start-up code
 * is a file too, because the policy allows no inline script.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>paystream API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-initializer.js"></script>
</body>
</html>
`;

// validatorUrl: null, or Swagger UI sends the document to validator.swagger.io for a badge.
const DOCS_INITIALIZER = `window.ui = SwaggerUIBundle({
  url: "/docs/json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
`;

function docsRoutes(document: object) {
  const hide = { detail: { hide: true } };
  const asset = (body: string | Blob, type: string) =>
    new Response(body, { headers: { "content-type": type, "cache-control": "public, max-age=3600" } });
  return new Elysia()
    .get("/docs", () => new Response(DOCS_PAGE, { headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": DOCS_CSP } }), hide)
    .get("/docs/json", () => document, hide)
    .get("/docs/assets/swagger-ui.css", () => asset(Bun.file(SWAGGER_UI_ASSETS.css), "text/css; charset=utf-8"), hide)
    .get("/docs/assets/swagger-ui-bundle.js", () => asset(Bun.file(SWAGGER_UI_ASSETS.bundle), "text/javascript; charset=utf-8"), hide)
    .get("/docs/assets/swagger-initializer.js", () => asset(DOCS_INITIALIZER, "text/javascript; charset=utf-8"), hide);
}

/** The HTTP surface: one error envelope, security headers, request ids, docs, health, then the feature routes. */
export function createHttpApp(deps: HttpAppDeps) {
  const { logger, metrics } = deps;
  const started = new WeakMap<Request, number>();

  // Routes are compiled at start, not at their first request (which paid for it: ~0.1 s of CPU and a slow first payment).
  const app = new Elysia({ precompile: true })
    .wrap((handle) => (request: Request) => withAnswerDeadline((handle as unknown as (request: Request) => Response | Promise<Response>)(request), request, logger))
    .onRequest(({ request, server }) => {
      started.set(request, performance.now());
      rememberPeer(request, () => server?.requestIP(request)?.address, deps.trustedProxyHops ?? 0);
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
    .get("/health/live", () => ({ status: "ok" }), { detail: docs.live })
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
      { detail: docs.ready },
    );
  const metricsAccess = deps.metricsAccess ?? "open";
  if (metricsAccess !== "hidden")
    app.get(
      "/metrics",
      async ({ request }) => {
        if (metricsAccess !== "open") metricsAccess(request);
        return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
      },
      { detail: docs.metrics },
    );

  for (const routes of deps.routes) app.use(routes);
  // Built at start, so a route added without documentation stops the program, not a reader of /docs.
  app.use(docsRoutes(buildOpenApiDocument(app.routes as unknown as DocumentedRoute[], documentBase(deps.version))));
  return app;
}
