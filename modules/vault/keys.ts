import { and, eq, sql } from "drizzle-orm";
import type { Executor } from "../database";
import { vaultKeys } from "./schema";
import { CardVault, KeyRing, legacyFingerprintKey, SealedDataUnavailable } from "./vault";

const FINGERPRINT_KEY = "card-fingerprint";

/**
 * Builds the card vault over `keys` (active first, then retired) with the fingerprint key stored
 * in the database. On the first start it is derived from the active key exactly as older versions
 * derived it on every start, so the fingerprints and idempotency digests already stored stay
 * valid; from then on it outlives rotations. Concurrent starts agree through the primary key.
 * A stored key sealed under a key id the ring lacks stops the start: serving on would give every
 * card a new fingerprint and answer every idempotent replay with 409.
 */
export async function loadCardVault(db: Executor, keys: Buffer[]): Promise<CardVault> {
  const ring = new KeyRing(keys);
  const context = `vault-key:${FINGERPRINT_KEY}`;
  const initial = ring.seal(legacyFingerprintKey(ring.active.key).toString("base64"), context);
  await db.insert(vaultKeys).values({ name: FINGERPRINT_KEY, ...initial }).onConflictDoNothing();
  const [stored] = await db.select().from(vaultKeys).where(eq(vaultKeys.name, FINGERPRINT_KEY));
  if (!stored) throw new Error("the stored card fingerprint key vanished while starting");
  let fingerprintKey: Buffer;
  try {
    fingerprintKey = Buffer.from(ring.open(stored, context), "base64");
  } catch (error) {
    if (!(error instanceof SealedDataUnavailable)) throw error;
    if (error.reason === "unreadable") throw new Error(`the card fingerprint key stored in the database (table vault_keys) is corrupt: ${error.message}`);
    throw new Error(
      `the card fingerprint key stored in the database is sealed under key id ${stored.keyId}, which is neither ` +
        `CARD_ENCRYPTION_KEY nor in CARD_ENCRYPTION_KEYS_RETIRED (configured key ids: ${ring.keyIds.join(", ")}); ` +
        "put the previous key in CARD_ENCRYPTION_KEYS_RETIRED",
    );
  }
  if (stored.keyId !== ring.active.id) {
    // Re-sealed under the active key, so the old key can be dropped once no card needs it.
    await db
      .update(vaultKeys)
      .set({ ...ring.seal(fingerprintKey.toString("base64"), context), updatedAt: sql`now()` })
      .where(and(eq(vaultKeys.name, FINGERPRINT_KEY), eq(vaultKeys.keyId, stored.keyId)));
  }
  return new CardVault(keys, fingerprintKey);
}
