import { paymentMessagesInsert } from "../broker";
import type { Database, Executor } from "../database";
import type { Gateway } from "../gateways";
import { claimIdempotencyKey, type IdempotencyScope, replayIdempotentRequest } from "../idempotency";
import {
  cancelPending,
  findPayment,
  listPayments,
  newPaymentId,
  type Payment,
  type PaymentRow,
  type PaymentStatus,
  requestCapture,
  requestActionCancel,
  requestVoid,
  toPayment,
  type WrittenWithMoved,
} from "../payments";
import { type CardVault, purgeCardSecrets } from "../vault";
import { IntakeBatchWriter } from "./batch-writer";
import { canonicalJson } from "./canonical-json";
import { type FieldError, validateCancelRequest, validateCaptureRequest, validateGatewayUnits, validatePaymentRequest } from "./validation";

export type CreatePaymentResult =
  | { kind: "created" | "replayed"; payment: Payment; statusCode: number }
  | { kind: "invalid"; errors: FieldError[] }
  | { kind: "idempotency_key_reused" };

/** What a capture or a cancel of an existing payment came to. */
export type PaymentRequestResult =
  | { kind: "accepted"; payment: Payment }
  /** A retry with an earlier request's Idempotency-Key and body, answered with that request's status code. */
  | { kind: "replayed"; payment: Payment; statusCode: number }
  | { kind: "idempotency_key_reused" }
  | { kind: "invalid"; errors: FieldError[] }
  | { kind: "not_found" }
  /** The payment's status does not allow the request (docs/CONTRACT.md §8: 409 `invalid_state`). */
  | { kind: "invalid_state"; status: PaymentStatus };

/** A merchant's request on an existing payment: a capture, a void of an authorization, a cancel before processing. */
export type PaymentRequestKind = "capture" | "void" | "cancel";

export interface PaymentCreationInput {
  merchantId: string;
  body: unknown;
  idempotencyKey: string | undefined;
  requestId: string;
}

/** A capture or a cancel of the merchant's payment `id`. */
export interface PaymentRequestInput {
  merchantId: string;
  id: string;
  body: unknown;
  idempotencyKey: string | undefined;
  requestId: string;
}

/** A guarded move a capture or a cancel made, or undefined when the payment's status refused it. */
type Moved = { row: PaymentRow; kind: PaymentRequestKind } | undefined;

/** A refusal inside the transaction that claimed an Idempotency-Key: thrown to roll the claim back, so the key stays free. */
class MoveRefused extends Error {
  constructor() {
    super("payment request refused");
  }
}

export interface PaymentListQuery {
  status?: PaymentStatus | undefined;
  limit: number;
  startingAfter?: string | undefined;
}

/** What a merchant may ask of payments (docs/CONTRACT.md §3, §8). */
export interface IntakeService {
  createPayment(input: PaymentCreationInput): Promise<CreatePaymentResult>;
  getPayment(merchantId: string, id: string): Promise<Payment | undefined>;
  /** The merchant's payments, newest first. */
  listPayments(merchantId: string, query: PaymentListQuery): Promise<{ data: Payment[]; hasMore: boolean }>;
  capturePayment(input: PaymentRequestInput): Promise<PaymentRequestResult>;
  cancelPayment(input: PaymentRequestInput): Promise<PaymentRequestResult>;
}

export interface IntakeDeps {
  db: Database;
  vault: CardVault;
  /** The configured gateway: its name is recorded on each payment, its units and card acceptance checked at intake. */
  gateway: Pick<Gateway, "name" | "toGatewayAmount" | "acceptsCardData">;
  /** Outside production a returnUrl may be http to a loopback host (a developer's machine); in production https only. */
  allowLoopbackHttpUrls?: boolean;
  now?: () => Date;
  onCreated?: (payment: Payment, requestId: string) => void;
  /** A capture, void or cancel was accepted. */
  onRequested?: (payment: Payment, kind: PaymentRequestKind, requestId: string) => void;
  /** Runs in the transaction that cancels a PENDING payment (records its webhook event, as the worker does for final payments). */
  onFinalInTransaction?: (tx: Executor, payments: PaymentRow[]) => Promise<void>;
  /** Group-commit settings of the intake writer. */
  batching?: { maxBatch: number; maxConcurrentWrites: number };
}


/**
 * Intake: validate, then write the payment, its sealed card, its outbox message and its
 * idempotency record atomically (one statement, batched with concurrent requests; see
 * IntakeBatchWriter). Nothing reaches a broker here, so a broker outage can neither lose a
 * payment nor half-create one.
 */
export function createIntakeService(deps: IntakeDeps): IntakeService {
  const { db, vault, gateway } = deps;
  const now = deps.now ?? (() => new Date());
  const writer = new IntakeBatchWriter(db, deps.batching ?? { maxBatch: 256, maxConcurrentWrites: 4 });

  async function replay(merchantId: string, key: string, canonicalBody: string): Promise<CreatePaymentResult | undefined> {
    // Not a string comparison: a record written before an upgrade may carry an older key's digest.
    const bodyMatches = (requestHash: string) => vault.digestMatches(canonicalBody, requestHash);
    const earlier = await replayIdempotentRequest(db, "payments", { merchantId, key, bodyMatches }, (id) => findPayment(db, merchantId, id));
    if (earlier?.kind !== "replayed") return earlier;
    return { kind: "replayed", payment: toPayment(earlier.resource), statusCode: earlier.statusCode };
  }

  async function createPayment(input: PaymentCreationInput): Promise<CreatePaymentResult> {
    const { merchantId, idempotencyKey, requestId } = input;
    // The body holds a card number, so its digest must be keyed (see CardVault.keyedDigest).
    const canonicalBody = idempotencyKey ? canonicalJson(input.body) : "";
    if (idempotencyKey) {
      const earlier = await replay(merchantId, idempotencyKey, canonicalBody);
      if (earlier) return earlier;
    }

    const validation = validatePaymentRequest(input.body, now(), gateway, { allowLoopbackHttp: deps.allowLoopbackHttpUrls ?? false });
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
        // A payment method's card view comes from the gateway's approval.
        cardBrand: request.card?.brand ?? null,
        cardLast4: request.card?.last4 ?? null,
        cardExpMonth: request.card?.expMonth ?? null,
        cardExpYear: request.card?.expYear ?? null,
        cardFingerprint: request.card ? vault.fingerprint(request.card.number) : null,
        paymentMethod: request.paymentMethod,
        returnUrl: request.returnUrl,
        cancelUrl: request.cancelUrl,
        customerEmail: request.customer.email,
        customerName: request.customer.name,
        customerReference: request.customer.reference,
        gateway: gateway.name,
        requestId,
        captureMethod: request.capture ? "automatic" : "manual",
        operation: request.capture ? "charge" : "authorize",
      },
      sealed: request.card ? vault.seal(paymentId, { number: request.card.number, cvc: request.card.cvc, holderName: request.card.holderName }) : null,
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

  async function listMerchantPayments(merchantId: string, query: PaymentListQuery): Promise<{ data: Payment[]; hasMore: boolean }> {
    const { rows, hasMore } = await listPayments(db, merchantId, query);
    return { data: rows.map(toPayment), hasMore };
  }

  /** The worker's message for a payment a request moved, written by the moving statement. */
  const queueFor =
    (paymentId: string, requestId: string): WrittenWithMoved =>
    (moved) =>
      paymentMessagesInsert([{ paymentId, requestId, delayMs: 0 }], moved);

  /** After a guarded move was refused: 404 if the payment is not the merchant's, else 409 naming its status now. */
  async function refused(merchantId: string, id: string): Promise<PaymentRequestResult> {
    const row = await findPayment(db, merchantId, id);
    return row ? { kind: "invalid_state", status: row.status } : { kind: "not_found" };
  }

  function accepted(row: PaymentRow, kind: PaymentRequestKind, requestId: string): PaymentRequestResult {
    const payment = toPayment(row);
    deps.onRequested?.(payment, kind, requestId);
    return { kind: "accepted", payment };
  }

  async function replayRequest(scope: IdempotencyScope, merchantId: string, key: string, canonicalBody: string): Promise<PaymentRequestResult | undefined> {
    const bodyMatches = (requestHash: string) => vault.digestMatches(canonicalBody, requestHash);
    const earlier = await replayIdempotentRequest(db, scope, { merchantId, key, bodyMatches }, (id) => findPayment(db, merchantId, id));
    if (earlier?.kind !== "replayed") return earlier;
    return { kind: "replayed", payment: toPayment(earlier.resource), statusCode: earlier.statusCode };
  }

  /**
   * Runs a capture's or a cancel's guarded move in one transaction. With an Idempotency-Key, the
   * key is claimed first in that transaction, so a retry racing the original waits for it and
   * then replays it instead of answering 409 `invalid_state`; a refused move rolls the claim back.
   * The payment id is part of the recorded body digest (and is the record's resource id): the
   * same key on another payment is another request, answered 409 `idempotency_key_reused`, never
   * with the first payment.
   */
  async function moveOnce(
    scope: IdempotencyScope,
    input: PaymentRequestInput,
    check: () => Promise<PaymentRequestResult | undefined>,
    move: (tx: Executor) => Promise<Moved>,
  ): Promise<PaymentRequestResult> {
    const { merchantId, id, idempotencyKey, requestId } = input;
    const canonicalBody = idempotencyKey ? canonicalJson({ paymentId: id, body: input.body ?? {} }) : "";
    if (idempotencyKey) {
      const earlier = await replayRequest(scope, merchantId, idempotencyKey, canonicalBody);
      if (earlier) return earlier;
    }
    const refusal = await check();
    if (refusal) return refusal;
    if (!idempotencyKey) {
      const moved = await db.transaction(move);
      return moved ? accepted(moved.row, moved.kind, requestId) : refused(merchantId, id);
    }
    const record = { merchantId, key: idempotencyKey, requestHash: vault.keyedDigest(canonicalBody), resourceId: id, statusCode: 202 };
    try {
      const moved = await db.transaction(async (tx) => {
        if (!(await claimIdempotencyKey(tx, scope, record))) return undefined;
        const moved = await move(tx);
        if (!moved) throw new MoveRefused();
        return moved;
      });
      if (moved) return accepted(moved.row, moved.kind, requestId);
    } catch (error) {
      if (error instanceof MoveRefused) return refused(merchantId, id);
      throw error;
    }
    // A concurrent request with the same key committed first: answer as it was answered.
    const earlier = await replayRequest(scope, merchantId, idempotencyKey, canonicalBody);
    if (!earlier) throw new Error("idempotency key taken but no record found");
    return earlier;
  }

  /**
   * Captures (part of) an AUTHORIZED payment: AUTHORIZED → PROCESSING with the worker's message,
   * in one guarded statement. The amount is checked against the authorization, and against what
   * the gateway's units can express exactly (nothing is rounded, docs/CONTRACT.md §6), before that.
   */
  async function capturePayment(input: PaymentRequestInput): Promise<PaymentRequestResult> {
    const { merchantId, id, requestId } = input;
    let amount: number | null = null;
    const check = async (): Promise<PaymentRequestResult | undefined> => {
      const validation = validateCaptureRequest(input.body);
      if (!validation.ok) return { kind: "invalid", errors: validation.errors };
      amount = validation.value.amount;
      const payment = await findPayment(db, merchantId, id);
      if (!payment) return { kind: "not_found" };
      if (amount === null) return undefined;
      const errors: FieldError[] = [];
      if (amount > payment.amount)
        errors.push({ field: "amount", code: "amount_exceeds_authorized", message: `must be at most the authorized amount, ${payment.amount}` });
      else validateGatewayUnits(amount, payment.currency, gateway, errors);
      return errors.length > 0 ? { kind: "invalid", errors } : undefined;
    };
    return moveOnce("capture", input, check, async (tx) => {
      const row = await requestCapture(tx, { merchantId, id, amount }, queueFor(id, requestId));
      return row ? { row, kind: "capture" } : undefined;
    });
  }

  /**
   * Cancels a payment: a PENDING one no worker has claimed is CANCELED at once — its card deleted
   * and its event recorded in the same transaction, nothing having reached the gateway; an
   * AUTHORIZED one goes to the worker to be voided, and one waiting for its customer
   * (REQUIRES_ACTION) to be canceled at the gateway. Each step is one guarded statement, so a
   * worker claiming the payment meanwhile makes the cancel a 409, never a half-done one.
   */
  async function cancelPayment(input: PaymentRequestInput): Promise<PaymentRequestResult> {
    const { merchantId, id, requestId } = input;
    const validation = validateCancelRequest(input.body);
    const reason = validation.ok ? validation.value.reason : null;
    const check = async (): Promise<PaymentRequestResult | undefined> => (validation.ok ? undefined : { kind: "invalid", errors: validation.errors });
    return moveOnce("cancel", input, check, async (tx) => {
      const canceled = await cancelPending(tx, { merchantId, id, reason });
      if (canceled) {
        await Promise.all([purgeCardSecrets(tx, [canceled.id]), deps.onFinalInTransaction?.(tx, [canceled])]);
        return { row: canceled, kind: "cancel" };
      }
      const voiding = await requestVoid(tx, { merchantId, id, reason }, queueFor(id, requestId));
      if (voiding) return { row: voiding, kind: "void" };
      // Waiting for its customer: canceled at the gateway first, so they can no longer complete it.
      const waiting = await requestActionCancel(tx, { merchantId, id, reason }, queueFor(id, requestId));
      return waiting ? { row: waiting, kind: "void" } : undefined;
    });
  }

  return { createPayment, getPayment, listPayments: listMerchantPayments, capturePayment, cancelPayment };
}

