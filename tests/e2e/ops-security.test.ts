/**
 * The operations surface of the real program in production mode (NODE_ENV=production, Stripe
 * against a local fake): /metrics is not on the public port, the operators' port serves it for
 * every role, a metrics token guards it where set, health answers carry nothing service-wide,
 * failed authentications are throttled per client, and unsafe configurations refuse to start.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { request } from "node:http";
import { startFakeStripe, type FakeStripe } from "../support/fake-stripe";
import { CARDS, paymentBody } from "../support/payments";
import { freePort, productionEnv, runProgram, type ServiceProcess, startService, TEST_CARD_KEY, TEST_LIVE_KEY } from "../support/service-process";

const METRICS_TOKEN = "mt_3c9e0b7f14a25d68e1f0c3b9a7d2e4f6";
/** The suite shares two cores with much else: PGlite's start can take tens of seconds. */
const START_TIMEOUT_MS = 90_000;
const LIMIT = 5;
const WINDOW_MS = 6_000;

/** A second merchant's key, as strong as production wants. */
const OTHER_LIVE_KEY = "sk_live_p3Rk8ZqW1vNx-T6yHbL0cUe5JmSa9dGf";

/** A request from a chosen loopback source address, so one machine can be several clients; a POST when it has a body. */
function requestFrom(
  localAddress: string,
  url: string,
  authorization: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; retryAfter: string | undefined; text: string }> {
  const { headers = {}, body } = options;
  return new Promise((resolve, reject) => {
    const all = { ...headers, authorization, ...(body === undefined ? {} : { "content-type": "application/json" }) };
    const req = request(url, { localAddress, method: body === undefined ? "GET" : "POST", headers: all }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined, text }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const getFrom = (localAddress: string, url: string, authorization: string, headers: Record<string, string> = {}) =>
  requestFrom(localAddress, url, authorization, { headers }).then(({ status, retryAfter }) => ({ status, retryAfter }));

describe("production mode: operations endpoints and failed authentications", () => {
  let stripe: FakeStripe;
  let all: ServiceProcess;
  let opsUrl: string;

  beforeAll(async () => {
    stripe = await startFakeStripe({ tls: true });
    const opsPort = await freePort();
    opsUrl = `http://127.0.0.1:${opsPort}`;
    all = await startService({
      role: "all",
      env: {
        ...productionEnv(stripe),
        API_KEYS: `shop:${TEST_LIVE_KEY},other:${OTHER_LIVE_KEY}`,
        DATABASE_URL: "pglite://memory",
        OPS_PORT: String(opsPort),
        AUTH_FAILURE_LIMIT: String(LIMIT),
        AUTH_FAILURE_WINDOW_MS: String(WINDOW_MS),
        // A CDN in front of a load balancer. Without X-Forwarded-For the client is the socket's peer.
        TRUSTED_PROXY_HOPS: "2",
      },
      timeoutMs: START_TIMEOUT_MS,
    });
  });
  afterAll(async () => {
    await all?.stop();
    await stripe?.stop();
  });

  it("warns at start that Stripe's events are refused without STRIPE_WEBHOOK_SECRET, and refuses them (docs/CONTRACT.md §10)", async () => {
    const warning = all
      .output()
      .split("\n")
      .find((line) => line.includes("STRIPE_WEBHOOK_SECRET is not set"));
    expect(JSON.parse(warning ?? "{}")).toMatchObject({ level: "warn" });
    const refused = await fetch(`${all.url}/v1/gateway-events/stripe`, { method: "POST", headers: { "stripe-signature": "t=1,v1=00", "content-type": "application/json" }, body: "{}" });
    expect(refused.status).toBe(404);
  });

  it("does not serve /metrics on the public port, with or without an API key", async () => {
    expect((await fetch(`${all.url}/metrics`)).status).toBe(404);
    const withKey = await fetch(`${all.url}/metrics`, { headers: { authorization: `Bearer ${TEST_LIVE_KEY}` } });
    expect(withKey.status).toBe(404);
    expect(await withKey.text()).not.toContain("paystream_");
  });

  it("serves /metrics and health on OPS_PORT, and nothing of the API there", async () => {
    const metrics = await fetch(`${opsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("paystream_http_request_duration_seconds");
    expect((await fetch(`${opsUrl}/health/ready`)).status).toBe(200);
    expect((await fetch(`${opsUrl}/v1/payments`, { headers: { authorization: `Bearer ${TEST_LIVE_KEY}` } })).status).toBe(404);
  });

  it("says at start, at error level and in a gauge, that a Stripe test key charges nothing; reaches the fake over https", async () => {
    const lines = all.output().split("\n").filter((line) => line.includes("gateway in test mode"));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: "error", gateway: "stripe", msg: "gateway in test mode: nothing is really charged" });
    expect(await (await fetch(`${opsUrl}/metrics`)).text()).toContain('paystream_gateway_test_mode{gateway="stripe"} 1');
    // The worker's charge goes to the https fake, trusting the test CA (NODE_EXTRA_CA_CERTS). From
    // an address of its own: a key that authenticated from 127.0.0.1 would change what the
    // throttle test below sees there.
    const created = await requestFrom("127.0.0.9", `${all.url}/v1/payments`, `Bearer ${TEST_LIVE_KEY}`, { body: paymentBody(CARDS.visa) });
    expect(created.status).toBe(202);
    const { id } = JSON.parse(created.text) as { id: string };
    let status = "";
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && status !== "COMPLETED"; await Bun.sleep(100))
      status = (JSON.parse((await requestFrom("127.0.0.9", `${all.url}/v1/payments/${id}`, `Bearer ${TEST_LIVE_KEY}`)).text) as { status: string }).status;
    expect(status).toBe("COMPLETED");
    expect(stripe.chargesFor(id)).toBe(1);
  }, 60_000);

  it("keeps /health/* to a status word on both ports", async () => {
    for (const base of [all.url, opsUrl]) {
      expect(await (await fetch(`${base}/health/live`)).json()).toEqual({ status: "ok" });
      expect(await (await fetch(`${base}/health/ready`)).json()).toEqual({ status: "ready" });
    }
  });

  it("answers 429 + Retry-After to hundreds of wrong keys from one client, serves the right key from another, and forgets after the window", async () => {
    const url = `${all.url}/v1/payments`;
    const answers = [];
    const began = performance.now();
    for (let i = 0; i < 200; i++) answers.push(await getFrom("127.0.0.1", url, `Bearer sk_live_guess_${i.toString().padStart(26, "0")}`));
    const elapsed = performance.now() - began;
    expect(answers.slice(0, LIMIT).map((a) => a.status)).toEqual(Array(LIMIT).fill(401));
    const rest = answers.slice(LIMIT);
    expect(rest.every((a) => a.status === 429 || a.status === 401)).toBe(true);
    expect(rest.filter((a) => a.status === 429).every((a) => Number(a.retryAfter) >= 1)).toBe(true);
    // The bucket drains one failure per WINDOW_MS / LIMIT: no more guesses than that got through.
    expect(rest.filter((a) => a.status === 401).length).toBeLessThanOrEqual(Math.ceil((elapsed * LIMIT) / WINDOW_MS));
    expect(rest.filter((a) => a.status === 429).length).toBeGreaterThan(150);
    const warnings = all.output().split("\n").filter((line) => line.includes("too many failed authentications"));
    expect(warnings.length).toBe(1);
    expect(JSON.parse(warnings[0] as string)).toMatchObject({ level: "warn", client: "127.0.0.1" });

    const refused = await fetch(url, { headers: { authorization: "Bearer sk_live_one_more_guess_0123456789" } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(((await refused.json()) as { code: string }).code).toBe("rate_limited");
    // Throttled means a key that has not authenticated from this client is not even checked.
    expect((await getFrom("127.0.0.1", url, `Bearer ${TEST_LIVE_KEY}`)).status).toBe(429);

    expect((await getFrom("127.0.0.2", url, `Bearer ${TEST_LIVE_KEY}`)).status).toBe(200);

    await Bun.sleep(WINDOW_MS + 100);
    expect((await getFrom("127.0.0.1", url, `Bearer ${TEST_LIVE_KEY}`)).status).toBe(200);
    expect((await getFrom("127.0.0.1", url, "Bearer sk_live_wrong_again_0123456789abc")).status).toBe(401);
  }, 60_000);

  const guesses = async (from: string, count: number, headers: Record<string, string> = {}) => {
    const statuses = [];
    for (let i = 0; i < count; i++) statuses.push((await getFrom(from, `${all.url}/v1/payments`, `Bearer sk_live_guess_${from}_${i}_0123456789ab`, headers)).status);
    return statuses;
  };

  it("keeps serving a key that authenticated from a client throttled for bad keys, and refuses new keys from it", async () => {
    const url = `${all.url}/v1/payments`;
    // A merchant behind a shared address (a NAT, a proxy) works; then someone there guesses keys.
    expect((await getFrom("127.0.0.3", url, `Bearer ${TEST_LIVE_KEY}`)).status).toBe(200);
    expect((await guesses("127.0.0.3", 3 * LIMIT)).slice(LIMIT)).toContain(429);
    expect((await guesses("127.0.0.3", 1))[0]).toBe(429);
    // The merchant is not locked out...
    for (let i = 0; i < 5; i++) expect((await getFrom("127.0.0.3", url, `Bearer ${TEST_LIVE_KEY}`)).status).toBe(200);
    // ...while a key new to that address is refused unchecked, though valid: no right guess shows.
    expect((await getFrom("127.0.0.3", url, `Bearer ${OTHER_LIVE_KEY}`)).status).toBe(429);
  }, 60_000);

  it("with TRUSTED_PROXY_HOPS=2 throttles the client behind the CDN edge, not the edge, whatever it forges further left", async () => {
    const url = `${all.url}/v1/payments`;
    // Peer 127.0.0.4 is the load balancer; the CDN edge 192.0.2.7 appended the client's address.
    const viaEdge = (client: string, forged = "") => ({ "x-forwarded-for": `${forged}${client}, 192.0.2.7` });
    const attacker = await guesses("127.0.0.4", 3 * LIMIT, viaEdge("198.51.100.66"));
    expect(attacker.slice(LIMIT)).toContain(429);
    // Entries the attacker writes left of the trusted ones change nothing.
    for (const forged of ["203.0.113.1, ", "198.51.100.77, ", "not-an-ip, 10.9.8.7, "])
      expect({ forged, status: (await guesses("127.0.0.4", 1, viaEdge("198.51.100.66", forged)))[0] }).toEqual({ forged, status: 429 });
    // Another client of the same edge and load balancer is a client of its own.
    expect((await getFrom("127.0.0.4", url, `Bearer ${OTHER_LIVE_KEY}`, viaEdge("198.51.100.77"))).status).toBe(200);
    const warnings = all.output().split("\n").filter((line) => line.includes("too many failed authentications"));
    expect(warnings.map((line) => (JSON.parse(line) as { client: string }).client)).toContain("198.51.100.66");
    expect(warnings.map((line) => (JSON.parse(line) as { client: string }).client)).not.toContain("192.0.2.7");
  }, 60_000);
});

describe("production mode: /metrics behind METRICS_TOKEN, OPS_PORT for the api and worker roles", () => {
  let api: ServiceProcess;
  let worker: ServiceProcess;
  let apiOps: string;
  let workerOps: string;

  beforeAll(async () => {
    const [apiOpsPort, workerOpsPort] = [await freePort(), await freePort()];
    apiOps = `http://127.0.0.1:${apiOpsPort}`;
    workerOps = `http://127.0.0.1:${workerOpsPort}`;
    const base = { ...productionEnv(), DATABASE_URL: "pglite://memory", METRICS_TOKEN };
    api = await startService({ role: "api", env: { ...base, OPS_PORT: String(apiOpsPort) }, timeoutMs: START_TIMEOUT_MS });
    worker = await startService({ role: "worker", env: { ...base, OPS_PORT: String(workerOpsPort) }, timeoutMs: START_TIMEOUT_MS });
  });
  afterAll(async () => {
    await api?.stop();
    await worker?.stop();
  });

  it("answers /metrics only to the token, on the public port and on OPS_PORT of every role", async () => {
    for (const base of [api.url, apiOps, workerOps]) {
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TEST_LIVE_KEY}` } })).status).toBe(401);
      const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain("process_cpu_seconds_total");
    }
  });

  it("does not take the metrics token as an API key", async () => {
    expect((await fetch(`${api.url}/v1/payments`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(401);
  });
});

describe("start-up refusals of the real program", () => {
  const refusals: [string, Record<string, string>, RegExp][] = [
    ["production without GATEWAY", { ...productionEnv(), GATEWAY: "" }, /^paystream: GATEWAY is required when NODE_ENV=production/],
    ["production with the simulator", { ...productionEnv(), GATEWAY: "simulator" }, /^paystream: GATEWAY=simulator is refused/],
    ["production with an 8-character key", { ...productionEnv(), API_KEYS: "shop:sk_live_1" }, /^paystream: API_KEYS: the secret of merchant "shop" must have at least 32 characters/],
    ["production with the development key", { ...productionEnv(), API_KEYS: "local:sk_test_local" }, /^paystream: API_KEYS: the secret of merchant "local" is the public development key/],
    [
      "production with an http Stripe base URL, its password masked",
      { ...productionEnv(), STRIPE_API_BASE: "http://proxy:s3cretpw@127.0.0.1:9" },
      /^paystream: STRIPE_API_BASE must be an https:\/\/ URL when NODE_ENV=production \(got "http:\/\/proxy:\*\*\*@127\.0\.0\.1:9"\)$/m,
    ],
    ["production with an http PayPal base URL", { ...productionEnv(), PAYPAL_API_BASE: "http://127.0.0.1:9" }, /^paystream: PAYPAL_API_BASE must be an https:\/\/ URL/],
    ["production with an all-zero card key", { ...productionEnv(), CARD_ENCRYPTION_KEY: Buffer.alloc(32).toString("base64") }, /^paystream: CARD_ENCRYPTION_KEY does not look random/],
    ["the development key on 0.0.0.0", { NODE_ENV: "development", HOST: "0.0.0.0" }, /^paystream: HOST=0\.0\.0\.0 is not a loopback address/],
    ["the development key on ::", { NODE_ENV: "development", HOST: "::" }, /^paystream: HOST=:: is not a loopback address/],
    // Without NODE_ENV the program would run as development: next to what only a deployment has, it refuses.
    ["API_KEYS without NODE_ENV", { API_KEYS: `shop:${TEST_LIVE_KEY}` }, /^paystream: NODE_ENV is not set, yet API_KEYS is set as for a deployment: set NODE_ENV=production/],
    ["a Stripe key without NODE_ENV", { GATEWAY: "stripe", STRIPE_SECRET_KEY: "sk_live_forgotten_node_env" }, /^paystream: NODE_ENV is not set, yet STRIPE_SECRET_KEY is set/],
    ["PayPal credentials without NODE_ENV", { GATEWAY: "paypal", PAYPAL_CLIENT_ID: "id", PAYPAL_CLIENT_SECRET: "pp_secret_value" }, /^paystream: NODE_ENV is not set, yet PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET are set/],
    ["HOST=0.0.0.0 without NODE_ENV", { HOST: "0.0.0.0" }, /^paystream: NODE_ENV is not set, yet HOST \(not a loopback address\) is set/],
  ];
  for (const [why, env, message] of refusals) {
    it(`refuses ${why}, in one line`, async () => {
      const { code, stderr } = await runProgram(["--role=all"], { CARD_ENCRYPTION_KEY: TEST_CARD_KEY, DATABASE_URL: "pglite://memory", ...env });
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      for (const secret of [TEST_LIVE_KEY, "sk_live_forgotten_node_env", "pp_secret_value"]) expect(stderr).not.toContain(secret);
    });
  }

  const PASSWORD = "s3cretpw";
  const withPassword: [string, Record<string, string>, number][] = [
    ["a bad PORT next to a DATABASE_URL with a password", { PORT: "70000", DATABASE_URL: `postgres://u:${PASSWORD}@127.0.0.1:1/x` }, 2],
    ["a DATABASE_URL of another scheme with a password", { DATABASE_URL: `mysql://u:${PASSWORD}@127.0.0.1:1/x` }, 2],
    ["a malformed DATABASE_URL with a password", { DATABASE_URL: `postgres//u:${PASSWORD}@127.0.0.1:1/x` }, 2],
    ["a DATABASE_URL with a password and a port that is not a number", { DATABASE_URL: `postgres://u:${PASSWORD}@127.0.0.1:notaport/x` }, 1],
    ["a DATABASE_URL with a password whose server cannot be reached", { DATABASE_URL: `postgres://u:${PASSWORD}@127.0.0.1:1/x` }, 1],
    ["KAFKA_BROKERS with a password that are malformed", { BROKER: "kafka", KAFKA_BROKERS: `u:${PASSWORD}@k1` }, 2],
  ];
  for (const [why, env, exitCode] of withPassword) {
    it(`exits ${exitCode} on ${why}, never printing the password`, async () => {
      const { code, stdout, stderr } = await runProgram(["--role=all"], env);
      expect(code).toBe(exitCode);
      expect(stderr).toStartWith("paystream: ");
      expect(stdout + stderr).not.toContain(PASSWORD);
    });
  }

  it("starts on loopback with the development key and prints the URL and the key, NODE_ENV unset", async () => {
    const service = await startService({ role: "api", env: { NODE_ENV: "", HOST: "", DATABASE_URL: "pglite://memory" }, timeoutMs: START_TIMEOUT_MS });
    try {
      expect(service.output()).toContain(`API:        ${service.url}/v1/payments`);
      expect(service.output()).toContain("dev API key: sk_test_local");
      expect((await fetch(`${service.url}/v1/payments`, { headers: { authorization: "Bearer sk_test_local" } })).status).toBe(200);
      expect((await fetch(`${service.url}/metrics`)).status).toBe(200);
    } finally {
      await service.stop();
    }
  });
});
