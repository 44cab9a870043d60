import { createHash, hkdfSync } from "node:crypto";
import { openText, sealText } from "../vault";

export interface SealedSecret {
  keyId: string;
  sealed: string;
}

/**
 * Seals endpoint signing secrets at rest (AES-256-GCM). The key is derived with HKDF from the
 * service's master key (CARD_ENCRYPTION_KEY) under its own label, so no second key has to be
 * configured and the card keys are never used directly for anything else. A different master
 * key cannot open the secrets sealed before: the merchant rotates the secret (PUT again).
 */
export class WebhookSecretBox {
  private readonly key: Buffer;
  readonly keyId: string;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error("the webhook secret box needs a 32-byte master key");
    this.key = Buffer.from(hkdfSync("sha256", masterKey, Buffer.alloc(0), "paystream webhook signing secrets", 32));
    this.keyId = createHash("sha256").update(this.key).digest("hex").slice(0, 12);
  }

  seal(secret: string): SealedSecret {
    return { keyId: this.keyId, sealed: sealText(this.key, this.keyId, secret) };
  }

  open(sealed: SealedSecret): string {
    if (sealed.keyId !== this.keyId) throw new Error(`the signing secret is sealed under another key (${sealed.keyId})`);
    return openText(this.key, this.keyId, sealed.sealed);
  }
}
