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
 * With `failedAuthentications`, a client that presented too many wrong keys gets 429 for every key
 * it has not itself authenticated with within the window, valid or not (otherwise the throttle
 * would still answer which guess was right), while a key it has keeps working: merchants who share
 * an address with a guesser are not locked out.
 */
export function createMerchantGuard(
  authenticator: ApiKeyAuthenticator,
  rateLimiter: RateLimiter,
  failedAuthentications?: FailedAuthThrottle,
): MerchantGuard {
  return (request, authorization = request.headers.get("authorization") ?? undefined) => {
    // A request without any credential guesses nothing: it gets 401 and costs the client nothing.
    const throttle = authorization === undefined || !failedAuthentications?.enabled ? undefined : failedAuthentications;
    // Who the client is costs a socket lookup and an address parse: before authentication, only
    // asked while some client has failed (none can be throttled before).
    let client = throttle?.hasFailures() ? clientOf(request) : undefined;
    const identified = authenticator.identify(authorization);
    if (client !== undefined && throttle) {
      const wait = throttle.retryAfterSeconds(client);
      // Asked whatever the key, so that how long the answer takes does not tell a valid key either.
      const proven = throttle.provenFrom(client, identified?.key ?? "");
      if (wait > 0 && !(identified && proven))
        throw new Problem("rate_limited", "Too many failed authentications from this client; try again later", {
          retryAfterSeconds: wait,
        });
    }
    if (!identified) {
      throttle?.recordFailure(client ?? clientOf(request));
      throw new Problem("unauthorized", "Send a valid API key as 'Authorization: Bearer <key>'");
    }
    const merchant = identified.merchant;
    // Remembered from the first success on, whether or not anyone has failed yet: a guesser may
    // start on this client's address at any time, and its merchant must not be locked out then.
    if (throttle) {
      client ??= clientOf(request);
      throttle.recordSuccess(client, identified.key);
    }
    const wait = rateLimiter.take(merchant.id);
    if (wait > 0) throw new Problem("rate_limited", "Too many requests for this API key", { retryAfterSeconds: wait });
    return merchant;
  };
}
