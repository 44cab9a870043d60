import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

interface Peer {
  /** The socket's peer address, asked for only when a request's client matters (most never do). */
  address: () => string | undefined;
  trustedProxyHops: number;
}

const peers = new WeakMap<Request, Peer>();

/** Called by the server for each request it accepts, before any route runs: how to find the socket's peer address. */
export function rememberPeer(request: Request, address: () => string | undefined, trustedProxyHops: number): void {
  peers.set(request, { address, trustedProxyHops });
}

/** IPv4-mapped IPv6 is the IPv4 client; an IPv6 client is its /64, since one host usually holds a whole /64. */
function clientKey(address: string): string {
  const parsed = ipaddr.process(address.replace(/%.*$/, ""));
  if (parsed.kind() === "ipv4") return parsed.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/64`).toString()}/64`;
}

/** An X-Forwarded-For entry's address: some proxies add the client's port (`203.0.113.9:5012`, `[2001:db8::1]:5012`). */
function addressOfEntry(entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  const candidate = bracketed ? bracketed[1]! : /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry)?.[1] ?? entry;
  return isIP(candidate.replace(/%.*$/, "")) === 0 ? undefined : candidate;
}

/**
 * Who sent a request, for per-client limits. Behind `trustedProxyHops` reverse proxies (the
 * nearest one is the socket's peer) each proxy appends the address it received the request from
 * to X-Forwarded-For, so the client is the entry the outermost trusted proxy added: the
 * hops-th from the right. Entries further left are whatever the client chose to send, and are
 * ignored. Fewer entries than hops: the leftmost is as far as the chain goes. Without a
 * remembered peer (a request the server did not accept itself) every such request shares one
 * client, "unknown".
 */
export function clientOf(request: Request): string {
  const peer = peers.get(request);
  const peerAddress = peer?.address();
  if (!peer || !peerAddress || isIP(peerAddress.replace(/%.*$/, "")) === 0) return "unknown";
  let address = peerAddress;
  if (peer.trustedProxyHops > 0) {
    const forwarded = (request.headers.get("x-forwarded-for") ?? "")
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "");
    // Like Express's "trust proxy" hop count: as far left as the trusted hops reach, no further.
    const hop = forwarded[Math.max(0, forwarded.length - peer.trustedProxyHops)];
    const forwardedAddress = hop === undefined ? undefined : addressOfEntry(hop);
    if (forwardedAddress !== undefined) address = forwardedAddress;
  }
  return clientKey(address);
}
