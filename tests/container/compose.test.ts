/**
 * docker-compose.yml, brought up for real: PostgreSQL, Kafka, the one-shot migrate, one api and
 * three workers, all NODE_ENV=production as the file sets it. Production refuses the simulator, so
 * the .env says GATEWAY=stripe and a test-only override file points STRIPE_API_BASE at the fake
 * Stripe (tests/support/fake-stripe.ts), reached from the containers through the docker bridge
 * (`host-gateway`), over https: production takes https gateway base URLs only, so the fake serves
 * the test CA's certificate (tests/support/test-tls.ts) and the override mounts that CA into the
 * containers and names it in NODE_EXTRA_CA_CERTS (the image itself trusts no test CA). The override
 * also shortens leases and sweeps so a killed worker's payments are taken over within seconds
 * rather than the production default of minutes; nothing else differs from the file as shipped.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeStripe, type FakeStripe } from "../support/fake-stripe";
import { CARDS, EXPECTED, client, paymentBody, waitForFinal } from "../support/payments";
import { freePort, ROOT } from "../support/service-process";
import { testTls } from "../support/test-tls";
import {
  APP_IMAGE,
  bridgeGateway,
  containerEngine,
  docker,
  ensureStandIns,
  type Forward,
  forwardFromBridge,
  inspect,
  PREFIX,
  randomKey,
  randomSecret,
  run,
  waitHealthy,
} from "./engine";

const engine = await containerEngine();
if (!engine.ok) console.warn(`[container tests] SKIPPED: no container engine can be started here (${engine.reason})`);

const PROJECT = `${PREFIX}-stack`.replace(/[^a-z0-9-]/g, "");
const MIX = [CARDS.visa, CARDS.mastercard, CARDS.declined, CARDS.visa, CARDS.insufficientFunds, CARDS.amex];

describe.skipIf(!engine.ok)("docker-compose.yml up with --scale worker=3", () => {
  let stripe: FakeStripe;
  let forward: Forward;
  let dir: string;
  let apiUrl: string;
  const secret = randomSecret();

  const compose = (args: string[], allowFailure = false) =>
    run(
      ["docker-compose", "-p", PROJECT, "--project-directory", ROOT, "--env-file", join(dir, ".env"), "-f", join(ROOT, "docker-compose.yml"), "-f", join(dir, "override.yml"), ...args],
      { allowFailure },
    );
  const containersOf = async (service: string) =>
    (await docker(["ps", "-q", "--filter", `label=com.docker.compose.project=${PROJECT}`, "--filter", `label=com.docker.compose.service=${service}`])).stdout
      .split("\n")
      .filter(Boolean);

  beforeAll(async () => {
    await ensureStandIns();
    stripe = await startFakeStripe({ tls: true });
    // Each request to the fake waits a second, so a worker has charges in flight when it dies.
    forward = await forwardFromBridge(await bridgeGateway(), Number(new URL(stripe.url).port), 1_000);
    dir = mkdtempSync(join(tmpdir(), `${PROJECT}-`));
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, ".env"),
      [
        `API_KEYS=shop:${secret}`,
        `CARD_ENCRYPTION_KEY=${randomKey()}`,
        `POSTGRES_PASSWORD=${randomSecret().slice(8, 40)}`,
        "GATEWAY=stripe",
        `STRIPE_SECRET_KEY=${stripe.secretKey}`,
        `PAYSTREAM_PORT=${port}`,
        "",
      ].join("\n"),
    );
    const caInContainer = "/run/paystream-test/ca.pem";
    const testOnly = {
      STRIPE_API_BASE: `https://fake-stripe:${forward.port}`,
      NODE_EXTRA_CA_CERTS: caInContainer,
      // A new TLS connection crosses the one-second delay twice (hello, then finished + request).
      GATEWAY_TIMEOUT_MS: "4000",
      LEASE_MS: "13000",
      STUCK_AFTER_MS: "4000",
      SWEEP_INTERVAL_MS: "1000",
      RETRY_BASE_MS: "200",
      RATE_LIMIT_RPS: "0",
    };
    const service = {
      environment: testOnly,
      extra_hosts: ["fake-stripe:host-gateway"],
      volumes: [`${testTls().caFile}:${caInContainer}:ro`],
      image: APP_IMAGE,
    };
    writeFileSync(join(dir, "override.yml"), JSON.stringify({ version: "3.8", services: { migrate: service, api: service, worker: service } }, null, 2));
    await compose(["build", "-q", "api"]);
    await compose(["up", "-d", "--no-build", "--scale", "worker=3"]);
    for (const container of [...(await containersOf("api")), ...(await containersOf("worker"))]) await waitHealthy(container, 120_000);
  }, 900_000);

  afterAll(async () => {
    if (dir) {
      await compose(["down", "-v", "--remove-orphans", "-t", "5"], true);
      rmSync(dir, { recursive: true, force: true });
    }
    await forward?.close();
    await stripe?.stop();
  });

  it("brings up postgres, kafka, migrate, one api and three healthy workers", async () => {
    expect(await containersOf("worker")).toHaveLength(3);
    expect(await containersOf("api")).toHaveLength(1);
    const migrate = await docker(["ps", "-a", "-q", "--filter", `label=com.docker.compose.project=${PROJECT}`, "--filter", "label=com.docker.compose.service=migrate", "--filter", "exited=0"]);
    expect(migrate.stdout.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("charges every payment exactly once and ends each final, though a worker is killed mid-run", async () => {
    const http = client(apiUrl, secret);
    const sent = new Map<string, string>();
    const send = async (count: number) => {
      const batch = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const card = MIX[(sent.size + i) % MIX.length]!;
          const res = await http.post(paymentBody(card));
          expect(res.status).toBe(202);
          return [((await res.json()) as { id: string }).id, card] as const;
        }),
      );
      for (const [id, card] of batch) sent.set(id, card);
    };
    const workers = await Promise.all(
      (await containersOf("worker")).map(async (id) => {
        const networks = (await inspect<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>(id)).NetworkSettings.Networks;
        return { id, address: Object.values(networks)[0]!.IPAddress };
      }),
    );
    await send(30);
    // Kill the first worker seen calling Stripe, while its requests are still held by the delay.
    let victim: (typeof workers)[number] | undefined;
    for (const deadline = Date.now() + 20_000; victim === undefined && Date.now() < deadline; await Bun.sleep(20))
      victim = workers.find((w) => forward.received.some((r) => r.from === w.address));
    expect(victim).toBeDefined();
    await docker(["kill", "-s", "KILL", victim!.id]);
    const killedAt = Date.now();
    await send(30);

    const final = await waitForFinal(apiUrl, [...sent.keys()], { apiKey: secret, timeoutMs: 120_000 });
    const wrong = [...sent]
      .map(([id, card]) => {
        const succeeded = stripe.intentsFor(id).filter((intent) => intent.status === "succeeded").length;
        return { id, card, status: final.get(id)?.status, succeeded };
      })
      .filter(({ card, status, succeeded }) => status !== EXPECTED[card]!.status || succeeded !== (status === "COMPLETED" ? 1 : 0));
    expect(wrong).toEqual([]);
    // The compose stack's own PostgreSQL agrees: one row per payment, each COMPLETED one bound to
    // the single PaymentIntent Stripe charged.
    const [database] = await containersOf("postgres");
    const rows = (await docker(["exec", database!, "psql", "-U", "paystream", "-d", "paystream", "-tAF", " ", "-c", "select id, status, coalesce(gateway_reference, '-') from payments"])).stdout
      .split("\n")
      .map((line) => line.split(" "));
    expect(rows.map(([id]) => id).sort()).toEqual([...sent.keys()].sort());
    for (const [id, status, reference] of rows) {
      const charged = stripe.intentsFor(id!).filter((intent) => intent.status === "succeeded");
      expect({ id, status, reference }).toEqual({ id, status: final.get(id!)?.status, reference: status === "COMPLETED" ? charged[0]?.id : reference });
    }
    // It really was charging when it died: it sent requests within the second before the kill,
    // which the delay had not yet passed on, so their outcome was unknown to it.
    expect(forward.received.filter((r) => r.from === victim!.address && r.at > killedAt - 1_000).length).toBeGreaterThan(0);
  }, 240_000);
});
