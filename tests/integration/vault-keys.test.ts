import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createHash, hkdfSync } from "node:crypto";
import { eq } from "drizzle-orm";
import { CardVault, loadCardVault, vaultKeys } from "../../modules/vault";
import { resealWebhookSecrets, WebhookSecretBox, webhookEndpoints } from "../../modules/webhooks";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";

const A = Buffer.alloc(32, 0xa1);
const B = Buffer.alloc(32, 0xb2);
const C = Buffer.alloc(32, 0xc3);
const keyIdOf = (key: Buffer) => createHash("sha256").update(key).digest("hex").slice(0, 12);
const CARD = "4242424242424242";

/** The vault of versions before the stored key: fingerprint key derived from the active key on every start. */
const olderVersionVault = (master: Buffer) =>
  new CardVault([master], Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), "paystream card fingerprint", 32)));

for (const backend of BACKENDS) {
  describe(`what the vault and webhooks keep sealed across CARD_ENCRYPTION_KEY rotations [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    const storedRow = async () => (await database.db.select().from(vaultKeys).where(eq(vaultKeys.name, "card-fingerprint")))[0];

    it("first stores the fingerprint key the version before the upgrade derived (same fingerprints and digests), concurrent first starts agreeing", async () => {
      const older = olderVersionVault(A);
      const vaults = await Promise.all([1, 2, 3, 4].map(() => loadCardVault(database.db, [A])));
      for (const vault of vaults) {
        expect(vault.fingerprint(CARD)).toBe(older.fingerprint(CARD));
        expect(vault.digestMatches("body", older.keyedDigest("body"))).toBe(true);
      }
      const row = await storedRow();
      expect(row?.keyId).toBe(keyIdOf(A));
      expect(row?.sealed).toStartWith("v2.");
    });

    it("gives the same card the same fingerprint after a rotation, and re-seals the stored key under the new key", async () => {
      const before = await loadCardVault(database.db, [A]);
      const rotated = await loadCardVault(database.db, [B, A]);
      expect(rotated.fingerprint(CARD)).toBe(before.fingerprint(CARD));
      expect(rotated.keyedDigest("body")).toBe(before.keyedDigest("body"));
      expect((await storedRow())?.keyId).toBe(keyIdOf(B));
      // The old key can then go: nothing stored by the vault needs it any more.
      const retiredDropped = await loadCardVault(database.db, [B]);
      expect(retiredDropped.fingerprint(CARD)).toBe(before.fingerprint(CARD));
    });

    it("refuses to start when the stored key is sealed under a key that is not configured, naming the setting", async () => {
      await expect(loadCardVault(database.db, [C])).rejects.toThrow(/CARD_ENCRYPTION_KEYS_RETIRED/);
      expect((await storedRow())?.keyId).toBe(keyIdOf(B));
    });

    it("re-seals webhook signing secrets of retired keys under the active key, and leaves those no configured key opens", async () => {
      const underA = new WebhookSecretBox(A).seal("whsec_a");
      const underC = new WebhookSecretBox(C).seal("whsec_c");
      await database.db.insert(webhookEndpoints).values([
        { merchantId: "m_a", url: "https://a.example/hooks", secretKeyId: underA.keyId, sealedSecret: underA.sealed },
        { merchantId: "m_c", url: "https://c.example/hooks", secretKeyId: underC.keyId, sealedSecret: underC.sealed },
      ]);
      const rotated = new WebhookSecretBox(B, [A]);
      expect(await resealWebhookSecrets(database.db, rotated)).toEqual({ resealed: 1, unreadable: 1 });
      const rows = new Map((await database.db.select().from(webhookEndpoints)).map((r) => [r.merchantId, r]));
      const a = rows.get("m_a")!;
      expect(a.secretKeyId).toBe(rotated.keyId);
      // Once re-sealed, the retired key is no longer needed to sign.
      expect(new WebhookSecretBox(B).open({ keyId: a.secretKeyId, sealed: a.sealedSecret })).toBe("whsec_a");
      expect(rows.get("m_c")?.sealedSecret).toBe(underC.sealed);
      expect(await resealWebhookSecrets(database.db, rotated)).toEqual({ resealed: 0, unreadable: 1 });
    });
  });
}
