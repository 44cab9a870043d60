import { and, eq } from "drizzle-orm";
import { enqueuePayment } from "../broker";
import type { Database } from "../database";
import {
  findPayment,
  insertPayment,
  listPayments,
  newPaymentId,
  type Payment,
  type PaymentStatus,
  toPayment,
} from "../payments";
import { type CardVault, storeCardSecret } from "../vault";
import { canonicalJson } from "./canonical-json";
import { idempotencyKeys } from "./schema";
import { type FieldError, validatePaymentRequest } from "./validation";

export type CreatePaymentResult =
  | { kind: "created" | "replayed"; payment: Payment; statusCode: number }
  | { kind: "invalid"; errors: FieldError[] }
  | { kind: "idempotency_key_reused" };

export interface IntakeDeps {
  db: Database;
  vault: CardVault;
  gatewayName: string;
  now?: () => Date;
  onCreated?: (payment: Payment) => void;
}

class IdempotencyRace extends Error {}

/**
 * Intake: validate, then write the payment, its sealed card, its outbox message and its
 * idempotency record in ONE transaction. Nothing reaches a broker here, so a broker outage can
 * neither lose a payment nor half-create one.
 */
export function createIntakeService(deps: IntakeDeps) {
  const { db, vault, gatewayName } = deps;
  const now = deps.now ?? (() => new Date());

  async function replay(merchantId: string, key: string, requestHash: string): Promise<CreatePaymentResult | undefined> {
    const [record] = await db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.merchantId, merchantId), eq(idempotencyKeys.key, key)));
    if (!record) return undefined;
    if (record.requestHash !== requestHash) return { kind: "idempotency_key_reused" };
    const row = await findPayment(db, merchantId, record.paymentId);
    if (!row) throw new Error("idempotency record points at a missing payment");
    return { kind: "replayed", payment: toPayment(row), statusCode: record.statusCode };
  }

  async function createPayment(input: {
    merchantId: string;
    body: unknown;
    idempotencyKey: string | undefined;
    requestId: string;
  }): Promise<CreatePaymentResult> {
    const { merchantId, idempotencyKey, requestId } = input;
    // The body holds a card number, so its digest must be keyed (see CardVault.keyedDigest).
    const requestHash = idempotencyKey ? vault.keyedDigest(canonicalJson(input.body)) : "";
    if (idempotencyKey) {
      const earlier = await replay(merchantId, idempotencyKey, requestHash);
      if (earlier) return earlier;
    }

    const validation = validatePaymentRequest(input.body, now());
    if (!validation.ok) return { kind: "invalid", errors: validation.errors };
    const request = validation.value;
    const id = newPaymentId();

    try {
      const row = await db.transaction(async (tx) => {
        if (idempotencyKey) {
          const claimed = await tx
            .insert(idempotencyKeys)
            .values({ merchantId, key: idempotencyKey, requestHash, paymentId: id, statusCode: 202 })
            .onConflictDoNothing()
            .returning({ key: idempotencyKeys.key });
          // A concurrent request with the same key committed first: answer as it did.
          if (claimed.length === 0) throw new IdempotencyRace();
        }
        const payment = await insertPayment(tx, {
          id,
          merchantId,
          amount: request.amount,
          currency: request.currency,
          description: request.description,
          metadata: request.metadata,
          cardBrand: request.card.brand,
          cardLast4: request.card.last4,
          cardExpMonth: request.card.expMonth,
          cardExpYear: request.card.expYear,
          cardFingerprint: vault.fingerprint(request.card.number),
          customerEmail: request.customer.email,
          customerName: request.customer.name,
          customerReference: request.customer.reference,
          gateway: gatewayName,
          requestId,
        });
        await storeCardSecret(
          tx,
          id,
          vault.seal({ number: request.card.number, cvc: request.card.cvc, holderName: request.card.holderName }),
        );
        await enqueuePayment(tx, { paymentId: id, requestId });
        return payment;
      });
      const payment = toPayment(row);
      deps.onCreated?.(payment);
      return { kind: "created", payment, statusCode: 202 };
    } catch (error) {
      if (error instanceof IdempotencyRace && idempotencyKey) {
        const earlier = await replay(merchantId, idempotencyKey, requestHash);
        if (earlier) return earlier;
      }
      throw error;
    }
  }

  async function getPayment(merchantId: string, id: string): Promise<Payment | undefined> {
    const row = await findPayment(db, merchantId, id);
    return row ? toPayment(row) : undefined;
  }

  async function listMerchantPayments(
    merchantId: string,
    query: { status?: PaymentStatus | undefined; limit: number; startingAfter?: string | undefined },
  ): Promise<{ data: Payment[]; hasMore: boolean }> {
    const { rows, hasMore } = await listPayments(db, merchantId, query);
    return { data: rows.map(toPayment), hasMore };
  }

  return { createPayment, getPayment, listPayments: listMerchantPayments };
}

export type IntakeService = ReturnType<typeof createIntakeService>;
