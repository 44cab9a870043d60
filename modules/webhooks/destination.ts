import ipaddr from "ipaddr.js";
import { unlessAborted } from "../runtime";

/**
 * Where a webhook may go. Merchants choose the URL, so without this the dispatcher is a request
 * forgery tool (SSRF) pointed at the service's own networks: its loopback, its private ranges,
 * cloud metadata at 169.254.169.254.
 *
 * - `public`: globally reachable unicast, the only class ever allowed in production;
 * - `loopback`, `private`: this host and private-use networks; allowed only with
 *   `allowPrivateNetworks` (local receivers in development and tests);
 * - `reserved`: everything else in the IANA special-purpose registries (link-local and metadata,
 *   multicast, documentation, benchmarking, Teredo, …): never.
 */
export type AddressClass = "public" | "loopback" | "private" | "reserved";

export interface DestinationPolicy {
  /** Only https endpoints, at registration and at every delivery (production). */
  requireHttps: boolean;
  /** Loopback and private-use destinations are let through; never in production (config refuses it). */
  allowPrivateNetworks: boolean;
}

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** RFC 4291 writes an IPv4-compatible address `::a.b.c.d`; ipaddr.js reads that text as the mapped `::ffff:a.b.c.d`. */
const IPV4_COMPATIBLE_TEXT = /^::(\d{1,3}(?:\.\d{1,3}){3})(%.*)?$/;

/**
 * The IP address a host is written as, in any form a resolver or URL parser would accept
 * (`[::1]`, `fe80::1%eth0`, `2130706433`, `0x7f.1`, `017700000001`, `127.1`), or undefined for
 * a host name.
 */
export function parseIpLiteral(host: string): IpAddress | undefined {
  const text = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const compatible = IPV4_COMPATIBLE_TEXT.exec(text);
  if (compatible && ipaddr.IPv4.isValidFourPartDecimal(compatible[1]!)) {
    const [a, b, c, d] = ipaddr.IPv4.parse(compatible[1]!).octets as [number, number, number, number];
    const address = new ipaddr.IPv6([0, 0, 0, 0, 0, 0, (a << 8) | b, (c << 8) | d]);
    if (compatible[2]) address.zoneId = compatible[2].slice(1);
    return address;
  }
  return ipaddr.isValid(text) ? ipaddr.parse(text) : undefined;
}

function classifyIPv4(address: ipaddr.IPv4): AddressClass {
  switch (address.range()) {
    case "unicast":
      return "public";
    case "loopback":
      return "loopback";
    case "private":
    case "carrierGradeNat":
      return "private";
    default:
      return "reserved";
  }
}

const GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");
const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");

const lastIPv4 = (parts: number[], at: number) =>
  new ipaddr.IPv4([parts[at]! >> 8, parts[at]! & 0xff, parts[at + 1]! >> 8, parts[at + 1]! & 0xff]);

/** Forms that carry an IPv4 address are as public as that address, or not at all. */
const publicIfEmbeddedIs = (embedded: ipaddr.IPv4): AddressClass => (classifyIPv4(embedded) === "public" ? "public" : "reserved");

function classifyIPv6(address: ipaddr.IPv6): AddressClass {
  // A zone only means something for link-local addresses; no public destination needs one.
  if (address.zoneId) return "reserved";
  const range: string = address.range();
  switch (range) {
    case "loopback":
      return "loopback";
    case "uniqueLocal":
    case "deprecatedSiteLocal":
      return "private";
    // ::ffff:a.b.c.d: the socket connects to a.b.c.d itself.
    case "ipv4Mapped":
      return classifyIPv4(address.toIPv4Address());
    // NAT64 translates 64:ff9b::a.b.c.d to a.b.c.d (DNS64 networks hand these out for IPv4-only
    // hosts); the local-use prefix 64:ff9b:1::/48 is the operator's own translator.
    case "rfc6052":
      return address.match(NAT64_WELL_KNOWN) ? publicIfEmbeddedIs(lastIPv4(address.parts, 6)) : "reserved";
    // 6to4: 2002:AABB:CCDD::/48 is tunnelled to the IPv4 address AA.BB.CC.DD.
    case "6to4":
      return publicIfEmbeddedIs(lastIPv4(address.parts, 1));
    // Global unicast is allocated only from 2000::/3; the rest of "unicast" (such as the
    // IPv4-compatible ::a.b.c.d, deprecated and routed to IPv4 by some stacks) is not a destination.
    case "unicast":
      return address.match(GLOBAL_UNICAST) ? "public" : "reserved";
    default:
      return "reserved";
  }
}

export function classifyAddress(address: IpAddress): AddressClass {
  return address.kind() === "ipv4" ? classifyIPv4(address as ipaddr.IPv4) : classifyIPv6(address as ipaddr.IPv6);
}

/**
 * Names that only ever mean something inside a network: `localhost` (RFC 6761), mDNS `.local`,
 * `.internal` (ICANN's private-use TLD; metadata.google.internal), `home.arpa`, and the suffixes
 * private networks commonly use. A single-label name is completed with the host's search domains.
 */
const INTERNAL_SUFFIXES = ["local", "internal", "home.arpa", "localdomain", "lan", "home", "corp", "intranet"];

function classifyHostName(name: string): AddressClass | undefined {
  const host = name.toLowerCase().replace(/\.+$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  if (!host.includes(".") || INTERNAL_SUFFIXES.some((suffix) => host === suffix || host.endsWith(`.${suffix}`))) return "private";
  return undefined;
}

export function isAllowedClass(kind: AddressClass, policy: DestinationPolicy): boolean {
  return kind === "public" || (policy.allowPrivateNetworks && (kind === "loopback" || kind === "private"));
}

/**
 * What can be said about a URL's host without resolving it: the class of an IP literal or of an
 * internal-only name; undefined for an ordinary name, which only resolution can judge.
 */
export function classifyHost(hostname: string): { address: IpAddress | undefined; kind: AddressClass | undefined } {
  const address = parseIpLiteral(hostname);
  return { address, kind: address ? classifyAddress(address) : classifyHostName(hostname) };
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name has (node:dns `lookup` with `all: true`). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export type DestinationCheck =
  | { ok: true; url: URL; addresses: string[] }
  /** `detail` is for the operator's log only: it can name internal addresses and must not reach the merchant. */
  | { ok: false; reason: "https_required" | "destination_blocked"; detail: string };

/** `promise`'s result, or the signal's reason thrown once it is aborted. */
async function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  const aborted = Symbol("aborted");
  const result = await unlessAborted(promise, signal, aborted);
  if (result === aborted) throw signal.reason;
  return result as T;
}

/**
 * Decides, at delivery time, which addresses an endpoint URL may be sent to: the host name is
 * resolved now and EVERY address it has must be allowed (a name with one public and one private
 * address is refused: the resolver's order is not ours to trust). The caller connects to one of
 * the returned addresses, never to the name, so a second resolution cannot swap in another
 * (DNS rebinding). A name that does not resolve is refused like a private one, so the merchant
 * cannot tell which internal names exist.
 */
export async function checkDestination(
  rawUrl: string,
  policy: DestinationPolicy,
  resolve: HostResolver,
  signal: AbortSignal,
): Promise<DestinationCheck> {
  const blocked = (detail: string): DestinationCheck => ({ ok: false, reason: "destination_blocked", detail });
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return blocked("the endpoint URL does not parse");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return blocked(`scheme ${url.protocol} is not http(s)`);
  if (policy.requireHttps && url.protocol !== "https:") return { ok: false, reason: "https_required", detail: "http endpoint in production" };
  const host = classifyHost(url.hostname);
  if (host.kind && !isAllowedClass(host.kind, policy)) return blocked(`host ${url.hostname} is ${host.kind}`);
  if (host.address) return { ok: true, url, addresses: [host.address.toString()] };

  let resolved: ResolvedAddress[];
  try {
    resolved = await abortable(resolve(url.hostname), signal);
  } catch (error) {
    if (signal.aborted) throw error;
    return blocked(`cannot resolve ${url.hostname}: ${(error as { code?: string })?.code ?? String(error)}`);
  }
  if (resolved.length === 0) return blocked(`${url.hostname} has no address`);
  const addresses: string[] = [];
  for (const { address } of resolved) {
    const parsed = parseIpLiteral(address);
    const kind = parsed ? classifyAddress(parsed) : undefined;
    if (!parsed || !kind || !isAllowedClass(kind, policy)) return blocked(`${url.hostname} resolves to ${address} (${kind ?? "not an IP"})`);
    const text = parsed.toString();
    if (!addresses.includes(text)) addresses.push(text);
  }
  return { ok: true, url, addresses };
}
