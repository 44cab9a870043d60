export type { Logger } from "./logger";
export { type Backoff, backoffDelayMs } from "./backoff";
export { type PollLoop, type PollOptions, type PollRound, startPolling } from "./poll-loop";
export { Slots } from "./slots";
export { maskCredentials } from "./credentials";
export { unlessAborted } from "./abort";
