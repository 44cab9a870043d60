/** Request bodies and HTTP helpers shared by the end-to-end tests. */
import { expect } from "bun:test";

export const CARDS = {
  visa: "4242424242424242",
  mastercard: "5555555555554444",
  amex: "378282246310005",
  declined: "4000000000000002",
  insufficientFunds: "4000000000009995",
  lostCard: "4000000000009987",
  stolenCard: "4000000000009979",
  expiredCard: "4000000000000069",
  incorrectCvc: "4000000000000127",
  processingError: "4000000000000119",
} as const;

export const EXPECTED: Record<string, { status: "COMPLETED" | "FAILED"; failureCode: string | null }> = {
  [CARDS.visa]: { status: "COMPLETED", failureCode: null },
  [CARDS.mastercard]: { status: "COMPLETED", failureCode: null },
  [CARDS.amex]: { status: "COMPLETED", failureCode: null },
  [CARDS.declined]: { status: "FAILED", failureCode: "card_declined" },
  [CARDS.insufficientFunds]: { status: "FAILED", failureCode: "insufficient_funds" },
  [CARDS.lostCard]: { status: "FAILED", failureCode: "lost_card" },
  [CARDS.stolenCard]: { status: "FAILED", failureCode: "stolen_card" },
  [CARDS.expiredCard]: { status: "FAILED", failureCode: "expired_card" },
  [CARDS.incorrectCvc]: { status: "FAILED", failureCode: "incorrect_cvc" },
  [CARDS.processingError]: { status: "FAILED", failureCode: "gateway_unavailable" },
};

export function paymentBody(cardNumber: string = CARDS.visa, overrides: Record<string, unknown> = {}) {
  const amex = cardNumber.startsWith("34") || cardNumber.startsWith("37");
  return {
    amount: 1999,
    currency: "USD",
    card: { number: cardNumber, expMonth: 12, expYear: 2030, cvc: amex ? "1234" : "123", holderName: "Jane Doe" },
    customer: { email: "jane@example.com", name: "Jane Doe", reference: "cus_42" },
    description: "Order #1001",
    metadata: { orderId: "1001" },
    ...overrides,
  };
}

/** A payment paid with a payment method the gateway holds (docs/CONTRACT.md §9) instead of a card. */
export function paymentMethodBody(paymentMethod: string, overrides: Record<string, unknown> = {}) {
  const { card: _card, ...body } = paymentBody();
  return { ...body, paymentMethod, ...overrides };
}

export function client(baseUrl: string, apiKey = "sk_test_local") {
  const headers = (extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${apiKey}`,
    "content-type": "application/json",
    ...extra,
  });
  return {
    post: (body: unknown, extra: Record<string, string> = {}) =>
      fetch(`${baseUrl}/v1/payments`, { method: "POST", headers: headers(extra), body: JSON.stringify(body) }),
    get: (id: string) => fetch(`${baseUrl}/v1/payments/${id}`, { headers: headers() }),
    list: (query = "") => fetch(`${baseUrl}/v1/payments${query}`, { headers: headers() }),
  };
}

/** Polls until every id is COMPLETED or FAILED (or the deadline passes); returns the last view of each. */
export async function waitForFinal(
  baseUrl: string,
  ids: string[],
  options: { apiKey?: string; timeoutMs?: number } = {},
): Promise<Map<string, { status: string; failureCode: string | null; attempts: number }>> {
  const api = client(baseUrl, options.apiKey);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const seen = new Map<string, { status: string; failureCode: string | null; attempts: number }>();
  let pending = [...ids];
  while (pending.length > 0 && Date.now() < deadline) {
    const next: string[] = [];
    for (let i = 0; i < pending.length; i += 50) {
      const batch = pending.slice(i, i + 50);
      const views = await Promise.all(batch.map((id) => api.get(id).then((r) => (r.ok ? r.json() : undefined), () => undefined)));
      batch.forEach((id, k) => {
        const view = views[k] as { status: string; failureCode: string | null; attempts: number } | undefined;
        if (view) seen.set(id, view);
        if (!view || (view.status !== "COMPLETED" && view.status !== "FAILED")) next.push(id);
      });
    }
    pending = next;
    if (pending.length > 0) await Bun.sleep(100);
  }
  return seen;
}

/** Waits until every accepted payment (id → card number) is final and requires each to end as its card says; returns the final views. */
export async function expectSettledAsCardsSay(baseUrl: string, accepted: Map<string, string>) {
  const final = await waitForFinal(baseUrl, [...accepted.keys()], { timeoutMs: 60_000 });
  for (const [id, card] of accepted) {
    const view = final.get(id);
    expect({ id, status: view?.status, failureCode: view?.failureCode }).toEqual({ id, ...EXPECTED[card]! });
  }
  return final;
}
