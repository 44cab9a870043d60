import { Problem } from "./problem";

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_JSON_DEPTH = 8;

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit || value === null || typeof value !== "object") return depth;
  let deepest = depth;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, limit, depth + 1));
  return deepest;
}

/**
 * Reads a body as UTF-8 text, stopping as soon as it is longer than `maxBytes` (judged from
 * Content-Length before reading when there is one, and from what arrives when it is chunked).
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const length = request.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > maxBytes) throw new Problem("payload_too_large", `The body must be at most ${maxBytes} bytes`);
  // A declared length frames the body: it cannot grow past it, so the server reads it whole,
  // natively (streaming it chunk by chunk cost intake a tenth of its CPU).
  if (length !== null && request.body) return Buffer.from(await request.arrayBuffer()).toString("utf8");
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new Problem("payload_too_large", `The body must be at most ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}

const isJsonType = (request: Request) => /^application\/json\s*(;|$)/i.test(request.headers.get("content-type") ?? "");

/** Refuses a request whose Content-Type is not JSON, as every route that takes a JSON body does. */
export function requireJsonContentType(request: Request): void {
  if (!isJsonType(request)) throw new Problem("unsupported_media_type", "Content-Type must be application/json");
}

/** Reads a JSON body with the size, type and depth limits of the contract, as Problems. */
export async function readJsonBody(request: Request, limits: { maxBytes?: number; maxDepth?: number } = {}): Promise<unknown> {
  requireJsonContentType(request);
  return parseJsonBody(await readBodyText(request, limits.maxBytes ?? MAX_BODY_BYTES), limits.maxDepth ?? MAX_JSON_DEPTH);
}

/**
 * For routes whose body is optional: no body at all (empty, with no Content-Type or a JSON one) is
 * undefined; anything else is read as readJsonBody reads it, so a Content-Type that is not JSON is
 * refused as it is on every route that takes a body.
 */
export async function readOptionalJsonBody(request: Request, limits: { maxBytes?: number; maxDepth?: number } = {}): Promise<unknown> {
  if (request.headers.has("content-type") && !isJsonType(request)) throw new Problem("unsupported_media_type", "Content-Type must be application/json");
  const text = await readBodyText(request, limits.maxBytes ?? MAX_BODY_BYTES);
  if (text === "") return undefined;
  requireJsonContentType(request);
  return parseJsonBody(text, limits.maxDepth ?? MAX_JSON_DEPTH);
}

function parseJsonBody(text: string, maxDepth: number): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Problem("malformed_request", "The body is not valid JSON");
  }
  if (depthOf(parsed, maxDepth) > maxDepth) throw new Problem("malformed_request", `JSON nesting deeper than ${maxDepth} levels`);
  return parsed;
}
