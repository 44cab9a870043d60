import type { ApiKeyAuthenticator, FailedAuthThrottle, Merchant, RateLimiter } from "../auth";
import { clientOf } from "./client-address";
import { Problem } from "./problem";

/**
 * The merchant of a request's `Authorization: Bearer` key. `authorization` replaces the request's
 * own header where a key arrives another way (a sign-in form): pass the original request anyway,
 * so that failures count against the client that sent it.
 */
export type MerchantGuard = (request: Request, authorization?: string) => Merchant;

/**
 * Authenticates a request's Bearer key and applies that key's rate limit; throws Problems (401 / 429).
 * With `failedAuthentications`, a client that presented too many wrong keys gets 429 without its
 * key being checked at all (otherwise the throttle would still answer which guess was right).
 */
export function createMerchantGuard(
  authenticator: ApiKeyAuthenticator,
  rateLimiter: RateLimiter,
  failedAuthentications?: FailedAuthThrottle,
): MerchantGuard {
  return (request, authorization = request.headers.get("authorization") ?? undefined) => {
    // A request without any credential guesses nothing: it gets 401 and costs the client nothing.
    const throttle = authorization === undefined ? undefined : failedAuthentications;
    // Who the client is costs a socket lookup and an address parse: only asked while some client has failed.
    const client = throttle?.hasFailures() ? clientOf(request) : undefined;
    if (client !== undefined) {
      const wait = throttle?.retryAfterSeconds(client) ?? 0;
      if (wait > 0)
        throw new Problem("rate_limited", "Too many failed authentications from this client; try again later", {
          retryAfterSeconds: wait,
        });
    }
    const merchant = authenticator.authenticate(authorization);
    if (!merchant) {
      throttle?.recordFailure(client ?? clientOf(request));
      throw new Problem("unauthorized", "Send a valid API key as 'Authorization: Bearer <key>'");
    }
    const wait = rateLimiter.take(merchant.id);
    if (wait > 0) throw new Problem("rate_limited", "Too many requests for this API key", { retryAfterSeconds: wait });
    return merchant;
  };
}
