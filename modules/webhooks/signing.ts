import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Stripe's signature scheme, so merchants can reuse what they know: the header carries the
 * signing time and an HMAC-SHA256 of "<time>.<raw body>", keyed with the whole `whsec_…` secret.
 * Signing the time binds it to the body, so a captured request cannot be replayed later than the
 * receiver's tolerance.
 */
export const SIGNATURE_HEADER = "Paystream-Signature";

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

function hmacHex(secret: string, timestamp: number, rawBody: string | Uint8Array): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
}

/** The `Paystream-Signature` value for a body sent at `timestampSeconds` (unix seconds). */
export function signWebhookPayload(rawBody: string | Uint8Array, secret: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, rawBody)}`;
}

export type SignatureVerification =
  | { ok: true; timestamp: number }
  | { ok: false; reason: "malformed_header" | "timestamp_out_of_tolerance" | "signature_mismatch" };

/**
 * Checks a `Paystream-Signature` header against the raw body (the bytes received, before any JSON
 * parsing). Any `v1` entry may match, so a receiver keeps working if several are ever sent.
 */
export function verifyWebhookSignature(
  rawBody: string | Uint8Array,
  header: string | null | undefined,
  secret: string,
  toleranceSeconds = 300,
): SignatureVerification {
  if (!header) return { ok: false, reason: "malformed_header" };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const [key, value, ...rest] = part.trim().split("=");
    if (value === undefined || rest.length > 0) return { ok: false, reason: "malformed_header" };
    if (key === "t") {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return { ok: false, reason: "malformed_header" };
      timestamp = Number(value);
    } else if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0) return { ok: false, reason: "malformed_header" };
  if (Math.abs(Date.now() / 1000 - timestamp) > toleranceSeconds) return { ok: false, reason: "timestamp_out_of_tolerance" };
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), "hex");
  const matches = signatures.some((s) => timingSafeEqual(Buffer.from(s, "hex"), expected));
  return matches ? { ok: true, timestamp } : { ok: false, reason: "signature_mismatch" };
}
