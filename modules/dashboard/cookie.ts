/** The dashboard's own URL space: its session cookie goes nowhere else (in particular not to /v1). */
export const DASHBOARD_PATH = "/dashboard";
export const SESSION_COOKIE = "paystream_dashboard";

/**
 * Whether the request reached us over https. The scheme of the request URL is what this server
 * saw; `X-Forwarded-Proto` is anyone's to send, so it counts only when the operator says a
 * proxy in front sets it (`TRUST_PROXY`). Its first value is the scheme the client used.
 */
export function cameOverHttps(request: Request, trustProxy: boolean): boolean {
  if (new URL(request.url).protocol === "https:") return true;
  if (!trustProxy) return false;
  const forwarded = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  return forwarded === "https";
}

/**
 * Whether the session cookie gets `Secure`. Production always: it is served behind TLS, whatever
 * the proxy settings say, and a cookie without it would go out in clear text on any http link.
 * Elsewhere only over https, since over plain http (local development) it could not be set.
 */
export function sessionCookieIsSecure(request: Request, { trustProxy, production }: { trustProxy: boolean; production: boolean }): boolean {
  return production || cameOverHttps(request, trustProxy);
}

/**
 * `HttpOnly`: page scripts cannot read it. `SameSite=Strict`: no other site's page, form or link
 * makes the browser send it. `Path`: only the dashboard's URLs get it. `Secure` (see
 * sessionCookieIsSecure): the browser never sends it in clear text.
 */
export function sessionCookie(token: string, { maxAgeSeconds, expiresAt, secure }: { maxAgeSeconds: number; expiresAt: Date; secure: boolean }): string {
  return [
    `${SESSION_COOKIE}=${token}`,
    `Path=${DASHBOARD_PATH}`,
    `Max-Age=${maxAgeSeconds}`,
    `Expires=${expiresAt.toUTCString()}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

/** Tells the browser to drop the session cookie (same name, path and attributes, already expired). */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie("", { maxAgeSeconds: 0, expiresAt: new Date(0), secure });
}

/** The session token the request's Cookie header carries, if any. */
export function sessionTokenOf(request: Request): string | undefined {
  const header = request.headers.get("cookie");
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const at = pair.indexOf("=");
    if (at > 0 && pair.slice(0, at).trim() === SESSION_COOKIE) return pair.slice(at + 1).trim();
  }
  return undefined;
}

/**
 * Whether a state-changing request (sign-in, sign-out) was sent by another site's page. Browsers
 * say where a request comes from in `Sec-Fetch-Site`; only `same-origin` (our own form) and
 * `none` (the user's own action) pass — `same-site` is refused too, since a sibling subdomain
 * gets SameSite cookies sent. Browsers too old for `Sec-Fetch-Site` still send `Origin` on a
 * POST, and its host must be ours. A request with neither comes from a program, not from a
 * page another site controls, and a forged one cannot carry the SameSite=Strict cookie anyway.
 */
export function isCrossSite(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null) return site !== "same-origin" && site !== "none";
  const origin = request.headers.get("origin");
  if (origin === null) return false;
  const host = request.headers.get("host") ?? new URL(request.url).host;
  try {
    return new URL(origin).host !== host.toLowerCase();
  } catch {
    // "null" (sandboxed frames, privacy-sensitive redirects) and anything unparsable.
    return true;
  }
}
