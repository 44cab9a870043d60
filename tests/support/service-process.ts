import { createServer } from "node:net";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { withRuntimeEnv } from "../../scripts/runtime-env.mjs";
import { testTls } from "./test-tls";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = process.execPath;

/** Random-looking, as production requires (a constant so every test process opens the others' secrets). */
export const TEST_CARD_KEY = "1SyAUAsEpvAMb0yM1G11ZVLGS1FmmGTcHttYR6rGFKs=";
/** An API key strong enough for NODE_ENV=production (32+ random-looking characters). */
export const TEST_LIVE_KEY = "sk_live_W7cXkZ-HNaSyUmqNsDYRZtgg8AXYDjom";

/**
 * What NODE_ENV=production needs beyond a database: a real gateway and a strong API key for
 * merchant "shop". Stripe is `stripe` (a fake from tests/support/fake-stripe.ts started with
 * `tls: true`: production takes https gateway base URLs only), or by default a closed local
 * port, for tests that charge nothing. The program trusts the fakes' test CA through
 * NODE_EXTRA_CA_CERTS (tests/support/test-tls.ts).
 */
export function productionEnv(
  stripe: { url: string; secretKey: string } = { url: "https://127.0.0.1:9", secretKey: "sk_test_no_gateway" },
): Record<string, string> {
  return {
    NODE_ENV: "production",
    GATEWAY: "stripe",
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_API_BASE: stripe.url,
    API_KEYS: `shop:${TEST_LIVE_KEY}`,
    NODE_EXTRA_CA_CERTS: testTls().caFile,
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface ServiceProcess {
  url: string;
  proc: Subprocess;
  /** Everything the process wrote so far (stdout + stderr). */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
  kill9(): Promise<void>;
}

/**
 * Starts the real program (`bun src/main.ts`, or the compiled binary) as a child process and
 * waits until it answers /health/ready (api roles) or logs that its worker started.
 */
export async function startService(options: {
  role?: "api" | "worker" | "all";
  env?: Record<string, string>;
  command?: string[];
  /** "ops": /health/ready on env.OPS_PORT, for a worker that logs below info. */
  waitFor?: "ready" | "worker" | "ops";
  timeoutMs?: number;
}): Promise<ServiceProcess> {
  const role = options.role ?? "all";
  const port = await freePort();
  // The runtime settings `npm start` and the image use (scripts/runtime-env.mjs), so the tests,
  // chaos and the bench run the program as it runs in production; options.env may override them.
  const env: Record<string, string> = withRuntimeEnv({
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    // Chosen, as a deployment must choose it: without NODE_ENV, API_KEYS or a gateway credential refuse to start.
    NODE_ENV: "test",
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "info",
    CARD_ENCRYPTION_KEY: TEST_CARD_KEY,
    SIMULATOR_LATENCY_MS: "5",
    RETRY_BASE_MS: "50",
    RETRY_MAX_MS: "200",
    ...options.env,
  });
  const command = options.command ?? [BUN, "src/main.ts"];
  const proc = Bun.spawn([...command, `--role=${role}`], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  let buffer = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) buffer += decoder.decode(chunk);
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);

  // The caller may pick the port (env.PORT), e.g. to stay inside a range it was given.
  const url = `http://127.0.0.1:${env.PORT}`;
  const waitFor = options.waitFor ?? (role === "worker" ? "worker" : "ready");
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`service exited with ${proc.exitCode}:\n${buffer}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`service did not become ready:\n${buffer}`);
    }
    if (waitFor === "worker") {
      if (buffer.includes('"worker started"')) break;
    } else {
      const readyUrl = waitFor === "ops" ? `http://127.0.0.1:${env.OPS_PORT}/health/ready` : `${url}/health/ready`;
      const ok = await fetch(readyUrl).then((r) => r.ok, () => false);
      if (ok) break;
    }
    await Bun.sleep(100);
  }
  return {
    url,
    proc,
    output: () => buffer,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return await proc.exited;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

/**
 * One `--role=all` process on PostgreSQL as the database-outage tests run it: api, worker, sweeper
 * and queue sharing a small pool, with leases and sweeps short enough to settle within a test.
 */
export const OUTAGE_TEST_ENV: Record<string, string> = {
  BROKER: "postgres",
  SIMULATOR_LATENCY_MS: "20",
  WORKER_CONCURRENCY: "16",
  DB_POOL_SIZE: "6",
  RATE_LIMIT_RPS: "0",
  SWEEP_INTERVAL_MS: "500",
  STUCK_AFTER_MS: "3000",
  LEASE_MS: "3000",
};

/** Waits until the same process answers /health/ready 200 again, failing at once if it exited. */
export async function readyAgain(service: ServiceProcess, within: { ms: number; after: string }): Promise<void> {
  const deadline = Date.now() + within.ms;
  while (Date.now() < deadline) {
    if (service.proc.exitCode !== null) throw new Error(`the service exited (${service.proc.exitCode}):\n${service.output().slice(-3000)}`);
    if ((await fetch(`${service.url}/health/ready`).then((r) => r.status, () => 0)) === 200) return;
    await Bun.sleep(100);
  }
  throw new Error(`readiness did not recover within ${within.ms / 1000} s ${within.after}:\n${service.output().slice(-3000)}`);
}

/** Runs the program (from source, or `command` such as the compiled binary) to completion, for CLI and config errors. */
export async function runProgram(
  args: string[],
  env: Record<string, string> = {},
  options: { command?: string[]; cwd?: string } = {},
) {
  const proc = Bun.spawn([...(options.command ?? [BUN, "src/main.ts"]), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout as ReadableStream).text(),
    new Response(proc.stderr as ReadableStream).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}
