import type { PaymentMessage, UnprocessableReason } from "../port";
import type { OutboxRow } from "../schema";

/** The two topics of a deployment: `<prefix>.requested` for work, `<prefix>.dlq` for dead letters. */
export interface KafkaTopics {
  requested: string;
  dlq: string;
}

export function topicsFor(prefix: string): KafkaTopics {
  return { requested: `${prefix}.requested`, dlq: `${prefix}.dlq` };
}

/** Headers an operator reads without parsing the value, dead letters' reason above all. */
function headersOf(row: OutboxRow): Record<string, string> {
  const payload = row.payload as { requestId?: string | null; reason?: string; attempts?: number; lastError?: string };
  const headers: Record<string, string> = { "payment-id": row.paymentId };
  if (payload.requestId) headers["request-id"] = payload.requestId;
  if (row.topic === "dlq") {
    headers["dlq-reason"] = payload.reason ?? "unknown";
    headers["dlq-attempts"] = String(payload.attempts ?? 0);
    if (payload.lastError) headers["dlq-last-error"] = payload.lastError.slice(0, 500);
  }
  return headers;
}

/** The Kafka message the relay produces for an outbox row: keyed by payment id, so a payment stays on one partition. */
export function messageOf(row: OutboxRow): { key: string; value: string; headers: Record<string, string> } {
  return { key: row.paymentId, value: JSON.stringify(row.payload), headers: headersOf(row) };
}

/** Reads a consumed message back; undefined when it names no payment. */
export function parseMessage(key: Buffer | null, value: Buffer | null, headers: Record<string, unknown> | undefined): PaymentMessage | undefined {
  try {
    const body = JSON.parse(value?.toString("utf8") ?? "null") as { paymentId?: unknown; refundId?: unknown; requestId?: unknown } | null;
    const paymentId = typeof body?.paymentId === "string" ? body.paymentId : key?.toString("utf8");
    if (!paymentId) return undefined;
    const header = headers?.["request-id"];
    const requestId = typeof body?.requestId === "string" ? body.requestId : header ? String(header) : null;
    return { paymentId, ...(typeof body?.refundId === "string" ? { refundId: body.refundId } : {}), requestId };
  } catch {
    return undefined;
  }
}

/** Where a consumed message came from: a dead letter names it, so an operator can read the original. */
export interface MessageOrigin {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
}

/**
 * The dead letter of a consumed message that cannot be processed: the reason and the error text
 * in the value and in the headers an operator reads (as for the relay's dead letters above), and
 * where the original is. The original value is not copied: it is not known to be what paystream
 * wrote, and its offset finds it.
 */
export function deadLetterOf(
  origin: MessageOrigin,
  message: PaymentMessage | undefined,
  failure: { reason: UnprocessableReason; attempts: number; lastError: string },
): { key: string | null; value: string; headers: Record<string, string> } {
  const lastError = failure.lastError.slice(0, 500);
  const key = message?.paymentId ?? origin.key?.toString("utf8") ?? null;
  const source = { topic: origin.topic, partition: origin.partition, offset: origin.offset };
  const headers: Record<string, string> = {
    "dlq-reason": failure.reason,
    "dlq-attempts": String(failure.attempts),
    "dlq-last-error": lastError,
    "dlq-source": `${origin.topic}/${origin.partition}/${origin.offset}`,
  };
  if (message?.requestId) headers["request-id"] = message.requestId;
  return { key, value: JSON.stringify({ ...message, reason: failure.reason, attempts: failure.attempts, lastError, source }), headers };
}
