import type { Database } from "../database";
import type { Gateway } from "../gateways";
import {
  findPayment,
  listPayments,
  newPaymentId,
  type Payment,
  type PaymentStatus,
  toPayment,
} from "../payments";
import type { CardVault } from "../vault";
import { IntakeBatchWriter } from "./batch-writer";
import { canonicalJson } from "./canonical-json";
import { findIdempotencyRecord } from "./idempotency";
import { type FieldError, validatePaymentRequest } from "./validation";

export type CreatePaymentResult =
  | { kind: "created" | "replayed"; payment: Payment; statusCode: number }
  | { kind: "invalid"; errors: FieldError[] }
  | { kind: "idempotency_key_reused" };

export interface IntakeDeps {
  db: Database;
  vault: CardVault;
  /** The configured gateway: its name is recorded on each payment, its units checked at intake. */
  gateway: Pick<Gateway, "name" | "toGatewayAmount">;
  now?: () => Date;
  onCreated?: (payment: Payment, requestId: string) => void;
  /** Group-commit settings of the intake writer. */
  batching?: { maxBatch: number; maxConcurrentWrites: number };
}


/**
 * Intake: validate, then write the payment, its sealed card, its outbox message and its
 * idempotency record atomically (one statement, batched with concurrent requests; see
 * IntakeBatchWriter). Nothing reaches a broker here, so a broker outage can neither lose a
 * payment nor half-create one.
 */
export function createIntakeService(deps: IntakeDeps) {
  const { db, vault, gateway } = deps;
  const now = deps.now ?? (() => new Date());
  const writer = new IntakeBatchWriter(db, deps.batching ?? { maxBatch: 256, maxConcurrentWrites: 4 });

  async function replay(merchantId: string, key: string, canonicalBody: string): Promise<CreatePaymentResult | undefined> {
    const record = await findIdempotencyRecord(db, merchantId, key);
    if (!record) return undefined;
    // Not a string comparison: a record written before an upgrade may carry an older key's digest.
    if (!vault.digestMatches(canonicalBody, record.requestHash)) return { kind: "idempotency_key_reused" };
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
    const canonicalBody = idempotencyKey ? canonicalJson(input.body) : "";
    if (idempotencyKey) {
      const earlier = await replay(merchantId, idempotencyKey, canonicalBody);
      if (earlier) return earlier;
    }

    const validation = validatePaymentRequest(input.body, now(), gateway);
    if (!validation.ok) return { kind: "invalid", errors: validation.errors };
    const request = validation.value;
    const paymentId = newPaymentId();
    const result = await writer.write({
      payment: {
        id: paymentId,
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
        gateway: gateway.name,
        requestId,
        captureMethod: "automatic",
        operation: "charge",
      },
      sealed: vault.seal(paymentId, { number: request.card.number, cvc: request.card.cvc, holderName: request.card.holderName }),
      idempotency: idempotencyKey ? { key: idempotencyKey, requestHash: vault.keyedDigest(canonicalBody) } : null,
    });
    if (result.kind === "idempotency_key_taken" && idempotencyKey) {
      // A concurrent request with the same key committed first: answer as it was answered.
      const earlier = await replay(merchantId, idempotencyKey, canonicalBody);
      if (earlier) return earlier;
      throw new Error("idempotency key taken but no record found");
    }
    if (result.kind !== "written") throw new Error("payment was not written");
    const payment = toPayment(result.row);
    deps.onCreated?.(payment, requestId);
    return { kind: "created", payment, statusCode: 202 };
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
