import { describe, expect, it } from "bun:test";
import { createCipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { CardDataUnavailable, CardVault, KeyRing, type SealedCard } from "../../modules/vault";

const key = (n: number) => Buffer.alloc(32, n);
const FINGERPRINT_KEY = key(100);
const card = { number: "4242424242424242", cvc: "123", holderName: "Jane Doe" };
const vaultOf = (...keys: number[]) => new CardVault(keys.map(key), FINGERPRINT_KEY);
const keyIdOf = (n: number) => createHash("sha256").update(key(n)).digest("hex").slice(0, 12);

/** What versions before the `v2` format stored: three parts, only the key id authenticated, no payment binding. */
function legacySeal(master: Buffer, text: string): { keyId: string; sealed: string } {
  const keyId = createHash("sha256").update(master).digest("hex").slice(0, 12);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", master, iv);
  cipher.setAAD(Buffer.from(keyId));
  const ciphertext = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
  return { keyId, sealed: [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString("base64")).join(".") };
}

/** The tag is the last dot-separated part in both formats. */
function withTag(sealed: SealedCard, change: (tag: Buffer) => Buffer): SealedCard {
  const parts = sealed.sealed.split(".");
  parts[parts.length - 1] = change(Buffer.from(parts.at(-1)!, "base64")).toString("base64");
  return { ...sealed, sealed: parts.join(".") };
}

function unavailable(open: () => unknown): CardDataUnavailable {
  try {
    open();
  } catch (error) {
    expect(error).toBeInstanceOf(CardDataUnavailable);
    return error as CardDataUnavailable;
  }
  throw new Error("expected the vault to refuse");
}

describe("card vault: sealing", () => {
  it("round-trips a card through AES-256-GCM and never stores it in plain text", () => {
    const vault = vaultOf(1);
    const sealed = vault.seal("pay_1", card);
    expect(sealed.sealed).toStartWith("v2.");
    expect(sealed.sealed).not.toContain("4242");
    for (const part of sealed.sealed.split(".")) expect(Buffer.from(part, "base64").toString("latin1")).not.toContain("4242");
    expect(vault.open(sealed)).toEqual(card);
  });

  it("uses a fresh IV every time", () => {
    const vault = vaultOf(1);
    expect(vault.seal("pay_1", card).sealed).not.toBe(vault.seal("pay_1", card).sealed);
  });

  it("refuses a card moved to another payment (the payment id is authenticated as associated data)", () => {
    const vault = vaultOf(1);
    const sealed = vault.seal("pay_1", card);
    const error = unavailable(() => vault.open({ ...sealed, paymentId: "pay_2" }));
    expect(error.reason).toBe("unreadable");
    expect(error.message).not.toContain(card.number);
  });

  it("refuses a v2 value stripped of its version prefix (no downgrade to the unbound legacy format)", () => {
    const vault = vaultOf(1);
    const sealed = vault.seal("pay_1", card);
    expect(unavailable(() => vault.open({ ...sealed, sealed: sealed.sealed.slice("v2.".length) })).reason).toBe("unreadable");
  });

  it("writes 16-byte tags and refuses truncated, extended or missing ones", () => {
    const vault = vaultOf(1);
    const sealed = vault.seal("pay_1", card);
    expect(Buffer.from(sealed.sealed.split(".").at(-1)!, "base64").length).toBe(16);
    for (const length of [12, 8, 4, 1, 0]) {
      expect(unavailable(() => vault.open(withTag(sealed, (tag) => tag.subarray(0, length)))).reason).toBe("unreadable");
    }
    expect(unavailable(() => vault.open(withTag(sealed, (tag) => Buffer.concat([tag, Buffer.from([0])])))).reason).toBe("unreadable");
    const legacy = { paymentId: "pay_1", ...legacySeal(key(1), JSON.stringify(card)) };
    expect(unavailable(() => vault.open(withTag(legacy, (tag) => tag.subarray(0, 12)))).reason).toBe("unreadable");
  });

  it("refuses tampered ciphertext, a flipped tag bit and a swapped key id", () => {
    const vault = vaultOf(1, 2);
    const sealed = vault.seal("pay_1", card);
    const [version, iv, ct, tag] = sealed.sealed.split(".");
    const flipped = Buffer.from(ct!, "base64");
    flipped[0] = flipped[0]! ^ 1;
    expect(unavailable(() => vault.open({ ...sealed, sealed: [version, iv, flipped.toString("base64"), tag].join(".") })).reason).toBe("unreadable");
    expect(unavailable(() => vault.open(withTag(sealed, (t) => Buffer.from(t.map((b, i) => (i === 0 ? b ^ 1 : b)))))).reason).toBe("unreadable");
    expect(unavailable(() => vault.open({ ...sealed, keyId: keyIdOf(2) })).reason).toBe("unreadable");
  });

  it("refuses malformed values with the typed error, not a crash", () => {
    const vault = vaultOf(1);
    for (const sealed of ["", "v2", "v2.a.b", "a.b", "v3.a.b.c", "v2.!!.!!.!!", "a.b.c.d.e"]) {
      expect(unavailable(() => vault.open({ paymentId: "pay_1", keyId: keyIdOf(1), sealed })).reason).toBe("unreadable");
    }
  });

  it("refuses a sealed value that holds no card secret", () => {
    const vault = vaultOf(1);
    const notACard = new KeyRing([key(1)]).seal(JSON.stringify({ hello: "world" }), "card:pay_1");
    expect(unavailable(() => vault.open({ paymentId: "pay_1", ...notACard })).reason).toBe("unreadable");
  });

  it("throws CardDataUnavailable (unknown_key) for a key id no configured key has", () => {
    const sealed = vaultOf(3).seal("pay_1", card);
    const error = unavailable(() => vaultOf(1, 2).open(sealed));
    expect(error.reason).toBe("unknown_key");
    expect(error.name).toBe("CardDataUnavailable");
    expect(error.message).toContain(keyIdOf(3));
  });
});

describe("card vault: rotation and older data", () => {
  it("opens cards sealed under every key of the ring, and seals new ones under the first", () => {
    const rotated = vaultOf(3, 2, 1);
    for (const n of [1, 2, 3]) {
      const sealed = vaultOf(n).seal(`pay_${n}`, card);
      expect(sealed.keyId).toBe(keyIdOf(n));
      expect(rotated.open(sealed)).toEqual(card);
    }
    expect(rotated.seal("pay_4", card).keyId).toBe(keyIdOf(3));
    expect(rotated.activeKeyId).toBe(keyIdOf(3));
  });

  it("opens cards sealed before the v2 format (no payment binding) under any key of the ring", () => {
    const rotated = vaultOf(2, 1);
    for (const n of [1, 2]) {
      const legacy = legacySeal(key(n), JSON.stringify(card));
      expect(rotated.open({ paymentId: "pay_old", ...legacy })).toEqual(card);
    }
  });

  it("refuses a tampered card of the old format", () => {
    const legacy = legacySeal(key(1), JSON.stringify(card));
    const [iv, ct, tag] = legacy.sealed.split(".");
    const flipped = Buffer.from(ct!, "base64");
    flipped[1] = flipped[1]! ^ 4;
    const sealed = { paymentId: "pay_old", keyId: legacy.keyId, sealed: [iv, flipped.toString("base64"), tag].join(".") };
    expect(unavailable(() => vaultOf(1).open(sealed)).reason).toBe("unreadable");
  });
});

describe("card vault: fingerprints and digests", () => {
  it("fingerprints are keyed: stable per card, different per fingerprint key, not a plain hash", () => {
    const a = new CardVault([key(1)], key(50));
    const b = new CardVault([key(1)], key(51));
    expect(a.fingerprint(card.number)).toBe(a.fingerprint(card.number));
    expect(a.fingerprint(card.number)).not.toBe(a.fingerprint("5555555555554444"));
    expect(a.fingerprint(card.number)).not.toBe(b.fingerprint(card.number));
    const plain = createHash("sha256").update(card.number).digest("base64url");
    expect(plain.startsWith(a.fingerprint(card.number))).toBe(false);
  });

  it("keeps fingerprints and digests when the card keys rotate (they depend on the fingerprint key only)", () => {
    const before = vaultOf(1);
    const after = vaultOf(2, 1);
    expect(after.fingerprint(card.number)).toBe(before.fingerprint(card.number));
    expect(after.keyedDigest("{}")).toBe(before.keyedDigest("{}"));
    expect(after.digestMatches("{}", before.keyedDigest("{}"))).toBe(true);
  });

  it("matches idempotency digests written by older versions under a key derived from any ring key, and nothing else", () => {
    const olderDigest = (master: Buffer, value: string) => {
      const derived = Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), "paystream card fingerprint", 32));
      return new CardVault([master], derived).keyedDigest(value);
    };
    const vault = vaultOf(2, 1);
    expect(vault.digestMatches("body", olderDigest(key(1), "body"))).toBe(true);
    expect(vault.digestMatches("body", olderDigest(key(2), "body"))).toBe(true);
    expect(vault.digestMatches("other body", olderDigest(key(1), "body"))).toBe(false);
    expect(vault.digestMatches("body", olderDigest(key(3), "body"))).toBe(false);
    expect(vault.digestMatches("body", vault.keyedDigest("other body"))).toBe(false);
    expect(vault.digestMatches("body", "")).toBe(false);
  });
});
