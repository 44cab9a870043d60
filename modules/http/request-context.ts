import { randomUUID } from "node:crypto";

const ids = new WeakMap<Request, string>();

/**
 * The id of an HTTP request: the caller's `X-Request-Id` when it is a sane token, else a new one.
 * It is stored on the payment and travels with its messages, so one payment can be followed
 * from the HTTP log line to the worker's.
 */
export function requestIdOf(request: Request): string {
  let id = ids.get(request);
  if (!id) {
    const given = request.headers.get("x-request-id");
    id = given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : `req_${randomUUID().replaceAll("-", "")}`;
    ids.set(request, id);
  }
  return id;
}
