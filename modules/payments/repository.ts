import { and, desc, eq, inArray, lt, not, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { type Executor, type IdFilter, inJsonList, insertDefaults, jsonRowsInsert, mapRows, queryRows } from "../database";
import { type GatewayWorkTable, guardOfSources } from "./gateway-work";
import { type NewPaymentRow, type PaymentRow, type PaymentStatus, payments } from "./schema";
import { AMOUNT_CHANGES, type AmountChangeName, TRANSITIONS, type TransitionName, UNFINISHED_STATUSES } from "./status";
import { type AttemptRelease, type FinalOutcomeWriteOf, gatewayWorkLifecycle } from "./work-lifecycle";

/** What the shared gateway-work statements (./gateway-work.ts, ./work-lifecycle.ts) need to know of the payments table. */
export const PAYMENT_WORK: GatewayWorkTable = {
  table: payments,
  id: payments.id,
  merchantId: payments.merchantId,
  outcomeUnknownSince: payments.outcomeUnknownSince,
  status: payments.status,
  attempts: payments.attempts,
  leaseExpiresAt: payments.leaseExpiresAt,
  reconciling: payments.reconciling,
  nextCheckAt: payments.nextCheckAt,
  reconcileChecks: payments.reconcileChecks,
  gatewayReference: payments.gatewayReference,
};

/** The WHERE clause of a transition's guarded update, from the one table in ./status.ts. */
export function guardOf(transition: TransitionName): SQL {
  return guardOfSources(PAYMENT_WORK, TRANSITIONS[transition].from);
}

/** The WHERE clause of an amount change's guarded update, from AMOUNT_CHANGES in ./status.ts. */
export function amountChangeGuardOf(change: AmountChangeName): SQL {
  return guardOfSources(PAYMENT_WORK, AMOUNT_CHANGES[change].from);
}

/** What a new payment is created with; every other column starts at its default (PENDING, no attempt yet). */
export type NewPayment = Required<
  Pick<
    NewPaymentRow,
    | "id"
    | "merchantId"
    | "amount"
    | "currency"
    | "description"
    | "metadata"
    | "cardBrand"
    | "cardLast4"
    | "cardExpMonth"
    | "cardExpYear"
    | "cardFingerprint"
    | "paymentMethod"
    | "returnUrl"
    | "cancelUrl"
    | "customerEmail"
    | "customerName"
    | "customerReference"
    | "gateway"
    | "requestId"
    | "captureMethod"
    | "operation"
  >
>;

/** Another owner's rows for payments being created (a sealed card, an outbox message), as a part of the creating statement. */
export type WrittenWithPayments = (created: IdFilter) => SQL;

export interface PaymentCreation {
  /**
   * A part that must return the id (as `resource_id`) of each payment in `ids` for it to be created,
   * such as the claim of its idempotency key. The other payments are created unconditionally.
   */
  claim?: { ids: string[]; part: SQL };
  /** Each is given the query of the ids actually created, and writes only their rows. */
  alongside?: WrittenWithPayments[];
}

/**
 * Creates PENDING payments and returns them as stored: what was given, the schema's constant
 * defaults (status, attempts, …), and what the database computed (the timestamps) as RETURNING
 * gives it. Reading back only those keeps the statement cheap for both sides. What other owners write for the same
 * payments runs as parts (CTEs) of this ONE statement: a payment and its rows commit together,
 * and a batch costs one round trip and no explicit transaction, which is what intake's
 * throughput rests on.
 */
export async function insertPayments(db: Executor, created: NewPayment[], creation: PaymentCreation = {}): Promise<PaymentRow[]> {
  if (created.length === 0) return [];
  const conditional = new Set(creation.claim?.ids ?? []);
  const parts: SQL[] = [];
  let only: { column: typeof payments.id; filter: IdFilter } | undefined;
  if (creation.claim && conditional.size > 0) {
    parts.push(sql`claimed as (${creation.claim.part})`);
    const unconditional = created.filter((p) => !conditional.has(p.id)).map((p) => p.id);
    only = {
      column: payments.id,
      filter: sql`select jsonb_array_elements_text(${JSON.stringify(unconditional)}::jsonb) union all select resource_id from claimed`,
    };
  }
  const { constants, computed } = insertDefaults(payments, Object.keys(created[0] as NewPayment));
  parts.push(sql`created as (${jsonRowsInsert(payments, created, { returning: [payments.id, ...computed], ...(only ? { only } : {}) })})`);
  (creation.alongside ?? []).forEach((part, i) => parts.push(sql`${sql.identifier(`alongside_${i}`)} as (${part(sql`select id from created`)})`));
  const stored = new Map(
    mapRows(payments, await queryRows(db, sql`with ${sql.join(parts, sql`, `)} select * from created`)).map((row) => [row.id, row]),
  );
  return created.flatMap((payment) => {
    const row = stored.get(payment.id);
    return row ? [{ ...constants, ...payment, ...row } as PaymentRow] : [];
  });
}

export async function findPayment(db: Executor, merchantId: string, id: string): Promise<PaymentRow | undefined> {
  const [row] = await db
    .select()
    .from(payments)
    .where(and(eq(payments.id, id), eq(payments.merchantId, merchantId)));
  return row;
}

export async function findPaymentById(db: Executor, id: string): Promise<PaymentRow | undefined> {
  const [row] = await db.select().from(payments).where(eq(payments.id, id));
  return row;
}

export interface ListQuery {
  status?: PaymentStatus | undefined;
  limit: number;
  startingAfter?: string | undefined;
}

/** Newest first; ids are time-ordered, so "after" in the list means a smaller id. */
export async function listPayments(
  db: Executor,
  merchantId: string,
  query: ListQuery,
): Promise<{ rows: PaymentRow[]; hasMore: boolean }> {
  const rows = await db
    .select()
    .from(payments)
    .where(
      and(
        eq(payments.merchantId, merchantId),
        query.status ? eq(payments.status, query.status) : undefined,
        query.startingAfter ? lt(payments.id, query.startingAfter) : undefined,
      ),
    )
    .orderBy(desc(payments.id))
    .limit(query.limit + 1);
  return { rows: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
}

/**
 * What the gateway's definite answer to a payment's operation makes of the payment (the finalize
 * transition; AUTHORIZED is not final, but it ends the operation as a final state does).
 */
/** The card behind a payment method as the gateway described it on approval: the payment's card view. */
export interface ApprovedCardView {
  brand: string;
  last4: string;
  expMonth: number;
  expYear: number;
  fingerprint: string | null;
}

/** The PayPal payer of a checkout payment, as PayPal described it: the payment's payer view. */
export interface ApprovedPayerView {
  id: string;
  email: string | null;
}

export type FinalOutcome =
  /**
   * A charge, or a capture, was done: the money is taken (all of it, or the capture's amount).
   * `card` fills in the card view of a payment paid with a payment method; a card view a payment
   * already has is never replaced. `payer`: the PayPal payer of a checkout payment.
   */
  | { status: "COMPLETED"; gatewayReference: string; card?: ApprovedCardView; payer?: ApprovedPayerView }
  | { status: "FAILED"; failureCode: string; failureMessage: string; gatewayReference: string | null }
  /** An authorization was approved: the hold stands for `expiresInMs`, then it is voided. */
  | { status: "AUTHORIZED"; gatewayReference: string; expiresInMs: number; card?: ApprovedCardView; payer?: ApprovedPayerView }
  /**
   * The customer must act at the gateway first (3-D Secure, PayPal approval) at `nextActionUrl`;
   * `gatewayReference` is the object they act on. The wait ends `expiresInMs` after it began
   * (kept when the payment comes back to wait again), and the gateway is first asked after
   * `firstCheckInMs`.
   */
  | { status: "REQUIRES_ACTION"; gatewayReference: string; nextActionUrl: string; expiresInMs: number; firstCheckInMs: number }
  /** Back to waiting (a cancel the gateway refused or could not do): page, object and deadline stay as they were. */
  | { status: "REQUIRES_ACTION"; gatewayReference: null; nextActionUrl: null; expiresInMs: 0; firstCheckInMs: number }
  /**
   * A capture or void was refused, or could not be done: the authorization stands as it was (its
   * reference kept, and its expiry unless `endsExpiry`), and the failure says why the merchant's
   * request did nothing.
   */
  | { status: "AUTHORIZED"; failureCode: string; failureMessage: string; gatewayReference: null; endsExpiry: boolean }
  /** A void was done: the hold is released. */
  | { status: "CANCELED" };

export type FinalOutcomeWrite = FinalOutcomeWriteOf<FinalOutcome>;

function cardViewFill(o: Record<string, SQL>) {
  const unset = sql`${payments.cardLast4} is null`;
  return {
    cardBrand: sql`case when ${unset} then ${o.card_brand} else ${payments.cardBrand} end`,
    cardLast4: sql`case when ${unset} then ${o.card_last_four} else ${payments.cardLast4} end`,
    cardExpMonth: sql`case when ${unset} then ${o.card_exp_month} else ${payments.cardExpMonth} end`,
    cardExpYear: sql`case when ${unset} then ${o.card_exp_year} else ${payments.cardExpYear} end`,
    cardFingerprint: sql`case when ${unset} then ${o.card_fingerprint} else ${payments.cardFingerprint} end`,
  };
}

/** The PayPal payer fills in once, like the card view of a payment-method payment. */
function payerViewFill(o: Record<string, SQL>) {
  const unset = sql`${payments.payerId} is null`;
  return {
    payerId: sql`case when ${unset} then ${o.payer_id} else ${payments.payerId} end`,
    payerEmail: sql`case when ${unset} then ${o.payer_email} else ${payments.payerEmail} end`,
  };
}

/**
 * A payment that starts to wait for its customer: the page to send them to, until when it may
 * wait (a payment that comes back to wait, after a cancel the gateway refused, keeps the first
 * deadline), and a fresh look-up schedule. Its outcome is known now (the gateway answered with
 * the object the customer acts on).
 */
function waitForCustomer(o: Record<string, SQL>) {
  const waits = sql`${o.status} = 'REQUIRES_ACTION'`;
  return {
    nextActionUrl: sql`case when ${waits} then coalesce(${o.next_action_url}, ${payments.nextActionUrl}) else ${payments.nextActionUrl} end`,
    // A cancel the gateway refused (the customer went on) leaves no reason behind, and the payment
    // waits for its charge (or authorization) again: what a look-up then finds settles that.
    cancellationReason: sql`case when ${waits} then null else ${payments.cancellationReason} end`,
    operation: sql`case when ${waits} then (case when ${payments.captureMethod} = 'manual' then 'authorize' else 'charge' end) else ${payments.operation} end`,
    actionExpiresAt: sql`case when ${waits} then coalesce(${payments.actionExpiresAt}, now() + make_interval(secs => ${o.action_ttl_seconds})) else ${payments.actionExpiresAt} end`,
    reconcileChecks: sql`case when ${waits} and ${payments.actionExpiresAt} is null then 0 else ${payments.reconcileChecks} end`,
    outcomeUnknownSince: sql`case when ${waits} then null else ${payments.outcomeUnknownSince} end`,
  };
}

/** A payment's operations as gateway work: the shared lifecycle over the payments table and its status machine. */
export const PAYMENT_LIFECYCLE = gatewayWorkLifecycle<PaymentRow, FinalOutcome>({
  work: PAYMENT_WORK,
  transitions: TRANSITIONS,
  outcome: {
    fields: {
      expires_in_seconds: "float8",
      ends_expiry: "boolean",
      card_brand: "text",
      card_last_four: "text",
      card_exp_month: "integer",
      card_exp_year: "integer",
      card_fingerprint: "text",
      payer_id: "text",
      payer_email: "text",
      next_action_url: "text",
      action_ttl_seconds: "float8",
      first_check_seconds: "float8",
    },
    encode: (outcome) => {
      const card = "card" in outcome ? outcome.card : undefined;
      const payer = "payer" in outcome ? outcome.payer : undefined;
      const action = outcome.status === "REQUIRES_ACTION" ? outcome : undefined;
      return {
        expires_in_seconds: "expiresInMs" in outcome ? outcome.expiresInMs / 1000 : null,
        ends_expiry: "endsExpiry" in outcome && outcome.endsExpiry,
        card_brand: card?.brand ?? null,
        card_last_four: card?.last4 ?? null,
        card_exp_month: card?.expMonth ?? null,
        card_exp_year: card?.expYear ?? null,
        card_fingerprint: card?.fingerprint ?? null,
        payer_id: payer?.id ?? null,
        payer_email: payer?.email ?? null,
        next_action_url: action?.nextActionUrl ?? null,
        action_ttl_seconds: action ? action.expiresInMs / 1000 : null,
        first_check_seconds: action ? action.firstCheckInMs / 1000 : null,
      };
    },
    set: (o) => ({
      // The gateway's card view fills in only what a payment-method payment lacks (the card columns
      // are set all together, so a payment with a card view keeps it whole).
      ...cardViewFill(o),
      // COMPLETED by a charge takes the whole amount; by a capture, the amount the merchant asked for.
      amountCaptured: sql`case when ${o.status} = 'COMPLETED' then coalesce(${payments.captureAmount}, ${payments.amount}) else ${payments.amountCaptured} end`,
      // A new authorization's hold runs from now; a refused capture or void keeps the one it had
      // (requests leave it in place while the operation runs) unless told to end it; anything
      // else has no hold left.
      authorizationExpiresAt: sql`case when ${o.status} = 'AUTHORIZED' and not ${o.ends_expiry}
        then coalesce(now() + make_interval(secs => ${o.expires_in_seconds}), ${payments.authorizationExpiresAt}) end`,
      captureAmount: sql`case when ${o.status} = 'AUTHORIZED' then null else ${payments.captureAmount} end`,
      canceledAt: sql`case when ${o.status} = 'CANCELED' then now() else ${payments.canceledAt} end`,
      ...payerViewFill(o),
      ...waitForCustomer(o),
      // Back to AUTHORIZED, or waiting for the customer, the reconciler has nothing left to hold:
      // the next request starts afresh (a wait is looked up on its own schedule, set below).
      reconciling: sql`case when ${o.status} in ('AUTHORIZED', 'REQUIRES_ACTION') then false else ${payments.reconciling} end`,
      nextCheckAt: sql`case when ${o.status} = 'AUTHORIZED' then null
        when ${o.status} = 'REQUIRES_ACTION' then now() + make_interval(secs => ${o.first_check_seconds})
        else ${payments.nextCheckAt} end`,
    }),
  },
});

/**
 * Takes payments for one gateway attempt each. Succeeds only from PENDING, or from PROCESSING
 * when nobody holds it (waiting for a retry, or its worker's lease ran out). The incremented
 * `attempts` is the fencing token every later update of this attempt must present.
 */
export const claimPayments = (db: Executor, ids: string[], leaseMs: number): Promise<PaymentRow[]> => PAYMENT_LIFECYCLE.claim(db, ids, leaseMs);

export async function claimPayment(db: Executor, id: string, leaseMs: number): Promise<PaymentRow | undefined> {
  const [row] = await claimPayments(db, [id], leaseMs);
  return row;
}

/** Records final outcomes, each guarded by its own attempt number and the status machine; returns the payments whose operation did end. */
export const recordFinalOutcomes = (db: Executor, writes: FinalOutcomeWrite[]): Promise<PaymentRow[]> => PAYMENT_LIFECYCLE.recordOutcomes(db, writes);

/** Records a final outcome; undefined when the claim was lost (another attempt superseded it). */
export async function recordFinalOutcome(db: Executor, id: string, attempt: number, outcome: FinalOutcome): Promise<PaymentRow | undefined> {
  const [row] = await recordFinalOutcomes(db, [{ id, attempt, outcome }]);
  return row;
}

export const releaseForRetries = (db: Executor, releases: AttemptRelease[]): Promise<string[]> => PAYMENT_LIFECYCLE.releaseForRetries(db, releases);
/** Ends the last attempt of payments that may have been charged: no further charge attempt will start for them. */
export const startReconciling = (db: Executor, releases: AttemptRelease[], firstCheckMs: number): Promise<PaymentRow[]> =>
  PAYMENT_LIFECYCLE.startReconciling(db, releases, firstCheckMs);
export const claimDueChecks = (db: Executor, limit: number, holdMs: number): Promise<PaymentRow[]> => PAYMENT_LIFECYCLE.claimDueChecks(db, limit, holdMs);
export const scheduleNextCheck = (db: Executor, id: string, attempt: number, delayMs: number): Promise<boolean> =>
  PAYMENT_LIFECYCLE.scheduleNextCheck(db, id, attempt, delayMs);
/** How many payments wait for the gateway to tell whether they were charged (those the reconciler holds). */
export const countUnresolved = (db: Executor): Promise<number> => PAYMENT_LIFECYCLE.countUnresolved(db);
/** A merchant's payments the reconciler still holds (outcome unknown), oldest unknown first. */
export const listUnresolved = (db: Executor, merchantId: string, limit: number): Promise<{ rows: PaymentRow[]; total: number }> =>
  PAYMENT_LIFECYCLE.listUnresolved(db, merchantId, limit);

/** The payments of `ids` (those that exist), in one statement. */
export async function findPaymentsById(db: Executor, ids: string[]): Promise<PaymentRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(payments).where(inJsonList(payments.id, [...new Set(ids)]));
}

/**
 * Takes payments nothing will move any more, for one sweeper to re-queue in the caller's
 * transaction: a worker could claim them, they have been untouched for `idleMs`, and no message
 * for them is queued. The queue is the broker's, so the broker's own predicate (`queued`, given a
 * payment id) is what this statement asks it. Each is taken under its row lock (SKIP LOCKED) and
 * touched in the same statement: another sweeper running at the same time skips the rows this one
 * holds, and once this one commits finds them touched, no longer idle (docs/ARCHITECTURE.md).
 */
export async function claimStrandedPayments(
  db: Executor,
  options: { idleMs: number; limit: number; queued: (paymentId: SQLWrapper) => SQL },
): Promise<Pick<PaymentRow, "id" | "status" | "requestId">[]> {
  const stranded = db
    .select({ id: payments.id })
    .from(payments)
    .where(
      and(
        // Implied by the claim guard; stated so that payments_unfinished_idx is used.
        inArray(payments.status, UNFINISHED_STATUSES),
        guardOf("claim"),
        lt(payments.updatedAt, sql`now() - make_interval(secs => ${options.idleMs / 1000})`),
        not(options.queued(payments.id)),
      ),
    )
    .limit(options.limit)
    .for("update", { skipLocked: true });
  return db
    .update(payments)
    .set({ updatedAt: sql`now()` })
    .where(inArray(payments.id, stranded))
    .returning({ id: payments.id, status: payments.status, requestId: payments.requestId });
}
