import { createHash, randomBytes } from "node:crypto";
import { and, eq, getTableColumns, inArray, sql } from "drizzle-orm";
import { Batcher, type Database, jsonRowsInsert, mapRows, queryRows } from "../../database";
import { acceptsEveryCard } from "../configuration";
import {
  type ActionOutcome,
  type ActionRequest,
  AUTHENTICATION_FAILED,
  AUTHENTICATION_REQUIRED,
  type CaptureRequest,
  type ChargeOutcome,
  type ChargeRequest,
  type Gateway,
  type GatewayCardView,
  type LookupOutcome,
  type LookupRequest,
  type OperationLookupRequest,
  type OperationOutcome,
  PAYMENT_METHOD_NOT_FOUND,
  type RefundRequest,
  type VoidRequest,
} from "../port";
import { stripeTestPaymentMethodCard } from "../stripe/stripe-test-payment-methods";
import { isoCurrencyRule, toGatewayMinorUnits } from "../units";
import { type SimulatorOperation, simulatorCharges } from "./schema";

/** Stripe's test card numbers and the outcomes they stand for (docs/CONTRACT.md §5). */
const DECLINES: Record<string, { code: string; message: string }> = {
  "4000000000000002": { code: "card_declined", message: "Your card was declined." },
  "4000000000009995": { code: "insufficient_funds", message: "Your card has insufficient funds." },
  "4000000000009987": { code: "lost_card", message: "Your card was declined (lost card)." },
  "4000000000009979": { code: "stolen_card", message: "Your card was declined (stolen card)." },
  "4000000000000069": { code: "expired_card", message: "Your card has expired." },
  "4000000000000127": { code: "incorrect_cvc", message: "Your card's security code is incorrect." },
};
const ALWAYS_PROCESSING_ERROR = "4000000000000119";

/**
 * Stripe's 3-D Secure test cards: the charge waits for the customer to authenticate on the
 * simulator's own page (docs/CONTRACT.md §9).
 */
const AUTHENTICATION_CARDS: ReadonlySet<string> = new Set(["4000002760003184", "4000000000003220", "4000000000003063", "4000002500003155"]);

/**
 * Cards whose charge or authorization succeeds but a later operation on it is refused. Like a
 * real gateway, the simulator knows the card behind a charge by the charge's reference, so the
 * refusal travels in the reference (the ledger never holds a card number).
 */
const LATER_REFUSALS: Record<string, RefusalTag> = {
  // Stripe's "refunds fail" card.
  "4000000000005126": "norefund",
  // Stripe has no card for it: authorizations succeed, captures are refused.
  "4000000000009961": "nocapture",
};
type RefusalTag = "norefund" | "nocapture";

/** The simulator's answers to operations it refuses, by code. */
const OPERATION_REFUSALS = {
  authorization_not_found: "No authorization of this payment has this reference.",
  authorization_already_captured: "The authorization has already been captured.",
  authorization_voided: "The authorization has been voided.",
  capture_declined: "The issuer refused to capture the authorization.",
  charge_not_found: "No captured charge of this payment has this reference.",
  charge_already_refunded: "The charge has already been refunded in full.",
  amount_too_large: "The amount is larger than what remains of the authorization or charge.",
  refund_failed: "The refund was refused by the card's issuer.",
} as const;
type OperationRefusal = keyof typeof OPERATION_REFUSALS;

/**
 * A fault injected into one call: `transient` fails it before anything is recorded; `lost`
 * records it and then loses the answer (the caller sees an unknown outcome).
 */
export type SimulatedFault = "transient" | "lost";

export interface SimulatorOptions {
  latencyMs: number;
  /** Share of calls that fail: half before anything is recorded, half after (unknown outcome). */
  transientFailureRate: number;
  random?: () => number;
  /** Decides each call's fault instead of drawing it with `random` (tests pick faults one call at a time). */
  fault?: () => SimulatedFault | null;
  /**
   * The simulator's own authentication and approval page of a waiting charge, as browsers reach it
   * (served by paystream outside production, see simulatorActionPage).
   */
  actionPageUrl?: (reference: string) => string;
}

/** Where a simulator with no page URL given links its waiting charges (paystream's own default address). */
const DEFAULT_ACTION_PAGE = (reference: string) => `http://127.0.0.1:3000/simulator/actions/${reference}`;

type LedgerRow = typeof simulatorCharges.$inferSelect;
const LEDGER_COLUMNS = Object.values(getTableColumns(simulatorCharges));
type Executor = Pick<Database, "select" | "insert" | "update">;
type Decision = { kind: "approved"; reference: string } | { kind: "declined"; code: string } | { kind: "requires_action"; reference: string };

/**
 * A gateway that behaves like a real one where it matters for correctness: it keeps a ledger
 * keyed by idempotency key (shared by every process through the database, as a real gateway's
 * is shared by every client), replays the first result for a repeated key, and can lose answers
 * after recording so the unknown-outcome path is exercised. Captures, voids and refunds follow
 * the same rules, each under its own key, and check what they act on like a real gateway does.
 */
export function createSimulatorGateway(db: Database, options: SimulatorOptions): Gateway {
  const random = options.random ?? Math.random;
  const { fault } = options;
  const drawFault =
    fault ??
    ((): SimulatedFault | null => {
      if (random() >= options.transientFailureRate) return null;
      return random() < 0.5 ? "transient" : "lost";
    });
  // A lookup records nothing, so it has no "after": one draw decides whether it fails.
  const unreachable = fault ? () => fault() !== null : () => random() < options.transientFailureRate;
  const roundTrip = () => (options.latencyMs > 0 ? Bun.sleep(options.latencyMs) : Promise.resolve());

  // The ledger write of concurrent charges goes in one statement (see Batcher): the simulator
  // runs inside our process and database, and must not cost a round trip per charge.
  const ledger = new Batcher<{ request: ChargeRequest; decided: Decision }, ChargeOutcome>(
    async (items) => {
      // One row per key: a statement may not upsert the same row twice.
      const unique = [...new Map(items.map((item) => [item.request.idempotencyKey, item])).values()];
      // Rows as one jsonb parameter: one statement text (and one prepared plan) whatever the batch size.
      const statement = jsonRowsInsert(
        simulatorCharges,
        unique.map(({ request, decided }) => ({
          idempotencyKey: request.idempotencyKey,
          paymentId: request.paymentId,
          operation: (request.capture ? "charge" : "authorize") as SimulatorOperation,
          outcome: decided.kind,
          declineCode: decided.kind === "declined" ? decided.code : null,
          reference: decided.kind === "declined" ? newReference(null) : decided.reference,
          amount: request.amount,
          currency: request.currency,
          returnUrl: request.returnUrl,
          cancelUrl: request.cancelUrl,
        })),
        { onConflictDoUpdate: { target: simulatorCharges.idempotencyKey, set: sql`${sql.identifier(simulatorCharges.requests.name)} = ${simulatorCharges.requests} + 1` }, returning: LEDGER_COLUMNS },
      );
      const rows = mapRows(simulatorCharges, await queryRows(db, statement)) as LedgerRow[];
      const byKey = new Map(rows.map((r) => [r.idempotencyKey, r]));
      return items.map(({ request }) => {
        const row = byKey.get(request.idempotencyKey);
        if (!row) throw new Error("simulator ledger returned no row");
        return chargeOutcomeOf(row);
      });
    },
    // With a simulated latency the write runs inside the round trip the caller waits for anyway, so
    // it may wait for company (up to half the latency, at most 10 ms): under load one statement
    // then records the charges of that span. Without latency it goes at once.
    { maxBatch: 256, maxConcurrent: 2, minIntervalMs: Math.min(10, options.latencyMs / 2) },
  );

  /**
   * Runs one capture, void or refund: a replayed key answers its first result; otherwise
   * `decide` checks the target (locked, so concurrent operations on one charge see each other)
   * and the decision is recorded before any answer leaves.
   */
  async function operate(
    operation: Exclude<SimulatorOperation, "charge" | "authorize">,
    request: (CaptureRequest | VoidRequest | RefundRequest) & { amount: number; refundId: string | null },
    decide: (tx: Executor) => Promise<Decision>,
  ): Promise<OperationOutcome> {
    const answered = roundTrip();
    const fault = drawFault();
    let outcome: OperationOutcome;
    if (fault === "transient") outcome = { kind: "transient", reason: "simulated 503 service unavailable" };
    else {
      const recorded = await db.transaction(async (tx) => {
        const [replayed] = await tx
          .update(simulatorCharges)
          .set({ requests: sql`${simulatorCharges.requests} + 1` })
          .where(eq(simulatorCharges.idempotencyKey, request.idempotencyKey))
          .returning();
        if (replayed) return ledgerOutcome(replayed);
        const decided = await decide(tx);
        const [row] = await tx
          .insert(simulatorCharges)
          .values({
            idempotencyKey: request.idempotencyKey,
            paymentId: request.paymentId,
            operation,
            refundId: request.refundId,
            targetReference: request.gatewayReference,
            outcome: decided.kind,
            declineCode: decided.kind === "declined" ? decided.code : null,
            reference: decided.kind === "approved" ? decided.reference : newReference(null),
            amount: request.amount,
            currency: request.currency,
          })
          .onConflictDoUpdate({ target: simulatorCharges.idempotencyKey, set: { requests: sql`${simulatorCharges.requests} + 1` } })
          .returning();
        if (!row) throw new Error("simulator ledger returned no row");
        return ledgerOutcome(row);
      });
      outcome = fault === "lost" ? { kind: "unknown", reason: "simulated timeout after the request was sent" } : recorded;
    }
    await answered;
    return outcome;
  }

  /** The approved charge, authorization or capture `request` acts on, locked; null when the payment has none with that reference. */
  async function target(
    tx: Executor,
    request: CaptureRequest | VoidRequest | RefundRequest,
    operations: SimulatorOperation[],
  ): Promise<LedgerRow | null> {
    const [row] = await tx
      .select()
      .from(simulatorCharges)
      .where(
        and(
          eq(simulatorCharges.reference, request.gatewayReference),
          eq(simulatorCharges.paymentId, request.paymentId),
          eq(simulatorCharges.currency, request.currency),
          eq(simulatorCharges.outcome, "approved"),
          inArray(simulatorCharges.operation, operations),
        ),
      )
      .for("update");
    return row ?? null;
  }

  /** The approved operations already done on `reference`. */
  const doneOn = (tx: Executor, reference: string) =>
    tx
      .select({ operation: simulatorCharges.operation, amount: simulatorCharges.amount })
      .from(simulatorCharges)
      .where(and(eq(simulatorCharges.targetReference, reference), eq(simulatorCharges.outcome, "approved")));

  async function decideOnAuthorization(tx: Executor, request: CaptureRequest | VoidRequest): Promise<LedgerRow | Decision> {
    const authorization = await target(tx, request, ["authorize"]);
    if (!authorization) return refused("authorization_not_found");
    const done = await doneOn(tx, authorization.reference);
    if (done.some((op) => op.operation === "capture")) return refused("authorization_already_captured");
    if (done.some((op) => op.operation === "void")) return refused("authorization_voided");
    return authorization;
  }

  /** A ledger row as the answer to a charge: a waiting one sends the customer to the simulator's page. */
  function chargeOutcomeOf(row: LedgerRow): ChargeOutcome {
    switch (row.outcome) {
      case "requires_action":
      case "buyer_approved":
        return { kind: "requires_action", gatewayReference: row.reference, url: (options.actionPageUrl ?? DEFAULT_ACTION_PAGE)(row.reference) };
      case "canceled":
        return { kind: "declined", code: AUTHENTICATION_FAILED, message: CANCELED_MESSAGE, gatewayReference: row.reference };
      default:
        return withPayerView(ledgerOutcome(row), row);
    }
  }

  /**
   * Makes the charge the buyer approved (PayPal Checkout: the order's capture or authorization),
   * once: the row moves from buyer_approved to approved under its lock, and a repeat answers the
   * row as it is.
   */
  async function continueCharge(request: ChargeRequest & { continues: string }): Promise<ChargeOutcome> {
    return db.transaction(async (tx) => {
      const [row] = await tx
        .update(simulatorCharges)
        .set({ requests: sql`${simulatorCharges.requests} + 1` })
        .where(and(eq(simulatorCharges.idempotencyKey, request.idempotencyKey), eq(simulatorCharges.reference, request.continues)))
        .returning();
      if (!row || row.paymentId !== request.paymentId || row.amount !== request.amount || row.currency !== request.currency)
        return { kind: "declined", code: "order_not_found", message: "No order of this payment has this reference.", gatewayReference: null };
      if (row.outcome === "requires_action") return { kind: "transient", reason: "ORDER_NOT_APPROVED: the buyer has not approved the order yet" };
      if (row.outcome !== "buyer_approved") return chargeOutcomeOf(row);
      const [charged] = await tx.update(simulatorCharges).set({ outcome: "approved" }).where(eq(simulatorCharges.idempotencyKey, row.idempotencyKey)).returning();
      if (!charged) throw new Error("simulator ledger returned no row");
      return chargeOutcomeOf(charged);
    });
  }

  /** The waiting charge of `request`, when the ledger holds it for this payment, amount and currency. */
  async function waitingCharge(request: ActionRequest): Promise<LedgerRow | null> {
    const [row] = await db.select().from(simulatorCharges).where(eq(simulatorCharges.idempotencyKey, request.idempotencyKey));
    if (!row || row.reference !== request.gatewayReference || row.paymentId !== request.paymentId || row.amount !== request.amount || row.currency !== request.currency) return null;
    return row;
  }

  return {
    /** A refund in the ledger, by the reference its answer named: succeeded or failed as recorded (the simulator never fails one later). */
    async retrieveRefund(gatewayReference) {
      const [row] = await db
        .select()
        .from(simulatorCharges)
        .where(and(eq(simulatorCharges.operation, "refund"), eq(simulatorCharges.reference, gatewayReference)));
      if (!row) return { kind: "not_found" };
      return { kind: "found", gatewayReference, status: row.outcome === "approved" ? "succeeded" : "failed", failureReason: row.declineCode };
    },
    /** The simulator has no disputes (docs/CONTRACT.md §10): every id is unknown to it. */
    retrieveDispute: async () => ({ kind: "not_found" }),
    name: "simulator",
    // Like the contract's API, the simulator takes every ISO 4217 currency in its ISO minor units.
    toGatewayAmount: (amount, currency) => toGatewayMinorUnits("simulator", amount, currency, isoCurrencyRule(currency)),
    acceptsCardData: acceptsEveryCard,
    async charge(request: ChargeRequest): Promise<ChargeOutcome> {
      // The latency is the whole round trip as the caller sees it; the ledger write happens
      // inside it, as a real gateway's own bookkeeping does.
      const answered = roundTrip();
      const fault = drawFault();
      let outcome: ChargeOutcome;
      if (fault === "transient") outcome = { kind: "transient", reason: "simulated 503 service unavailable" };
      else if (request.continues !== undefined) {
        const recorded = await continueCharge({ ...request, continues: request.continues });
        outcome = fault === "lost" ? { kind: "unknown", reason: "simulated timeout after the request was sent" } : recorded;
      } else if (request.wallet === "paypal") {
        // PayPal Checkout: the order waits for the buyer's approval on the simulator's page.
        const decided: Decision = request.returnUrl === null ? { kind: "declined", code: AUTHENTICATION_REQUIRED } : { kind: "requires_action", reference: newReference(null, "order") };
        const recorded = await ledger.submit({ request, decided });
        outcome = fault === "lost" ? { kind: "unknown", reason: "simulated timeout after the request was sent" } : recorded;
      } else {
        const paid = cardOf(request);
        if (paid === null) outcome = PAYMENT_METHOD_MISSING;
        else if (paid.number === ALWAYS_PROCESSING_ERROR)
          outcome = { kind: "transient", reason: "processing_error: An error occurred while processing your card." };
        else {
          const decline = DECLINES[paid.number];
          const decided: Decision = decline
            ? { kind: "declined", code: decline.code }
            : AUTHENTICATION_CARDS.has(paid.number)
              ? request.returnUrl === null
                ? { kind: "declined", code: AUTHENTICATION_REQUIRED }
                : { kind: "requires_action", reference: newReference(null) }
              : { kind: "approved", reference: newReference(LATER_REFUSALS[paid.number] ?? null) };
          const recorded = await ledger.submit({ request, decided });
          // The charge is recorded but the answer is "lost": the caller must replay with the same key.
          outcome = fault === "lost" ? { kind: "unknown", reason: "simulated timeout after the request was sent" } : withCardView(recorded, paid.view);
        }
      }
      await answered;
      return outcome;
    },

    async lookup(request: LookupRequest): Promise<LookupOutcome> {
      const answered = roundTrip();
      // An unhealthy gateway is as unreachable for lookups as for charges.
      if (unreachable()) {
        await answered;
        return { kind: "unknown", reason: "simulated 503 service unavailable" };
      }
      const [row] = await db.select().from(simulatorCharges).where(eq(simulatorCharges.idempotencyKey, request.idempotencyKey));
      await answered;
      // The ledger is written before any answer leaves, so no row means no charge was taken.
      if (!row) return { kind: "not_charged", reason: "no charge under this payment's idempotency key" };
      if (
        row.paymentId !== request.paymentId ||
        row.operation !== (request.capture ? "charge" : "authorize") ||
        row.amount !== request.amount ||
        row.currency !== request.currency
      )
        return { kind: "unknown", reason: "the ledger row under this key belongs to another payment, operation or amount" };
      const answer = chargeOutcomeOf(row);
      return answer.kind === "transient" || answer.kind === "unknown" ? { kind: "unknown", reason: answer.reason } : answer;
    },

    async checkAction(request: ActionRequest): Promise<ActionOutcome> {
      const answered = roundTrip();
      if (unreachable()) {
        await answered;
        return { kind: "unknown", reason: "simulated 503 service unavailable" };
      }
      const row = await waitingCharge(request);
      await answered;
      if (row === null) return { kind: "unknown", reason: "the ledger holds no waiting charge of this payment under this reference" };
      switch (row.outcome) {
        case "requires_action":
          return { kind: "pending" };
        case "buyer_approved":
          return { kind: "ready" };
        case "canceled":
          return { kind: "failed", code: AUTHENTICATION_FAILED, message: CANCELED_MESSAGE };
        case "declined":
          return { kind: "failed", code: row.declineCode ?? AUTHENTICATION_FAILED, message: declineMessage(row.declineCode ?? AUTHENTICATION_FAILED) };
        case "approved": {
          const approved = withPayerView(ledgerOutcome(row), row);
          if (approved.kind !== "approved") throw new Error("simulator ledger: an approved row answered otherwise");
          const view = request.paymentMethod === null ? null : (cardOfPaymentMethod(request.paymentMethod)?.view ?? null);
          return { kind: "approved", gatewayReference: approved.gatewayReference, ...(view ? { card: view } : {}), ...(approved.payer ? { payer: approved.payer } : {}) };
        }
      }
    },

    async cancelAction(request: ActionRequest): Promise<OperationOutcome> {
      const answered = roundTrip();
      const fault = drawFault();
      if (fault === "transient") {
        await answered;
        return { kind: "transient", reason: "simulated 503 service unavailable" };
      }
      const recorded = await db.transaction(async (tx): Promise<OperationOutcome> => {
        const [row] = await tx.select().from(simulatorCharges).where(eq(simulatorCharges.idempotencyKey, request.idempotencyKey)).for("update");
        // Nothing under this key, or a charge that never happened: nothing can be charged any more.
        if (!row || row.outcome === "declined" || row.outcome === "canceled") return { kind: "approved", gatewayReference: request.gatewayReference };
        if (row.outcome === "approved")
          return { kind: "declined", code: "charge_already_completed", message: "The customer completed the payment before it was canceled.", gatewayReference: row.reference };
        await tx.update(simulatorCharges).set({ outcome: "canceled" }).where(eq(simulatorCharges.idempotencyKey, row.idempotencyKey));
        return { kind: "approved", gatewayReference: row.reference };
      });
      await answered;
      return fault === "lost" ? { kind: "unknown", reason: "simulated timeout after the request was sent" } : recorded;
    },

    capture: (request) =>
      operate("capture", { ...request, refundId: null }, async (tx) => {
        const authorization = await decideOnAuthorization(tx, request);
        if ("kind" in authorization) return authorization;
        if (request.amount < 1 || request.amount > authorization.amount) return refused("amount_too_large");
        const tag = refusalTag(authorization.reference);
        if (tag === "nocapture") return refused("capture_declined");
        return { kind: "approved", reference: newReference(tag) };
      }),

    voidAuthorization: (request) =>
      operate("void", { ...request, amount: request.authorizedAmount, refundId: null }, async (tx) => {
        const authorization = await decideOnAuthorization(tx, request);
        if ("kind" in authorization) return authorization;
        // A void answers with the authorization it released (see OperationOutcome).
        return { kind: "approved", reference: authorization.reference };
      }),

    refund: (request) =>
      operate("refund", request, async (tx) => {
        const charge = await target(tx, request, ["charge", "capture"]);
        if (!charge) return refused("charge_not_found");
        const refunded = (await doneOn(tx, charge.reference))
          .filter((op) => op.operation === "refund")
          .reduce((sum, op) => sum + op.amount, 0);
        if (refunded >= charge.amount) return refused("charge_already_refunded");
        if (request.amount < 1 || refunded + request.amount > charge.amount) return refused("amount_too_large");
        if (refusalTag(charge.reference) === "norefund") return refused("refund_failed");
        return { kind: "approved", reference: newReference(null) };
      }),

    async lookupOperation(lookup: OperationLookupRequest): Promise<LookupOutcome> {
      const answered = roundTrip();
      if (unreachable()) {
        await answered;
        return { kind: "unknown", reason: "simulated 503 service unavailable" };
      }
      const { request } = lookup;
      const [row] = await db.select().from(simulatorCharges).where(eq(simulatorCharges.idempotencyKey, request.idempotencyKey));
      await answered;
      // Every operation is recorded before its answer leaves: no row means it was never done.
      if (!row) return { kind: "not_charged", reason: `no ${lookup.operation} under this idempotency key` };
      const expected =
        lookup.operation === "refund"
          ? { amount: lookup.request.amount, refundId: lookup.request.refundId }
          : { amount: lookup.operation === "capture" ? lookup.request.amount : lookup.request.authorizedAmount, refundId: null };
      if (
        row.operation !== lookup.operation ||
        row.paymentId !== request.paymentId ||
        row.targetReference !== request.gatewayReference ||
        row.amount !== expected.amount ||
        row.currency !== request.currency ||
        row.refundId !== expected.refundId
      )
        return { kind: "unknown", reason: `the ledger row under this key is not this ${lookup.operation}` };
      return ledgerOutcome(row);
    },
  };
}

/**
 * Expiry of the simulator's test PaymentMethods: like Stripe's, they do not expire (Stripe's carry
 * a date some years ahead).
 */
const TEST_PAYMENT_METHOD_EXPIRY = { expMonth: 12, expYear: 2034 };

const PAYMENT_METHOD_MISSING: ChargeOutcome = {
  kind: "declined",
  code: PAYMENT_METHOD_NOT_FOUND,
  message: "No such payment method: the simulator holds Stripe's test PaymentMethods (pm_card_visa, …).",
  gatewayReference: null,
};

/**
 * The card number that decides a charge's outcome, and for a payment method the card view the
 * simulator answers (as a gateway describes the card behind a payment method). Null for a payment
 * method it does not hold: the simulator holds Stripe's test PaymentMethods, with the outcomes of
 * their card numbers.
 */
function cardOf(request: ChargeRequest): { number: string; view: GatewayCardView | null } | null {
  if (request.card !== undefined) return { number: request.card.number, view: null };
  if (request.paymentMethod === undefined) return null;
  return cardOfPaymentMethod(request.paymentMethod);
}

function cardOfPaymentMethod(paymentMethod: string): { number: string; view: GatewayCardView } | null {
  const card = stripeTestPaymentMethodCard(paymentMethod);
  if (card === undefined) return null;
  const fingerprint = `sim_fp_${createHash("sha256").update(card.number).digest("hex").slice(0, 16)}`;
  return { number: card.number, view: { brand: card.brand, last4: card.number.slice(-4), ...TEST_PAYMENT_METHOD_EXPIRY, fingerprint } };
}

function withCardView(outcome: ChargeOutcome, view: GatewayCardView | null): ChargeOutcome {
  return outcome.kind === "approved" && view !== null ? { ...outcome, card: view } : outcome;
}

function newReference(tag: RefusalTag | null, kind = "sim"): string {
  const id = randomBytes(12).toString("hex");
  return tag === null ? `${kind === "sim" ? "sim" : `sim_${kind}`}_${id}` : `sim_${tag}_${id}`;
}

const CANCELED_MESSAGE = "The customer's authentication or approval was canceled before it was completed.";

/** A PayPal Checkout charge answers with the payer who approved it. */
function withPayerView<T extends ChargeOutcome>(outcome: T, row: LedgerRow): T {
  return outcome.kind === "approved" && row.payerId !== null ? { ...outcome, payer: { id: row.payerId, email: row.payerEmail } } : outcome;
}

function declineMessage(code: string): string {
  return (
    (OPERATION_REFUSALS as Record<string, string | undefined>)[code] ??
    ACTION_REFUSALS[code] ??
    Object.values(DECLINES).find((d) => d.code === code)?.message ??
    "Your card was declined."
  );
}

const ACTION_REFUSALS: Record<string, string> = {
  [AUTHENTICATION_REQUIRED]: "The card needs customer authentication (3-D Secure), and the payment has no returnUrl.",
  [AUTHENTICATION_FAILED]: "The customer failed or abandoned the authentication.",
};

function refusalTag(reference: string): RefusalTag | null {
  const tag = /^sim_(norefund|nocapture)_/.exec(reference)?.[1];
  return (tag as RefusalTag | undefined) ?? null;
}

function refused(code: OperationRefusal): Decision {
  return { kind: "declined", code };
}

function ledgerOutcome(row: LedgerRow): OperationOutcome & { kind: "approved" | "declined" } {
  if (row.outcome === "approved") return { kind: "approved", gatewayReference: row.reference };
  const code = row.declineCode ?? "card_declined";
  return { kind: "declined", code, message: declineMessage(code), gatewayReference: row.reference };
}
