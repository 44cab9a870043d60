import type { SQL } from "drizzle-orm";
import { type Executor, type IdFilter, inJsonList, jsonRowsInsert } from "../database";
import { cardSecrets } from "./schema";
import { eq } from "drizzle-orm";
import { CardDataUnavailable, type CardVault, type SealedCard } from "./vault";

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

/**
 * Re-seals the stored cards of `paymentIds` without their CVC, under the vault's active key: what
 * stays for a gateway whose look-up replays the charge (SECURITY.md, card data). A card that no
 * longer opens could not be replayed anyway and is deleted.
 */
export async function dropCardCvcs(db: Executor, vault: CardVault, paymentIds: string[]): Promise<void> {
  const stored = await loadCardSecrets(db, paymentIds);
  const unreadable: string[] = [];
  const writes: Promise<unknown>[] = [];
  for (const sealed of stored.values()) {
    let card: ReturnType<CardVault["open"]>;
    try {
      card = vault.open(sealed);
    } catch (error) {
      if (!(error instanceof CardDataUnavailable)) throw error;
      unreadable.push(sealed.paymentId);
      continue;
    }
    if (card.cvc === null) continue;
    const { keyId, sealed: resealed } = vault.seal(sealed.paymentId, { ...card, cvc: null });
    writes.push(db.update(cardSecrets).set({ keyId, sealed: resealed }).where(eq(cardSecrets.paymentId, sealed.paymentId)));
  }
  await Promise.all([...writes, purgeCardSecrets(db, unreadable)]);
}
