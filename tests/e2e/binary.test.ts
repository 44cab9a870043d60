import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createPostgresDatabase } from "../support/db";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { ROOT, runProgram, type ServiceProcess, startService } from "../support/service-process";

interface JournalEntry {
  tag: string;
  when: number;
}
const JOURNAL = JSON.parse(readFileSync(join(ROOT, "drizzle/meta/_journal.json"), "utf8")) as { entries: JournalEntry[] };

let workDir: string;
let binary: string;

/**
 * Runs the compiled binary from an empty directory with nothing but PATH/HOME, so it can lean on
 * neither node_modules/ nor drizzle/ nor anything the developer exported.
 */
function runBinary(args: string[], env: Record<string, string>) {
  return runProgram(args, { HOME: workDir, ...env }, { command: [binary], cwd: workDir });
}

async function payWith4242(baseUrl: string): Promise<void> {
  const created = await client(baseUrl).post(paymentBody(CARDS.visa));
  expect(created.status).toBe(202);
  const { id } = (await created.json()) as { id: string };
  const final = await waitForFinal(baseUrl, [id], { timeoutMs: 20_000 });
  expect(final.get(id)?.status).toBe("COMPLETED");
}

describe("the compiled single binary (scripts/build.sh)", () => {
  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "paystream-binary-"));
    binary = join(workDir, "paystream");
    const started = performance.now();
    const build = Bun.spawnSync(["bash", "scripts/build.sh", binary], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`build failed:\n${build.stdout.toString()}${build.stderr.toString()}`);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const megabytes = (statSync(binary).size / 1024 / 1024).toFixed(0);
    console.info(`built ${binary} (${megabytes} MB) in ${seconds} s`);
  }, 120_000);

  afterAll(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  it("exits 2 with one line naming the setting when the configuration is invalid", async () => {
    const result = await runBinary(["--role=all"], { PORT: "70000" });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("paystream: PORT must be <= 65535 (got 70000)\n");
  });

  it("exits 2 with one line on an unknown argument", async () => {
    const result = await runBinary(["--rol=api"], {});
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toStartWith('paystream: unknown argument "--rol=api"');
  });

  describe("on a fresh PostgreSQL database", () => {
    let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
    const processes: ServiceProcess[] = [];
    beforeAll(async () => {
      database = await createPostgresDatabase();
    });
    afterAll(async () => {
      for (const p of processes) await p.stop();
      await database.drop();
    }, 30_000);

    it("records exactly drizzle's bookkeeping: one row per journal entry, hashed like drizzle's folder migrator", async () => {
      for (let run = 0; run < 2; run++) {
        const result = await runBinary(["migrate"], { DATABASE_URL: database.url });
        expect(result.stderr).toBe("");
        expect(result.code).toBe(0);
      }
      const sql = postgres(database.url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql<{ hash: string; created_at: string }[]>`
          select hash, created_at from drizzle.__drizzle_migrations order by id`;
        expect(rows.map((r) => [r.hash, Number(r.created_at)])).toEqual(
          JOURNAL.entries.map((entry) => [
            createHash("sha256").update(readFileSync(join(ROOT, "drizzle", `${entry.tag}.sql`))).digest("hex"),
            entry.when,
          ]),
        );
        const tables = await sql<{ tablename: string }[]>`select tablename from pg_tables where schemaname = 'public'`;
        expect(tables.map((t) => t.tablename)).toContain("payments");
      } finally {
        await sql.end();
      }
    }, 30_000);

    it("runs --role=api and --role=worker as separate processes and completes a 4242 payment", async () => {
      const env = { DATABASE_URL: database.url, MIGRATE: "false" };
      const api = await startService({ role: "api", env, command: [binary] });
      processes.push(api);
      processes.push(await startService({ role: "worker", env, command: [binary] }));
      await payWith4242(api.url);
    }, 40_000);
  });

  it("migrates a PGlite directory (twice: the second is a no-op), serves --role=all from it and answers `healthcheck`", async () => {
    const env = { DATABASE_URL: `pglite://${join(workDir, "pglite")}` };
    for (let run = 0; run < 2; run++) {
      const result = await runBinary(["migrate"], env);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('"msg":"migrations applied"');
    }

    const service = await startService({ role: "all", env: { ...env, MIGRATE: "false" }, command: [binary] });
    const address = { HOST: "127.0.0.1", PORT: new URL(service.url).port };
    try {
      await payWith4242(service.url);
      expect(await runBinary(["healthcheck"], address)).toEqual({ stdout: "", stderr: "", code: 0 });
    } finally {
      expect(await service.stop()).toBe(0);
    }
    const stopped = await runBinary(["healthcheck"], address);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toStartWith(`paystream: not ready: ${service.url}/health/ready`);
    expect(stopped.stderr.trim().split("\n")).toHaveLength(1);
  }, 60_000);
});
