import { eq, inArray } from "drizzle-orm";
import type { Executor } from "../database";
import { cardSecrets } from "./schema";
import type { SealedCard } from "./vault";

export async function storeCardSecret(db: Executor, paymentId: string, sealed: SealedCard): Promise<void> {
  await db.insert(cardSecrets).values({ paymentId, keyId: sealed.keyId, sealed: sealed.sealed });
}

export async function loadCardSecret(db: Executor, paymentId: string): Promise<SealedCard | undefined> {
  const [row] = await db
    .select({ keyId: cardSecrets.keyId, sealed: cardSecrets.sealed })
    .from(cardSecrets)
    .where(eq(cardSecrets.paymentId, paymentId));
  return row;
}

/** Called in the same transaction that makes a payment final. */
export async function purgeCardSecret(db: Executor, paymentId: string): Promise<void> {
  await db.delete(cardSecrets).where(eq(cardSecrets.paymentId, paymentId));
}

export async function loadCardSecrets(db: Executor, paymentIds: string[]): Promise<Map<string, SealedCard>> {
  if (paymentIds.length === 0) return new Map();
  const rows = await db
    .select({ paymentId: cardSecrets.paymentId, keyId: cardSecrets.keyId, sealed: cardSecrets.sealed })
    .from(cardSecrets)
    .where(inArray(cardSecrets.paymentId, paymentIds));
  return new Map(rows.map((r) => [r.paymentId, { keyId: r.keyId, sealed: r.sealed }]));
}

export async function purgeCardSecrets(db: Executor, paymentIds: string[]): Promise<void> {
  if (paymentIds.length === 0) return;
  await db.delete(cardSecrets).where(inArray(cardSecrets.paymentId, paymentIds));
}
