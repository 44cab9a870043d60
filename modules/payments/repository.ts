import { and, desc, eq, inArray, lt, not, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import {
  claimDueCheckIds,
  countWork,
  type Executor,
  type GatewayWorkTable,
  guardOfSources,
  type IdFilter,
  batchInput,
  fixedStatement,
  inJsonList,
  insertDefaults,
  jsonList,
  jsonRowsInsert,
  listHeldWork,
  mapRows,
  queryRows,
  scheduleNextCheckOf,
} from "../database";
import { type NewPaymentRow, type PaymentRow, type PaymentStatus, payments } from "./schema";
import { FINAL_STATUSES, TRANSITIONS, type TransitionName, UNFINISHED_STATUSES } from "./status";

/** What the shared gateway-work statements (../database) need to know of the payments table. */
const PAYMENT_WORK: GatewayWorkTable = {
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
};

/** The WHERE clause of a transition's guarded update, from the one table in ./status.ts. */
export function guardOf(transition: TransitionName): SQL {
  return guardOfSources(PAYMENT_WORK, TRANSITIONS[transition].from);
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
 * Takes a payment for one gateway attempt. Succeeds only from PENDING, or from PROCESSING
 * when nobody holds it (waiting for a retry, or its worker's lease ran out). The incremented
 * `attempts` is the fencing token every later update of this attempt must present.
 */
export async function claimPayment(db: Executor, id: string, leaseMs: number): Promise<PaymentRow | undefined> {
  const [row] = await claimPayments(db, [id], leaseMs);
  return row;
}

/**
 * claimPayment for many payments in one statement. A payment listed twice (a message delivered
 * twice at once) is returned once: only one caller may hold an attempt.
 */
export async function claimPayments(db: Executor, ids: string[], leaseMs: number): Promise<PaymentRow[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const claimed = await queryRows(db, claimStatement(db, { ids: jsonList(unique), leaseSeconds: leaseMs / 1000 }));
  return mapRows(payments, claimed) as PaymentRow[];
}

const claimStatement = fixedStatement(["ids", "leaseSeconds"], (db, p) =>
  db
    .update(payments)
    .set({
      status: TRANSITIONS.claim.to[0],
      attempts: sql`${payments.attempts} + 1`,
      // Retaking a payment whose lease ran out means its last attempt never recorded an outcome: its
      // worker died, perhaps after the gateway took the charge. That attempt's outcome is unknown.
      outcomeUnknownSince: sql`case when ${payments.status} = 'PROCESSING' and ${payments.leaseExpiresAt} is not null
        then coalesce(${payments.outcomeUnknownSince}, now()) else ${payments.outcomeUnknownSince} end`,
      leaseExpiresAt: sql`now() + make_interval(secs => ${p.leaseSeconds})`,
      updatedAt: sql`now()`,
    })
    .where(and(inJsonList(payments.id, p.ids), guardOf("claim")))
    .returning(),
);

/**
 * What the gateway's definite answer to a payment's operation makes of the payment (the finalize
 * transition; AUTHORIZED is not final, but it ends the operation as a final state does).
 */
export type FinalOutcome =
  /** A charge, or a capture, was done: the money is taken (all of it, or the capture's amount). */
  | { status: "COMPLETED"; gatewayReference: string }
  | { status: "FAILED"; failureCode: string; failureMessage: string; gatewayReference: string | null }
  /** An authorization was approved: the hold stands for `expiresInMs`, then it is voided. */
  | { status: "AUTHORIZED"; gatewayReference: string; expiresInMs: number }
  /**
   * A capture or void was refused, or could not be done: the authorization stands as it was (its
   * reference kept, and its expiry unless `endsExpiry`), and the failure says why the merchant's
   * request did nothing.
   */
  | { status: "AUTHORIZED"; failureCode: string; failureMessage: string; gatewayReference: null; endsExpiry: boolean }
  /** A void was done: the hold is released. */
  | { status: "CANCELED" };

export interface FinalOutcomeWrite {
  id: string;
  attempt: number;
  outcome: FinalOutcome;
}

const FINAL_LIST = sql.raw(FINAL_STATUSES.map((s) => `'${s}'`).join(", "));

/**
 * recordFinalOutcome for many payments in one statement, each still guarded by its own attempt
 * number and the status machine. Returns the payments whose operation did end.
 */
export async function recordFinalOutcomes(db: Executor, writes: FinalOutcomeWrite[]): Promise<PaymentRow[]> {
  if (writes.length === 0) return [];
  const input = writes.map(({ id, attempt, outcome }) => ({
    id,
    attempt,
    status: outcome.status,
    gateway_reference: "gatewayReference" in outcome ? outcome.gatewayReference : null,
    failure_code: "failureCode" in outcome ? outcome.failureCode : null,
    failure_message: "failureMessage" in outcome ? outcome.failureMessage : null,
    expires_in_seconds: "expiresInMs" in outcome ? outcome.expiresInMs / 1000 : null,
    ends_expiry: "endsExpiry" in outcome && outcome.endsExpiry,
  }));
  const updated = await queryRows(db, finalOutcomesStatement(db, { input: OUTCOME.encode(input), ids: jsonList(input.map((o) => o.id)) }));
  return mapRows(payments, updated) as PaymentRow[];
}

/** A final outcome's input, per payment. */
const OUTCOME = batchInput(PAYMENT_WORK, "o", {
  attempt: "integer",
  status: "text",
  gateway_reference: "text",
  failure_code: "text",
  failure_message: "text",
  expires_in_seconds: "float8",
  ends_expiry: "boolean",
});

const finalOutcomesStatement = fixedStatement(["input", "ids"], (db, p) => {
  const o = OUTCOME.field;
  return db
    .update(payments)
    .set({
      status: o.status,
      // An answer that names no object (a refused capture or void, a void) leaves the authorization's reference.
      gatewayReference: sql`coalesce(${o.gateway_reference}, ${payments.gatewayReference})`,
      failureCode: o.failure_code,
      failureMessage: o.failure_message,
      // COMPLETED by a charge takes the whole amount; by a capture, the amount the merchant asked for.
      amountCaptured: sql`case when ${o.status} = 'COMPLETED' then coalesce(${payments.captureAmount}, ${payments.amount}) else ${payments.amountCaptured} end`,
      // A new authorization's hold runs from now; a refused capture or void keeps the one it had
      // (requests leave it in place while the operation runs) unless told to end it; anything
      // else has no hold left.
      authorizationExpiresAt: sql`case when ${o.status} = 'AUTHORIZED' and not ${o.ends_expiry}
        then coalesce(now() + make_interval(secs => ${o.expires_in_seconds}), ${payments.authorizationExpiresAt}) end`,
      captureAmount: sql`case when ${o.status} = 'AUTHORIZED' then null else ${payments.captureAmount} end`,
      canceledAt: sql`case when ${o.status} = 'CANCELED' then now() else ${payments.canceledAt} end`,
      // Back to AUTHORIZED, the reconciler has nothing left to hold: the next request starts afresh.
      reconciling: sql`case when ${o.status} = 'AUTHORIZED' then false else ${payments.reconciling} end`,
      nextCheckAt: sql`case when ${o.status} = 'AUTHORIZED' then null else ${payments.nextCheckAt} end`,
      leaseExpiresAt: null,
      updatedAt: sql`now()`,
      completedAt: sql`case when ${o.status} in (${FINAL_LIST}) then now() end`,
    })
    .from(OUTCOME.from(p.input))
    .where(and(OUTCOME.rows(p.ids), guardOf("finalize"), inArray(o.status, [...TRANSITIONS.finalize.to])))
    .returning();
});

/**
 * The end of an attempt that did not make the payment final. `unknown` says the attempt's outcome
 * is unknown (the card may have been charged): remembered for good, with the gateway's object id
 * when the answer named one.
 */
export interface AttemptRelease {
  id: string;
  attempt: number;
  unknown: boolean;
  gatewayReference: string | null;
  /** No gateway call was made: the attempt is taken back (`attempts` returns to what it was before the claim). */
  untried?: boolean;
}

/** An attempt's release, per payment. */
const RELEASE = batchInput(PAYMENT_WORK, "r", { attempt: "integer", unknown: "boolean", gateway_reference: "text", untried: "boolean" });

const releaseSet = {
  // Safe to lower: the guard matched this claim's own attempt number, and its worker writes nothing more for it.
  attempts: sql`${payments.attempts} - case when ${RELEASE.field.untried} then 1 else 0 end`,
  leaseExpiresAt: null,
  outcomeUnknownSince: sql`case when ${RELEASE.field.unknown} then coalesce(${payments.outcomeUnknownSince}, now()) else ${payments.outcomeUnknownSince} end`,
  gatewayReference: sql`coalesce(${RELEASE.field.gateway_reference}, ${payments.gatewayReference})`,
  updatedAt: sql`now()`,
};
const releaseInput = (releases: AttemptRelease[]) =>
  RELEASE.from(
    RELEASE.encode(releases.map((r) => ({ id: r.id, attempt: r.attempt, unknown: r.unknown, gateway_reference: r.gatewayReference, untried: r.untried ?? false }))),
  );
const releaseGuard = (releases: AttemptRelease[], transition: TransitionName) =>
  and(
    RELEASE.rows(releases.map((r) => r.id)),
    guardOf(transition),
  );

/** Ends attempts that will be retried; returns the ids released (claims not lost). */
export async function releaseForRetries(db: Executor, releases: AttemptRelease[]): Promise<string[]> {
  if (releases.length === 0) return [];
  const rows = await db.update(payments).set(releaseSet).from(releaseInput(releases)).where(releaseGuard(releases, "releaseForRetry")).returning({ id: payments.id });
  return rows.map((r) => r.id);
}

/**
 * Ends the last attempt of payments that may have been charged: no further charge attempt will
 * start, and the reconciler looks each one up at the gateway from `firstCheckMs` on.
 */
export async function startReconciling(db: Executor, releases: AttemptRelease[], firstCheckMs: number): Promise<PaymentRow[]> {
  if (releases.length === 0) return [];
  const rows = await db
    .update(payments)
    .set({
      ...releaseSet,
      outcomeUnknownSince: sql`coalesce(${payments.outcomeUnknownSince}, now())`,
      reconciling: true,
      nextCheckAt: sql`now() + make_interval(secs => ${firstCheckMs / 1000})`,
    })
    .from(releaseInput(releases))
    .where(releaseGuard(releases, "startReconciling"))
    .returning();
  return rows as PaymentRow[];
}

/**
 * Takes up to `limit` payments whose gateway check is due, for one reconciler: their next check is
 * pushed `holdMs` ahead at once, so another reconciler does not look them up at the same time and
 * a reconciler that dies mid-check leaves them due again later.
 */
export async function claimDueChecks(db: Executor, limit: number, holdMs: number): Promise<PaymentRow[]> {
  const ids = await claimDueCheckIds(db, PAYMENT_WORK, guardOf("checkAtGateway"), limit, holdMs);
  if (ids.length === 0) return [];
  return db.select().from(payments).where(inJsonList(payments.id, ids));
}

/** After a check that told nothing: the next one in `delayMs`, counted for the back-off. */
export function scheduleNextCheck(db: Executor, id: string, attempt: number, delayMs: number): Promise<boolean> {
  return scheduleNextCheckOf(db, PAYMENT_WORK, { id, attempt, checkable: guardOf("checkAtGateway") }, delayMs);
}

/** How many payments wait for the gateway to tell whether they were charged (those the reconciler holds). */
export function countUnresolved(db: Executor): Promise<number> {
  return countWork(db, PAYMENT_WORK, guardOf("checkAtGateway"));
}

/** Records a final outcome; undefined when the claim was lost (another attempt superseded it). */
export async function recordFinalOutcome(
  db: Executor,
  id: string,
  attempt: number,
  outcome: FinalOutcome,
): Promise<PaymentRow | undefined> {
  const [row] = await recordFinalOutcomes(db, [{ id, attempt, outcome }]);
  return row;
}

/**
 * Payments nothing will move any more: a worker could claim them, they have been untouched for
 * `idleMs`, and no message for them waits in the queue. The queue is the broker's table, so the
 * broker's own predicate (`queued`, given a payment id) is what this statement asks it.
 */
export async function listStrandedPayments(
  db: Executor,
  options: { idleMs: number; limit: number; queued: (paymentId: SQLWrapper) => SQL },
): Promise<Pick<PaymentRow, "id" | "status" | "requestId">[]> {
  return db
    .select({ id: payments.id, status: payments.status, requestId: payments.requestId })
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
    .limit(options.limit);
}

/** Marks a stuck payment as seen so the sweeper does not re-enqueue it again at once. */
export async function touchPayment(db: Executor, id: string): Promise<void> {
  await db.update(payments).set({ updatedAt: sql`now()` }).where(eq(payments.id, id));
}

/** A merchant's payments the reconciler still holds (outcome unknown), oldest unknown first. */
export function listUnresolved(db: Executor, merchantId: string, limit: number): Promise<{ rows: PaymentRow[]; total: number }> {
  // Unresolved: the reconciler holds the payment, i.e. it is where a gateway check starts from.
  return listHeldWork<PaymentRow>(db, PAYMENT_WORK, merchantId, guardOf("checkAtGateway"), limit);
}
