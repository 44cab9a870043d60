/**
 * The PostgreSQL client through a server that drops connections: every call settles (rejects
 * with a connection error, never hangs), the process survives, no statement of a broken
 * transaction runs outside it, and the pool serves again as soon as the server does.
 *
 * postgres-js 3.4.9 failed each of these (porsager/postgres#1154, #1208, #1216): the automatic
 * ROLLBACK after a dropped transaction was written to a null socket from a setImmediate (an
 * uncaught TypeError that killed the process), a stale write timer wedged the reconnected
 * socket, a dead backend's error was delivered to the next query, and a broken transaction's
 * later statements ran on the reconnected session, outside it. patches/ fixes them. It also
 * dropped the promise of each new connection's own first statement (the array types): a connection
 * cut during start-up left an unhandled rejection, which ends the process (RELIABILITY.md F6).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { sql } from "drizzle-orm";
import type postgres from "postgres";
import { isConnectionError, queryRows } from "../../modules/database";
import { type DatabaseHandle, openDatabase } from "../../src/db";
import { createPostgresDatabase, cutDatabase, openAdmin, restoreDatabase, terminateSessions } from "../support/db";
import { startCuttingProxy } from "../support/tcp-proxy";

const SETTLE_MS = 10_000;

let created: Awaited<ReturnType<typeof createPostgresDatabase>>;
let handle: DatabaseHandle;
let admin: postgres.Sql;
/** Errors that reached the process unhandled: thrown, or a rejection nobody awaited. */
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

/** Rejects if `promise` has not settled within SETTLE_MS: a hang is the defect under test. */
function settles<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return Promise.race([
    promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })),
    Bun.sleep(SETTLE_MS).then(() => {
      throw new Error(`did not settle within ${SETTLE_MS} ms`);
    }),
  ]);
}

async function backendPid(executor: DatabaseHandle["db"]): Promise<number> {
  const [row] = await queryRows<{ pid: number }>(executor, sql`select pg_backend_pid() as pid`);
  return Number(row?.pid);
}

/** Rows of outage_probe with this tag: statements of broken transactions that committed anyway. */
async function probeRows(tag: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(handle.db, sql`select count(*)::int as n from outage_probe where tag = ${tag}`);
  return Number(row?.n);
}

/** The pool answers again (each round may first see connections that died with the server). */
async function poolServes(): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const outcome = await settles(queryRows(handle.db, sql`select 1 as one`));
    if (outcome.ok) return;
    if (Date.now() > deadline) throw new Error(`pool did not recover: ${String(outcome.error)}`);
    await Bun.sleep(50);
  }
}

beforeAll(async () => {
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);
  created = await createPostgresDatabase();
  handle = openDatabase(created.url, 4);
  await handle.migrate();
  await handle.db.execute(sql`create table outage_probe (id serial primary key, tag text not null)`);
  admin = openAdmin();
});

afterAll(async () => {
  process.off("uncaughtException", onUncaught);
  process.off("unhandledRejection", onUncaught);
  await restoreDatabase(admin, created.name).catch(() => {});
  await admin.end();
  await handle.close();
  await created.drop();
});

describe("PostgreSQL client when the server drops connections", () => {
  it("a transaction whose backend is terminated mid-statement rejects, and the pool serves again", async () => {
    for (let round = 0; round < 10; round++) {
      let pid = 0;
      // Observed from the start: a rejection must not arrive with nothing listening yet.
      const transaction = settles(
        handle.db.transaction(async (tx) => {
          pid = await backendPid(tx);
          await tx.execute(sql`insert into outage_probe (tag) values ('mid-statement')`);
          await tx.execute(sql`select pg_sleep(5)`);
        }),
      );
      while (pid === 0) await Bun.sleep(5);
      await admin.unsafe(`select pg_terminate_backend(${pid})`);
      const outcome = await transaction;
      expect(outcome.ok).toBe(false);
      await poolServes();
    }
    expect(await probeRows("mid-statement")).toBe(0);
    expect(uncaught).toEqual([]);
  });

  it("statements a broken transaction still sends never run outside it on a reconnected session", async () => {
    for (let round = 0; round < 10; round++) {
      let pid = 0;
      let callbackDone!: () => void;
      const callbackFinished = new Promise<void>((resolve) => (callbackDone = resolve));
      const transaction = settles(handle.db.transaction(async (tx) => {
        try {
          pid = await backendPid(tx);
          await Bun.sleep(150); // the backend dies while the transaction is idle
          await Promise.allSettled([
            tx.execute(sql`insert into outage_probe (tag) values ('after-close')`),
            tx.execute(sql`insert into outage_probe (tag) values ('after-close')`),
          ]);
          await tx.execute(sql`insert into outage_probe (tag) values ('after-close')`);
        } finally {
          callbackDone();
        }
      }));
      while (pid === 0) await Bun.sleep(5);
      await admin.unsafe(`select pg_terminate_backend(${pid})`);
      expect((await transaction).ok).toBe(false);
      // Meanwhile the pool reconnects that connection for other work...
      await Promise.all(Array.from({ length: 8 }, () => settles(queryRows(handle.db, sql`select 1 as one`))));
      // ...and the callback, still running, sends its statements.
      await settles(callbackFinished);
      await poolServes();
    }
    expect(await probeRows("after-close")).toBe(0);
    expect(uncaught).toEqual([]);
  });

  it("a dead backend's error is not handed to the next statement on the reconnected connection", async () => {
    for (let round = 0; round < 10; round++) {
      // Every connection of the pool busy with a statement when its backend is terminated...
      const busy = Array.from({ length: 4 }, () => settles(queryRows(handle.db, sql`select pg_sleep(2), 1 as one`)));
      const deadline = Date.now() + SETTLE_MS;
      while ((await admin.unsafe(`select 1 from pg_stat_activity where datname = '${created.name}' and query like '%pg_sleep(2)%' and state = 'active'`)).length < 4) {
        if (Date.now() > deadline) throw new Error("the statements did not start");
        await Bun.sleep(10);
      }
      await terminateSessions(admin, created.name);
      for (const outcome of await Promise.all(busy)) expect(outcome.ok).toBe(false);
      // ...and the next statements, on fresh sessions, all succeed: none is handed the old 57P01.
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => settles(queryRows(handle.db, sql`select 1 as one`))));
      expect(outcomes.filter((o) => !o.ok).map((o) => String((o as { error: unknown }).error))).toEqual([]);
    }
    expect(uncaught).toEqual([]);
  });

  it("a statement written as its idle backend dies (ECONNRESET) leaves no connection hung behind it", async () => {
    // One connection, so the statement after the reset must go through the very connection that
    // took it (3.4.9: every later statement on it hung; RELIABILITY.md O1).
    const single = openDatabase(created.url, 1);
    try {
      for (let round = 0; round < 15; round++) {
        const pid = await backendPid(single.db);
        await admin.unsafe(`select pg_terminate_backend(${pid})`);
        // The statements sent before the client has seen the close fail with a connection error
        // (ECONNRESET, 57P01); none hangs, and the connection serves again right after.
        const outcomes = [];
        for (let attempt = 0; attempt < 3; attempt++) {
          const outcome = await settles(queryRows(single.db, sql`select 1 as one`));
          outcomes.push(outcome.ok ? "ok" : isConnectionError(outcome.error) ? "connection error" : String(outcome.error));
          if (outcome.ok) break;
        }
        expect(outcomes.at(-1)).toBe("ok");
        expect(outcomes.slice(0, -1).every((o) => o === "connection error")).toBe(true);
      }
    } finally {
      await single.close();
    }
    expect(uncaught).toEqual([]);
  });

  // Every new connection's first statement is postgres-js's own (the array types, `fetch_types`),
  // sent for the statement that waits for the connection. Cut there, by a reset or a silence:
  // 3.4.9 left that statement's rejection unhandled, and Bun ends the process on one.
  for (const how of ["reset", "silence"] as const) {
    it(`a connection cut (${how}) while it starts up fails the statement waiting for it, and nothing is left unhandled`, async () => {
      const direct = new URL(created.url);
      const proxy = await startCuttingProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
      const cuts = how === "reset" ? 3 : 1;
      proxy.arm("typcategory", cuts, how);
      const single = openDatabase(proxy.urlFor(created.url), 1);
      try {
        const outcomes = [];
        for (let attempt = 0; attempt < cuts + 2; attempt++) {
          const outcome = await settles(queryRows(single.db, sql`select 1 as one`));
          outcomes.push(outcome.ok ? "ok" : isConnectionError(outcome.error) ? "connection error" : String(outcome.error));
          if (outcome.ok) break;
        }
        expect(proxy.cuts).toBe(cuts);
        expect(outcomes).toEqual([...Array(cuts).fill("connection error"), "ok"]);
        // An unhandled rejection is reported after the turn it was left in.
        await Bun.sleep(50);
        expect(uncaught).toEqual([]);
      } finally {
        await single.close();
        await proxy.close();
      }
    });
  }

  it("repeated full outages: every call in flight or sent during one settles, and the pool recovers after each", async () => {
    for (let round = 0; round < 8; round++) {
      // Work of every shape in flight when the server goes away: reads, writes, transactions.
      const inFlight = [
        ...Array.from({ length: 6 }, () => queryRows(handle.db, sql`select pg_sleep(0.2), 1 as one`)),
        ...Array.from({ length: 4 }, () =>
          handle.db.transaction(async (tx) => {
            await tx.execute(sql`insert into outage_probe (tag) values ('outage')`);
            await tx.execute(sql`select pg_sleep(0.2)`);
            await tx.execute(sql`delete from outage_probe where tag = 'outage'`);
          }),
        ),
      ].map((p) => settles(p as Promise<unknown>));
      await Bun.sleep(30);
      await cutDatabase(admin, created.name);
      // ...and work sent while it is away.
      const during = [
        queryRows(handle.db, sql`select 1 as one`),
        handle.db.transaction(async (tx) => {
          await tx.execute(sql`insert into outage_probe (tag) values ('outage')`);
          await tx.execute(sql`delete from outage_probe where tag = 'outage'`);
        }),
      ].map((p) => settles(p as Promise<unknown>));
      const outcomes = await Promise.all([...inFlight, ...during]);
      expect(outcomes.length).toBe(12);
      await restoreDatabase(admin, created.name);
      await poolServes();
      // Every connection of the pool works again, inside and outside transactions.
      await Promise.all(Array.from({ length: 8 }, () => queryRows(handle.db, sql`select 1 as one`)));
      await handle.db.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
      });
    }
    expect(await probeRows("outage")).toBe(0);
    expect(uncaught).toEqual([]);
  });
});
