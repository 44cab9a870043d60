import { describe, expect, it } from "bun:test";
import { createCipheriv, createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { SealedDataUnavailable } from "../../modules/vault";
import { signWebhookPayload, verifyWebhookSignature, WebhookSecretBox, webhookRetryDelayMs } from "../../modules/webhooks";

const SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuv";
const BODY = '{"id":"evt_1","type":"payment.completed","createdAt":"2030-01-01T00:00:00.000Z","data":{"payment":{"id":"pay_1"}}}';
const now = () => Math.floor(Date.now() / 1000);

describe("webhook signatures (Paystream-Signature, Stripe's scheme)", () => {
  it("is t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'> keyed with the whole secret", () => {
    const header = signWebhookPayload(BODY, SECRET, 1_900_000_000);
    const expected = createHmac("sha256", SECRET).update(`1900000000.${BODY}`).digest("hex");
    expect(header).toBe(`t=1900000000,v1=${expected}`);
  });

  it("verifies what it signed, from a string or from the raw bytes", () => {
    const t = now();
    const header = signWebhookPayload(BODY, SECRET, t);
    expect(verifyWebhookSignature(BODY, header, SECRET)).toEqual({ ok: true, timestamp: t });
    expect(verifyWebhookSignature(new TextEncoder().encode(BODY), header, SECRET)).toEqual({ ok: true, timestamp: t });
  });

  it("rejects a body changed by a single byte, and another secret", () => {
    const header = signWebhookPayload(BODY, SECRET, now());
    expect(verifyWebhookSignature(BODY.replace("completed", "failed"), header, SECRET)).toEqual({ ok: false, reason: "signature_mismatch" });
    expect(verifyWebhookSignature(`${BODY} `, header, SECRET)).toEqual({ ok: false, reason: "signature_mismatch" });
    expect(verifyWebhookSignature(BODY, header, `${SECRET}x`)).toEqual({ ok: false, reason: "signature_mismatch" });
  });

  it("rejects a timestamp moved away from the one signed", () => {
    const t = now();
    const header = signWebhookPayload(BODY, SECRET, t).replace(`t=${t}`, `t=${t - 1}`);
    expect(verifyWebhookSignature(BODY, header, SECRET)).toEqual({ ok: false, reason: "signature_mismatch" });
  });

  it("rejects a correctly signed request older or newer than the tolerance (replays)", () => {
    const old = signWebhookPayload(BODY, SECRET, now() - 301);
    const future = signWebhookPayload(BODY, SECRET, now() + 301);
    expect(verifyWebhookSignature(BODY, old, SECRET)).toEqual({ ok: false, reason: "timestamp_out_of_tolerance" });
    expect(verifyWebhookSignature(BODY, future, SECRET)).toEqual({ ok: false, reason: "timestamp_out_of_tolerance" });
    expect(verifyWebhookSignature(BODY, old, SECRET, 600).ok).toBe(true);
  });

  it("accepts the header when any of several v1 signatures matches", () => {
    const t = now();
    const valid = signWebhookPayload(BODY, SECRET, t).split(",")[1];
    const header = `t=${t},v1=${"0".repeat(64)},${valid}`;
    expect(verifyWebhookSignature(BODY, header, SECRET).ok).toBe(true);
  });

  it("treats missing and malformed headers as malformed, never as valid", () => {
    const t = now();
    const v1 = createHmac("sha256", SECRET).update(`${t}.${BODY}`).digest("hex");
    for (const header of [
      null,
      undefined,
      "",
      `v1=${v1}`,
      `t=${t}`,
      `t=${t},v0=${v1}`,
      `t=abc,v1=${v1}`,
      `t=${t},t=${t},v1=${v1}`,
      `t=${t},v1=${v1.slice(2)}`,
      `t=${t};v1=${v1}`,
    ])
      expect({ header, result: verifyWebhookSignature(BODY, header, SECRET) }).toEqual({
        header,
        result: { ok: false, reason: "malformed_header" },
      });
  });
});

describe("signing secrets at rest (WebhookSecretBox)", () => {
  const master = Buffer.alloc(32, 9);

  it("seals a secret so that it cannot be read from the stored value, and opens it again", () => {
    const box = new WebhookSecretBox(master);
    const sealed = box.seal(SECRET);
    expect(sealed.sealed).not.toContain(SECRET);
    expect(sealed.sealed).not.toContain(Buffer.from(SECRET).toString("base64"));
    expect(box.open(sealed)).toBe(SECRET);
    expect(box.seal(SECRET).sealed).not.toBe(sealed.sealed);
  });

  it("refuses to open a secret sealed under another master key, or one tampered with", () => {
    const sealed = new WebhookSecretBox(master).seal(SECRET);
    expect(() => new WebhookSecretBox(Buffer.alloc(32, 8)).open(sealed)).toThrow();
    const [version, iv, ciphertext, tag] = sealed.sealed.split(".") as [string, string, string, string];
    const flipped = Buffer.from(ciphertext, "base64");
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    const tampered = { keyId: sealed.keyId, sealed: [version, iv, flipped.toString("base64"), tag].join(".") };
    expect(() => new WebhookSecretBox(master).open(tampered)).toThrow(SealedDataUnavailable);
  });

  it("still opens secrets sealed under a retired master key after a rotation, and seals new ones under the new key", () => {
    const before = new WebhookSecretBox(master);
    const sealed = before.seal(SECRET);
    const rotated = new WebhookSecretBox(Buffer.alloc(32, 8), [master]);
    expect(rotated.open(sealed)).toBe(SECRET);
    expect(rotated.keyId).not.toBe(before.keyId);
    expect(rotated.seal(SECRET).keyId).toBe(rotated.keyId);
    expect(() => new WebhookSecretBox(Buffer.alloc(32, 8)).open(sealed)).toThrow(SealedDataUnavailable);
  });

  it("opens secrets sealed before the v2 format (key id as the only associated data), under the same key id", () => {
    const derived = Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), "paystream webhook signing secrets", 32));
    const keyId = createHash("sha256").update(derived).digest("hex").slice(0, 12);
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", derived, iv);
    cipher.setAAD(Buffer.from(keyId));
    const ciphertext = Buffer.concat([cipher.update(SECRET, "utf8"), cipher.final()]);
    const legacy = { keyId, sealed: [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString("base64")).join(".") };
    const box = new WebhookSecretBox(Buffer.alloc(32, 8), [master]);
    expect(box.open(legacy)).toBe(SECRET);
  });

  it("seals under a key derived for webhooks, not under the master (card) key itself", () => {
    const box = new WebhookSecretBox(master);
    expect(box.keyId).not.toBe(createHash("sha256").update(master).digest("hex").slice(0, 12));
  });
});

describe("webhook retry schedule", () => {
  it("doubles from the base (30 s, 1 min, 2 min, …) and never waits more than an hour", () => {
    const noJitter = () => 1;
    expect([1, 2, 3, 4].map((a) => webhookRetryDelayMs(30_000, a, noJitter))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(webhookRetryDelayMs(30_000, 8, noJitter)).toBe(3_600_000);
    expect(webhookRetryDelayMs(30_000, 40, noJitter)).toBe(3_600_000);
  });

  it("jitters each delay down by at most 20 %, so events that failed together spread out", () => {
    expect(webhookRetryDelayMs(30_000, 1, () => 0)).toBe(24_000);
    const delays = new Set(Array.from({ length: 50 }, () => webhookRetryDelayMs(30_000, 3)));
    expect(delays.size).toBeGreaterThan(1);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(96_000);
      expect(d).toBeLessThanOrEqual(120_000);
    }
  });
});
