export { ApiKeyAuthenticator, type ApiKey, type Merchant } from "./api-keys";
export { RateLimiter } from "./rate-limiter";
export { FailedAuthThrottle, type FailedAuthLimits } from "./failed-auth-throttle";
