import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";

/** An endpoint URL and the checked address the request must go to. */
export interface PinnedDestination {
  url: URL;
  address: string;
}

export interface WebhookRequest {
  headers: Record<string, string>;
  body: string;
  /** Aborts the attempt (its timeout). */
  signal: AbortSignal;
}

/** POSTs the request to `destination.address` and resolves with the answer's status code, not following redirects. */
export type WebhookTransport = (destination: PinnedDestination, request: WebhookRequest) => Promise<number>;

export interface PinnedTransportOptions {
  /** Certificates to trust for https endpoints instead of the system's (a private CA, or a test's own). */
  ca?: string | string[];
}

/**
 * The connection goes to the address that was checked, never to a fresh resolution of the name:
 * `host` is the IP itself, while the `Host` header carries the URL's host and, for https, SNI and
 * the certificate check use the URL's name (`servername`), so the receiver sees an ordinary
 * request to its name. node:http rather than fetch: it never follows redirects, and Bun's fetch
 * honours HTTP_PROXY, which would hand the name to a proxy to resolve again.
 */
export function createPinnedTransport(options: PinnedTransportOptions = {}): WebhookTransport {
  return ({ url, address }, request) =>
    new Promise<number>((resolve, reject) => {
      const secure = url.protocol === "https:";
      const name = url.hostname.replace(/^\[|\]$/g, "");
      const outgoing = (secure ? https : http).request(
        {
          host: address,
          port: url.port || (secure ? 443 : 80),
          path: `${url.pathname}${url.search}`,
          method: "POST",
          headers: { ...request.headers, host: url.host },
          // SNI carries names only; an IP-literal URL is checked against the certificate's IP entries.
          ...(secure ? { servername: isIP(name) ? undefined : name, ca: options.ca } : {}),
          agent: false,
          signal: request.signal,
        },
        (response) => {
          resolve(response.statusCode ?? 0);
          // Only the status matters; closing now frees the connection without reading the body.
          response.destroy();
        },
      );
      outgoing.on("error", reject);
      outgoing.end(request.body);
    });
}

export type DeliveryFailure = "timeout" | "tls_failed" | "connection_failed";

const TLS_ERROR = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

/** What a merchant is told about a failed attempt: a code, never the error text (it can carry internal detail). */
export function deliveryFailureOf(error: unknown, signal: AbortSignal): DeliveryFailure {
  const name = (error as { name?: unknown })?.name;
  if (signal.aborted || name === "TimeoutError" || name === "AbortError") return "timeout";
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && TLS_ERROR.test(code) ? "tls_failed" : "connection_failed";
}

const NOTHING_SENT = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** The connection was never made, so another address of the same host can be tried without sending the event twice. */
export function failedBeforeSending(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && NOTHING_SENT.has(code);
}
