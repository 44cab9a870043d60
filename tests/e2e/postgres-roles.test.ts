import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import postgres from "postgres";
import { createPostgresDatabase, cutDatabase, openAdmin, restoreDatabase } from "../support/db";
import { CARDS, EXPECTED, client, paymentBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

const MIX = [CARDS.visa, CARDS.visa, CARDS.mastercard, CARDS.amex, CARDS.declined, CARDS.insufficientFunds, CARDS.incorrectCvc];

describe("api and workers as separate processes on a real PostgreSQL (BROKER=postgres)", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let api: ServiceProcess;
  const workers: ServiceProcess[] = [];
  const common = () => ({
    DATABASE_URL: database.url,
    BROKER: "postgres",
    SIMULATOR_LATENCY_MS: "30",
    SIMULATOR_TRANSIENT_FAILURE_RATE: "0.1",
    MAX_ATTEMPTS: "10",
    WORKER_CONCURRENCY: "16",
    LEASE_MS: "2000",
    STUCK_AFTER_MS: "3000",
    SWEEP_INTERVAL_MS: "1000",
    RATE_LIMIT_RPS: "0",
  });

  beforeAll(async () => {
    database = await createPostgresDatabase();
    api = await startService({ role: "api", env: common() });
    for (let i = 0; i < 2; i++) workers.push(await startService({ role: "worker", env: common() }));
  });
  afterAll(async () => {
    for (const p of [api, ...workers]) await p?.stop();
    await database.drop();
  }, 60_000);

  it("settles every payment exactly once even when a worker is killed -9 mid-run", async () => {
    const http = client(api.url);
    const ids = new Map<string, string>();
    const send = async (n: number) => {
      for (let i = 0; i < n; i += 20) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(20, n - i) }, (_, k) => {
            const card = MIX[(i + k) % MIX.length]!;
            return http.post(paymentBody(card)).then(async (r) => {
              expect(r.status).toBe(202);
              ids.set(((await r.json()) as { id: string }).id, card);
            });
          }),
        );
        expect(batch).toHaveLength(Math.min(20, n - i));
      }
    };
    await send(150);
    await workers[0]!.kill9();
    await send(150);
    workers[0] = await startService({ role: "worker", env: common() });

    const final = await waitForFinal(api.url, [...ids.keys()], { timeoutMs: 60_000 });
    for (const [id, card] of ids) {
      const view = final.get(id);
      expect({ id, status: view?.status, failureCode: view?.failureCode }).toEqual({ id, ...EXPECTED[card]! });
    }

    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const doubles = await sql`select payment_id, count(*)::int as n from simulator_charges where outcome = 'approved' group by payment_id having count(*) > 1`;
      expect(doubles).toHaveLength(0);
      const completed = [...final.values()].filter((v) => v.status === "COMPLETED").length;
      const [charged] = await sql`select count(distinct payment_id)::int as n from simulator_charges where outcome = 'approved'`;
      expect(charged?.n).toBe(completed);
      const [secrets] = await sql`select count(*)::int as n from card_secrets`;
      expect(secrets?.n).toBe(0);
    } finally {
      await sql.end();
    }
  });

  it("keeps card numbers and CVCs out of the database dump and every process's logs", async () => {
    const dump = Bun.spawnSync(["pg_dump", "--data-only", database.url]);
    expect(dump.exitCode).toBe(0);
    const text = dump.stdout.toString();
    expect(text).toContain("simulator_charges");
    const logs = [api, ...workers].map((p) => p.output()).join("\n");
    for (const card of new Set(MIX)) {
      expect(text).not.toContain(card);
      expect(logs).not.toContain(card);
    }
    for (const cvc of ["123", "1234"]) expect(text).not.toMatch(new RegExp(`"cvc"\\s*:\\s*"${cvc}"`));
  });

  it("answers 503 with Retry-After on readiness when the database is unreachable", async () => {
    const orphan = await startService({
      role: "api",
      env: { ...common(), MIGRATE: "false" },
    });
    try {
      // Cut this process off by terminating its backends and blocking new connections to the database.
      const admin = openAdmin();
      await cutDatabase(admin, database.name);
      const ready = await fetch(`${orphan.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get("retry-after")).toBeTruthy();
      const post = await client(orphan.url).post(paymentBody());
      expect(post.status).toBe(503);
      expect(post.headers.get("retry-after")).toBeTruthy();
      await restoreDatabase(admin, database.name);
      await admin.end();
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline && status !== 200) {
        status = (await fetch(`${orphan.url}/health/ready`)).status;
        await Bun.sleep(200);
      }
      expect(status).toBe(200);
    } finally {
      await orphan.stop();
    }
  });
});
