import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

export interface CardSecret {
  number: string;
  /** Null once the payment went to the reconciler: only a look-up's replay may still need the card (SECURITY.md). */
  cvc: string | null;
  holderName: string | null;
}

/** A sealed card as stored: the payment it belongs to is part of what the seal authenticates. */
export interface SealedCard {
  paymentId: string;
  keyId: string;
  sealed: string;
}

/** Any value sealed under a key ring, with the id of the key that sealed it. */
export interface SealedValue {
  keyId: string;
  sealed: string;
}

/**
 * A sealed value cannot be opened: its key id names no key of the ring (a key was dropped too
 * early, or a process misses a new one), or the data fails authentication (corrupt, tampered
 * with, or moved to another record). Callers tell it apart from other failures by its class.
 */
export class SealedDataUnavailable extends Error {
  constructor(
    readonly reason: "unknown_key" | "unreadable",
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The card of a payment cannot be opened (see SealedDataUnavailable); the message holds no card data. */
export class CardDataUnavailable extends SealedDataUnavailable {}

const KEY_BYTES = 32;
const IV_BYTES = 12;
/** Set on seal and open alike: a shorter tag would be easier to forge, so it is refused. */
const TAG_BYTES = 16;
const FORMAT = "v2";

/** Public name of a key: a short hash, so logs and rows can say which key sealed what. */
export function keyIdOf(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 12);
}

export function deriveKey(master: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), label, KEY_BYTES));
}

interface RingKey {
  id: string;
  key: Buffer;
}

/**
 * The keys of one purpose: the first seals, every one opens, found by the key id stored next to
 * the sealed value. Rotation puts a new key first and keeps the old ones until nothing sealed
 * under them is left.
 */
export class KeyRing {
  readonly active: RingKey;
  private readonly byId: Map<string, RingKey>;

  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error("a key ring needs at least one key");
    const entries = keys.map((key) => {
      if (key.length !== KEY_BYTES) throw new Error(`encryption keys must be ${KEY_BYTES} bytes`);
      return { id: keyIdOf(key), key };
    });
    this.active = entries[0] as RingKey;
    this.byId = new Map(entries.map((e) => [e.id, e]));
  }

  get keyIds(): string[] {
    return [...this.byId.keys()];
  }

  has(keyId: string): boolean {
    return this.byId.has(keyId);
  }

  /**
   * AES-256-GCM, stored as `v2.` base64(iv) . base64(ciphertext) . base64(16-byte tag). The
   * associated data names the format, the key id and `context` (what the value belongs to, e.g. a
   * payment id), so a sealed value copied to another record or relabelled with another key id
   * does not open.
   */
  seal(text: string, context: string): SealedValue {
    const { id, key } = this.active;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(id, context));
    const ciphertext = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
    const sealed = [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString("base64")).join(".");
    return { keyId: id, sealed: `${FORMAT}.${sealed}` };
  }

  /**
   * Opens what seal sealed, under whichever key of the ring its key id names. Values sealed
   * before the `v2` format (three parts, only the key id authenticated) still open, without the
   * context: they were never bound to one, and they leave the database as their payments end.
   * Throws SealedDataUnavailable, never anything that quotes the data.
   */
  open(value: SealedValue, context: string): string {
    const entry = this.byId.get(value.keyId);
    if (!entry) throw new SealedDataUnavailable("unknown_key", `no encryption key with id ${value.keyId} is configured`);
    const parts = value.sealed.split(".");
    const versioned = parts.length === 4 && parts[0] === FORMAT;
    if (!versioned && parts.length !== 3) throw new SealedDataUnavailable("unreadable", "malformed sealed value");
    const [iv, ciphertext, tag] = (versioned ? parts.slice(1) : parts).map((part) => Buffer.from(part, "base64")) as [Buffer, Buffer, Buffer];
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
      throw new SealedDataUnavailable("unreadable", "malformed sealed value (IV or tag length)");
    try {
      const decipher = createDecipheriv("aes-256-gcm", entry.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(versioned ? associatedData(entry.id, context) : Buffer.from(entry.id));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
    } catch {
      throw new SealedDataUnavailable("unreadable", `sealed value under key ${entry.id} failed authentication`);
    }
  }
}

function associatedData(keyId: string, context: string): Buffer {
  return Buffer.from(`paystream/${FORMAT}\0${keyId}\0${context}`, "utf8");
}

const FINGERPRINT_LABEL = "paystream card fingerprint";

/**
 * The fingerprint key older versions derived from the active CARD_ENCRYPTION_KEY: the first
 * value of the stored key (so fingerprints and idempotency digests made before the upgrade stay
 * valid), and the fallback for idempotency digests made before an earlier rotation.
 */
export function legacyFingerprintKey(master: Buffer): Buffer {
  return deriveKey(master, FINGERPRINT_LABEL);
}

/**
 * Card encryption (AES-256-GCM) under a key ring, plus keyed fingerprints and digests.
 *
 * Fingerprints and idempotency digests are HMACs (a plain hash of a PAN could be reversed by
 * enumerating the ~10^10 numbers of one BIN) under ONE fingerprint key that never changes with
 * CARD_ENCRYPTION_KEY: it is generated once, stored sealed under the ring (see loadCardVault),
 * and re-sealed when the ring rotates. Rotation therefore changes no fingerprint and no digest,
 * so a user sees nothing of it. Tagging each digest with a key id instead could keep idempotency
 * replays working, but not fingerprints: those are shown to merchants and must be equal for the
 * same card before and after, which only a key that outlives the rotation gives.
 */
export class CardVault {
  private readonly ring: KeyRing;
  private readonly fingerprintKey: Buffer;
  /** Keys of digests written by older versions, tried only when the current key does not match. */
  private readonly legacyDigestKeys: Buffer[];

  constructor(keys: Buffer[], fingerprintKey: Buffer) {
    if (fingerprintKey.length !== KEY_BYTES) throw new Error(`the fingerprint key must be ${KEY_BYTES} bytes`);
    this.ring = new KeyRing(keys);
    this.fingerprintKey = fingerprintKey;
    this.legacyDigestKeys = keys.map(legacyFingerprintKey).filter((k) => !k.equals(fingerprintKey));
  }

  get activeKeyId(): string {
    return this.ring.active.id;
  }

  get keyIds(): string[] {
    return this.ring.keyIds;
  }

  seal(paymentId: string, secret: CardSecret): SealedCard {
    return { paymentId, ...this.ring.seal(JSON.stringify(secret), cardContext(paymentId)) };
  }

  /** Throws CardDataUnavailable when the card cannot be opened for this payment. */
  open(sealed: SealedCard): CardSecret {
    let text: string;
    try {
      text = this.ring.open(sealed, cardContext(sealed.paymentId));
    } catch (error) {
      if (error instanceof SealedDataUnavailable) throw new CardDataUnavailable(error.reason, `card of ${sealed.paymentId}: ${error.message}`);
      throw error;
    }
    const secret = parseCardSecret(text);
    if (!secret) throw new CardDataUnavailable("unreadable", `card of ${sealed.paymentId}: not a card secret`);
    return secret;
  }

  /** Stable per card across payments and key rotations (for the merchant), useless to anyone without the key. */
  fingerprint(cardNumber: string): string {
    return createHmac("sha256", this.fingerprintKey).update(cardNumber).digest("base64url").slice(0, 22);
  }

  /** A keyed digest for other secret-bearing values (e.g. idempotency request bodies). */
  keyedDigest(value: string): string {
    return digestUnder(this.fingerprintKey, value);
  }

  /**
   * Whether `digest` is keyedDigest(value), also as an older version wrote it: under the key it
   * derived from any key of the ring. Constant time per comparison.
   */
  digestMatches(value: string, digest: string): boolean {
    const stored = Buffer.from(digest);
    return [this.fingerprintKey, ...this.legacyDigestKeys].some((key) => {
      const expected = Buffer.from(digestUnder(key, value));
      return expected.length === stored.length && timingSafeEqual(expected, stored);
    });
  }
}

function cardContext(paymentId: string): string {
  return `card:${paymentId}`;
}

function digestUnder(key: Buffer, value: string): string {
  return createHmac("sha256", key).update("digest:").update(value).digest("base64url");
}

function parseCardSecret(text: string): CardSecret | undefined {
  try {
    const value = JSON.parse(text) as Partial<CardSecret> | null;
    if (typeof value?.number !== "string" || (typeof value.cvc !== "string" && value.cvc !== null)) return undefined;
    return { number: value.number, cvc: value.cvc, holderName: typeof value.holderName === "string" ? value.holderName : null };
  } catch {
    return undefined;
  }
}
