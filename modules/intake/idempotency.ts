import { and, eq, type SQL } from "drizzle-orm";
import { type Executor, jsonRowsInsert } from "../database";
import { idempotencyKeys } from "./schema";

export type IdempotencyRecord = typeof idempotencyKeys.$inferSelect;

/**
 * The routes that take an Idempotency-Key. A merchant's key means something only on the route it
 * was sent to: the same key on a payment create and on a refund create are two keys, so a refund
 * can never be answered with a payment, nor the other way round.
 */
export type IdempotencyScope = "payments" | "refunds";

/**
 * The key as stored. Payments' keys are stored as sent (so records written before other routes
 * took keys stay valid); the others are prefixed by their scope and U+001F, a character no key
 * sent can hold (idempotencyKeyOf takes printable ASCII only): no two scopes' keys can be equal.
 */
function storedKey(scope: IdempotencyScope, key: string): string {
  return scope === "payments" ? key : `${scope}\u001f${key}`;
}

/** What a request sent with an Idempotency-Key leaves behind, so that a retry of it is answered alike. */
export interface NewIdempotencyRecord {
  merchantId: string;
  key: string;
  requestHash: string;
  /** The id of what the request created (a payment's, or a refund's in the `refunds` scope). */
  paymentId: string;
}

export async function findIdempotencyRecord(
  db: Executor,
  scope: IdempotencyScope,
  merchantId: string,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const [record] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.merchantId, merchantId), eq(idempotencyKeys.key, storedKey(scope, key))));
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
      records.map((r) => ({ ...r, key: storedKey("payments", r.key), statusCode: 202 })),
      { onConflictDoNothing: true, returning: [idempotencyKeys.paymentId] },
    ),
  };
}

/**
 * Claims a key for a request about to create `record.paymentId`, inside the transaction that
 * creates it: false when the key is already recorded. A concurrent claim of the same key waits
 * for the first one's transaction, so false means the first one committed (and can be replayed);
 * a rolled-back claim leaves the key free.
 */
export async function claimIdempotencyKey(tx: Executor, scope: IdempotencyScope, record: NewIdempotencyRecord, statusCode: number): Promise<boolean> {
  const claimed = await tx
    .insert(idempotencyKeys)
    .values({ ...record, key: storedKey(scope, record.key), statusCode })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  return claimed.length > 0;
}
