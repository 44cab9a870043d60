import { and, asc, desc, eq, inArray, isNotNull, isNull, lt, lte, or, sql } from "drizzle-orm";
import { type Executor, inJsonList, queryRows } from "../database";
import {
  type DeliveryStatus,
  type WebhookDeliveryAttemptRow,
  type WebhookEndpointRow,
  type WebhookEventType,
  webhookDeliveries,
  webhookDeliveryAttempts,
  webhookEndpoints,
  webhookEvents,
} from "./schema";
import type { SealedSecret } from "./secret-box";

const isPending = sql`${webhookDeliveries.status} = 'pending'`;
const secondsFromNow = (ms: number) => sql`now() + make_interval(secs => ${ms / 1000})`;

/** Creates the merchant's endpoint or replaces its URL and secret (rotation). */
export async function upsertEndpoint(
  db: Executor,
  endpoint: { merchantId: string; url: string; secret: SealedSecret },
): Promise<WebhookEndpointRow> {
  // A new URL (or secret) is a fresh start: whatever failed before says nothing of it.
  const values = {
    url: endpoint.url,
    secretKeyId: endpoint.secret.keyId,
    sealedSecret: endpoint.secret.sealed,
    failingSince: null,
    disabledAt: null,
    disabledReason: null,
  };
  const [row] = await db
    .insert(webhookEndpoints)
    .values({ merchantId: endpoint.merchantId, ...values })
    .onConflictDoUpdate({ target: webhookEndpoints.merchantId, set: { ...values, createdAt: sql`now()` } })
    .returning();
  if (!row) throw new Error("upsert into webhook_endpoints returned no row");
  return row;
}

export async function findEndpoint(db: Executor, merchantId: string): Promise<WebhookEndpointRow | undefined> {
  const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.merchantId, merchantId));
  return row;
}

/** Enables a disabled endpoint again, its failure record cleared; undefined when there is no endpoint. */
export async function enableEndpoint(db: Executor, merchantId: string): Promise<WebhookEndpointRow | undefined> {
  const [row] = await db
    .update(webhookEndpoints)
    .set({ failingSince: null, disabledAt: null, disabledReason: null })
    .where(eq(webhookEndpoints.merchantId, merchantId))
    .returning();
  return row;
}

/** What a delivery says when its endpoint was disabled before it could be sent. */
export const ENDPOINT_DISABLED_ERROR = "the webhook endpoint is disabled";

/** Removes the endpoint and, in the same transaction, gives up the deliveries still waiting for it. */
export async function deleteEndpoint(db: Executor, merchantId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const deleted = await tx
      .delete(webhookEndpoints)
      .where(eq(webhookEndpoints.merchantId, merchantId))
      .returning({ merchantId: webhookEndpoints.merchantId });
    if (deleted.length === 0) return false;
    await tx
      .update(webhookDeliveries)
      .set({ status: "failed", lastError: "the webhook endpoint was deleted", leaseUntil: null, updatedAt: sql`now()` })
      .where(and(eq(webhookDeliveries.merchantId, merchantId), isPending));
    return true;
  });
}

/**
 * The merchants among `merchantIds` that have an endpoint now: events are built only for them (most
 * payments belong to merchants without one, and an event is a whole payment object). The insert
 * below still checks again, in its own statement.
 */
export async function subscribedMerchants(db: Executor, merchantIds: readonly string[]): Promise<Set<string>> {
  if (merchantIds.length === 0) return new Set();
  const rows = await db
    .select({ merchantId: webhookEndpoints.merchantId })
    .from(webhookEndpoints)
    .where(inJsonList(webhookEndpoints.merchantId, merchantIds));
  return new Set(rows.map((r) => r.merchantId));
}

/**
 * Inserts the events (and their deliveries) of the merchants that have an endpoint, in the
 * caller's transaction, in one statement; events of merchants without one are dropped. One event
 * per payment and type: a second is ignored (the unique index), so the caller may safely run
 * twice. The delivery is pending, or already `failed` when the endpoint is disabled: the event is
 * still listed to its merchant, but nothing is sent.
 */
export async function insertEventsIfSubscribed(
  db: Executor,
  events: { id: string; merchantId: string; paymentId: string; subjectId: string; type: WebhookEventType; body: string; createdAt: Date }[],
): Promise<void> {
  if (events.length === 0) return;
  const input = events.map((e) => ({
    id: e.id,
    merchant_id: e.merchantId,
    payment_id: e.paymentId,
    subject_id: e.subjectId,
    type: e.type,
    body: e.body,
    created_at: e.createdAt.toISOString(),
  }));
  await db.execute(sql`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
        as x(id text, merchant_id text, payment_id text, subject_id text, type text, body text, created_at timestamptz)
    ), event as (
      insert into ${webhookEvents} (id, merchant_id, payment_id, subject_id, type, body, created_at)
      select i.id, i.merchant_id, i.payment_id, i.subject_id, i.type, i.body, i.created_at
      from input i where exists (select 1 from ${webhookEndpoints} w where w.merchant_id = i.merchant_id)
      on conflict (subject_id, type) do nothing
      returning id, merchant_id, created_at
    )
    insert into ${webhookDeliveries} (event_id, merchant_id, status, last_error, next_attempt_at, created_at, updated_at)
    select e.id, e.merchant_id,
           case when w.disabled_at is null then 'pending' else 'failed' end,
           case when w.disabled_at is null then null else ${ENDPOINT_DISABLED_ERROR} end,
           e.created_at, e.created_at, e.created_at
    from event e left join ${webhookEndpoints} w on w.merchant_id = e.merchant_id`);
}

export interface ClaimedDelivery {
  eventId: string;
  merchantId: string;
  /** The number of this attempt; it fences the outcome written for it. */
  attempt: number;
  type: WebhookEventType;
  body: string;
  /** The endpoint as it is now (its URL or secret may have changed since the event); null once deleted. */
  endpoint: { url: string; secret: SealedSecret } | null;
}

/** How the claim shares the dispatchers between merchants. */
export interface ClaimFairness {
  /** Attempts in flight at once for one merchant whose endpoint answers (across every dispatcher). */
  perMerchant: number;
}

/**
 * Claims up to `limit` due deliveries for `leaseMs`, fairly between merchants. Each enabled
 * endpoint's merchant may have `perMerchant` attempts in flight across all dispatchers (one only
 * while its endpoint is failing); the claim takes each merchant's oldest due deliveries up to what
 * it has free, then interleaves the merchants (every merchant's first, then every merchant's
 * second, …), so a merchant with a long backlog or a slow endpoint cannot take every slot.
 * Like the outbox, SKIP LOCKED lets many dispatchers share the table without waiting on each
 * other, and the lease lets another one retake a delivery whose dispatcher died mid-attempt. Two
 * dispatchers claiming at the same instant may each see the same free count: the cap is exact
 * per claim, approximate across racing claims.
 */
export async function claimDueDeliveries(db: Executor, limit: number, leaseMs: number, fairness: ClaimFairness): Promise<ClaimedDelivery[]> {
  const claimed = await queryRows<{ event_id: string; merchant_id: string; attempts: number }>(
    db,
    sql`
    with merchant as (
      select w.merchant_id,
             (case when w.failing_since is null then ${fairness.perMerchant}::int else 1 end)
               - (select count(*)::int from ${webhookDeliveries} l
                  where l.merchant_id = w.merchant_id and l.status = 'pending' and l.lease_until is not null and l.lease_until > now()) as free
      from ${webhookEndpoints} w
      where w.disabled_at is null
    ), candidate as (
      select d.event_id, d.next_attempt_at, d.turn
      from merchant m
      cross join lateral (
        -- In the index's order (merchant_id, next_attempt_at), so the limit stops the scan: no sort of a long backlog.
        select x.event_id, x.next_attempt_at, row_number() over (order by x.next_attempt_at) as turn
        from ${webhookDeliveries} x
        where x.merchant_id = m.merchant_id and x.status = 'pending' and x.next_attempt_at <= now()
          and (x.lease_until is null or x.lease_until <= now())
        order by x.next_attempt_at
        limit greatest(m.free, 0)
      ) d
      where m.free > 0
      order by d.turn, d.next_attempt_at
      limit ${limit}
    ), due as (
      select d.event_id from ${webhookDeliveries} d
      where d.event_id in (select event_id from candidate)
        and d.status = 'pending' and d.next_attempt_at <= now() and (d.lease_until is null or d.lease_until <= now())
      for update skip locked
    )
    update ${webhookDeliveries} set attempts = attempts + 1, lease_until = ${secondsFromNow(leaseMs)}, updated_at = now()
    where event_id in (select event_id from due)
    returning event_id, merchant_id, attempts`,
  );
  if (claimed.length === 0) return [];

  const details = await db
    .select({
      id: webhookEvents.id,
      type: webhookEvents.type,
      body: webhookEvents.body,
      url: webhookEndpoints.url,
      secretKeyId: webhookEndpoints.secretKeyId,
      sealedSecret: webhookEndpoints.sealedSecret,
    })
    .from(webhookEvents)
    .leftJoin(webhookEndpoints, eq(webhookEndpoints.merchantId, webhookEvents.merchantId))
    .where(
      inArray(
        webhookEvents.id,
        claimed.map((c) => c.event_id),
      ),
    );
  const byId = new Map(details.map((d) => [d.id, d]));
  return claimed.flatMap((row) => {
    const c = { eventId: row.event_id, merchantId: row.merchant_id, attempt: Number(row.attempts) };
    const d = byId.get(c.eventId);
    if (!d) return [];
    const endpoint =
      d.url !== null && d.secretKeyId !== null && d.sealedSecret !== null
        ? { url: d.url, secret: { keyId: d.secretKeyId, sealed: d.sealedSecret } }
        : null;
    return [{ eventId: c.eventId, merchantId: c.merchantId, attempt: c.attempt, type: d.type, body: d.body, endpoint }];
  });
}

export interface AttemptRecord {
  eventId: string;
  attempt: number;
  url: string;
  attemptedAt: Date;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export type AttemptOutcome =
  | { kind: "delivered" }
  /**
   * Try again after `delayMs`, unless that is later than `maxAgeMs` after the event: then give up.
   * The endpoint is disabled, for `reason`, when its attempts have all failed for `disableAfterMs`.
   */
  | { kind: "retry"; delayMs: number; maxAgeMs: number; disableAfterMs: number; reason: string };

/** Where the attempt went: its endpoint's failure record follows the attempts made to its current URL. */
export interface AttemptTarget {
  merchantId: string;
  url: string;
}

/** The delivery's new status; `disabled` when this failure disabled the endpoint. */
export interface RecordedAttempt {
  status: DeliveryStatus;
  disabled: boolean;
}

/**
 * Logs one HTTP attempt and moves its delivery on, in one transaction. The log row is written
 * whatever happens (the request did go out); the delivery changes only if this attempt still
 * holds it, so a dispatcher that lost its lease cannot overwrite a newer attempt's outcome.
 * It also keeps the endpoint's failure record: a delivered attempt clears `failing_since`, a
 * failed one sets it if unset, and disables the endpoint once it is older than `disableAfterMs`
 * (the merchant's pending deliveries are then `failed` with it). Returns the delivery's new
 * status, or undefined when the attempt no longer held it.
 */
export async function recordAttempt(
  db: Executor,
  record: AttemptRecord,
  outcome: AttemptOutcome,
  target: AttemptTarget,
): Promise<RecordedAttempt | undefined> {
  return db.transaction(async (tx) => {
    await tx.insert(webhookDeliveryAttempts).values(record);
    const common = { lastStatusCode: record.statusCode, lastError: record.error, leaseUntil: null, updatedAt: sql`now()` };
    const next =
      outcome.kind === "delivered"
        ? { ...common, status: "delivered" as const, deliveredAt: sql`now()` }
        : {
            ...common,
            status: sql<DeliveryStatus>`case when ${secondsFromNow(outcome.delayMs)} > ${webhookDeliveries.createdAt} + make_interval(secs => ${outcome.maxAgeMs / 1000}) then 'failed' else 'pending' end`,
            nextAttemptAt: secondsFromNow(outcome.delayMs),
          };
    const [row] = await tx
      .update(webhookDeliveries)
      .set(next)
      .where(and(eq(webhookDeliveries.eventId, record.eventId), eq(webhookDeliveries.attempts, record.attempt), isPending))
      .returning({ status: webhookDeliveries.status });
    if (!row) return undefined;
    const endpoint = and(eq(webhookEndpoints.merchantId, target.merchantId), eq(webhookEndpoints.url, target.url));
    if (outcome.kind === "delivered") {
      await tx.update(webhookEndpoints).set({ failingSince: null }).where(and(endpoint, isNotNull(webhookEndpoints.failingSince)));
      return { status: row.status, disabled: false };
    }
    const failingSince = sql`coalesce(${webhookEndpoints.failingSince}, ${record.attemptedAt.toISOString()}::timestamptz)`;
    const overdue = sql`${failingSince} <= now() - make_interval(secs => ${outcome.disableAfterMs / 1000})`;
    const [state] = await tx
      .update(webhookEndpoints)
      .set({
        failingSince,
        disabledAt: sql`case when ${overdue} then now() end`,
        disabledReason: sql`case when ${overdue} then ${outcome.reason} end`,
      })
      .where(and(endpoint, isNull(webhookEndpoints.disabledAt)))
      .returning({ disabledAt: webhookEndpoints.disabledAt });
    if (!state?.disabledAt) return { status: row.status, disabled: false };
    // Everything waiting for the endpoint is given up, this delivery included; an attempt still in
    // flight elsewhere records its own outcome (a failure then leaves its delivery pending, to be
    // sent if the endpoint is enabled again).
    await tx
      .update(webhookDeliveries)
      .set({ status: "failed", lastError: ENDPOINT_DISABLED_ERROR, leaseUntil: null, updatedAt: sql`now()` })
      .where(
        and(
          eq(webhookDeliveries.merchantId, target.merchantId),
          isPending,
          or(eq(webhookDeliveries.eventId, record.eventId), isNull(webhookDeliveries.leaseUntil), lte(webhookDeliveries.leaseUntil, sql`now()`)),
        ),
      );
    return { status: "failed", disabled: true };
  });
}

/** Gives up a claimed delivery whose endpoint was deleted between its event and this attempt. */
export async function abandonDelivery(db: Executor, eventId: string, attempt: number, reason: string): Promise<void> {
  await db
    .update(webhookDeliveries)
    .set({ status: "failed", lastError: reason, leaseUntil: null, updatedAt: sql`now()` })
    .where(and(eq(webhookDeliveries.eventId, eventId), eq(webhookDeliveries.attempts, attempt), isPending));
}

export interface EventListQuery {
  paymentId?: string | undefined;
  limit: number;
  startingAfter?: string | undefined;
}

/** A merchant's events with their delivery state, newest first; event ids are time-ordered. */
export async function listEvents(db: Executor, merchantId: string, query: EventListQuery) {
  const rows = await db
    .select({
      id: webhookEvents.id,
      type: webhookEvents.type,
      paymentId: webhookEvents.paymentId,
      body: webhookEvents.body,
      createdAt: webhookEvents.createdAt,
      status: webhookDeliveries.status,
      attempts: webhookDeliveries.attempts,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
      lastStatusCode: webhookDeliveries.lastStatusCode,
      lastError: webhookDeliveries.lastError,
      deliveredAt: webhookDeliveries.deliveredAt,
    })
    .from(webhookEvents)
    .innerJoin(webhookDeliveries, eq(webhookDeliveries.eventId, webhookEvents.id))
    .where(
      and(
        eq(webhookEvents.merchantId, merchantId),
        query.paymentId ? eq(webhookEvents.paymentId, query.paymentId) : undefined,
        query.startingAfter ? lt(webhookEvents.id, query.startingAfter) : undefined,
      ),
    )
    .orderBy(desc(webhookEvents.id))
    .limit(query.limit + 1);
  return { rows: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
}

export type EventWithDelivery = Awaited<ReturnType<typeof listEvents>>["rows"][number];

/** The delivery log of one of the merchant's events, oldest attempt first; undefined if the event is not theirs. */
export async function listDeliveryAttempts(
  db: Executor,
  merchantId: string,
  eventId: string,
): Promise<WebhookDeliveryAttemptRow[] | undefined> {
  const [event] = await db
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.id, eventId), eq(webhookEvents.merchantId, merchantId)));
  if (!event) return undefined;
  return db
    .select()
    .from(webhookDeliveryAttempts)
    .where(eq(webhookDeliveryAttempts.eventId, eventId))
    .orderBy(asc(webhookDeliveryAttempts.attempt));
}
