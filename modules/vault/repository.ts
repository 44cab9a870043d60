import { inArray } from "drizzle-orm";
import type { Executor } from "../database";
import { cardSecrets } from "./schema";
import type { SealedCard } from "./vault";

export async function loadCardSecrets(db: Executor, paymentIds: string[]): Promise<Map<string, SealedCard>> {
  if (paymentIds.length === 0) return new Map();
  const rows = await db
    .select({ paymentId: cardSecrets.paymentId, keyId: cardSecrets.keyId, sealed: cardSecrets.sealed })
    .from(cardSecrets)
    .where(inArray(cardSecrets.paymentId, paymentIds));
  // Each row's own payment id travels with it: CardVault.open authenticates the card against it.
  return new Map(rows.map((r) => [r.paymentId, r]));
}

export async function purgeCardSecrets(db: Executor, paymentIds: string[]): Promise<void> {
  if (paymentIds.length === 0) return;
  await db.delete(cardSecrets).where(inArray(cardSecrets.paymentId, paymentIds));
}
