/**
 * A typed client of the paystream API: openapi-fetch typed by schema.d.ts, which `npm run client`
 * generates from the API document. Paths, parameters, bodies and answers (problems included) are
 * checked by the TypeScript compiler. Nothing here imports the service's own code.
 */
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
export type Payment = Schemas["Payment"];
export type PaymentRequest = Schemas["PaymentRequest"];
export type PaymentList = Schemas["PaymentList"];
export type Refund = Schemas["Refund"];
export type RefundRequest = Schemas["RefundRequest"];
export type RefundList = Schemas["RefundList"];
export type Dispute = Schemas["Dispute"];
export type DisputeList = Schemas["DisputeList"];
export type Problem = Schemas["Problem"];
export type WebhookEvent = Schemas["WebhookEvent"];
export type PaystreamClient = Client<paths>;

export interface PaystreamClientOptions {
  /** Where paystream listens, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** An API key (`Authorization: Bearer …`). */
  apiKey: string;
  /** A fetch implementation; the global one by default. */
  fetch?: typeof fetch;
}

export function createPaystreamClient({ baseUrl, apiKey, fetch: fetchImpl }: PaystreamClientOptions): PaystreamClient {
  return createClient<paths>({
    baseUrl,
    headers: { authorization: `Bearer ${apiKey}` },
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

const FINAL_STATUSES: ReadonlySet<Payment["status"]> = new Set(["COMPLETED", "FAILED", "CANCELED"]);

/**
 * True once a payment's status can change no more (a COMPLETED one can still be refunded). A
 * payment created with `capture: false` rests AUTHORIZED until it is captured or canceled.
 */
export const isFinal = (payment: Pick<Payment, "status">) => FINAL_STATUSES.has(payment.status);

/**
 * Checks a webhook's `Paystream-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`, keyed with the whole `whsec_…` secret) against the raw body as received,
 * before any JSON parsing. Web Crypto only, so it runs in Node, Bun, Deno, browsers and workers.
 * A timestamp further than `toleranceSeconds` from now is refused: a captured request cannot be
 * replayed later.
 */
export async function verifyWebhookSignature(
  rawBody: string | Uint8Array,
  header: string | null | undefined,
  secret: string,
  { toleranceSeconds = 300, now = Date.now() }: { toleranceSeconds?: number; now?: number } = {},
): Promise<boolean> {
  const fields = (header ?? "").split(",").map((field) => field.trim().split("="));
  const timestamp = fields.find(([name]) => name === "t")?.[1];
  const candidates = fields.filter(([name, value]) => name === "v1" && /^[0-9a-f]{64}$/.test(value ?? "")).map(([, value]) => value!);
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || candidates.length === 0) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) return false;

  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const body = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody;
  const signed = new Uint8Array([...encoder.encode(`${timestamp}.`), ...body]);
  // crypto.subtle.verify compares in constant time.
  for (const hex of candidates) {
    const signature = Uint8Array.from(hex.match(/../g)!, (byte) => Number.parseInt(byte, 16));
    if (await crypto.subtle.verify("HMAC", key, signature, signed)) return true;
  }
  return false;
}
