import { paymentMessagesInsert } from "../broker";
import type { Database } from "../database";
import type { Gateway } from "../gateways";
import type { FieldError } from "../http";
import {
  createRefund,
  findPayment,
  findRefund,
  listRefunds,
  type NewRefund,
  newRefundId,
  REFUND_REASONS,
  type Refund,
  type RefundCreation,
  type RefundReason,
  toRefund,
  type WrittenWithRefunds,
} from "../payments";
import { claimIdempotencyKey, replayIdempotentRequest } from "../idempotency";
import type { CardVault } from "../vault";
import { canonicalJson } from "./canonical-json";
import { type BodyValidation, optionalAmount, optionalOneOf, ownValue, validateBody, validateGatewayUnits, validateMetadata } from "./validation";

export interface RefundRequest {
  /** null: everything still refundable. */
  amount: number | null;
  reason: RefundReason | null;
  metadata: Record<string, string>;
}

const REFUND_REQUEST_KEYS: ReadonlySet<string> = new Set(["amount", "reason", "metadata"]);

/** `{ "amount"?, "reason"?, "metadata"? }` (all optional, no body at all too), every error at once; metadata as a payment's. */
export function validateRefundRequest(body: unknown): BodyValidation<RefundRequest> {
  return validateBody(body, REFUND_REQUEST_KEYS, (object, errors) => {
    const amount = optionalAmount(ownValue(object, "amount"), errors);
    const reason = optionalOneOf(ownValue(object, "reason"), "reason", REFUND_REASONS, errors);
    const metadata = validateMetadata(ownValue(object, "metadata"), errors);
    if (amount === undefined || reason === undefined || metadata === undefined) return undefined;
    return { amount, reason, metadata };
  });
}

export type CreateRefundResult =
  | { kind: "created" | "replayed"; refund: Refund; statusCode: number }
  | { kind: "invalid"; errors: FieldError[] }
  | { kind: "idempotency_key_reused" }
  | Exclude<RefundCreation, { kind: "created" }>;

export interface RefundDeps {
  db: Database;
  /** Keyed digests of request bodies for Idempotency-Key records, as payments' are made (CardVault.keyedDigest). */
  digests: Pick<CardVault, "keyedDigest" | "digestMatches">;
  /** The configured gateway: whether its units express a refund's amount exactly (docs/CONTRACT.md §6). */
  gateway: Pick<Gateway, "toGatewayAmount">;
  onCreated?: (refund: Refund, requestId: string) => void;
}

/** What a merchant may ask of refunds (docs/CONTRACT.md §8). */
export interface RefundService {
  createRefund(input: { merchantId: string; paymentId: string; body: unknown; idempotencyKey: string | undefined; requestId: string }): Promise<CreateRefundResult>;
  getRefund(merchantId: string, id: string): Promise<Refund | undefined>;
  /** A payment's refunds, newest first; undefined when the payment is not the merchant's. */
  listRefunds(merchantId: string, paymentId: string, query: { limit: number; startingAfter?: string | undefined }): Promise<{ data: Refund[]; hasMore: boolean } | undefined>;
}

/** A refusal inside the transaction that claimed an Idempotency-Key: thrown to roll the claim back, so the key stays free. */
class RefundRefused extends Error {
  constructor(readonly creation: Exclude<RefundCreation, { kind: "created" }>) {
    super(creation.kind);
  }
}

/**
 * Refunds of COMPLETED payments (docs/CONTRACT.md §8). The reservation of the amount, the refund and the
 * worker's message are one statement (createRefund); with an Idempotency-Key, its record is
 * claimed in the same transaction, first, so a retry racing the original waits for it and then
 * replays it instead of refunding twice.
 */
export function createRefundService(deps: RefundDeps): RefundService {
  const { db, digests, gateway } = deps;

  async function replay(merchantId: string, key: string, canonicalBody: string): Promise<CreateRefundResult | undefined> {
    const bodyMatches = (requestHash: string) => digests.digestMatches(canonicalBody, requestHash);
    const earlier = await replayIdempotentRequest(db, "refunds", { merchantId, key, bodyMatches }, (id) => findRefund(db, merchantId, id));
    if (earlier?.kind !== "replayed") return earlier;
    return { kind: "replayed", refund: toRefund(earlier.resource), statusCode: earlier.statusCode };
  }

  async function reserve(refund: NewRefund & { requestId: string }, idempotency: { key: string; canonicalBody: string } | undefined): Promise<CreateRefundResult> {
    const queue: WrittenWithRefunds = (created) =>
      paymentMessagesInsert([{ paymentId: refund.paymentId, refundId: refund.id, requestId: refund.requestId, delayMs: 0 }], created);
    const settle = (creation: RefundCreation): CreateRefundResult => {
      if (creation.kind !== "created") return creation;
      const created = toRefund(creation.refund);
      deps.onCreated?.(created, refund.requestId);
      return { kind: "created", refund: created, statusCode: 202 };
    };
    if (!idempotency) return settle(await createRefund(db, refund, queue));
    const record = { merchantId: refund.merchantId, key: idempotency.key, requestHash: digests.keyedDigest(idempotency.canonicalBody), resourceId: refund.id, statusCode: 202 };
    try {
      const creation = await db.transaction(async (tx) => {
        if (!(await claimIdempotencyKey(tx, "refunds", record))) return undefined;
        const creation = await createRefund(tx, refund, queue);
        if (creation.kind !== "created") throw new RefundRefused(creation);
        return creation;
      });
      if (creation) return settle(creation);
    } catch (error) {
      if (error instanceof RefundRefused) return error.creation;
      throw error;
    }
    // A concurrent request with the same key committed first: answer as it was answered.
    const earlier = await replay(refund.merchantId, idempotency.key, idempotency.canonicalBody);
    if (!earlier) throw new Error("idempotency key taken but no record found");
    return earlier;
  }

  async function createPaymentRefund(input: {
    merchantId: string;
    paymentId: string;
    body: unknown;
    idempotencyKey: string | undefined;
    requestId: string;
  }): Promise<CreateRefundResult> {
    const { merchantId, paymentId, idempotencyKey, requestId } = input;
    // The payment is part of what a key stands for: the same key and body for another payment is another request.
    const canonicalBody = idempotencyKey ? canonicalJson({ paymentId, body: input.body ?? {} }) : "";
    if (idempotencyKey) {
      const earlier = await replay(merchantId, idempotencyKey, canonicalBody);
      if (earlier) return earlier;
    }
    const validation = validateRefundRequest(input.body);
    if (!validation.ok) return { kind: "invalid", errors: validation.errors };
    const { amount, reason, metadata } = validation.value;
    const payment = await findPayment(db, merchantId, paymentId);
    if (!payment) return { kind: "payment_not_found" };
    if (amount !== null) {
      const errors: FieldError[] = [];
      validateGatewayUnits(amount, payment.currency, gateway, errors);
      if (errors.length > 0) return { kind: "invalid", errors };
    }
    const refund = { id: newRefundId(), merchantId, paymentId, amount, reason, metadata, requestId };
    return reserve(refund, idempotencyKey ? { key: idempotencyKey, canonicalBody } : undefined);
  }

  async function getRefund(merchantId: string, id: string): Promise<Refund | undefined> {
    const row = await findRefund(db, merchantId, id);
    return row ? toRefund(row) : undefined;
  }

  /** A payment's refunds, newest first; undefined when the payment is not the merchant's. */
  async function listPaymentRefunds(
    merchantId: string,
    paymentId: string,
    query: { limit: number; startingAfter?: string | undefined },
  ): Promise<{ data: Refund[]; hasMore: boolean } | undefined> {
    const payment = await findPayment(db, merchantId, paymentId);
    if (!payment) return undefined;
    const { rows, hasMore } = await listRefunds(db, merchantId, paymentId, query);
    return { data: rows.map(toRefund), hasMore };
  }

  return { createRefund: createPaymentRefund, getRefund, listRefunds: listPaymentRefunds };
}

