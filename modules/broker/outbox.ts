import { and, asc, eq, inArray, isNull, lte, or, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { type Executor, fixedStatement, type IdFilter, inJsonList, mapRows, queryRows } from "../database";
import { type OutboxRow, type OutboxTopic, outbox } from "./schema";

/** Announces a payment to the workers, in the caller's transaction. */
export async function enqueuePayment(
  db: Executor,
  message: { paymentId: string; requestId: string | null },
  delayMs = 0,
): Promise<void> {
  await enqueuePayments(db, [{ ...message, delayMs }]);
}

type PaymentMessageWrite = { paymentId: string; refundId?: string; requestId: string | null; delayMs: number };

/** enqueuePayment for many messages, each with its own delay, in one statement. */
export async function enqueuePayments(db: Executor, messages: PaymentMessageWrite[]): Promise<void> {
  if (messages.length === 0) return;
  await db.execute(paymentMessagesInsert(messages));
}

/**
 * The insert behind enqueuePayments, to run as a part of the statement that creates the payments
 * (given the ids created, it writes only theirs). Its one parameter is the messages as JSON (see
 * jsonRowsInsert): batches of any size share one plan.
 */
export function paymentMessagesInsert(messages: PaymentMessageWrite[], only?: IdFilter): SQL {
  const rows = messages.map((m) => ({
    payment_id: m.paymentId,
    payload: m.refundId ? { paymentId: m.paymentId, refundId: m.refundId, requestId: m.requestId } : { paymentId: m.paymentId, requestId: m.requestId },
    delay_seconds: m.delayMs / 1000,
  }));
  const topic: OutboxTopic = "requested";
  return sql`
    insert into ${outbox} (topic, payment_id, payload, available_at)
    select ${topic}, m.payment_id, m.payload, now() + make_interval(secs => m.delay_seconds)
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as m(payment_id text, payload jsonb, delay_seconds float8)
    ${only ? sql`where m.payment_id in (${only})` : sql``}`;
}

/**
 * The insert of one message for each payment in `ids` (a query of payment ids), due now, with no
 * request behind it: for work found by a statement rather than asked for, such as the voids of
 * expired authorizations, to run as a part of the statement that moves those payments.
 */
export function paymentMessagesFor(ids: IdFilter): SQL {
  const topic: OutboxTopic = "requested";
  return sql`
    insert into ${outbox} (topic, payment_id, payload, available_at)
    select ${topic}, m.id, jsonb_build_object('paymentId', m.id, 'requestId', null), now()
    from (${ids}) as m(id)`;
}

/** True, in a statement over payments, while a requested message for the payment's own work (not a refund) waits in the outbox (leased or not). */
export function hasQueuedPaymentMessage(paymentId: SQLWrapper): SQL {
  const topic: OutboxTopic = "requested";
  return sql`exists (select 1 from ${outbox} where ${outbox.paymentId} = ${paymentId} and ${outbox.topic} = ${topic} and ${outbox.payload} ->> 'refundId' is null)`;
}

/** True, in a statement over refunds, while a requested message for the refund waits in the outbox (leased or not). */
export function hasQueuedRefundMessage(paymentId: SQLWrapper, refundId: SQLWrapper): SQL {
  const topic: OutboxTopic = "requested";
  return sql`exists (select 1 from ${outbox} where ${outbox.paymentId} = ${paymentId} and ${outbox.topic} = ${topic} and ${outbox.payload} ->> 'refundId' = ${refundId})`;
}

/** Records a payment (or, with `refundId`, one of its refunds) that exhausted its attempts, in the caller's transaction. */
export async function enqueueDeadLetter(
  db: Executor,
  message: { paymentId: string; refundId?: string; requestId: string | null; reason: string; attempts: number; lastError: string },
): Promise<void> {
  await db.insert(outbox).values({ topic: "dlq", paymentId: message.paymentId, payload: { ...message } });
}

/**
 * Claims up to `limit` due rows of `topics` for `leaseMs`. SKIP LOCKED lets many claimers work
 * the table at once without waiting on each other; the lease lets another claimer retake a row
 * whose claimer died.
 */
export async function claimOutboxRows(
  db: Executor,
  topics: OutboxTopic[],
  limit: number,
  leaseMs: number,
): Promise<OutboxRow[]> {
  const claimed = mapRows(outbox, await queryRows(db, claimStatementFor(topics)(db, { limit, leaseSeconds: leaseMs / 1000 }))) as OutboxRow[];
  // RETURNING follows no particular order; hand rows on in the order they were written.
  return claimed.sort((a, b) => a.availableAt.getTime() - b.availableAt.getTime() || a.id - b.id);
}

/** One claim statement per set of topics: the topics are literals of its text, so the planner reads the due index in order. */
const claimStatements = new Map<string, ReturnType<typeof buildClaimStatement>>();
function claimStatementFor(topics: OutboxTopic[]) {
  const key = topics.join(",");
  let statement = claimStatements.get(key);
  if (!statement) claimStatements.set(key, (statement = buildClaimStatement(topics)));
  return statement;
}

const buildClaimStatement = (topics: OutboxTopic[]) =>
  fixedStatement(["limit", "leaseSeconds"], (db, p) => {
    const due = db
      .select({ id: outbox.id })
      .from(outbox)
      .where(
        and(
          inArray(outbox.topic, topics),
          lte(outbox.availableAt, sql`now()`),
          or(isNull(outbox.leaseUntil), lte(outbox.leaseUntil, sql`now()`)),
        ),
      )
      .orderBy(asc(outbox.availableAt), asc(outbox.id))
      .limit(p.limit)
      .for("update", { skipLocked: true });
    return db
      .update(outbox)
      .set({
        leaseUntil: sql`now() + make_interval(secs => ${p.leaseSeconds})`,
        deliveries: sql`${outbox.deliveries} + 1`,
      })
      .where(inArray(outbox.id, due))
      .returning();
  });

/** Acknowledges delivered rows. */
export async function deleteOutboxRows(db: Executor, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.delete(outbox).where(inJsonList(outbox.id, ids));
}

/** Hands a claimed row back to be delivered again after `delayMs`. */
export async function releaseOutboxRow(db: Executor, id: number, delayMs: number): Promise<void> {
  await db
    .update(outbox)
    .set({ leaseUntil: null, availableAt: sql`now() + make_interval(secs => ${delayMs / 1000})` })
    .where(eq(outbox.id, id));
}

export interface OutboxBacklog {
  requested: number;
  deadLettered: number;
  oldestDueAgeSeconds: number;
}

/**
 * The backlog of the whole outbox, or, with `only`, of the rows whose payment id satisfies that
 * predicate (built by the caller over the row's `payment_id`: a merchant's payments, say).
 */
export async function outboxBacklog(db: Executor, only?: (paymentId: SQLWrapper) => SQL): Promise<OutboxBacklog> {
  const [row] = await db
    .select({
      requested: sql<number>`count(*) filter (where ${outbox.topic} = 'requested')::int`,
      deadLettered: sql<number>`count(*) filter (where ${outbox.topic} = 'dlq')::int`,
      oldest: sql<number>`coalesce(extract(epoch from now() - min(${outbox.availableAt}) filter (where ${outbox.topic} = 'requested' and ${outbox.availableAt} <= now())), 0)::float8`,
    })
    .from(outbox)
    .where(only?.(outbox.paymentId));
  return {
    requested: Number(row?.requested ?? 0),
    deadLettered: Number(row?.deadLettered ?? 0),
    oldestDueAgeSeconds: Number(row?.oldest ?? 0),
  };
}

/**
 * Milliseconds until the first of `topics`' rows falls due (its delay or its lease ends; 0 when one
 * is due now), or undefined when there are none: how long an idle claimer may wait undisturbed.
 */
export async function nextOutboxDueInMs(db: Executor, topics: OutboxTopic[]): Promise<number | undefined> {
  const [row] = await db
    .select({
      ms: sql<number | null>`(extract(epoch from min(greatest(${outbox.availableAt}, coalesce(${outbox.leaseUntil}, ${outbox.availableAt}))) - now()) * 1000)::float8`,
    })
    .from(outbox)
    .where(inArray(outbox.topic, topics));
  return row?.ms == null ? undefined : Math.max(0, Math.ceil(Number(row.ms)));
}
