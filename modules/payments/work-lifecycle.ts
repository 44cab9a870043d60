import { and, inArray, type SQL, sql } from "drizzle-orm";
import { type Executor, fixedStatement, inJsonList, jsonList, mapRows, queryRows } from "../database";
import {
  type BatchFieldType,
  batchInput,
  claimDueCheckIds,
  countWork,
  type GatewayWorkTable,
  guardOfSources,
  listHeldWork,
  scheduleNextCheckOf,
  type WorkSourceState,
} from "./gateway-work";

/** One move of a status machine over gateway work: where it may start, and where it may lead. */
export interface WorkTransition<Status extends string = string> {
  from: readonly WorkSourceState<Status>[];
  to: readonly Status[];
}

/** The moves every kind of gateway work makes between attempts; a status machine may have more (a payment's capture, void, cancel). */
export type WorkTransitionName = "claim" | "finalize" | "releaseForRetry" | "startReconciling" | "checkAtGateway";

/** What every gateway answer that ends the work says; a kind's outcome may say more (see GatewayWorkKind.outcome). */
export interface WorkOutcome {
  status: string;
  gatewayReference?: string | null;
  failureCode?: string;
  failureMessage?: string;
}

/**
 * A kind of gateway work (a payment's operation, a refund): its table, its status machine, and
 * what its final answer writes besides the columns every kind writes. Everything else of the
 * lifecycle is the same for every kind, so it is written once, in gatewayWorkLifecycle.
 */
export interface GatewayWorkKind<Outcome extends WorkOutcome> {
  work: GatewayWorkTable;
  /** The kind's whole status machine; the guard of every statement below comes from it. */
  transitions: Record<WorkTransitionName, WorkTransition> & Record<string, WorkTransition>;
  outcome: {
    /** Input fields of a final answer beyond attempt, status, gateway_reference, failure_code and failure_message. */
    fields: Record<string, BatchFieldType>;
    encode(outcome: Outcome): Record<string, unknown>;
    /** The kind's own columns a final answer sets, given the input's fields. */
    set(field: Record<string, SQL>): Record<string, unknown>;
  };
}

export interface FinalOutcomeWriteOf<Outcome> {
  id: string;
  attempt: number;
  outcome: Outcome;
}

/**
 * The end of an attempt that did not make the work final. `unknown` says the attempt's outcome
 * is unknown (the gateway may have acted): remembered for good, with the gateway's object id
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

/**
 * Every write of the lifecycle of gateway work, each a guarded update whose WHERE clause comes
 * from the kind's status machine, and fenced by the attempt number the row was claimed with: a
 * worker whose claim was taken over changes nothing (docs/CONTRACT.md §6, §8). The batch forms
 * take many rows in ONE statement, every guard still holding per row.
 */
export interface GatewayWorkLifecycle<Row, Outcome> {
  /** The WHERE clause of a transition's guarded update. */
  guardOf(transition: WorkTransitionName): SQL;
  /**
   * Takes rows for one gateway attempt each. Retaking one whose lease ran out means its last
   * attempt never recorded an outcome: its worker died, perhaps after the gateway acted, so that
   * attempt's outcome is unknown. A row listed twice (a message delivered twice at once) is
   * returned once: only one caller may hold an attempt.
   */
  claim(db: Executor, ids: string[], leaseMs: number): Promise<Row[]>;
  /** Records the gateway's definite answers; returns the rows whose work did end. */
  recordOutcomes(db: Executor, writes: FinalOutcomeWriteOf<Outcome>[]): Promise<Row[]>;
  /** Ends attempts that will be retried; returns the ids released (claims not lost). */
  releaseForRetries(db: Executor, releases: AttemptRelease[]): Promise<string[]>;
  /** Ends the last attempt of work the gateway may have done: the reconciler looks each up from `firstCheckMs` on. */
  startReconciling(db: Executor, releases: AttemptRelease[], firstCheckMs: number): Promise<Row[]>;
  /**
   * Takes up to `limit` rows whose gateway check is due, for one reconciler: their next check is
   * pushed `holdMs` ahead at once, so another reconciler does not look them up at the same time and
   * one that dies mid-check leaves them due again later.
   */
  claimDueChecks(db: Executor, limit: number, holdMs: number): Promise<Row[]>;
  /** After a check that told nothing: the next one in `delayMs`, counted for the back-off. False when the claim was lost. */
  scheduleNextCheck(db: Executor, id: string, attempt: number, delayMs: number): Promise<boolean>;
  /** How many rows wait for the gateway to tell what happened (those the reconciler holds). */
  countUnresolved(db: Executor): Promise<number>;
  /** A merchant's rows the reconciler holds (outcome unknown), oldest unknown first (capped), and how many in all. */
  listUnresolved(db: Executor, merchantId: string, limit: number): Promise<{ rows: Row[]; total: number }>;
}

const sqlList = (values: readonly string[]) => sql.raw(values.map((s) => `'${s}'`).join(", "));

/** The one implementation of the lifecycle, for the kind given (payments' and refunds' tables share it). */
export function gatewayWorkLifecycle<Row, Outcome extends WorkOutcome>(kind: GatewayWorkKind<Outcome>): GatewayWorkLifecycle<Row, Outcome> {
  const { work, transitions } = kind;
  const table = work.table;
  const guardOf = (transition: WorkTransitionName) => guardOfSources(work, transitions[transition].from);
  const checkable = () => guardOf("checkAtGateway");

  // The claim's source whose lease may have run out: retaking it is what makes an outcome unknown.
  const retaken = transitions.claim.from.find((source) => source.leased === false);
  if (!retaken) throw new Error("a claim must be able to retake work whose lease ran out");
  // Work that no transition leaves is done: it is completed the moment it gets there.
  const finalStatuses = transitions.finalize.to.filter((status) => !Object.values(transitions).some((t) => t.from.some((s) => s.status === status)));

  const claimStatement = fixedStatement(["ids", "leaseSeconds"], (db, p) =>
    db
      .update(table)
      .set({
        status: transitions.claim.to[0],
        attempts: sql`${work.attempts} + 1`,
        outcomeUnknownSince: sql`case when ${work.status} = ${sqlList([retaken.status])} and ${work.leaseExpiresAt} is not null
        then coalesce(${work.outcomeUnknownSince}, now()) else ${work.outcomeUnknownSince} end`,
        leaseExpiresAt: sql`now() + make_interval(secs => ${p.leaseSeconds})`,
        updatedAt: sql`now()`,
      })
      .where(and(inJsonList(work.id, p.ids), guardOf("claim")))
      .returning(),
  );

  const OUTCOME = batchInput(work, "o", {
    attempt: "integer",
    status: "text",
    gateway_reference: "text",
    failure_code: "text",
    failure_message: "text",
    ...kind.outcome.fields,
  });
  const outcomesStatement = fixedStatement(["input", "ids"], (db, p) => {
    const o = OUTCOME.field;
    return db
      .update(table)
      .set({
        ...kind.outcome.set(o),
        status: o.status,
        // An answer that names no object (a refused capture or void, a void) leaves the reference the row had.
        gatewayReference: sql`coalesce(${o.gateway_reference}, ${work.gatewayReference})`,
        failureCode: o.failure_code,
        failureMessage: o.failure_message,
        leaseExpiresAt: null,
        updatedAt: sql`now()`,
        completedAt: sql`case when ${o.status} in (${sqlList(finalStatuses)}) then now() end`,
      })
      .from(OUTCOME.from(p.input))
      .where(and(OUTCOME.rows(p.ids), guardOf("finalize"), inArray(o.status, [...transitions.finalize.to])))
      .returning();
  });

  const RELEASE = batchInput(work, "r", { attempt: "integer", unknown: "boolean", gateway_reference: "text", untried: "boolean" });
  const releaseSet = {
    // Safe to lower: the guard matched this claim's own attempt number, and its worker writes nothing more for it.
    attempts: sql`${work.attempts} - case when ${RELEASE.field.untried} then 1 else 0 end`,
    leaseExpiresAt: null,
    outcomeUnknownSince: sql`case when ${RELEASE.field.unknown} then coalesce(${work.outcomeUnknownSince}, now()) else ${work.outcomeUnknownSince} end`,
    gatewayReference: sql`coalesce(${RELEASE.field.gateway_reference}, ${work.gatewayReference})`,
    updatedAt: sql`now()`,
  };
  const releaseInput = (releases: AttemptRelease[]) =>
    RELEASE.from(
      RELEASE.encode(releases.map((r) => ({ id: r.id, attempt: r.attempt, unknown: r.unknown, gateway_reference: r.gatewayReference, untried: r.untried ?? false }))),
    );
  const releaseGuard = (releases: AttemptRelease[], transition: WorkTransitionName) =>
    and(
      RELEASE.rows(releases.map((r) => r.id)),
      guardOf(transition),
    );

  return {
    guardOf,
    async claim(db, ids, leaseMs) {
      const unique = [...new Set(ids)];
      if (unique.length === 0) return [];
      const claimed = await queryRows(db, claimStatement(db, { ids: jsonList(unique), leaseSeconds: leaseMs / 1000 }));
      return mapRows(table, claimed) as Row[];
    },
    async recordOutcomes(db, writes) {
      if (writes.length === 0) return [];
      const input = writes.map(({ id, attempt, outcome }) => ({
        id,
        attempt,
        status: outcome.status,
        gateway_reference: "gatewayReference" in outcome ? outcome.gatewayReference : null,
        failure_code: "failureCode" in outcome ? outcome.failureCode : null,
        failure_message: "failureMessage" in outcome ? outcome.failureMessage : null,
        ...kind.outcome.encode(outcome),
      }));
      const updated = await queryRows(db, outcomesStatement(db, { input: OUTCOME.encode(input), ids: jsonList(input.map((o) => o.id)) }));
      return mapRows(table, updated) as Row[];
    },
    async releaseForRetries(db, releases) {
      if (releases.length === 0) return [];
      const rows = await db
        .update(table)
        .set(releaseSet)
        .from(releaseInput(releases))
        .where(releaseGuard(releases, "releaseForRetry"))
        .returning({ id: work.id });
      return rows.map((r) => r.id as string);
    },
    async startReconciling(db, releases, firstCheckMs) {
      if (releases.length === 0) return [];
      const rows = await db
        .update(table)
        .set({
          ...releaseSet,
          outcomeUnknownSince: sql`coalesce(${work.outcomeUnknownSince}, now())`,
          reconciling: true,
          nextCheckAt: sql`now() + make_interval(secs => ${firstCheckMs / 1000})`,
        })
        .from(releaseInput(releases))
        .where(releaseGuard(releases, "startReconciling"))
        .returning();
      return rows as Row[];
    },
    async claimDueChecks(db, limit, holdMs) {
      const ids = await claimDueCheckIds(db, work, checkable(), limit, holdMs);
      if (ids.length === 0) return [];
      return (await db.select().from(table).where(inJsonList(work.id, ids))) as Row[];
    },
    scheduleNextCheck: (db, id, attempt, delayMs) => scheduleNextCheckOf(db, work, { id, attempt, checkable: checkable() }, delayMs),
    countUnresolved: (db) => countWork(db, work, checkable()),
    listUnresolved: (db, merchantId, limit) => listHeldWork<Row>(db, work, merchantId, checkable(), limit),
  };
}
