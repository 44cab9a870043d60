import type { PaymentRow, PaymentStatus } from "./schema";

/** The payment object of the public API (contract §3). */
export interface Payment {
  id: string;
  status: PaymentStatus;
  amount: number;
  currency: string;
  description: string | null;
  metadata: Record<string, string>;
  card: { brand: string; last4: string; expMonth: number; expYear: number; fingerprint: string };
  customer: { email: string; name: string; reference: string | null };
  gateway: string;
  gatewayReference: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export function toPayment(row: PaymentRow): Payment {
  return {
    id: row.id,
    status: row.status,
    amount: row.amount,
    currency: row.currency,
    description: row.description,
    metadata: row.metadata,
    card: {
      brand: row.cardBrand,
      last4: row.cardLast4,
      expMonth: row.cardExpMonth,
      expYear: row.cardExpYear,
      fingerprint: row.cardFingerprint,
    },
    customer: { email: row.customerEmail, name: row.customerName, reference: row.customerReference },
    gateway: row.gateway,
    gatewayReference: row.gatewayReference,
    failureCode: row.failureCode,
    failureMessage: row.failureMessage,
    attempts: row.attempts,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    completedAt: row.completedAt ? row.completedAt.toISOString() : null,
  };
}
