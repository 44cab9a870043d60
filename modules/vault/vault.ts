import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";

export interface CardSecret {
  number: string;
  cvc: string;
  holderName: string | null;
}

export interface SealedCard {
  keyId: string;
  sealed: string;
}

interface KeyEntry {
  id: string;
  key: Buffer;
}

/**
 * AES-256-GCM with the key id as associated data (so a sealed value cannot be replayed under
 * another key id), stored as base64(iv) . base64(ciphertext) . base64(tag).
 */
export function sealText(key: Buffer, keyId: string, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(keyId));
  const ciphertext = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
  return [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString("base64")).join(".");
}

/** Opens what sealText sealed; throws when the value was tampered with or sealed under another key. */
export function openText(key: Buffer, keyId: string, sealed: string): string {
  const [iv, ciphertext, tag] = sealed.split(".").map((part) => Buffer.from(part, "base64"));
  if (!iv || !ciphertext || !tag) throw new Error("malformed sealed value");
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(Buffer.from(keyId));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
}

/**
 * Card encryption (AES-256-GCM) under a key ring: the first key seals, every key opens, so a
 * key can be rotated by putting the new one first and keeping the old one until its secrets are
 * gone. Fingerprints are HMACs under a key derived from the active key: a plain hash of a PAN
 * could be reversed by enumerating the ~10^10 numbers of one BIN.
 */
export class CardVault {
  private readonly sealing: KeyEntry;
  private readonly byId: Map<string, KeyEntry>;
  private readonly fingerprintKey: Buffer;

  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error("the card vault needs at least one key");
    const entries = keys.map((key) => {
      if (key.length !== 32) throw new Error("card encryption keys must be 32 bytes");
      return { id: createHash("sha256").update(key).digest("hex").slice(0, 12), key };
    });
    this.sealing = entries[0] as KeyEntry;
    this.byId = new Map(entries.map((e) => [e.id, e]));
    this.fingerprintKey = Buffer.from(hkdfSync("sha256", this.sealing.key, Buffer.alloc(0), "paystream card fingerprint", 32));
  }

  get activeKeyId(): string {
    return this.sealing.id;
  }

  seal(secret: CardSecret): SealedCard {
    return { keyId: this.sealing.id, sealed: sealText(this.sealing.key, this.sealing.id, JSON.stringify(secret)) };
  }

  open(sealed: SealedCard): CardSecret {
    const entry = this.byId.get(sealed.keyId);
    if (!entry) throw new Error(`no card encryption key with id ${sealed.keyId}`);
    return JSON.parse(openText(entry.key, entry.id, sealed.sealed)) as CardSecret;
  }

  /** Stable per card across payments (for the merchant), useless to anyone without the key. */
  fingerprint(cardNumber: string): string {
    return createHmac("sha256", this.fingerprintKey).update(cardNumber).digest("base64url").slice(0, 22);
  }

  /** A keyed digest for other secret-bearing values (e.g. idempotency request bodies). */
  keyedDigest(value: string): string {
    return createHmac("sha256", this.fingerprintKey).update("digest:").update(value).digest("base64url");
  }
}
