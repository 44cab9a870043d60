#!/usr/bin/env bun
import { type Config, ConfigError, DEV_API_KEY, loadConfig, type Role } from "./config";
import { openDatabase } from "./db";
import { createLogger } from "./logger";
import { startService } from "./service";
import { guardAgainstStraySocketErrors } from "./stray-socket-errors";
import { maskCredentials } from "../modules/runtime";

const USAGE = "usage: paystream [--role=api|worker|all] | paystream migrate | paystream healthcheck";
const ROLES: Role[] = ["api", "worker", "all"];

type Command = { kind: "run"; role: Role } | { kind: "migrate" } | { kind: "healthcheck" } | { kind: "help" };

export function parseArgs(args: string[]): Command {
  let role: Role = "all";
  let migrate = false;
  let healthcheck = false;
  for (const arg of args) {
    if (arg === "migrate") migrate = true;
    else if (arg === "healthcheck") healthcheck = true;
    else if (arg === "--help" || arg === "-h") return { kind: "help" };
    else if (arg.startsWith("--role=")) {
      const value = arg.slice("--role=".length);
      if (!ROLES.includes(value as Role)) throw new ConfigError(`unknown role "${value}": use one of ${ROLES.join(", ")}`);
      role = value as Role;
    } else throw new ConfigError(`unknown argument "${arg}" (${USAGE})`);
  }
  if (healthcheck) return { kind: "healthcheck" };
  return migrate ? { kind: "migrate" } : { kind: "run", role };
}

/**
 * Container HEALTHCHECKs run inside an image without curl or a shell, so the binary asks its own
 * /health/ready on the configured address. Exit 0 = ready, 1 = not (Docker reserves 2).
 */
async function checkReadiness(http: Config["http"]): Promise<never> {
  const host = http.host === "0.0.0.0" || http.host === "::" ? "127.0.0.1" : http.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${http.port}/health/ready`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(4_000) });
    if (response.ok) process.exit(0);
    process.stderr.write(`paystream: not ready: ${url} answered ${response.status}\n`);
  } catch (error) {
    process.stderr.write(`paystream: not ready: ${url}: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(1);
}

function fail(message: string): never {
  process.stderr.write(`paystream: ${maskCredentials(message)}\n`);
  process.exit(2);
}

/** One line (or a stack) on stderr, its passwords masked, then exit 1. */
function fatal(detail: string): never {
  process.stderr.write(`paystream: fatal: ${maskCredentials(detail)}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let command: Command;
  let config: Config;
  try {
    command = parseArgs(process.argv.slice(2));
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  if (command.kind === "help") {
    process.stdout.write(`${USAGE}\nConfiguration is read from environment variables; see README.md.\n`);
    return;
  }
  // The ops listener runs in every role (a worker has no API port), so it is the one to ask when set.
  if (command.kind === "healthcheck") return checkReadiness(config.ops.port === undefined ? config.http : { port: config.ops.port, host: config.ops.host });
  const logger = createLogger(config.logLevel);

  if (command.kind === "migrate") {
    const handle = openDatabase(config.database.url, 1);
    await handle.migrate();
    await handle.close();
    logger.info("migrations applied");
    return;
  }

  guardAgainstStraySocketErrors(process, {
    stray: (error) => logger.error({ err: error }, "a socket failed after its connection was let go; ignored (the pool reconnects)"),
    fatal: (error) => fatal(error instanceof Error ? (error.stack ?? error.message) : String(error)),
  });

  const service = await startService(config, command.role, logger);
  if (service.url) {
    const banner = [
      `paystream (${command.role}) is up`,
      `  API:        ${service.url}/v1/payments`,
      `  Swagger UI: ${service.url}/docs`,
      ...(config.apiKeys ? [] : [`  dev API key: ${DEV_API_KEY.secret}   (merchant "${DEV_API_KEY.merchantId}"; set API_KEYS in production)`]),
    ];
    process.stderr.write(`${banner.join("\n")}\n`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // SHUTDOWN_GRACE_MS from the signal (README, "Stopping a worker"): the worker hands back what it
    // still holds before this ends; past it the process exits 1, whatever it holds.
    const graceEndsAt = performance.now() + config.shutdownGraceMs;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down");
    const timer = setTimeout(() => {
      logger.error({ graceMs: config.shutdownGraceMs }, "shutdown took longer than SHUTDOWN_GRACE_MS; exiting");
      process.exit(1);
    }, config.shutdownGraceMs);
    await service.stop(graceEndsAt);
    clearTimeout(timer);
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

if (import.meta.main) {
  main().catch((error) => fatal(error instanceof Error ? error.message : String(error)));
}
