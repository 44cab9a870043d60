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
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new Problem("payload_too_large", `The body must be at most ${maxBytes} bytes`);
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

/** Reads a JSON body with the size, type and depth limits of the contract, as Problems. */
export async function readJsonBody(
  request: Request,
  { maxBytes = MAX_BODY_BYTES, maxDepth = MAX_JSON_DEPTH }: { maxBytes?: number; maxDepth?: number } = {},
): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type))
    throw new Problem("unsupported_media_type", "Content-Type must be application/json");
  const text = await readBodyText(request, maxBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Problem("malformed_request", "The body is not valid JSON");
  }
  if (depthOf(parsed, maxDepth) > maxDepth) throw new Problem("malformed_request", `JSON nesting deeper than ${maxDepth} levels`);
  return parsed;
}
