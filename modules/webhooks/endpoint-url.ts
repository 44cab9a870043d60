import type { FieldError } from "../http";
import { classifyHost, type DestinationPolicy, isAllowedClass } from "./destination";

export const MAX_URL_LENGTH = 2048;

export type EndpointUrlCheck = { ok: true; url: string } | { ok: false; errors: FieldError[] };

/**
 * An endpoint must be an absolute URL without credentials: https in production (http too
 * elsewhere), and not an IP address or internal-only name (`localhost`, `*.internal`, a single
 * label) outside the networks the policy allows. Other names are not resolved here: what a name
 * resolves to is checked at every delivery, where it is also used.
 */
export function checkEndpointUrl(body: unknown, policy: DestinationPolicy): EndpointUrlCheck {
  const invalid = (code: string, message: string): EndpointUrlCheck => ({ ok: false, errors: [{ field: "url", code, message }] });
  const raw = typeof body === "object" && body !== null ? (body as { url?: unknown }).url : undefined;
  if (raw === undefined) return invalid("required", "url is required");
  if (typeof raw !== "string") return invalid("invalid_type", "url must be a string");
  if (raw.length > MAX_URL_LENGTH) return invalid("too_long", `url must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid("invalid_url", "url must be an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return invalid("unsupported_scheme", "url must use http or https");
  if (policy.requireHttps && url.protocol !== "https:") return invalid("https_required", "url must use https");
  if (url.username || url.password) return invalid("credentials_not_allowed", "url must not contain a user name or password");
  const { kind } = classifyHost(url.hostname);
  if (kind && !isAllowedClass(kind, policy)) {
    if (kind === "loopback") return invalid("loopback_not_allowed", "url must not point at a loopback address");
    return invalid("private_address_not_allowed", "url must not point at a private, internal or reserved address");
  }
  return { ok: true, url: url.href };
}
