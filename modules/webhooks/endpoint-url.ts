import { BlockList, isIP } from "node:net";
import type { FieldError } from "../http";

export const MAX_URL_LENGTH = 2048;

/** Where the dispatcher could be turned against the service's own network (SSRF). */
const PRIVATE = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["169.254.0.0", 16], // link-local, including cloud metadata endpoints
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  PRIVATE.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
  ["::", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const)
  PRIVATE.addSubnet(network, prefix, "ipv6");

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

function classify(hostname: string): "loopback" | "private" | "public" {
  const host = hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  const family = isIP(host);
  if (family === 0) return "public";
  const type = family === 4 ? "ipv4" : "ipv6";
  // BlockList matches IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) against the IPv4 subnets too.
  if (LOOPBACK.check(host, type)) return "loopback";
  return PRIVATE.check(host, type) ? "private" : "public";
}

export type EndpointUrlCheck = { ok: true; url: string } | { ok: false; errors: FieldError[] };

/**
 * An endpoint must be an absolute http(s) URL without credentials, not pointing into private
 * networks; loopback is allowed only outside production (local receivers in development and
 * tests). Host names are judged as written: one that resolves to a private address is not caught
 * here.
 */
export function checkEndpointUrl(body: unknown, allowLoopback: boolean): EndpointUrlCheck {
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
  if (url.username || url.password) return invalid("credentials_not_allowed", "url must not contain a user name or password");
  const kind = classify(url.hostname);
  if (kind === "loopback" && !allowLoopback)
    return invalid("loopback_not_allowed", "url must not point at a loopback address in production");
  if (kind === "private") return invalid("private_address_not_allowed", "url must not point at a private or reserved address");
  return { ok: true, url: url.href };
}
