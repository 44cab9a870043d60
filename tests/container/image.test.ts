/**
 * The Dockerfile, built unmodified by a real engine and run as a container: on PGlite in a volume,
 * and on the machine's PostgreSQL. Host networking: the container reaches the fake Stripe and
 * PostgreSQL on 127.0.0.1, and the test reaches it on a free loopback port.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createPostgresDatabase } from "../support/db";
import { startFakeStripe, type FakeStripe } from "../support/fake-stripe";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { freePort, productionEnv, TEST_CARD_KEY, TEST_LIVE_KEY } from "../support/service-process";
import { testTls } from "../support/test-tls";
import { APP_IMAGE as IMAGE, buildImage, containerEngine, docker, inspect, PREFIX, waitHealthy } from "./engine";

const engine = await containerEngine();
if (!engine.ok) console.warn(`[container tests] SKIPPED: no container engine can be started here (${engine.reason})`);

const VOLUME = `${PREFIX}-data`;
/** Where the container finds the fake Stripe's test CA: mounted at run time, never part of the image. */
const CA_IN_CONTAINER = "/run/paystream-test/ca.pem";

describe.skipIf(!engine.ok)("the Dockerfile's image, run by a container engine", () => {
  let stripe: FakeStripe;
  const containers: string[] = [];

  /** Starts the image as NODE_ENV=production demands; resolves when the HEALTHCHECK says healthy. */
  async function start(name: string, env: Record<string, string>, extra: string[] = []): Promise<{ url: string; name: string }> {
    const port = await freePort();
    const all = {
      ...productionEnv(stripe),
      NODE_EXTRA_CA_CERTS: CA_IN_CONTAINER,
      CARD_ENCRYPTION_KEY: TEST_CARD_KEY,
      PORT: String(port),
      HOST: "127.0.0.1",
      ...env,
    };
    const container = `${PREFIX}-${name}`;
    containers.push(container);
    const trustTestCa = ["-v", `${testTls().caFile}:${CA_IN_CONTAINER}:ro`];
    await docker(["run", "-d", "--name", container, "--network", "host", ...Object.entries(all).flatMap(([k, v]) => ["-e", `${k}=${v}`]), ...trustTestCa, ...extra, IMAGE]);
    await waitHealthy(container);
    return { url: `http://127.0.0.1:${port}`, name: container };
  }

  async function pay(url: string): Promise<string> {
    const res = await client(url, TEST_LIVE_KEY).post(paymentBody(CARDS.visa));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const final = await waitForFinal(url, [id], { apiKey: TEST_LIVE_KEY, timeoutMs: 30_000 });
    expect(final.get(id)?.status).toBe("COMPLETED");
    expect(stripe.chargesFor(id)).toBe(1);
    return id;
  }

  beforeAll(async () => {
    // Production takes https gateway base URLs only: the fake serves https with the test CA.
    stripe = await startFakeStripe({ tls: true });
    await buildImage(IMAGE);
  }, 600_000);

  afterAll(async () => {
    if (containers.length > 0) await docker(["rm", "-f", "-v", ...containers], { allowFailure: true });
    await docker(["volume", "rm", "-f", VOLUME], { allowFailure: true });
    await stripe?.stop();
  });

  it("runs as uid 65532 with no shell, on PGlite in a volume; a payment completes and survives replacing the container", async () => {
    const config = (await inspect<{ Config: { User: string } }>(IMAGE)).Config;
    expect(config.User).toBe("65532:65532");
    const noShell = await docker(["run", "--rm", "--entrypoint", "/bin/sh", IMAGE, "-c", "true"], { allowFailure: true });
    expect(noShell.code).not.toBe(0);

    const first = await start("pglite-1", {}, ["-v", `${VOLUME}:/data`]);
    const pid = (await inspect<{ State: { Pid: number } }>(first.name)).State.Pid;
    const uids = /^Uid:\s+(.*)$/m.exec(await Bun.file(`/proc/${pid}/status`).text())?.[1]?.split(/\s+/);
    expect(uids).toEqual(["65532", "65532", "65532", "65532"]);
    const id = await pay(first.url);

    await docker(["rm", "-f", first.name]);
    const second = await start("pglite-2", {}, ["-v", `${VOLUME}:/data`]);
    const res = await client(second.url, TEST_LIVE_KEY).get(id);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("COMPLETED");
    await pay(second.url);
  }, 180_000);

  it("runs on PostgreSQL: migrates it at start, is healthy, a payment completes", async () => {
    const database = await createPostgresDatabase();
    try {
      const { url, name } = await start("postgres", { DATABASE_URL: database.url });
      await pay(url);
      await docker(["rm", "-f", name]);
    } finally {
      await database.drop();
    }
  }, 180_000);
});
