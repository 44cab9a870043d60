/**
 * PostgreSQL stops answering without closing anything (a partition: a TCP proxy between the
 * service and the server holds every socket open and forwards nothing), under one `--role=all`
 * process. Every API request still answers within 10 s: 503 with Retry-After where the database
 * is needed, and `/health/live` at once. A POST whose statement was sent into the silence answers
 * `commit_unknown` (retry with the same Idempotency-Key), because the proxy delivers what it held
 * once the silence ends and the statement may still commit. Then the service recovers by itself,
 * each retried POST answers its one payment, and every accepted payment is settled exactly once.
 *
 * Before the driver's answer bounds (patches/postgres+3.4.9.patch, src/db.ts), requests during
 * the silence answered only when Bun's idle timeout closed their connection.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { sql } from "drizzle-orm";
import { queryRows } from "../../modules/database";
import { openDatabase } from "../../src/db";
import { createPostgresDatabase } from "../support/db";
import { CARDS, expectSettledAsCardsSay, paymentBody } from "../support/payments";
import { OUTAGE_TEST_ENV, readyAgain, type ServiceProcess, startService } from "../support/service-process";
import { simulatorChargeCounts } from "../support/simulator";
import { type SilentProxy, startSilentProxy } from "../support/tcp-proxy";

const ROUNDS = 3;
/** The contract's bound on every answer while the database is away. */
const ANSWER_WITHIN_MS = 10_000;
/** Longer than the driver's silence bound, so the second wave meets connections given up and reconnecting. */
const SECOND_WAVE_AFTER_MS = 4_000;
const MIX = [CARDS.visa, CARDS.mastercard, CARDS.declined, CARDS.amex, CARDS.insufficientFunds];

interface Answer {
  path: string;
  status: number | string;
  ms: number;
  retryAfter: string | null;
  contentType: string | null;
  body: { id?: string; code?: string; detail?: string; status?: string };
  replayed: boolean;
}

interface Post {
  key: string;
  body: ReturnType<typeof paymentBody>;
  card: string;
}

describe("PostgreSQL silent with its connections open, under --role=all (BROKER=postgres)", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let proxy: SilentProxy;
  let service: ServiceProcess;
  const accepted = new Map<string, string>();
  /** POSTs answered 503 during a silence, with the code they were answered. */
  const toRetry: (Post & { code: string })[] = [];
  let worstMs = 0;
  let authorized = "";

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const direct = new URL(database.url);
    proxy = await startSilentProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    service = await startService({
      role: "all",
      env: { ...OUTAGE_TEST_ENV, DATABASE_URL: proxy.urlFor(database.url) },
    });
  });
  afterAll(async () => {
    // The service died under the test: its last words are the diagnosis.
    if (service && service.proc.exitCode !== null) console.error(`the service exited (${service.proc.exitCode}):\n${service.output().slice(-6000)}`);
    proxy?.resume();
    await service?.stop();
    await proxy?.close();
    await database?.drop();
  }, 60_000);

  /** One request, bounded by the contract's 10 s: its status, or "no answer" when it hangs. */
  async function request(method: string, path: string, options: { body?: unknown; key?: string } = {}): Promise<Answer> {
    const began = performance.now();
    try {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: {
          authorization: "Bearer sk_test_local",
          "content-type": "application/json",
          ...(options.key ? { "idempotency-key": options.key } : {}),
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
      });
      const text = await response.text();
      return {
        path: `${method} ${path}`,
        status: response.status,
        ms: performance.now() - began,
        retryAfter: response.headers.get("retry-after"),
        contentType: response.headers.get("content-type"),
        body: text.startsWith("{") ? JSON.parse(text) : {},
        replayed: response.headers.get("idempotent-replayed") === "true",
      };
    } catch (error) {
      return { path: `${method} ${path}`, status: `no answer (${(error as Error).name})`, ms: performance.now() - began, retryAfter: null, contentType: null, body: {}, replayed: false };
    }
  }

  function newPost(card: string): Post {
    return { key: crypto.randomUUID(), body: paymentBody(card), card };
  }

  /** Creates a payment; an accepted one is kept, one answered 503 during a silence is kept for a retry. */
  async function create(post: Post): Promise<Answer> {
    const answer = await request("POST", "/v1/payments", { body: post.body, key: post.key });
    if (answer.status === 202 && answer.body.id) accepted.set(answer.body.id, post.card);
    if (answer.status === 503) toRetry.push({ ...post, code: String(answer.body.code) });
    return answer;
  }

  /** Every kind of request, while the database is silent. */
  function probe(round: number, known: string): Promise<Answer>[] {
    return [
      request("GET", "/health/ready"),
      create(newPost(MIX[round % MIX.length] as string)),
      request("GET", "/v1/payments?limit=5"),
      request("GET", `/v1/payments/${known}`),
      request("POST", `/v1/payments/${authorized}/capture`, { key: crypto.randomUUID() }),
      request("POST", `/v1/payments/${known}/refunds`, { body: { amount: 1 }, key: crypto.randomUUID() }),
      request("POST", `/v1/payments/${known}/cancel`, { key: crypto.randomUUID() }),
    ];
  }

  function expectUnavailable(round: number, answers: Answer[]) {
    for (const answer of answers) {
      worstMs = Math.max(worstMs, answer.ms);
      const seen = { round, path: answer.path, status: answer.status, fast: answer.ms < ANSWER_WITHIN_MS };
      expect(seen).toEqual({ round, path: answer.path, status: 503, fast: true });
      expect(answer.retryAfter).toMatch(/^\d+$/);
      expect(answer.contentType).toBe("application/problem+json");
      // Only a write can be in doubt; a read is simply unavailable.
      const codes = answer.path.startsWith("GET") ? ["dependency_unavailable"] : ["dependency_unavailable", "commit_unknown"];
      expect(codes).toContain(String(answer.body.code));
      if (answer.body.code === "commit_unknown") expect(answer.body.detail).toContain("same Idempotency-Key");
    }
  }

  it(`answers every request within 10 s during ${ROUNDS} silences (503 + Retry-After; /health/live 200) and serves after each`, async () => {
    const first = await Promise.all(Array.from({ length: 5 }, (_, k) => create(newPost(MIX[k] as string))));
    expect(first.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    const known = first[0]!.body.id!;
    const authorization = await request("POST", "/v1/payments", { body: paymentBody(CARDS.visa, { capture: false }), key: crypto.randomUUID() });
    expect(authorization.status).toBe(202);
    authorized = authorization.body.id!;

    for (let round = 0; round < ROUNDS; round++) {
      // Work in flight when the database falls silent: payments being accepted, the worker charging them.
      const inFlight = Promise.all(Array.from({ length: 12 }, (_, k) => create(newPost(MIX[(round + k) % MIX.length] as string))));
      await Bun.sleep(round % 2 === 0 ? 5 : 60);
      proxy.silence();
      try {
        const firstWave = Promise.all(probe(round, known));
        const live: Answer[] = [];
        // Liveness needs nothing but the process: it answers at once, all through the silence.
        for (let i = 0; i < 4; i++) {
          live.push(await request("GET", "/health/live"));
          await Bun.sleep(SECOND_WAVE_AFTER_MS / 4);
        }
        const secondWave = await Promise.all(probe(round, known));
        expectUnavailable(round, await firstWave);
        expectUnavailable(round, secondWave);
        for (const answer of live) expect({ status: answer.status, fast: answer.ms < 1_000 }).toEqual({ status: 200, fast: true });
        for (const answer of await inFlight) {
          worstMs = Math.max(worstMs, answer.ms);
          expect({ round, status: answer.status, fast: answer.ms < ANSWER_WITHIN_MS }).toMatchObject({ round, fast: true });
          expect([202, 503]).toContain(answer.status as number);
        }
      } finally {
        proxy.resume();
      }
      await readyAgain(service, { ms: 20_000, after: "of the silence ending" });
      // Serving again without a restart, reads and writes alike.
      const after = await Promise.all(Array.from({ length: 8 }, (_, k) => create(newPost(MIX[(round + k) % MIX.length] as string))));
      expect(after.map((a) => a.status)).toEqual(Array(8).fill(202));
      expect((await request("GET", "/v1/payments?limit=5")).status).toBe(200);
    }
    expect(service.proc.exitCode).toBeNull();
    console.log(`worst answer during the silences: ${Math.round(worstMs)} ms; POSTs answered 503: ${toRetry.length}`);
  }, 240_000);

  it("tells the client of a POST sent into the silence that its commit is unknown, and the retry with the same key answers its one payment", async () => {
    // The first wave of each silence writes on connections that then stop answering.
    expect(toRetry.filter((p) => p.code === "commit_unknown").length).toBeGreaterThan(0);
    let replays = 0;
    for (const post of toRetry) {
      const retried = await request("POST", "/v1/payments", { body: post.body, key: post.key });
      expect({ key: post.key, status: retried.status }).toEqual({ key: post.key, status: 202 });
      // A write answered "unavailable" never reached the database: only an unknown commit may have happened.
      if (retried.replayed) {
        expect({ key: post.key, firstAnswer: post.code }).toEqual({ key: post.key, firstAnswer: "commit_unknown" });
        replays++;
      }
      accepted.set(retried.body.id!, post.card);
    }
    console.log(`retried ${toRetry.length} POSTs: ${replays} had been committed during the silence, ${toRetry.length - replays} were created by the retry`);
  }, 60_000);

  it("settles every accepted payment exactly once, as its card says, with one payment per idempotency key", async () => {
    await expectSettledAsCardsSay(service.url, accepted);
    const ledger = openDatabase(database.url, 1);
    try {
      const charges = await simulatorChargeCounts(ledger.db);
      expect([...charges].filter(([, n]) => n > 1)).toEqual([]);
      // Nothing lost and nothing doubled: the payments table holds exactly the payments answered
      // 202 (and the authorization), none created twice for one key.
      const [row] = await queryRows<{ n: number }>(ledger.db, sql`select count(*)::int as n from payments where id <> ${authorized}`);
      expect(row?.n).toBe(accepted.size);
    } finally {
      await ledger.close();
    }
    expect(service.output()).not.toMatch(/TypeError|uncaught/i);
  }, 120_000);
});
