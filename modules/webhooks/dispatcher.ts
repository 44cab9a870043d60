import { lookup } from "node:dns/promises";
import type { Database } from "../database";
import { backoffDelayMs, type Logger, startPolling, type PollLoop } from "../runtime";
import { checkDestination, type DestinationPolicy, type HostResolver } from "./destination";
import { type ClaimedDelivery, abandonDelivery, claimDueDeliveries, recordAttempt } from "./repository";
import type { WebhookSecretBox } from "./secret-box";
import { signWebhookPayload } from "./signing";
import { createPinnedTransport, deliveryFailureOf, failedBeforeSending, type WebhookTransport } from "./transport";

export interface WebhookDispatcherOptions {
  /** Seals and opens the endpoints' signing secrets. */
  secrets: WebhookSecretBox;
  /** How long an idle dispatcher waits before looking for due deliveries again (default 500 ms). */
  pollIntervalMs?: number;
  /**
   * Quiet rounds in a row double that wait up to this (default: pollIntervalMs, no backoff), for a
   * process that calls expectDeliveries() whenever it may have written one.
   */
  maxPollIntervalMs?: number;
  /** How long a claimed delivery stays with this dispatcher; must outlast an attempt (default: timeoutMs + 30 s). */
  leaseMs?: number;
  /** Delay before the second attempt; it doubles per attempt up to an hour. */
  retryBaseMs: number;
  /** No attempt starts later than this after the event; the delivery is then `failed`. */
  maxAgeMs: number;
  /** Per attempt, from resolving the endpoint's host to the response headers. */
  timeoutMs: number;
  /** Attempts in flight at once in this dispatcher (default 16). */
  concurrency?: number;
  /**
   * Attempts in flight at once for one merchant, across every dispatcher (default 4); one while its
   * endpoint is failing. Keeps a slow or dead endpoint from taking the slots other merchants' events need.
   */
  perMerchantConcurrency?: number;
  /** An endpoint whose attempts have all failed for this long is disabled (default 3 days). */
  disableAfterMs?: number;
  /** Where deliveries may go; the same policy endpoint registration applies. */
  destinations: DestinationPolicy;
  /** Resolves an endpoint's host name at every attempt (node:dns `lookup`, all addresses, by default). */
  resolve?: HostResolver;
  /** Sends the signed POST to a checked address (createPinnedTransport() by default). */
  transport?: WebhookTransport;
}

const MAX_RETRY_DELAY_MS = 60 * 60 * 1000;
export const DEFAULT_WEBHOOK_CONCURRENCY = 16;
export const DEFAULT_WEBHOOK_MERCHANT_CONCURRENCY = 4;
export const DEFAULT_WEBHOOK_DISABLE_AFTER_MS = 3 * 86_400_000;
const POLL_INTERVAL_MS = 500;
/** An attempt holds its delivery for at most its timeout plus the time to record it. */
const RECORD_MARGIN_MS = 30_000;
const USER_AGENT = "paystream-webhooks/1";

/**
 * Delay after the `attempt`-th failed attempt: base · 2^(attempt-1), at most an hour, less up to
 * 20 % at random so the retries of many events that failed together (an endpoint outage) spread
 * out instead of arriving at the recovered endpoint all at once.
 */
export function webhookRetryDelayMs(baseMs: number, attempt: number, random: () => number = Math.random): number {
  return backoffDelayMs({ baseMs, maxMs: MAX_RETRY_DELAY_MS, jitter: 0.2 }, attempt, random);
}

/** What the merchant reads when its endpoint is disabled: for how long it failed, and how the last attempt ended. */
function disabledReason(disableAfterMs: number, last: AttemptResult): string {
  const hours = disableAfterMs / 3_600_000;
  const period = hours >= 48 ? `${Math.round(hours / 24)} days` : hours >= 1 ? `${Math.round(hours)} hours` : `${Math.round(disableAfterMs / 1000)} seconds`;
  const lastAttempt = last.statusCode !== null ? `HTTP ${last.statusCode}` : (last.error ?? "no answer");
  return `every delivery attempt failed for more than ${period} (last: ${lastAttempt}); enable the endpoint again with POST /v1/webhook-endpoint/enable or register a new URL`;
}

const resolveAll: HostResolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

type AttemptResult = { statusCode: number | null; error: string | null };

/**
 * Delivers webhook events at least once: claims due deliveries from the table, POSTs each signed
 * event to its merchant's endpoint, and records every attempt. A 2xx answer delivers; anything
 * else (another status, a redirect, a timeout, a refused connection, a destination the policy
 * refuses) is retried with backoff until `maxAgeMs` after the event, then the delivery is
 * `failed`. Receivers deduplicate by the event id: a dispatcher that dies after the POST but
 * before recording it sends the event again.
 *
 * Fair between merchants: a merchant has at most `perMerchantConcurrency` attempts in flight
 * across all dispatchers (one while its endpoint fails), and claims take the merchants' oldest
 * due deliveries in turn, so a slow or dead endpoint holds a few slots, never all of them. An
 * endpoint whose attempts have all failed for `disableAfterMs` is disabled (see recordAttempt).
 *
 * Each attempt resolves the endpoint's host anew, checks every address, and connects to a checked
 * one. The merchant's delivery log gets the status code of an allowed destination or a fixed code
 * (`destination_blocked`, `https_required`, `timeout`, `tls_failed`, `connection_failed`), never
 * error text or addresses; those go to the operator's log.
 */
export interface WebhookDispatcher {
  /** One round for tests: claims what is due, attempts it, and returns how many attempts were made. */
  dispatchOnce(): Promise<number>;
  start(): void;
  /** Events may have been written: look within pollIntervalMs, and poll at that pace again for a while. */
  expectDeliveries(): void;
  /** Takes no new deliveries and waits for the attempts in flight to be recorded. */
  stop(): Promise<void>;
}

export function createWebhookDispatcher(db: Database, logger: Logger, options: WebhookDispatcherOptions): WebhookDispatcher {
  const leaseMs = options.leaseMs ?? options.timeoutMs + RECORD_MARGIN_MS;
  const pollIntervalMs = options.pollIntervalMs ?? POLL_INTERVAL_MS;
  if (leaseMs <= options.timeoutMs) throw new Error("the webhook lease must be longer than the attempt timeout");
  const concurrency = options.concurrency ?? DEFAULT_WEBHOOK_CONCURRENCY;
  const fairness = { perMerchant: options.perMerchantConcurrency ?? DEFAULT_WEBHOOK_MERCHANT_CONCURRENCY };
  const disableAfterMs = options.disableAfterMs ?? DEFAULT_WEBHOOK_DISABLE_AFTER_MS;
  const resolve = options.resolve ?? resolveAll;
  const transport = options.transport ?? createPinnedTransport();
  const inFlight = new Set<Promise<void>>();
  let loop: PollLoop | undefined;

  async function post(delivery: ClaimedDelivery, url: string, secret: string, log: object): Promise<AttemptResult> {
    const signal = AbortSignal.timeout(options.timeoutMs);
    const request = {
      headers: {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "paystream-event-id": delivery.eventId,
        "paystream-event-type": delivery.type,
        "paystream-signature": signWebhookPayload(delivery.body, secret, Math.floor(Date.now() / 1000)),
      },
      body: delivery.body,
      signal,
    };
    try {
      const destination = await checkDestination(url, options.destinations, resolve, signal);
      if (!destination.ok) {
        logger.warn({ ...log, reason: destination.reason, detail: destination.detail }, "webhook destination refused");
        return { statusCode: null, error: destination.reason };
      }
      let failure: unknown;
      for (const address of destination.addresses) {
        try {
          return { statusCode: await transport({ url: destination.url, address }, request), error: null };
        } catch (error) {
          failure = error;
          logger.info({ ...log, address, err: error }, "webhook connection failed");
          // Another address is tried only when this one took nothing: never two copies from one attempt.
          if (!failedBeforeSending(error)) break;
        }
      }
      return { statusCode: null, error: deliveryFailureOf(failure, signal) };
    } catch (error) {
      return { statusCode: null, error: deliveryFailureOf(error, signal) };
    }
  }

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    const log = { eventId: delivery.eventId, merchantId: delivery.merchantId, attempt: delivery.attempt };
    if (!delivery.endpoint) {
      await abandonDelivery(db, delivery.eventId, delivery.attempt, "the webhook endpoint was deleted");
      logger.info(log, "webhook endpoint deleted; delivery abandoned");
      return;
    }
    const { url } = delivery.endpoint;
    const attemptedAt = new Date();
    const started = performance.now();
    let result: AttemptResult;
    try {
      result = await post(delivery, url, options.secrets.open(delivery.endpoint.secret), log);
    } catch (error) {
      // The secret cannot be opened (the master key changed): nothing can be signed until the merchant rotates it.
      logger.error({ ...log, err: error }, "cannot open the webhook signing secret");
      result = { statusCode: null, error: "the signing secret cannot be decrypted; rotate it with PUT /v1/webhook-endpoint" };
    }
    const durationMs = Math.round(performance.now() - started);
    const delivered = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const delayMs = webhookRetryDelayMs(options.retryBaseMs, delivery.attempt);
    const recorded = await recordAttempt(
      db,
      { eventId: delivery.eventId, attempt: delivery.attempt, url, attemptedAt, ...result, durationMs },
      delivered
        ? { kind: "delivered" }
        : { kind: "retry", delayMs, maxAgeMs: options.maxAgeMs, disableAfterMs, reason: disabledReason(disableAfterMs, result) },
      { merchantId: delivery.merchantId, url },
    );
    const status = recorded?.status;
    const outcome = { ...log, statusCode: result.statusCode, error: result.error, durationMs };
    if (recorded?.disabled) logger.warn({ ...outcome, disableAfterMs }, "webhook endpoint disabled: every attempt failed for too long");
    if (status === undefined) logger.warn(outcome, "webhook attempt finished after its lease; outcome left to the newer attempt");
    else if (status === "delivered") logger.debug(outcome, "webhook delivered");
    else if (status === "failed") logger.warn(outcome, "webhook delivery failed for good: retries exhausted");
    else logger.info({ ...outcome, retryInMs: delayMs }, "webhook attempt failed; retry scheduled");
  }

  /** Starts attempts for up to `limit` due deliveries; the returned promises settle when each attempt is recorded. */
  async function claimAndAttempt(limit: number): Promise<Promise<void>[]> {
    const claimed = await claimDueDeliveries(db, limit, leaseMs, fairness);
    return claimed.map((delivery) => {
      const task = attempt(delivery)
        .catch((error) => {
          // Unrecorded: the lease runs out and the delivery is attempted again (at least once).
          logger.warn({ err: error, eventId: delivery.eventId }, "could not record a webhook attempt");
        })
        .finally(() => {
          inFlight.delete(task);
          loop?.wake();
        });
      inFlight.add(task);
      return task;
    });
  }

  /** One polling round: attempts as many due deliveries as there are free slots. */
  async function pollRound(): Promise<"more" | "idle"> {
    const free = concurrency - inFlight.size;
    if (free <= 0) return "idle";
    const started = await claimAndAttempt(free);
    return started.length < free ? "idle" : "more";
  }

  return {
    async dispatchOnce(): Promise<number> {
      const started = await claimAndAttempt(concurrency);
      await Promise.all(started);
      return started.length;
    },
    start(): void {
      loop ??= startPolling(pollRound, {
        idleMs: pollIntervalMs,
        maxIdleMs: options.maxPollIntervalMs ?? pollIntervalMs,
        // The database is away: back off (capped) instead of spinning, and keep trying.
        failureBackoff: { baseMs: 2 * pollIntervalMs, maxMs: 5_000 },
        onFailure: (error, retryInMs) => logger.warn({ err: error, retryInMs }, "could not claim webhook deliveries"),
      });
    },
    expectDeliveries(): void {
      loop?.expectWork();
    },
    async stop(): Promise<void> {
      const stopping = loop;
      loop = undefined;
      await stopping?.stop();
      await Promise.all(inFlight);
    },
  };
}
