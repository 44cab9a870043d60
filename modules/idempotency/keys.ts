import { and, eq, type SQL } from "drizzle-orm";
import { type Executor, jsonRowsInsert, queryRows } from "../database";
import { type IdempotencyScope, idempotencyKeys } from "./schema";

export type IdempotencyRecord = typeof idempotencyKeys.$inferSelect;

/** What a request sent with an Idempotency-Key leaves behind, so that a retry of it is answered alike. */
export interface NewIdempotencyRecord {
  merchantId: string;
  key: string;
  requestHash: string;
  /** The id of what the request creates. */
  resourceId: string;
  /** The status the request was answered with, and its retries will be. */
  statusCode: number;
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
    .where(and(eq(idempotencyKeys.merchantId, merchantId), eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
  return record;
}

/**
 * The claim of keys for resources about to be created, to run alone or as a part of the statement
 * that creates them: it records each key still free and returns (as `resource_id`) the ids of the
 * resources whose key it recorded. A key already recorded, or given twice in the batch, is left
 * as it is and its resource id is not returned: that resource must not be created.
 */
export function idempotencyKeyClaims(scope: IdempotencyScope, records: NewIdempotencyRecord[]): { ids: string[]; part: SQL } {
  return {
    ids: records.map((r) => r.resourceId),
    part: jsonRowsInsert(
      idempotencyKeys,
      records.map((r) => ({ ...r, scope })),
      { onConflictDoNothing: true, returning: [idempotencyKeys.resourceId] },
    ),
  };
}

/**
 * Claims one key inside the transaction that creates its resource: false when the key is already
 * recorded. A concurrent claim of the same key waits for the first one's transaction, so false
 * means the first one committed (and can be replayed); a rolled-back claim leaves the key free.
 */
export async function claimIdempotencyKey(tx: Executor, scope: IdempotencyScope, record: NewIdempotencyRecord): Promise<boolean> {
  const claimed = await queryRows(tx, idempotencyKeyClaims(scope, [record]).part);
  return claimed.length > 0;
}

/** How a request whose key is already recorded is answered: as the first one was, or refused when its body differs. */
export type IdempotentReplay<T> = { kind: "replayed"; resource: T; statusCode: number } | { kind: "idempotency_key_reused" };

/**
 * The answer to a request whose key is recorded in `scope`, or undefined when the key is free.
 * `bodyMatches` says whether the request's body is the recorded one (a keyed digest, checked by
 * its owner); `load` reads the resource the first request created.
 */
export async function replayIdempotentRequest<T>(
  db: Executor,
  scope: IdempotencyScope,
  request: { merchantId: string; key: string; bodyMatches: (requestHash: string) => boolean },
  load: (resourceId: string) => Promise<T | undefined>,
): Promise<IdempotentReplay<T> | undefined> {
  const record = await findIdempotencyRecord(db, scope, request.merchantId, request.key);
  if (!record) return undefined;
  if (!request.bodyMatches(record.requestHash)) return { kind: "idempotency_key_reused" };
  const resource = await load(record.resourceId);
  if (resource === undefined) throw new Error(`idempotency record points at a missing resource (${scope})`);
  return { kind: "replayed", resource, statusCode: record.statusCode };
}
