import { and, asc, desc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import { type Executor, inJsonList } from "../database";
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
  const values = { url: endpoint.url, secretKeyId: endpoint.secret.keyId, sealedSecret: endpoint.secret.sealed };
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
 * Writes an event and its pending delivery in the caller's transaction, in one statement, if
 * the merchant has an endpoint; otherwise writes nothing. A second event of the same type for
 * the same payment is ignored (the unique index), so the caller may safely run twice.
 */
/**
 * Inserts the events (and their pending deliveries) of the merchants that have an endpoint, in
 * one statement; events of merchants without one are dropped. One event per payment and type.
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
    insert into ${webhookDeliveries} (event_id, merchant_id, next_attempt_at, created_at, updated_at)
    select id, merchant_id, created_at, created_at, created_at from event`);
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

/**
 * Claims up to `limit` due deliveries for `leaseMs`, like the outbox: SKIP LOCKED lets many
 * dispatchers share the table without waiting on each other, and the lease lets another one
 * retake a delivery whose dispatcher died mid-attempt.
 */
export async function claimDueDeliveries(db: Executor, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const due = db
    .select({ eventId: webhookDeliveries.eventId })
    .from(webhookDeliveries)
    .where(
      and(
        isPending,
        lte(webhookDeliveries.nextAttemptAt, sql`now()`),
        or(isNull(webhookDeliveries.leaseUntil), lte(webhookDeliveries.leaseUntil, sql`now()`)),
      ),
    )
    .orderBy(asc(webhookDeliveries.nextAttemptAt))
    .limit(limit)
    .for("update", { skipLocked: true });
  const claimed = await db
    .update(webhookDeliveries)
    .set({
      attempts: sql`${webhookDeliveries.attempts} + 1`,
      leaseUntil: secondsFromNow(leaseMs),
      updatedAt: sql`now()`,
    })
    .where(inArray(webhookDeliveries.eventId, due))
    .returning({ eventId: webhookDeliveries.eventId, merchantId: webhookDeliveries.merchantId, attempt: webhookDeliveries.attempts });
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
        claimed.map((c) => c.eventId),
      ),
    );
  const byId = new Map(details.map((d) => [d.id, d]));
  return claimed.flatMap((c) => {
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
  /** Try again after `delayMs`, unless that is later than `maxAgeMs` after the event: then give up. */
  | { kind: "retry"; delayMs: number; maxAgeMs: number };

/**
 * Logs one HTTP attempt and moves its delivery on, in one transaction. The log row is written
 * whatever happens (the request did go out); the delivery changes only if this attempt still
 * holds it, so a dispatcher that lost its lease cannot overwrite a newer attempt's outcome.
 * Returns the delivery's new status, or undefined when the attempt no longer held it.
 */
export async function recordAttempt(
  db: Executor,
  record: AttemptRecord,
  outcome: AttemptOutcome,
): Promise<DeliveryStatus | undefined> {
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
    return row?.status;
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
