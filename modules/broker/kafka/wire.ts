import type { PaymentMessage } from "../port";
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
