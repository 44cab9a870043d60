import { describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { CardVault } from "../../modules/vault";

const key = (n: number) => Buffer.alloc(32, n);
const card = { number: "4242424242424242", cvc: "123", holderName: "Jane Doe" };

describe("card vault", () => {
  it("round-trips a card through AES-256-GCM and never stores it in plain text", () => {
    const vault = new CardVault([key(1)]);
    const sealed = vault.seal(card);
    expect(sealed.sealed).not.toContain("4242");
    expect(Buffer.from(sealed.sealed.split(".")[1]!, "base64").toString("latin1")).not.toContain("4242");
    expect(vault.open(sealed)).toEqual(card);
  });

  it("uses a fresh IV every time", () => {
    const vault = new CardVault([key(1)]);
    expect(vault.seal(card).sealed).not.toBe(vault.seal(card).sealed);
  });

  it("rejects tampered ciphertext and a swapped key id", () => {
    const vault = new CardVault([key(1), key(2)]);
    const sealed = vault.seal(card);
    const [iv, ct, tag] = sealed.sealed.split(".");
    const flipped = Buffer.from(ct!, "base64");
    flipped[0] = flipped[0]! ^ 1;
    expect(() => vault.open({ keyId: sealed.keyId, sealed: [iv, flipped.toString("base64"), tag].join(".") })).toThrow();
    const other = new CardVault([key(2)]).activeKeyId;
    expect(() => vault.open({ keyId: other, sealed: sealed.sealed })).toThrow();
  });

  it("rotates keys: new secrets under the first key, old ones still open", () => {
    const old = new CardVault([key(1)]);
    const sealedOld = old.seal(card);
    const rotated = new CardVault([key(2), key(1)]);
    expect(rotated.activeKeyId).not.toBe(old.activeKeyId);
    expect(rotated.open(sealedOld)).toEqual(card);
    expect(rotated.seal(card).keyId).toBe(rotated.activeKeyId);
  });

  it("fingerprints are keyed: stable per card, different per key, not a plain hash", () => {
    const a = new CardVault([key(1)]);
    const b = new CardVault([key(2)]);
    expect(a.fingerprint(card.number)).toBe(a.fingerprint(card.number));
    expect(a.fingerprint(card.number)).not.toBe(b.fingerprint(card.number));
    const plain = createHash("sha256").update(card.number).digest("base64url");
    expect(plain.startsWith(a.fingerprint(card.number))).toBe(false);
  });
});
