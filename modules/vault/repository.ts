import type { SQL } from "drizzle-orm";
import { type Executor, type IdFilter, inJsonList, jsonRowsInsert } from "../database";
import { cardSecrets } from "./schema";
import type { SealedCard } from "./vault";

/**
 * Stores sealed cards, each under the payment id it was sealed for: the insert, to run on its own
 * or as a part of the statement that creates the payments (given the ids created, it writes only theirs).
 */
export function sealedCardsInsert(cards: SealedCard[], only?: IdFilter): SQL {
  const rows = cards.map(({ paymentId, keyId, sealed }) => ({ paymentId, keyId, sealed }));
  return jsonRowsInsert(cardSecrets, rows, only ? { only: { column: cardSecrets.paymentId, filter: only } } : {});
}

export async function loadCardSecrets(db: Executor, paymentIds: string[]): Promise<Map<string, SealedCard>> {
  if (paymentIds.length === 0) return new Map();
  const rows = await db
    .select({ paymentId: cardSecrets.paymentId, keyId: cardSecrets.keyId, sealed: cardSecrets.sealed })
    .from(cardSecrets)
    .where(inJsonList(cardSecrets.paymentId, paymentIds));
  // Each row's own payment id travels with it: CardVault.open authenticates the card against it.
  return new Map(rows.map((r) => [r.paymentId, r]));
}

export async function purgeCardSecrets(db: Executor, paymentIds: string[]): Promise<void> {
  if (paymentIds.length === 0) return;
  await db.delete(cardSecrets).where(inJsonList(cardSecrets.paymentId, paymentIds));
}
