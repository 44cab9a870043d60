import { type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { type Executor, queryRows } from "../../database";
import { hasQueuedPaymentMessage, hasQueuedRefundMessage } from "../outbox";
import type { QueuedWork } from "../port";
import { kafkaRelayed } from "../schema";

/** Where the relay put one requested message: recorded with the deletion of its outbox row. */
export interface RelayedMessage {
  topic: string;
  partition: number;
  offset: number;
  paymentId: string;
  refundId: string | null;
  dueAt: Date;
}

/**
 * The messages of one partition that are still in the topic and not consumed by the group:
 * offsets from `from` (the group's committed offset, "the next to read"; the log's start when the
 * group never committed) up to, not including, `high` (the log's end).
 */
export interface PartitionWindow {
  partition: number;
  from: number;
  high: number;
}

/** Records relayed messages, in the transaction that deletes their outbox rows (so a message is always in one of the two). */
export async function recordRelayed(db: Executor, messages: RelayedMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const rows = messages.map((m) => ({
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    payment_id: m.paymentId,
    refund_id: m.refundId,
    due_at: m.dueAt.toISOString(),
  }));
  await db.execute(sql`
    insert into ${kafkaRelayed} (topic, partition, "offset", payment_id, refund_id, due_at)
    select r.topic, r.partition, r."offset", r.payment_id, r.refund_id, r.due_at
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(topic text, partition int, "offset" bigint, payment_id text, refund_id text, due_at timestamptz)`);
}

/**
 * True for a relayed row whose message is still in its partition's window (not yet consumed, not
 * gone from the log). Written out per partition (a few): the sweeper's statement evaluates it for
 * every candidate row, and a table function there (the windows as one JSON parameter) was parsed
 * again for each one, 10 s a sweep under a 20,000-payment backlog.
 */
const waiting = (windows: PartitionWindow[]) =>
  windows.length === 0
    ? sql`false`
    : sql`(${sql.join(
        windows.map((w) => sql`(${kafkaRelayed.partition} = ${w.partition} and ${kafkaRelayed.offset} >= ${w.from} and ${kafkaRelayed.offset} < ${w.high})`),
        sql` or `,
      )})`;

/**
 * The sweeper's "is a message for this work still queued" with BROKER=kafka: a requested row still
 * in the outbox, or a relayed message of `topic` the group has not consumed yet (however old). A
 * message consumed (at or below the committed offset), or gone from the log (a lost partition),
 * queues nothing: its work, if not final and unleased, is stranded.
 */
export function queuedInTopic(topic: string, windows: PartitionWindow[]): QueuedWork {
  const inTopic = (match: SQL) =>
    sql`exists (select 1 from ${kafkaRelayed} where ${kafkaRelayed.topic} = ${topic} and ${match} and ${waiting(windows)})`;
  return {
    payment: (paymentId: SQLWrapper) =>
      sql`(${hasQueuedPaymentMessage(paymentId)} or ${inTopic(sql`${kafkaRelayed.paymentId} = ${paymentId} and ${kafkaRelayed.refundId} is null`)})`,
    refund: (paymentId: SQLWrapper, refundId: SQLWrapper) =>
      sql`(${hasQueuedRefundMessage(paymentId, refundId)} or ${inTopic(sql`${kafkaRelayed.paymentId} = ${paymentId} and ${kafkaRelayed.refundId} = ${refundId}`)})`,
  };
}

/**
 * Deletes the records of messages the group has consumed (below its committed offset) or the log
 * no longer holds: what is left is the backlog, so the table stays as small as it. Returns how many.
 */
export async function forgetConsumed(db: Executor, topic: string, windows: PartitionWindow[]): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    db,
    sql`with gone as (delete from ${kafkaRelayed} where ${kafkaRelayed.topic} = ${topic} and not ${waiting(windows)} returning 1) select count(*)::int as n from gone`,
  );
  return Number(row?.n ?? 0);
}

/**
 * The relayed messages of `topic` still waiting (of the payments `only` accepts, when given): how
 * many, and seconds since the oldest fell due (0 when none waits).
 */
export async function waitingInTopic(
  db: Executor,
  topic: string,
  windows: PartitionWindow[],
  only?: (paymentId: SQLWrapper) => SQL,
): Promise<{ count: number; oldestAgeSeconds: number }> {
  const [row] = await queryRows<{ n: number; age: number | null }>(
    db,
    sql`select count(*)::int as n, extract(epoch from now() - min(${kafkaRelayed.dueAt}))::float8 as age from ${kafkaRelayed}
        where ${kafkaRelayed.topic} = ${topic} and ${waiting(windows)} ${only ? sql`and ${only(kafkaRelayed.paymentId)}` : sql``}`,
  );
  return { count: Number(row?.n ?? 0), oldestAgeSeconds: Math.max(0, Number(row?.age ?? 0)) };
}
