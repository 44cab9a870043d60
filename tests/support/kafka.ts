// Real single-node Kafka brokers for tests, via scripts/kafka/kafka.sh.
// node:child_process (not Bun.spawn) so this also runs under plain Node.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const KAFKA_SH = fileURLToPath(new URL("../../scripts/kafka/kafka.sh", import.meta.url));

export interface KafkaBroker {
  /** "127.0.0.1:PORT", ready for produce/consume. Stays the same across restarts. */
  brokers: string;
  /** Broker dir (server.properties, data/, kafka.log). */
  dir: string;
  /** Stops the broker and deletes its data. Idempotent. */
  stop(): Promise<void>;
  /** Outage: stops the broker (SIGTERM, or SIGKILL with `kill: true`) but keeps its data and port. */
  stopBroker(opts?: { kill?: boolean }): Promise<void>;
  /** Brings the same broker back (same port, same data, committed offsets intact). */
  startBroker(): Promise<void>;
  /** stopBroker() + startBroker(). */
  restart(opts?: { kill?: boolean }): Promise<void>;
  /** Freezes the JVM (SIGSTOP): connections stay open but nothing answers, like a hung broker. */
  pause(): void;
  /** Undoes pause(). A pause longer than ~3 s may briefly fence the broker on resume. */
  resume(): void;
}

/** Runs kafka.sh; resolves to its stdout. Its stderr (progress, log tail on failure) goes to ours. */
function kafkaSh(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [KAFKA_SH, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`kafka.sh ${args.join(" ")} exited ${code} (details on stderr)`)),
    );
  });
}

function signal(dir: string, sig: NodeJS.Signals): void {
  process.kill(Number(readFileSync(join(dir, "kafka.pid"), "utf8")), sig);
}

/** Starts a fresh broker in its own temp dir (~4-5 s; the first run on a machine also fetches jars). */
export async function startKafka(): Promise<KafkaBroker> {
  const dir = mkdtempSync(join(tmpdir(), "paystream-kafka-"));
  // --owner-pid: once this process is gone (crash, SIGKILL, or simply `bun test`
  // ending without running exit hooks) kafka.sh's watchdog stops the broker and
  // removes the dir, instead of leaking a ~350 MB JVM.
  const start = () => kafkaSh("start", "--dir", dir, "--owner-pid", String(process.pid), "--clean");
  const brokers = await start();
  let stopped = false;
  const broker: KafkaBroker = {
    brokers,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await kafkaSh("stop", "--dir", dir, "--clean");
    },
    async stopBroker(opts) {
      await kafkaSh("stop", "--dir", dir, ...(opts?.kill ? ["--kill"] : []));
    },
    async startBroker() {
      // kafka.sh reuses the port recorded in dir and skips formatting.
      const again = await start();
      if (again !== brokers) throw new Error(`broker came back on ${again}, expected ${brokers}`);
    },
    async restart(opts) {
      await broker.stopBroker(opts);
      await broker.startBroker();
    },
    pause: () => signal(dir, "SIGSTOP"),
    resume: () => signal(dir, "SIGCONT"),
  };
  return broker;
}

let shared: Promise<KafkaBroker> | undefined;

/**
 * One broker per test process. The test runner script may start one for the
 * whole suite and export KAFKA_BROKERS_TEST; otherwise it is started lazily here.
 * Don't stop/restart the shared broker in a test: use startKafka() for that.
 */
export async function sharedKafka(): Promise<string> {
  const fromEnv = process.env.KAFKA_BROKERS_TEST;
  if (fromEnv) return fromEnv;
  shared ??= startKafka().then((broker) => {
    // Fires under node and `bun run`, but `bun test` skips 'exit' listeners
    // (oven-sh/bun#8434, #38442); there kafka.sh's --owner-pid watchdog stops
    // the broker within ~1 s of the test process exiting. Must be synchronous.
    process.on("exit", () => {
      spawnSync("bash", [KAFKA_SH, "stop", "--dir", broker.dir, "--clean"], { stdio: "ignore" });
    });
    return broker;
  });
  return (await shared).brokers;
}
