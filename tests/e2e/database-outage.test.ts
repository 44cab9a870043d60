/**
 * Repeated PostgreSQL outages against one `--role=all` process (api, worker, sweeper and queue
 * sharing one connection pool): every request during an outage answers 503 with Retry-After
 * (none hangs), the process survives, it serves again as soon as the database does, and every
 * payment accepted before, between and after the outages reaches its final state exactly once.
 *
 * Before the postgres-js patch (patches/), some of these requests never answered, and the process
 * could die of an uncaught TypeError when a transaction's connection was cut.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type postgres from "postgres";
import { openDatabase } from "../../src/db";
import { createPostgresDatabase, cutDatabase, openAdmin, restoreDatabase } from "../support/db";
import { CARDS, expectSettledAsCardsSay, paymentBody } from "../support/payments";
import { OUTAGE_TEST_ENV, readyAgain, type ServiceProcess, startService } from "../support/service-process";
import { simulatorChargeCounts } from "../support/simulator";

const ROUNDS = 6;
/** Far above a 503's few milliseconds; a request still open after this is the defect. */
const ANSWER_WITHIN_MS = 10_000;
const MIX = [CARDS.visa, CARDS.mastercard, CARDS.declined, CARDS.amex, CARDS.insufficientFunds];

describe("database outages against --role=all on PostgreSQL (BROKER=postgres)", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let service: ServiceProcess;
  let admin: postgres.Sql;
  const accepted = new Map<string, string>();

  beforeAll(async () => {
    database = await createPostgresDatabase();
    admin = openAdmin();
    service = await startService({
      role: "all",
      env: { ...OUTAGE_TEST_ENV, DATABASE_URL: database.url },
    });
  });
  afterAll(async () => {
    await restoreDatabase(admin, database.name).catch(() => {});
    await service?.stop();
    await admin.end();
    await database.drop();
  }, 60_000);

  const headers = (extra: Record<string, string> = {}) => ({
    authorization: "Bearer sk_test_local",
    "content-type": "application/json",
    ...extra,
  });

  /** One request, bounded: a status, or "no answer" when it hangs. */
  async function request(method: string, path: string, body?: unknown) {
    try {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: headers(method === "POST" ? { "idempotency-key": crypto.randomUUID() } : {}),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
      });
      const text = await response.text();
      return { path: `${method} ${path}`, status: response.status, retryAfter: response.headers.get("retry-after"), text };
    } catch (error) {
      return { path: `${method} ${path}`, status: `no answer (${(error as Error).name})`, retryAfter: null, text: "" };
    }
  }

  /** Sends `count` payments; keeps those accepted, and returns every status (202, or 503 once the database is gone). */
  async function send(count: number, round: number): Promise<(number | string)[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, k) => {
        const card = MIX[(round + k) % MIX.length] as string;
        const answer = await request("POST", "/v1/payments", paymentBody(card));
        if (answer.status === 202) accepted.set((JSON.parse(answer.text) as { id: string }).id, card);
        return answer.status;
      }),
    );
  }

  /** Ends the outage and waits until the service is ready again (failing if it died). */
  async function restore() {
    await restoreDatabase(admin, database.name);
    await readyAgain(service, { ms: 20_000, after: "of the database's return" });
  }

  it(`answers every read and write with 503 during ${ROUNDS} outages, survives them and serves after each`, async () => {
    expect(await send(5, 0)).toEqual([202, 202, 202, 202, 202]);
    const [known] = [...accepted.keys()];
    for (let round = 0; round < ROUNDS; round++) {
      // Work in flight when the database goes: payments being accepted, the worker charging them.
      const inFlight = send(12, round);
      await Bun.sleep(round % 2 === 0 ? 5 : 60);
      await cutDatabase(admin, database.name);
      try {
        for (const status of await inFlight) expect([202, 503] as (number | string)[]).toContain(status);
        const answers = await Promise.all([
          request("GET", "/health/ready"),
          request("POST", "/v1/payments", paymentBody()),
          request("GET", "/v1/payments?limit=5"),
          request("GET", `/v1/payments/${known}`),
          request("POST", `/v1/payments/${known}/refunds`, { amount: 1 }),
          request("POST", `/v1/payments/${known}/cancel`),
        ]);
        for (const answer of answers) {
          expect({ round, path: answer.path, status: answer.status }).toEqual({ round, path: answer.path, status: 503 });
          expect(answer.retryAfter).toMatch(/^\d+$/);
        }
      } finally {
        await restore();
      }
      // Serving again, reads and writes alike.
      expect(await send(8, round)).toEqual(Array(8).fill(202));
      expect((await request("GET", "/v1/payments?limit=5")).status).toBe(200);
    }
    expect(service.proc.exitCode).toBeNull();
  }, 240_000);

  it("settles every accepted payment exactly once, as its card says", async () => {
    const final = await expectSettledAsCardsSay(service.url, accepted);
    const ledger = openDatabase(database.url, 1);
    try {
      const charges = await simulatorChargeCounts(ledger.db);
      expect([...charges].filter(([, n]) => n > 1)).toEqual([]);
      expect(charges.size).toBe([...final.values()].filter((v) => v.status === "COMPLETED").length);
    } finally {
      await ledger.close();
    }
    expect(service.output()).not.toMatch(/TypeError|uncaught/i);
  }, 120_000);
});
