import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { queryRows } from "../../modules/database";
import { openDatabase } from "../../src/db";
import { createPostgresDatabase } from "../support/db";
import { sharedKafka } from "../support/kafka";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

interface View {
  id: string;
  status: string;
  failureCode: string | null;
  outcome: "unknown" | null;
  nextCheckAt: string | null;
}

/**
 * The gateway fails every call (half of the failures after it took the charge), then heals. The
 * real service must end with COMPLETED ⇔ charged in the gateway's own ledger, and must never show
 * a charged payment as FAILED, before or after the healing (docs/CONTRACT.md §6).
 */
const VARIANTS = [
  { name: "PGlite on disk, BROKER=postgres (the embedded default)", backend: "pglite" as const, broker: "postgres" as const },
  { name: "PostgreSQL, BROKER=kafka", backend: "postgres" as const, broker: "kafka" as const },
];

for (const variant of VARIANTS) {
  describe(`a gateway that fails every call, then heals [${variant.name}]`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    }, 60_000);

    it("keeps every possibly charged payment PROCESSING with outcome unknown, then settles each one by what the gateway holds", async () => {
      let databaseUrl: string;
      if (variant.backend === "pglite") {
        const dir = mkdtempSync(join(tmpdir(), "paystream-unknown-"));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        databaseUrl = `pglite://${dir}`;
      } else {
        const database = await createPostgresDatabase();
        cleanups.push(() => database.drop());
        databaseUrl = database.url;
      }
      const brokerEnv: Record<string, string> =
        variant.broker === "kafka"
          ? { BROKER: "kafka", KAFKA_BROKERS: await sharedKafka(), KAFKA_TOPIC_PREFIX: `unknown-${Date.now()}`, KAFKA_PARTITIONS: "2" }
          : { BROKER: "postgres" };
      const env = (failureRate: string) => ({
        DATABASE_URL: databaseUrl,
        ...brokerEnv,
        SIMULATOR_TRANSIENT_FAILURE_RATE: failureRate,
        SIMULATOR_LATENCY_MS: "5",
        MAX_ATTEMPTS: "3",
        RETRY_BASE_MS: "20",
        RETRY_MAX_MS: "50",
        LEASE_MS: "3000",
        RECONCILE_FIRST_CHECK_MS: "200",
        RECONCILE_MAX_INTERVAL_MS: "1000",
        RECONCILE_INTERVAL_MS: "100",
        RATE_LIMIT_RPS: "0",
      });

      /** The simulator's ledger: approved charges per payment (the gateway's own truth). */
      async function chargesInLedger(): Promise<Map<string, number>> {
        const handle = openDatabase(databaseUrl, 1);
        try {
          const rows = await queryRows<{ payment_id: string; n: number }>(
            handle.db,
            sql`select payment_id, count(*)::int as n from simulator_charges where outcome = 'approved' group by payment_id`,
          );
          return new Map(rows.map((r) => [r.payment_id, Number(r.n)]));
        } finally {
          await handle.close();
        }
      }

      // Phase 1: the gateway is down.
      let service: ServiceProcess = await startService({ role: "all", env: env("1") });
      let stopped = false;
      cleanups.push(async () => {
        if (!stopped) await service.stop();
      });
      const http = client(service.url);
      const ids: string[] = [];
      for (let i = 0; i < 40; i += 10) {
        const created = await Promise.all(
          Array.from({ length: 10 }, () => http.post(paymentBody(CARDS.visa)).then((r) => r.json() as Promise<View>)),
        );
        ids.push(...created.map((p) => p.id));
      }

      // Every payment ends its attempts: FAILED (nothing charged) or PROCESSING + unknown + nextCheckAt.
      const deadline = Date.now() + 30_000;
      let views: View[] = [];
      for (;;) {
        views = await Promise.all(ids.map((id) => http.get(id).then((r) => r.json() as Promise<View>)));
        const settled = views.every((v) => v.status === "FAILED" || (v.status === "PROCESSING" && v.nextCheckAt !== null));
        if (settled || Date.now() > deadline) break;
        await Bun.sleep(200);
      }
      const unresolved = views.filter((v) => v.status === "PROCESSING");
      expect(unresolved.length).toBeGreaterThan(10);
      for (const v of unresolved) {
        expect(v.outcome).toBe("unknown");
        expect(Number.isNaN(Date.parse(v.nextCheckAt!))).toBe(false);
      }
      for (const v of views.filter((v) => v.status === "FAILED")) expect(v.failureCode).toBe("gateway_unavailable");
      const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(new RegExp(`^paystream_payments_unresolved ${unresolved.length}$`, "m"));
      // Each check that tells nothing is logged at error level.
      const logDeadline = Date.now() + 10_000;
      while (!service.output().includes("payment still unresolved") && Date.now() < logDeadline) await Bun.sleep(100);
      expect(service.output().includes('"level":"error"') && service.output().includes("payment still unresolved")).toBe(true);

      await service.stop();
      stopped = true;
      // Before healing: no payment the gateway charged is FAILED.
      let ledger = await chargesInLedger();
      for (const v of views) if (v.status === "FAILED") expect({ id: v.id, charged: ledger.get(v.id) ?? 0 }).toEqual({ id: v.id, charged: 0 });

      // Phase 2: the gateway heals; the reconciler asks it about each unresolved payment.
      service = await startService({ role: "all", env: env("0") });
      stopped = false;
      const final = await waitForFinal(service.url, ids, { timeoutMs: 60_000 });
      await service.stop();
      stopped = true;

      ledger = await chargesInLedger();
      const wrong = ids.filter((id) => {
        const charged = ledger.get(id) ?? 0;
        const status = final.get(id)?.status;
        return charged > 1 || (charged === 1) !== (status === "COMPLETED") || (status !== "COMPLETED" && status !== "FAILED");
      });
      expect(wrong).toEqual([]);
      expect([...final.values()].filter((v) => v.status === "COMPLETED").length).toBe(unresolved.length);
    });
  });
}
