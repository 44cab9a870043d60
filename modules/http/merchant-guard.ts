import type { ApiKeyAuthenticator, Merchant, RateLimiter } from "../auth";
import { Problem } from "./problem";

export type MerchantGuard = (request: Request) => Merchant;

/** Authenticates a request's Bearer key and applies that key's rate limit; throws Problems (401 / 429). */
export function createMerchantGuard(authenticator: ApiKeyAuthenticator, rateLimiter: RateLimiter): MerchantGuard {
  return (request) => {
    const merchant = authenticator.authenticate(request.headers.get("authorization"));
    if (!merchant) throw new Problem("unauthorized", "Send a valid API key as 'Authorization: Bearer <key>'");
    const wait = rateLimiter.take(merchant.id);
    if (wait > 0) throw new Problem("rate_limited", "Too many requests for this API key", { retryAfterSeconds: wait });
    return merchant;
  };
}
