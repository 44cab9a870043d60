import { and, eq, type SQL } from "drizzle-orm";
import { type Executor, jsonRowsInsert } from "../database";
import { idempotencyKeys } from "./schema";

export type IdempotencyRecord = typeof idempotencyKeys.$inferSelect;

/** What a request sent with an Idempotency-Key leaves behind, so that a retry of it is answered alike. */
export interface NewIdempotencyRecord {
  merchantId: string;
  key: string;
  requestHash: string;
  paymentId: string;
}

export async function findIdempotencyRecord(db: Executor, merchantId: string, key: string): Promise<IdempotencyRecord | undefined> {
  const [record] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.merchantId, merchantId), eq(idempotencyKeys.key, key)));
  return record;
}

/**
 * Records the keys of new payments, as the claim part of the statement that creates them (see
 * insertPayments): it returns the ids of the payments whose key was free. A key already
 * recorded (or given twice in one batch) is left as it is, and its payment is not created.
 */
export function idempotencyKeyClaims(records: NewIdempotencyRecord[]): { ids: string[]; part: SQL } {
  return {
    ids: records.map((r) => r.paymentId),
    part: jsonRowsInsert(
      idempotencyKeys,
      records.map((r) => ({ ...r, statusCode: 202 })),
      { onConflictDoNothing: true, returning: [idempotencyKeys.paymentId] },
    ),
  };
}
