import { and, eq, ne } from "drizzle-orm";
import type { Executor } from "../database";
import { deriveKey, KeyRing, SealedDataUnavailable, type SealedValue } from "../vault";
import { webhookEndpoints } from "./schema";

export type SealedSecret = SealedValue;

const LABEL = "paystream webhook signing secrets";
const CONTEXT = "webhook-signing-secret";

/**
 * Seals endpoint signing secrets at rest (AES-256-GCM). The keys are derived with HKDF from the
 * service's master keys (CARD_ENCRYPTION_KEY, then CARD_ENCRYPTION_KEYS_RETIRED) under their own
 * label, so no second key has to be configured and the card keys are never used directly for
 * anything else. Like the card vault it is a ring: the active key seals, every key opens by its
 * id, so a rotation of the master key keeps every endpoint's secret (and its signatures) as it was.
 */
export class WebhookSecretBox {
  private readonly ring: KeyRing;

  constructor(masterKey: Buffer, retiredMasterKeys: Buffer[] = []) {
    if (masterKey.length !== 32) throw new Error("the webhook secret box needs a 32-byte master key");
    this.ring = new KeyRing([masterKey, ...retiredMasterKeys].map((key) => deriveKey(key, LABEL)));
  }

  get keyId(): string {
    return this.ring.active.id;
  }

  seal(secret: string): SealedSecret {
    return this.ring.seal(secret, CONTEXT);
  }

  /** Throws SealedDataUnavailable when no configured key opens it. */
  open(sealed: SealedSecret): string {
    return this.ring.open(sealed, CONTEXT);
  }
}

/**
 * Re-seals every endpoint secret still sealed under a retired key under the active one, so the
 * retired key can later be dropped without breaking a merchant's webhooks. Run at start; a secret
 * no configured key opens is left as it is (deliveries report it) and counted. The guarded update
 * lets concurrent starts and a merchant's PUT race harmlessly.
 */
export async function resealWebhookSecrets(db: Executor, box: WebhookSecretBox): Promise<{ resealed: number; unreadable: number }> {
  const stale = await db
    .select({ merchantId: webhookEndpoints.merchantId, keyId: webhookEndpoints.secretKeyId, sealed: webhookEndpoints.sealedSecret })
    .from(webhookEndpoints)
    .where(ne(webhookEndpoints.secretKeyId, box.keyId));
  let resealed = 0;
  let unreadable = 0;
  for (const row of stale) {
    let secret: string;
    try {
      secret = box.open(row);
    } catch (error) {
      if (!(error instanceof SealedDataUnavailable)) throw error;
      unreadable++;
      continue;
    }
    const next = box.seal(secret);
    await db
      .update(webhookEndpoints)
      .set({ secretKeyId: next.keyId, sealedSecret: next.sealed })
      .where(
        and(
          eq(webhookEndpoints.merchantId, row.merchantId),
          eq(webhookEndpoints.secretKeyId, row.keyId),
          eq(webhookEndpoints.sealedSecret, row.sealed),
        ),
      );
    resealed++;
  }
  return { resealed, unreadable };
}
