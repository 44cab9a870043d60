#!/usr/bin/env node
// The two README commands, on a machine with only Node.js and npm:
//   npm start  → install Bun + dependencies (once), then run every role on the embedded defaults
//   npm test   → install, start a real Kafka broker, run the whole `bun test` suite, stop the broker
import { spawn, spawnSync } from "node:child_process";
import { withRuntimeEnv } from "./runtime-env.mjs";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules", ".bin", "bun");
const say = (line) => process.stderr.write(`[paystream] ${line}\n`);

function ensureDependencies() {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(bun) && existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say("installing Bun and dependencies (npm ci)…");
  const result = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    say("npm ci failed");
    process.exit(result.status ?? 1);
  }
}

function run(command, args, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: "inherit", env });
    const forward = (signal) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function start() {
  ensureDependencies();
  process.exit(await run(bun, ["src/main.ts", "--role=all", ...process.argv.slice(3)], withRuntimeEnv(process.env)));
}

async function test() {
  ensureDependencies();
  // The dashboard test drives a real browser: Debian's Chromium (test tools cannot download their own here).
  const chromium = spawnSync("bash", [join(root, "scripts/install-chromium.sh")], { cwd: root, stdio: "inherit" });
  if (chromium.status !== 0) {
    say("could not install Chromium for the dashboard test");
    process.exit(1);
  }
  const kafkaDir = join(root, ".cache", "kafka", `test-${process.pid}`);
  say("starting a real Apache Kafka broker for the suite…");
  const started = spawnSync("bash", [join(root, "scripts/kafka/kafka.sh"), "start", "--dir", kafkaDir], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  if (started.status !== 0) {
    say("could not start Kafka");
    process.exit(1);
  }
  const brokers = started.stdout.trim().split("\n").pop();
  say(`Kafka is up at ${brokers}`);
  let code = 1;
  try {
    code = await run(bun, ["test", "--timeout", "120000", ...process.argv.slice(3)], {
      ...process.env,
      KAFKA_BROKERS_TEST: brokers,
      KAFKA_TEST_DIR: kafkaDir,
    });
  } finally {
    spawnSync("bash", [join(root, "scripts/kafka/kafka.sh"), "stop", "--dir", kafkaDir, "--clean"], { cwd: root, stdio: "inherit" });
  }
  process.exit(code);
}

const command = process.argv[2];
if (command === "start") await start();
else if (command === "test") await test();
else {
  say("usage: node scripts/bootstrap.mjs start|test [args…]");
  process.exit(2);
}
