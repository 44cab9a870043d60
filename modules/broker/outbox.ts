import { and, asc, eq, inArray, isNull, lte, or, sql } from "drizzle-orm";
import type { Executor } from "../database";
import { type OutboxRow, type OutboxTopic, outbox } from "./schema";

/** Announces a payment to the workers, in the caller's transaction. */
export async function enqueuePayment(
  db: Executor,
  message: { paymentId: string; requestId: string | null },
  delayMs = 0,
): Promise<void> {
  await enqueuePayments(db, [{ ...message, delayMs }]);
}

/** enqueuePayment for many messages, each with its own delay, in one statement. */
export async function enqueuePayments(
  db: Executor,
  messages: { paymentId: string; requestId: string | null; delayMs: number }[],
): Promise<void> {
  if (messages.length === 0) return;
  await db.insert(outbox).values(
    messages.map((m) => ({
      topic: "requested" as const,
      paymentId: m.paymentId,
      payload: { paymentId: m.paymentId, requestId: m.requestId },
      availableAt: sql`now() + make_interval(secs => ${m.delayMs / 1000})`,
    })),
  );
}

/** Records a payment that exhausted its attempts, in the caller's transaction. */
export async function enqueueDeadLetter(
  db: Executor,
  message: { paymentId: string; requestId: string | null; reason: string; attempts: number; lastError: string },
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
    .limit(limit)
    .for("update", { skipLocked: true });
  const claimed = await db
    .update(outbox)
    .set({
      leaseUntil: sql`now() + make_interval(secs => ${leaseMs / 1000})`,
      deliveries: sql`${outbox.deliveries} + 1`,
    })
    .where(inArray(outbox.id, due))
    .returning();
  // RETURNING follows no particular order; hand rows on in the order they were written.
  return claimed.sort((a, b) => a.availableAt.getTime() - b.availableAt.getTime() || a.id - b.id);
}

/** Acknowledges delivered rows. */
export async function deleteOutboxRows(db: Executor, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.delete(outbox).where(inArray(outbox.id, ids));
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

export async function outboxBacklog(db: Executor): Promise<OutboxBacklog> {
  const [row] = await db
    .select({
      requested: sql<number>`count(*) filter (where ${outbox.topic} = 'requested')::int`,
      deadLettered: sql<number>`count(*) filter (where ${outbox.topic} = 'dlq')::int`,
      oldest: sql<number>`coalesce(extract(epoch from now() - min(${outbox.availableAt}) filter (where ${outbox.topic} = 'requested' and ${outbox.availableAt} <= now())), 0)::float8`,
    })
    .from(outbox);
  return {
    requested: Number(row?.requested ?? 0),
    deadLettered: Number(row?.deadLettered ?? 0),
    oldestDueAgeSeconds: Number(row?.oldest ?? 0),
  };
}
