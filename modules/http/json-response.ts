/** A JSON answer with its status and any extra headers (Idempotent-Replayed, Location, …). */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/** 202 for a create that takes an Idempotency-Key: the resource, its Location, and whether the answer replays an earlier request. */
export function acceptedResponse(body: unknown, status: number, location: string, replayed: boolean): Response {
  return jsonResponse(body, status, { location, ...(replayed ? { "idempotent-replayed": "true" } : {}) });
}
