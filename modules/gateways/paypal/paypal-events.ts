/**
 * PayPal webhook deliveries, verified the way PayPal documents for a listener that does not check
 * certificates itself: the transmission headers and the event go to PayPal's
 * `POST /v1/notifications/verify-webhook-signature` with our webhook's id, and PayPal answers
 * `verification_status` SUCCESS or FAILURE (developer.paypal.com/docs/api/webhooks/v1/#verify-webhook-signature).
 * The server SDK has no webhooks API, so this is a plain authenticated fetch.
 */

export interface PaypalEventVerifierOptions {
  clientId: string;
  clientSecret: string;
  environment: "sandbox" | "production";
  /** Origin to send API calls to instead of PayPal's (tests point it at a local fake). */
  apiBase?: string;
  timeoutMs: number;
  /** PAYPAL_WEBHOOK_ID: the id PayPal gave the webhook registered for this service. */
  webhookId: string;
}

/** A PayPal event whose delivery PayPal confirmed: its id, type and resource (only ids are read from it). */
export interface VerifiedPaypalEvent {
  id: string;
  type: string;
  resource: Record<string, unknown>;
}

/** What a verification came to; `unavailable`: PayPal could not be asked, so the delivery should come again. */
export type PaypalVerification = { kind: "verified"; event: VerifiedPaypalEvent } | { kind: "refused" } | { kind: "unavailable"; reason: string };

/** The transmission headers PayPal sends with every delivery, as verify-webhook-signature names them. */
const TRANSMISSION_HEADERS = {
  auth_algo: "paypal-auth-algo",
  cert_url: "paypal-cert-url",
  transmission_id: "paypal-transmission-id",
  transmission_sig: "paypal-transmission-sig",
  transmission_time: "paypal-transmission-time",
} as const;

export function createPaypalEventVerifier(options: PaypalEventVerifierOptions): (body: string, header: (name: string) => string | null) => Promise<PaypalVerification> {
  const base = (options.apiBase ?? (options.environment === "production" ? "https://api-m.paypal.com" : "https://api-m.sandbox.paypal.com")).replace(/\/$/, "");
  let token: { value: string; expiresAt: number } | undefined;

  async function accessToken(): Promise<string> {
    if (token !== undefined && token.expiresAt > Date.now()) return token.value;
    const response = await fetch(`${base}/v1/oauth2/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "grant_type=client_credentials",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (!response.ok) throw new Error(`PayPal token request answered HTTP ${response.status}`);
    const answer = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof answer.access_token !== "string") throw new Error("PayPal token answer without access_token");
    const seconds = typeof answer.expires_in === "number" ? answer.expires_in : 300;
    token = { value: answer.access_token, expiresAt: Date.now() + Math.max(0, seconds - 60) * 1000 };
    return token.value;
  }

  return async (body, header) => {
    const transmission = Object.fromEntries(Object.entries(TRANSMISSION_HEADERS).map(([field, name]) => [field, header(name)]));
    if (Object.values(transmission).some((value) => value === null || value === "")) return { kind: "refused" };
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return { kind: "refused" };
    }
    if (typeof event !== "object" || event === null || typeof event.id !== "string" || typeof event.event_type !== "string") return { kind: "refused" };
    // The event goes back exactly as it came (a re-serialized event may not verify).
    const fields = JSON.stringify({ ...transmission, webhook_id: options.webhookId });
    const request = `${fields.slice(0, -1)},"webhook_event":${body}}`;
    try {
      const response = await fetch(`${base}/v1/notifications/verify-webhook-signature`, {
        method: "POST",
        headers: { authorization: `Bearer ${await accessToken()}`, "content-type": "application/json" },
        body: request,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (response.status === 401) token = undefined;
      if (response.status >= 500 || response.status === 401 || response.status === 429) return { kind: "unavailable", reason: `HTTP ${response.status}` };
      if (!response.ok) return { kind: "refused" };
      const answer = (await response.json()) as { verification_status?: unknown };
      if (answer.verification_status !== "SUCCESS") return { kind: "refused" };
    } catch (error) {
      return { kind: "unavailable", reason: error instanceof Error ? error.message : String(error) };
    }
    const resource = typeof event.resource === "object" && event.resource !== null ? (event.resource as Record<string, unknown>) : {};
    return { kind: "verified", event: { id: event.id, type: event.event_type, resource } };
  };
}
