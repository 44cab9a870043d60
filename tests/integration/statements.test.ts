import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { drizzle } from "drizzle-orm/postgres-js";
import { outbox } from "../../modules/broker";
import { type Database, fixedStatement, inJsonList, jsonList, queryRows } from "../../modules/database";
import { batchInput, findPaymentById, type GatewayWorkTable, insertPayments, newPaymentId, payments } from "../../modules/payments";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline } from "../support/harness";

describe("a list of values as one parameter", () => {
  const dialect = new PgDialect();
  it("keeps one statement text, and one parameter, whatever the number of values", () => {
    const one = dialect.sqlToQuery(sql`select 1 from payments where ${inJsonList(payments.id, ["pay_a"])}`);
    const many = dialect.sqlToQuery(sql`select 1 from payments where ${inJsonList(payments.id, Array.from({ length: 200 }, (_, i) => `pay_${i}`))}`);
    expect(many.sql).toBe(one.sql);
    expect(many.params).toHaveLength(1);
  });
});

describe("a statement built once", () => {
  const dialect = new PgDialect();
  const mock = drizzle.mock() as unknown as Database;
  const claimLike = (db: Database, ids: string[] | ReturnType<typeof sql.placeholder>, leaseSeconds: unknown) =>
    db
      .update(payments)
      .set({ status: "PROCESSING", leaseExpiresAt: sql`now() + make_interval(secs => ${leaseSeconds})`, updatedAt: sql`now()` })
      .where(inJsonList(payments.id, ids))
      .returning();

  it("renders the very text and parameters drizzle builds for the same values, however often it runs", () => {
    let builds = 0;
    const fixed = fixedStatement(["ids", "leaseSeconds"], (db, p) => {
      builds++;
      return claimLike(db, p.ids, p.leaseSeconds);
    });
    for (const [ids, lease] of [
      [["pay_a"], 30],
      [["pay_b", "pay_c", "pay_d"], 12.5],
    ] as const) {
      const expected = dialect.sqlToQuery(claimLike(mock, [...ids], lease).getSQL());
      const actual = dialect.sqlToQuery(fixed(mock, { ids: jsonList(ids), leaseSeconds: lease }));
      expect(actual.sql).toBe(expected.sql);
      expect(actual.params).toEqual(expected.params);
    }
    expect(builds).toBe(1);
  });

  it("refuses a statement whose text holds a literal dollar-digits outside its parameters", () => {
    const fixed = fixedStatement(["id"], () => sql`select '$1' as x where ${sql.placeholder("id")} is not null`);
    expect(() => fixed(mock, { id: "a" })).toThrow(/literal/);
  });
});

for (const backend of BACKENDS) {
  describe(`statements [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    it("a list of values matches exactly those values, cast to the column's type (bigserial ids too)", async () => {
      const rows = await queryRows<{ id: string }>(
        database.db,
        sql`insert into outbox (topic, payment_id, payload) select 'requested', 'pay_' || g, '{}'::jsonb from generate_series(1, 5) g returning id`,
      );
      const ids = rows.map((r) => Number(r.id));
      const picked = [ids[1] as number, ids[3] as number];
      const found = await database.db.select({ id: outbox.id }).from(outbox).where(inJsonList(outbox.id, picked));
      expect(found.map((r) => r.id).sort()).toEqual(picked.sort());
      // A value that merely contains another's text does not match it.
      expect(await database.db.select({ id: outbox.id }).from(outbox).where(inJsonList(outbox.paymentId, ["pay_1,pay_2", "pay_"]))).toHaveLength(0);
      expect(await database.db.select({ id: outbox.id }).from(outbox).where(inJsonList(outbox.paymentId, []))).toHaveLength(0);
    });

    it("looks the values up in the column's index instead of scanning the table", async () => {
      await database.db.execute(sql`insert into outbox (topic, payment_id, payload) select 'requested', 'pay_x' || g, '{}'::jsonb from generate_series(1, 3000) g`);
      await database.db.execute(sql`analyze outbox`);
      const dialect = new PgDialect();
      const query = dialect.sqlToQuery(sql`select id from outbox where ${inJsonList(outbox.id, [1, 2, 3])}`);
      const plan = await queryRows<Record<string, string>>(database.db, sql.raw(`explain ${query.sql.replace("$1", `'${query.params[0]}'`)}`));
      const text = plan.map((row) => Object.values(row).join(" ")).join("\n");
      expect(text).toContain("Index");
      expect(text).not.toContain("Seq Scan on outbox");
    });

    it("a batch looked up by id under a status guard is never planned through a sweeper's partial index, even on stale statistics", async () => {
      await database.db.execute(sql`analyze payments`);
      const p = buildPipeline(database);
      const ids: string[] = [];
      for (let round = 0; round < 10; round++) ids.push(...(await Promise.all(Array.from({ length: 60 }, () => p.create()))).map((x) => x.id));
      const explain = async (where: string) => {
        const rows = await queryRows<Record<string, string>>(database.db, sql.raw(`explain select id from payments where ${where}`));
        return rows.map((row) => Object.values(row).join(" ")).join("\n");
      };
      const guard = `id = any(array(select jsonb_array_elements_text('${JSON.stringify(ids.slice(0, 50))}'::jsonb))) and (status = 'PENDING' or (status = 'PROCESSING' and not reconciling))`;
      // The control: with the statistics of an empty table, an index whose predicate the guard implies is taken.
      await database.db.execute(sql.raw(`create index control_unfinished_idx on payments (updated_at) where status in ('PENDING', 'PROCESSING', 'AUTHORIZED')`));
      const control = await explain(guard);
      await database.db.execute(sql.raw("drop index control_unfinished_idx"));
      expect(control).toContain("control_unfinished_idx");
      // Ours carries a predicate the guard does not imply. (Believing the table nearly empty, the
      // planner may scan it; once statistics exist, the ids are looked up in the primary key.)
      expect(await explain(guard)).not.toContain("payments_unfinished_idx");
      await database.db.execute(sql`analyze payments`);
      expect(await explain(guard)).toContain("payments_pkey");
      // The sweeper's own scan still uses it.
      expect(await explain(`status in ('PENDING', 'PROCESSING', 'AUTHORIZED') and updated_at < now() - interval '1 minute'`)).toContain("payments_unfinished_idx");
    });

    it("a batch write reads each row's own input by key, only at the input's attempt, with no join to plan", async () => {
      const work: GatewayWorkTable = { table: payments, ...payments };
      const input = batchInput(work, "o", { attempt: "integer", note: "text", flag: "boolean" });
      const p = buildPipeline(database);
      const created = await Promise.all(Array.from({ length: 200 }, () => p.create()));
      await database.db.execute(sql`analyze payments`);
      const batch = created.slice(0, 120).map((payment, i) => ({ id: payment.id, attempt: i === 7 ? 5 : payment.attempts, note: `note ${i}`, flag: i % 2 === 0 }));
      const update = (ids: string[], encoded: string) =>
        database.db
          .update(payments)
          .set({ failureMessage: sql`${input.field.note} || case when ${input.field.flag} then ' (even)' else '' end`, updatedAt: sql`now()` })
          .from(input.from(encoded))
          .where(input.rows(ids))
          .returning({ id: payments.id, failureMessage: payments.failureMessage });
      const ids = batch.map((b) => b.id);
      const plan = new PgDialect().sqlToQuery(update(ids, input.encode(batch)).getSQL());
      const literal = plan.sql.replace(/\$(\d+)/g, (_, n: string) => `'${String(plan.params[Number(n) - 1]).replaceAll("'", "''")}'`);
      const explained = (await queryRows<Record<string, string>>(database.db, sql.raw(`explain ${literal}`))).map((r) => Object.values(r).join(" ")).join("\n");
      expect(explained).not.toMatch(/Join|Nested Loop|jsonb_to_recordset/);
      expect(explained).toContain("payments_pkey");

      const updated = await update(ids, input.encode(batch));
      // Row 7 carried another attempt number than its payment's: the fence keeps it out.
      expect(updated.map((r) => r.id).sort()).toEqual(ids.filter((_, i) => i !== 7).sort());
      for (const row of updated) {
        const i = ids.indexOf(row.id);
        expect(row.failureMessage).toBe(`note ${i}${i % 2 === 0 ? " (even)" : ""}`);
      }
      // Payments outside the batch are untouched.
      const others = await database.db.select({ failureMessage: payments.failureMessage }).from(payments).where(inJsonList(payments.id, created.slice(120).map((c) => c.id)));
      expect(others.every((r) => r.failureMessage === null)).toBe(true);
    });

    it("runs the same statement many times with different parameters (prepared once per connection)", async () => {
      for (let n = 1; n <= 30; n++) {
        const found = await database.db.select({ id: outbox.id }).from(outbox).where(inJsonList(outbox.paymentId, Array.from({ length: n }, (_, i) => `pay_${i + 1}`)));
        expect(found).toHaveLength(Math.min(n, 5));
      }
    });

    it("returns a created payment exactly as stored: the defaults it does not read back are the database's own", async () => {
      const given = {
        merchantId: "m_defaults",
        amount: 4711,
        currency: "EUR",
        description: "defaults",
        metadata: { order: "7" },
        cardBrand: "visa",
        cardLast4: "4242",
        cardExpMonth: 12,
        cardExpYear: 2031,
        cardFingerprint: "fp_defaults",
        customerEmail: "d@example.com",
        customerName: "D",
        customerReference: null,
        gateway: "simulator",
        requestId: "req_defaults",
        paymentMethod: null,
        returnUrl: null,
        cancelUrl: null,
        captureMethod: "manual" as const,
        operation: "authorize" as const,
      };
      const created = await insertPayments(database.db, [
        { id: newPaymentId(), ...given },
        { id: newPaymentId(), ...given, captureMethod: "automatic", operation: "charge", description: null },
      ]);
      expect(created).toHaveLength(2);
      for (const row of created) {
        const stored = await findPaymentById(database.db, row.id);
        expect(stored).toBeDefined();
        // Every column, the ones the statement did not read back included.
        expect(Object.keys(row).sort()).toEqual(Object.keys(stored as object).sort());
        expect(row).toEqual(stored as typeof row);
      }
    });
  });
}
