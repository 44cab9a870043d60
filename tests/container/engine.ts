/**
 * What the container tests share: a Docker engine (installed and started by
 * scripts/container/engine.sh when missing), the stand-in base images for a machine without a
 * registry (scripts/container/stand-ins.sh), and a name prefix so these tests touch only the
 * containers, networks and volumes they made.
 */
import { randomBytes } from "node:crypto";
import { createServer, connect, type Server } from "node:net";
import { join } from "node:path";
import { ROOT } from "../support/service-process";

/** Every container, network, volume and image tag these tests create starts with this. */
export const PREFIX = `paystream-ct-${process.pid}-${randomBytes(3).toString("hex")}`;

/**
 * The tag the Dockerfile is built under, by docker build and by docker-compose alike. It is kept
 * between runs (unlike the containers, networks and volumes) so its layers cache the next build.
 */
export const APP_IMAGE = "paystream-ct-cache/paystream:test";

/** The legacy builder: there is no buildx here, and it reads `# syntax=` as a comment. */
const BUILD_ENV = { DOCKER_BUILDKIT: "0", COMPOSE_DOCKER_CLI_BUILD: "0" };

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; throws with its output when it fails, unless `allowFailure`. */
export async function run(
  command: string[],
  options: { env?: Record<string, string>; cwd?: string; allowFailure?: boolean } = {},
): Promise<Result> {
  const proc = Bun.spawn(command, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...BUILD_ENV, ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0 && !options.allowFailure)
    throw new Error(`${command.join(" ")} exited ${code}\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`);
  return { code, stdout: stdout.trim(), stderr: stderr.trim() };
}

export const docker = (args: string[], options?: Parameters<typeof run>[1]) => run(["docker", ...args], options);

let engine: Promise<{ ok: true } | { ok: false; reason: string }> | undefined;

/**
 * Installs and starts the engine when it can. Only "no engine can run here" skips the container
 * tests; anything after that (a stand-in or the image failing to build) fails them.
 */
export function containerEngine() {
  engine ??= run(["bash", join(ROOT, "scripts/container/engine.sh"), "ensure"], { allowFailure: true }).then((r) =>
    r.code === 0 ? { ok: true as const } : { ok: false as const, reason: r.stderr.split("\n").slice(-3).join(" ") || `exit ${r.code}` },
  );
  return engine;
}

let standIns: Promise<unknown> | undefined;
/** The base images the Dockerfile and docker-compose.yml name, built locally where no registry answers. */
export function ensureStandIns(): Promise<unknown> {
  standIns ??= run(["bash", join(ROOT, "scripts/container/stand-ins.sh"), "all"]);
  return standIns;
}

/** Builds the repository's Dockerfile, unmodified, as `tag`. */
export async function buildImage(tag: string): Promise<void> {
  await ensureStandIns();
  await docker(["build", "--pull=false", "-q", "-t", tag, "."]);
  // Each source change leaves the previous build stage behind, untagged; the last day's are kept
  // as build cache. Only images built on the stand-ins carry their label.
  await docker(["image", "prune", "-f", "--filter", "label=dev.paystream.stand-in=true", "--filter", "until=24h"]);
}

export async function inspect<T = Record<string, unknown>>(name: string): Promise<T> {
  const { stdout } = await docker(["inspect", name]);
  return (JSON.parse(stdout) as T[])[0] as T;
}

/** Waits for a container's HEALTHCHECK to report `healthy`; fails at once if it turns unhealthy or exits. */
export async function waitHealthy(container: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const state = (await inspect<{ State: { Status: string; Health?: { Status: string } } }>(container)).State;
    last = `${state.Status}/${state.Health?.Status ?? "no healthcheck"}`;
    if (state.Health?.Status === "healthy") return;
    if (state.Health?.Status === "unhealthy" || state.Status === "exited" || state.Status === "dead") break;
    await Bun.sleep(500);
  }
  const logs = await docker(["logs", "--tail", "40", container], { allowFailure: true });
  throw new Error(`${container} is ${last}, not healthy\n${logs.stdout}\n${logs.stderr}`);
}

/** The default bridge's address on this machine: containers reach the host there (`host-gateway`). */
export async function bridgeGateway(): Promise<string> {
  const { stdout } = await docker(["network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"]);
  return stdout;
}

/**
 * Makes a loopback-only server (the fake Stripe) reachable from containers: listens on the docker
 * bridge's address and pipes each connection to `target` on 127.0.0.1, requests `delayMs` late.
 */
export interface Forward {
  port: number;
  /** Which container address sent request bytes, and when (ms since the epoch). */
  received: { from: string; at: number }[];
  close(): Promise<void>;
}

export async function forwardFromBridge(host: string, targetPort: number, delayMs = 0): Promise<Forward> {
  const received: Forward["received"] = [];
  const server: Server = createServer((inbound) => {
    const outbound = connect(targetPort, "127.0.0.1");
    const from = (inbound.remoteAddress ?? "").replace(/^::ffff:/, "");
    // Every chunk waits the same time, so their order is kept.
    inbound.on("data", (chunk) => {
      received.push({ from, at: Date.now() });
      setTimeout(() => outbound.write(chunk), delayMs);
    });
    inbound.on("end", () => setTimeout(() => outbound.end(), delayMs));
    outbound.pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("error", end);
    outbound.on("error", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A 32-byte key as CARD_ENCRYPTION_KEY wants it, and an API secret production accepts: fresh for each stack. */
export const randomKey = () => randomBytes(32).toString("base64");
export const randomSecret = () => `sk_live_${randomBytes(24).toString("hex")}`;
