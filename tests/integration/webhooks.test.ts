import { afterAll, beforeAll, beforeEach, describe, expect, it } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { ApiKeyAuthenticator, RateLimiter } from "../../modules/auth";
import { createMerchantGuard } from "../../modules/http";
import { newPaymentId, type PaymentRow, toPayment } from "../../modules/payments";
import {
  createPinnedTransport,
  createWebhookDispatcher,
  createWebhookService,
  type DestinationPolicy,
  enqueuePaymentEvent,
  type HostResolver,
  enqueuePaymentEvents,
  verifyWebhookSignature,
  type WebhookDispatcherOptions,
  WebhookSecretBox,
  type WebhookService,
  webhookDeliveries,
  webhookEndpoints,
  webhookEvents,
  webhookRoutes,
  type WebhookTransport,
} from "../../modules/webhooks";
import { createHttpApp } from "../../src/http";
import { createLogger } from "../../src/logger";
import { createMetrics } from "../../src/metrics";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline, silentLogger } from "../support/harness";
import { CARDS } from "../support/payments";

/** What a merchant's receiver saw: every request, whether its signature verified, and redeliveries of events it had already accepted. */
function startReceiver(answer: (n: number) => Response | Promise<Response> = () => new Response("ok")) {
  const received: { eventId: string; type: string | null; headers: Headers; body: string; signatureOk: boolean }[] = [];
  const accepted = new Set<string>();
  const state = { secret: "", duplicates: 0 };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const body = await request.text();
      const eventId = request.headers.get("paystream-event-id") ?? "";
      const signatureOk = verifyWebhookSignature(body, request.headers.get("paystream-signature"), state.secret).ok;
      received.push({ eventId, type: request.headers.get("paystream-event-type"), headers: request.headers, body, signatureOk });
      const response = await answer(received.length);
      if (response.ok) {
        if (accepted.has(eventId)) state.duplicates++;
        accepted.add(eventId);
      }
      return response;
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hooks`,
    received,
    state,
    stop: () => server.stop(true),
  };
}

async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

/** A resolver answering from a table as /etc/hosts or an internal DNS would: each question takes the next answer (the last one repeats). */
function fakeDns(table: Record<string, string[][]>) {
  const asked: string[] = [];
  const resolve: HostResolver = async (hostname) => {
    const answers = table[hostname] ?? [];
    const answer = answers[Math.min(asked.filter((h) => h === hostname).length, answers.length - 1)];
    asked.push(hostname);
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return answer.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return { resolve, asked };
}

/** A self-signed certificate for `hooks.example`, made with openssl for this run. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "paystream-tls-"));
  try {
    const made = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hooks.example",
        "-addext", "subjectAltName=DNS:hooks.example", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      { stderr: "pipe" },
    );
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An endpoint that accepts connections and never answers: a merchant's server that hangs. Counts the connections open at once. */
async function startHangingEndpoint() {
  const sockets = new Set<Socket>();
  const state = { accepted: 0, maxOpen: 0 };
  const server = createServer((socket) => {
    sockets.add(socket);
    state.accepted++;
    state.maxOpen = Math.max(state.maxOpen, sockets.size);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    state,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** A port nothing listens on. */
function closedPort(): number {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = server.port ?? 0;
  server.stop(true);
  return port;
}

/** As tests and local development run: receivers on this host (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true). */
const LOCAL_RECEIVERS: DestinationPolicy = { requireHttps: false, allowPrivateNetworks: true };
/** The defaults outside production: http, but public destinations only. */
const PUBLIC_ONLY: DestinationPolicy = { requireHttps: false, allowPrivateNetworks: false };
const PRODUCTION: DestinationPolicy = { requireHttps: true, allowPrivateNetworks: false };

/** How an endpoint that has not failed (or was enabled again) shows. */
const ENABLED = { status: "enabled", failingSince: null, disabledAt: null, disabledReason: null };

const KEY_A = "sk_test_webhooks_merchant_a";
const KEY_B = "sk_test_webhooks_merchant_b";

for (const backend of BACKENDS) {
  describe(`webhooks [${backend}]`, () => {
    let database: TestDatabase;
    let service: WebhookService;
    let pay: (merchantId: string, card?: string) => Promise<PaymentRow>;
    const secrets = new WebhookSecretBox(Buffer.alloc(32, 3));
    const dispatcher = (options: Partial<WebhookDispatcherOptions> = {}) =>
      createWebhookDispatcher(database.db, silentLogger, {
        secrets,
        pollIntervalMs: 20,
        leaseMs: 2_000,
        retryBaseMs: 50,
        maxAgeMs: 60_000,
        timeoutMs: 500,
        destinations: LOCAL_RECEIVERS,
        ...options,
      });
    const register = async (merchantId: string, url: string) => {
      const result = await service.registerEndpoint(merchantId, { url });
      if (result.kind !== "registered") throw new Error(JSON.stringify(result));
      return result.endpoint.secret;
    };
    const eventsOf = async (merchantId: string) => (await service.listEvents(merchantId, { limit: 100 })).data;
    const attemptsOf = async (merchantId: string, eventId: string) =>
      (await service.listDeliveryAttempts(merchantId, eventId))?.data ?? [];

    beforeAll(async () => {
      database = await createTestDatabase(backend);
      service = createWebhookService({ db: database.db, secrets, destinations: LOCAL_RECEIVERS });
      // Wired as src/worker.ts wires it: the event is written by the transaction that makes the payment final.
      const pipeline = buildPipeline(database, { maxAttempts: 1, onFinalInTransaction: enqueuePaymentEvents });
      pay = (merchantId, card = CARDS.visa) => pipeline.pay(card, merchantId);
    });
    afterAll(async () => {
      await database.drop();
    });
    // Dispatchers claim every due delivery in the table: each test starts from an empty one.
    beforeEach(async () => {
      await database.db.execute(sql`truncate webhook_events, webhook_endpoints cascade`);
    });

    it("writes no event when the merchant has no webhook endpoint", async () => {
      const payment = await pay("m-none");
      expect(payment.status).toBe("COMPLETED");
      expect(await database.db.select().from(webhookEvents)).toHaveLength(0);
      expect(await database.db.select().from(webhookDeliveries)).toHaveLength(0);
    });

    it("records payment.completed and payment.failed with the public payment object and a pending delivery", async () => {
      await register("m-events", "https://merchant.example.com/hooks");
      const completed = await pay("m-events", CARDS.visa);
      const failed = await pay("m-events", CARDS.declined);
      const events = await eventsOf("m-events");
      expect(events.map((e) => [e.type, e.paymentId])).toEqual([
        ["payment.failed", failed.id],
        ["payment.completed", completed.id],
      ]);
      for (const [event, payment] of [
        [events[1]!, completed],
        [events[0]!, failed],
      ] as const) {
        expect(event.id).toMatch(/^evt_[0-9a-z]{26}$/);
        expect(event.data).toEqual({ payment: toPayment(payment) });
        expect(event.createdAt).toBe(payment.completedAt!.toISOString());
        expect(event.delivery).toMatchObject({ status: "pending", attempts: 0, lastStatusCode: null, deliveredAt: null });
      }
      expect(events[0]!.data).toMatchObject({ payment: { failureCode: "card_declined" } });
    });

    it("is written with the transaction that makes the payment final or not at all, and once per payment however often it runs", async () => {
      await register("m-atomic", "https://merchant.example.com/hooks");
      const payment = await pay("m-atomic");
      await database.db.execute(sql`truncate webhook_events cascade`);
      await expect(
        database.db.transaction(async (tx) => {
          await enqueuePaymentEvent(tx, payment);
          throw new Error("the final update rolled back");
        }),
      ).rejects.toThrow("the final update rolled back");
      expect(await database.db.select().from(webhookEvents)).toHaveLength(0);
      await enqueuePaymentEvent(database.db, payment);
      await enqueuePaymentEvent(database.db, payment);
      expect(await database.db.select().from(webhookEvents)).toHaveLength(1);
      expect(await database.db.select().from(webhookDeliveries)).toHaveLength(1);
    });

    it("in a batch of several merchants, records the events of those with an endpoint only, each with its own payment", async () => {
      await register("m-mixed-a", "https://a.example.com/hooks");
      await register("m-mixed-c", "https://c.example.com/hooks");
      const batch = [await pay("m-mixed-a"), await pay("m-mixed-b"), await pay("m-mixed-c", CARDS.declined), await pay("m-mixed-b")];
      await database.db.execute(sql`truncate webhook_events cascade`);
      await enqueuePaymentEvents(database.db, batch);
      const rows = await database.db.select().from(webhookEvents);
      expect(rows.map((e) => [e.merchantId, e.paymentId, e.type]).sort()).toEqual([
        ["m-mixed-a", batch[0]!.id, "payment.completed"],
        ["m-mixed-c", batch[2]!.id, "payment.failed"],
      ]);
      for (const row of rows) expect(JSON.parse(row.body).data).toEqual({ payment: toPayment(batch.find((p) => p.id === row.paymentId)!) });
      expect(await database.db.select().from(webhookDeliveries)).toHaveLength(2);
      // Without any endpoint among the batch's merchants, nothing at all.
      await database.db.execute(sql`truncate webhook_events cascade`);
      await enqueuePaymentEvents(database.db, [batch[1]!, batch[3]!]);
      expect(await database.db.select().from(webhookEvents)).toHaveLength(0);
    });

    it("refuses to record an event for a payment in a state no event announces (PENDING, PROCESSING)", async () => {
      const payment = await pay("m-final");
      for (const status of ["PENDING", "PROCESSING"] as const)
        await expect(enqueuePaymentEvent(database.db, { ...payment, status, completedAt: null })).rejects.toThrow(/there is no event to send/);
    });

    it("keeps the signing secret sealed in the database", async () => {
      const secret = await register("m-sealed", "https://merchant.example.com/hooks");
      expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      const [row] = await database.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.merchantId, "m-sealed"));
      expect(JSON.stringify(row)).not.toContain(secret.slice("whsec_".length));
      expect(secrets.open({ keyId: row!.secretKeyId, sealed: row!.sealedSecret })).toBe(secret);
    });

    it("delivers a signed event: the documented headers, the exact event body, a signature that verifies with the secret", async () => {
      const receiver = startReceiver();
      try {
        receiver.state.secret = await register("m-deliver", receiver.url);
        const payment = await pay("m-deliver");
        expect(await dispatcher().dispatchOnce()).toBe(1);

        expect(receiver.received).toHaveLength(1);
        const request = receiver.received[0]!;
        expect(request.signatureOk).toBe(true);
        expect(request.headers.get("content-type")).toBe("application/json");
        expect(request.headers.get("user-agent")).toBe("paystream-webhooks/1");
        expect(request.headers.get("paystream-signature")).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
        const [event] = await eventsOf("m-deliver");
        expect(request.eventId).toBe(event!.id);
        expect(request.type).toBe("payment.completed");
        expect(JSON.parse(request.body)).toEqual({
          id: event!.id,
          type: "payment.completed",
          createdAt: payment.completedAt!.toISOString(),
          data: { payment: toPayment(payment) },
        });
        expect(event!.delivery).toMatchObject({ status: "delivered", attempts: 1, lastStatusCode: 200, nextAttemptAt: null });
        expect(event!.delivery.deliveredAt).not.toBeNull();
        const log = await attemptsOf("m-deliver", event!.id);
        expect(log).toEqual([
          { attempt: 1, attemptedAt: expect.any(String), url: receiver.url, statusCode: 200, error: null, durationMs: expect.any(Number) },
        ]);
        // Delivered is final: nothing is due any more.
        expect(await dispatcher().dispatchOnce()).toBe(0);
      } finally {
        receiver.stop();
      }
    });

    it("retries 5xx answers and timeouts with growing backoff until a 2xx, logging every attempt", async () => {
      const timeoutMs = 300;
      const receiver = startReceiver(async (n) => {
        if (n === 1) return new Response("boom", { status: 500 });
        if (n === 2) {
          // Answers, but only after the dispatcher stopped waiting.
          await Bun.sleep(timeoutMs + 200);
          return new Response("late");
        }
        if (n === 3) return new Response("busy", { status: 503 });
        return new Response("ok");
      });
      const worker = dispatcher({ retryBaseMs: 100, timeoutMs });
      try {
        receiver.state.secret = await register("m-retry", receiver.url);
        await pay("m-retry");
        worker.start();
        await waitFor(async () => (await eventsOf("m-retry"))[0]?.delivery.status === "delivered");
        const [event] = await eventsOf("m-retry");
        const log = await attemptsOf("m-retry", event!.id);
        expect(log.map((a) => [a.attempt, a.statusCode])).toEqual([
          [1, 500],
          [2, null],
          [3, 503],
          [4, 200],
        ]);
        expect(log[1]!.error).toBe("timeout");
        expect(log[1]!.durationMs).toBeGreaterThanOrEqual(timeoutMs - 5);
        // The wait after attempt n is at least 80 % of 100 ms · 2^(n-1).
        for (let n = 1; n < log.length; n++) {
          const finished = Date.parse(log[n - 1]!.attemptedAt) + log[n - 1]!.durationMs;
          expect(Date.parse(log[n]!.attemptedAt) - finished).toBeGreaterThanOrEqual(0.8 * 100 * 2 ** (n - 1) - 5);
        }
        expect(event!.delivery).toMatchObject({ status: "delivered", attempts: 4, lastStatusCode: 200, lastError: null });
        expect(receiver.received.every((r) => r.signatureOk && r.eventId === event!.id)).toBe(true);
        // The timed-out attempt did reach the receiver: at-least-once means it must deduplicate by event id.
        expect(receiver.state.duplicates).toBe(1);
      } finally {
        await worker.stop();
        receiver.stop();
      }
    }, 20_000);

    it("records a refused connection as an error and sends the retry to the endpoint's current URL, signed with its current secret", async () => {
      const receiver = startReceiver();
      try {
        const unreachable = `http://127.0.0.1:${closedPort()}/hooks`;
        await register("m-moved", unreachable);
        await pay("m-moved");
        expect(await dispatcher().dispatchOnce()).toBe(1);
        const [event] = await eventsOf("m-moved");
        expect(event!.delivery.status).toBe("pending");
        expect(Date.parse(event!.delivery.nextAttemptAt!)).toBeGreaterThan(Date.now() - 1_000);
        const [first] = await attemptsOf("m-moved", event!.id);
        expect(first).toMatchObject({ attempt: 1, url: unreachable, statusCode: null });
        expect(first!.error).toBe("connection_failed");

        // The merchant fixes the URL (which also rotates the secret) before the retry is due.
        receiver.state.secret = await register("m-moved", receiver.url);
        await waitFor(async () => (await dispatcher().dispatchOnce()) === 1);
        expect(receiver.received).toHaveLength(1);
        expect(receiver.received[0]!.signatureOk).toBe(true);
        expect((await eventsOf("m-moved"))[0]!.delivery.status).toBe("delivered");
      } finally {
        receiver.stop();
      }
    });

    it("gives up maxAgeMs after the event: the delivery is failed and never attempted again", async () => {
      const receiver = startReceiver(() => new Response("down", { status: 503 }));
      const maxAgeMs = 600;
      const worker = dispatcher({ retryBaseMs: 100, maxAgeMs });
      try {
        await register("m-give-up", receiver.url);
        await pay("m-give-up");
        worker.start();
        await waitFor(async () => (await eventsOf("m-give-up"))[0]?.delivery.status === "failed");
        await worker.stop();
        const [event] = await eventsOf("m-give-up");
        const log = await attemptsOf("m-give-up", event!.id);
        expect(log.length).toBeGreaterThanOrEqual(2);
        expect(log.every((a) => a.statusCode === 503)).toBe(true);
        // No attempt is scheduled past the deadline; one scheduled just before it starts within a poll or two.
        for (const attempt of log) expect(Date.parse(attempt.attemptedAt)).toBeLessThan(Date.parse(event!.createdAt) + maxAgeMs + 250);
        expect(event!.delivery).toMatchObject({ status: "failed", attempts: log.length, lastStatusCode: 503, nextAttemptAt: null });
        const seen = receiver.received.length;
        await Bun.sleep(300);
        expect(await dispatcher({ maxAgeMs }).dispatchOnce()).toBe(0);
        expect(receiver.received).toHaveLength(seen);
      } finally {
        await worker.stop();
        receiver.stop();
      }
    });

    it("retakes a delivery whose dispatcher froze mid-attempt once its lease ends; the late outcome cannot overwrite the newer one", async () => {
      const receiver = startReceiver();
      let thaw: () => void = () => {};
      const frozen = new Promise<void>((resolve) => (thaw = resolve));
      // Sends the request, then hangs before the outcome is recorded: a dispatcher paused or cut off after the POST.
      const send = createPinnedTransport();
      const freezingTransport: WebhookTransport = async (destination, request) => {
        const status = await send(destination, { ...request, signal: new AbortController().signal });
        await frozen;
        return status;
      };
      try {
        receiver.state.secret = await register("m-lease", receiver.url);
        await pay("m-lease");
        const stuck = dispatcher({ leaseMs: 400, timeoutMs: 200, transport: freezingTransport }).dispatchOnce();
        await waitFor(() => receiver.received.length === 1);
        // While the lease lives nobody else may take the delivery.
        expect(await dispatcher().dispatchOnce()).toBe(0);
        await Bun.sleep(450);
        expect(await dispatcher().dispatchOnce()).toBe(1);
        thaw();
        expect(await stuck).toBe(1);

        const [event] = await eventsOf("m-lease");
        expect(event!.delivery).toMatchObject({ status: "delivered", attempts: 2 });
        expect((await attemptsOf("m-lease", event!.id)).map((a) => [a.attempt, a.statusCode])).toEqual([
          [1, 200],
          [2, 200],
        ]);
        expect(receiver.received.map((r) => r.eventId)).toEqual([event!.id, event!.id]);
        expect(receiver.state.duplicates).toBe(1);
      } finally {
        thaw();
        receiver.stop();
      }
    });

    it("several dispatchers sharing the table attempt each delivery exactly once", async () => {
      const receiver = startReceiver();
      try {
        receiver.state.secret = await register("m-shared", receiver.url);
        const payments = [];
        for (let i = 0; i < 30; i++) payments.push(await pay("m-shared", i % 3 === 0 ? CARDS.declined : CARDS.visa));
        const workers = [dispatcher({ concurrency: 4 }), dispatcher({ concurrency: 4 }), dispatcher({ concurrency: 4 })];
        await waitFor(async () => (await Promise.all(workers.map((w) => w.dispatchOnce()))).every((n) => n === 0));
        expect(receiver.received).toHaveLength(30);
        expect(new Set(receiver.received.map((r) => r.eventId)).size).toBe(30);
        expect(receiver.received.every((r) => r.signatureOk)).toBe(true);
        expect(receiver.state.duplicates).toBe(0);
        const events = await eventsOf("m-shared");
        expect(events.every((e) => e.delivery.status === "delivered" && e.delivery.attempts === 1)).toBe(true);
        expect(events.filter((e) => e.type === "payment.failed")).toHaveLength(10);
      } finally {
        receiver.stop();
      }
    }, 20_000);

    it("never sends to a host name that resolves into the service's networks; the merchant sees only destination_blocked", async () => {
      const receiver = startReceiver(() => new Response("admin console of db-7 at 10.0.0.7", { status: 418 }));
      const port = new URL(receiver.url).port;
      const internal: Record<string, string[][]> = {
        "hooks.loopback.example": [["127.0.0.1"]],
        "hooks.loopback6.example": [["::1"]],
        "hooks.mapped.example": [["::ffff:127.0.0.1"]],
        "hooks.compatible.example": [["::7f00:1"]],
        "hooks.nat64.example": [["64:ff9b::7f00:1"]],
        "hooks.6to4.example": [["2002:7f00:1::1"]],
        "hooks.teredo.example": [["2001:0:4136:e378:8000:63bf:80ff:fffe"]],
        "hooks.private.example": [["10.0.0.7"]],
        "hooks.metadata.example": [["169.254.169.254"]],
        "hooks.ula.example": [["fd00:ec2::254"]],
        // One internal address among public ones is enough: the resolver's order is not ours to trust.
        "hooks.mixed.example": [["93.184.215.14", "2606:4700:4700::1111", "127.0.0.1"]],
        "hooks.unknown.example": [],
      };
      // Names the system resolver itself maps to loopback, and literal forms of it.
      const systemNames = ["localhost", "localhost.", "LocalHost", "127.1", "0x7f.1", "2130706433", "[::ffff:7f00:1]"];
      const dns = fakeDns(internal);
      const sent: string[] = [];
      const send = createPinnedTransport();
      const spy: WebhookTransport = (destination, request) => {
        sent.push(destination.address);
        return send(destination, request);
      };
      try {
        const merchants: string[] = [];
        for (const [i, host] of [...Object.keys(internal), ...systemNames].entries()) {
          merchants.push(`m-ssrf-${i}`);
          // Registered while private networks were allowed (or the name resolved elsewhere then): delivery decides again.
          await register(`m-ssrf-${i}`, `http://${host}:${port}/hooks`);
          await pay(`m-ssrf-${i}`);
        }
        const named = Object.keys(internal).length;
        expect(await dispatcher({ destinations: PUBLIC_ONLY, resolve: dns.resolve, transport: spy, concurrency: 32 }).dispatchOnce()).toBe(named + systemNames.length);

        expect(receiver.received).toHaveLength(0);
        expect(sent).toEqual([]);
        // The fake resolver was asked about every ordinary name; localhost and literals need no question.
        expect(dns.asked.sort()).toEqual(Object.keys(internal).sort());
        for (const merchantId of merchants) {
          const events = await eventsOf(merchantId);
          const log = await attemptsOf(merchantId, events[0]!.id);
          expect({ merchantId, delivery: events[0]!.delivery, log: log.map((a) => [a.statusCode, a.error]) }).toMatchObject({
            merchantId,
            delivery: { status: "pending", attempts: 1, lastStatusCode: null, lastError: "destination_blocked" },
            log: [[null, "destination_blocked"]],
          });
          // Everything the merchant is shown about the attempt, apart from the URL they gave and the values that are
          // ours, not the destination's: a clock reading such as "…:12.418Z" or a 418 ms duration is not a leak.
          const ours = (key: string, value: unknown) =>
            key === "durationMs" || (typeof value === "string" && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(value)) ? "<ours>" : value;
          const shown = JSON.stringify({ deliveries: events.map((e) => e.delivery), log: log.map(({ url: _, ...attempt }) => attempt) }, ours);
          for (const secret of ["127.0.0.1", "10.0.0.7", "169.254", "fd00", "::1", "418", "admin", "ENOTFOUND", "loopback", "private"])
            expect({ merchantId, leaks: shown.includes(secret) ? secret : null }).toEqual({ merchantId, leaks: null });
        }
      } finally {
        receiver.stop();
      }
    });

    it("re-checks every attempt in production: http endpoints are refused as https_required, names resolving inside as destination_blocked", async () => {
      const dns = fakeDns({ "hooks.shop.example": [["10.9.8.7"]] });
      const sent: string[] = [];
      const transport: WebhookTransport = async (destination) => {
        sent.push(destination.address);
        return 200;
      };
      await register("m-prod-http", "http://hooks.shop.example/hooks");
      await register("m-prod-https", "https://hooks.shop.example/hooks");
      await pay("m-prod-http");
      await pay("m-prod-https");
      expect(await dispatcher({ destinations: PRODUCTION, resolve: dns.resolve, transport }).dispatchOnce()).toBe(2);
      expect(sent).toEqual([]);
      expect((await eventsOf("m-prod-http"))[0]!.delivery).toMatchObject({ lastStatusCode: null, lastError: "https_required" });
      expect((await eventsOf("m-prod-https"))[0]!.delivery).toMatchObject({ lastStatusCode: null, lastError: "destination_blocked" });
    });

    it("connects to the address it checked: a name that rebinds to loopback after the check never reaches loopback", async () => {
      const receiver = startReceiver();
      const port = new URL(receiver.url).port;
      // First answer public, every later one loopback: the classic DNS-rebinding pair.
      const dns = fakeDns({ "hooks.rebind.example": [["93.184.215.14"], ["127.0.0.1"]] });
      const sent: { host: string; address: string }[] = [];
      // The public internet is the outside edge: the request that would go there is recorded and answered 503.
      const publicEdge: WebhookTransport = async (destination) => {
        sent.push({ host: destination.url.host, address: destination.address });
        return 503;
      };
      try {
        await register("m-rebind", `http://hooks.rebind.example:${port}/hooks`);
        await pay("m-rebind");
        const worker = dispatcher({ destinations: PUBLIC_ONLY, resolve: dns.resolve, transport: publicEdge, retryBaseMs: 20 });
        expect(await worker.dispatchOnce()).toBe(1);
        await waitFor(async () => (await worker.dispatchOnce()) === 1);
        const [event] = await eventsOf("m-rebind");
        expect((await attemptsOf("m-rebind", event!.id)).map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
          [1, 503, null],
          [2, null, "destination_blocked"],
        ]);
        // One resolution per attempt, made by the check; the connection went to what it checked.
        expect(dns.asked).toEqual(["hooks.rebind.example", "hooks.rebind.example"]);
        expect(sent).toEqual([{ host: `hooks.rebind.example:${port}`, address: "93.184.215.14" }]);
        expect(receiver.received).toHaveLength(0);
      } finally {
        receiver.stop();
      }
    });

    it("sends to the checked address with the endpoint's name as Host, trying the next address when one refuses the connection", async () => {
      const receiver = startReceiver();
      const port = new URL(receiver.url).port;
      // Nothing of ours listens on [::1]:port, and the name is in no DNS: only the checked 127.0.0.1 can be reached.
      const dns = fakeDns({ "hooks.pinned.example": [["::1", "127.0.0.1"]] });
      try {
        receiver.state.secret = await register("m-pinned", `http://hooks.pinned.example:${port}/hooks?shop=1`);
        await pay("m-pinned");
        expect(await dispatcher({ resolve: dns.resolve }).dispatchOnce()).toBe(1);
        expect(receiver.received).toHaveLength(1);
        expect(receiver.received[0]!.headers.get("host")).toBe(`hooks.pinned.example:${port}`);
        expect(receiver.received[0]!.signatureOk).toBe(true);
        expect((await eventsOf("m-pinned"))[0]!.delivery).toMatchObject({ status: "delivered", attempts: 1, lastStatusCode: 200 });
        expect(dns.asked).toEqual(["hooks.pinned.example"]);
      } finally {
        receiver.stop();
      }
    });

    it("does not follow a redirect: a 3xx is a failed attempt and the redirect target gets nothing", async () => {
      const target = startReceiver();
      const redirecting = startReceiver(() => new Response(null, { status: 307, headers: { location: target.url } }));
      try {
        await register("m-redirect", redirecting.url);
        await pay("m-redirect");
        expect(await dispatcher().dispatchOnce()).toBe(1);
        expect(redirecting.received).toHaveLength(1);
        expect(target.received).toHaveLength(0);
        const [event] = await eventsOf("m-redirect");
        expect(event!.delivery).toMatchObject({ status: "pending", attempts: 1, lastStatusCode: 307, deliveredAt: null });
      } finally {
        target.stop();
        redirecting.stop();
      }
    });

    it("over https, checks the certificate against the endpoint's name while connecting to the checked address", async () => {
      const { key, cert } = selfSignedCertificate();
      const hosts: (string | null)[] = [];
      const server = Bun.serve({
        port: 0,
        hostname: "127.0.0.1",
        tls: { key, cert },
        fetch(request) {
          hosts.push(request.headers.get("host"));
          return new Response("ok");
        },
      });
      // hooks.example is the certificate's name; other.example resolves to the same server but is not.
      const dns = fakeDns({ "hooks.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]] });
      try {
        await register("m-tls-ok", `https://hooks.example:${server.port}/hooks`);
        await register("m-tls-bad", `https://other.example:${server.port}/hooks`);
        await pay("m-tls-ok");
        await pay("m-tls-bad");
        expect(await dispatcher({ resolve: dns.resolve, transport: createPinnedTransport({ ca: cert }) }).dispatchOnce()).toBe(2);
        expect(hosts).toEqual([`hooks.example:${server.port}`]);
        expect((await eventsOf("m-tls-ok"))[0]!.delivery).toMatchObject({ status: "delivered", lastStatusCode: 200 });
        expect((await eventsOf("m-tls-bad"))[0]!.delivery).toMatchObject({ status: "pending", lastStatusCode: null, lastError: "tls_failed" });
      } finally {
        server.stop(true);
      }
    });

    it("is fair between merchants: while one merchant's endpoint hangs with a backlog, another merchant's events arrive at once", async () => {
      const hanging = await startHangingEndpoint();
      const receiver = startReceiver();
      // The production defaults (16 attempts in flight, 4 per merchant), with a shorter attempt timeout.
      const timeoutMs = 2_000;
      const worker = dispatcher({ timeoutMs, leaseMs: timeoutMs + 3_000, concurrency: 16, perMerchantConcurrency: 4 });
      try {
        await register("m-fair-stuck", hanging.url);
        receiver.state.secret = await register("m-fair-fine", receiver.url);
        // Merchant A's 40 events are all older than merchant B's: oldest-first alone would send B's last.
        const model = await pay("m-fair-stuck");
        await enqueuePaymentEvents(database.db, Array.from({ length: 39 }, () => ({ ...model, id: newPaymentId() })));
        const first = await pay("m-fair-fine");
        const started = Date.now();
        worker.start();
        worker.expectDeliveries();
        await waitFor(() => receiver.received.some((r) => r.body.includes(first.id)), 10_000);
        const firstLatencyMs = Date.now() - started;
        // One attempt of A's takes 2 s; with one shared queue B would wait for 40 / 16 rounds of them.
        expect(firstLatencyMs).toBeLessThan(1_500);
        // A holds at most its share of the slots, across the whole fleet.
        expect(hanging.state.maxOpen).toBeLessThanOrEqual(4);
        expect(hanging.state.accepted).toBeGreaterThan(0);

        // Once A's attempts have timed out, A is failing: one attempt at a time, and B's next event still goes at once.
        await waitFor(async () => (await service.getEndpoint("m-fair-stuck"))?.failingSince !== null, 5_000);
        const second = await pay("m-fair-fine");
        const secondAt = Date.now();
        worker.expectDeliveries();
        await waitFor(() => receiver.received.some((r) => r.body.includes(second.id)), 10_000);
        expect(Date.now() - secondAt).toBeLessThan(1_500);
        expect(receiver.received.every((r) => r.signatureOk)).toBe(true);
        const stuck = await eventsOf("m-fair-stuck");
        expect(stuck).toHaveLength(40);
        expect(stuck.every((e) => e.delivery.status === "pending")).toBe(true);
      } finally {
        hanging.stop();
        await worker.stop();
        receiver.stop();
      }
    }, 30_000);

    it("disables an endpoint whose every attempt failed for disableAfterMs: says why, sends nothing more, and sends again once enabled", async () => {
      let answer = 500;
      const receiver = startReceiver(() => new Response("down", { status: answer }));
      const disableAfterMs = 400;
      const worker = dispatcher({ retryBaseMs: 50, disableAfterMs });
      try {
        receiver.state.secret = await register("m-disable", receiver.url);
        await pay("m-disable");
        worker.start();
        await waitFor(async () => (await service.getEndpoint("m-disable"))?.status === "disabled");
        const endpoint = (await service.getEndpoint("m-disable"))!;
        expect(endpoint.failingSince).not.toBeNull();
        expect(Date.parse(endpoint.disabledAt!) - Date.parse(endpoint.failingSince!)).toBeGreaterThanOrEqual(disableAfterMs - 50);
        expect(endpoint.disabledReason).toContain("(last: HTTP 500)");
        expect(endpoint.disabledReason).toContain("POST /v1/webhook-endpoint/enable");
        const [first] = await eventsOf("m-disable");
        expect(first!.delivery).toMatchObject({ status: "failed", lastError: "the webhook endpoint is disabled", nextAttemptAt: null });
        const log = await attemptsOf("m-disable", first!.id);
        expect(log.every((a) => a.statusCode === 500)).toBe(true);
        // Disabled only once the failures had lasted the whole period, not at the first one.
        expect(Date.parse(log.at(-1)!.attemptedAt) - Date.parse(log[0]!.attemptedAt)).toBeGreaterThanOrEqual(disableAfterMs - 50);

        // While disabled: the event is recorded for the merchant to see, but not sent.
        const seen = receiver.received.length;
        answer = 200;
        const missed = await pay("m-disable");
        worker.expectDeliveries();
        await Bun.sleep(300);
        expect(receiver.received).toHaveLength(seen);
        const [whileDisabled] = await eventsOf("m-disable");
        expect(whileDisabled!.paymentId).toBe(missed.id);
        expect(whileDisabled!.delivery).toMatchObject({ status: "failed", attempts: 0, lastError: "the webhook endpoint is disabled" });

        // The merchant enables it again: new events are sent; what was missed is listed, not resent.
        expect(await service.enableEndpoint("m-disable")).toMatchObject(ENABLED);
        const after = await pay("m-disable");
        worker.expectDeliveries();
        await waitFor(() => receiver.received.some((r) => r.body.includes(after.id)));
        expect(receiver.received.some((r) => r.body.includes(missed.id))).toBe(false);
        // The endpoint has answered; the attempt is recorded once its answer is read, a moment later.
        await waitFor(async () => (await eventsOf("m-disable"))[0]!.delivery.status === "delivered");
      } finally {
        await worker.stop();
        receiver.stop();
      }
    });

    it("a delivered attempt clears the failure record: failures broken by a success never add up to a disable", async () => {
      const receiver = startReceiver((n) => new Response(n % 2 === 1 ? "down" : "ok", { status: n % 2 === 1 ? 503 : 200 }));
      const worker = dispatcher({ retryBaseMs: 300, disableAfterMs: 500 });
      try {
        receiver.state.secret = await register("m-flaky", receiver.url);
        worker.start();
        for (let round = 0; round < 3; round++) {
          const payment = await pay("m-flaky");
          worker.expectDeliveries();
          // The first attempt fails: the endpoint is failing since then...
          await waitFor(async () => (await service.getEndpoint("m-flaky"))?.failingSince !== null);
          // ...until the retry is delivered.
          await waitFor(async () => (await eventsOf("m-flaky")).find((e) => e.paymentId === payment.id)?.delivery.status === "delivered");
          expect(await service.getEndpoint("m-flaky")).toMatchObject({ status: "enabled", failingSince: null });
          await Bun.sleep(200);
        }
        // Failures over more than disableAfterMs in all, never that long in a row: still enabled.
        expect((await service.getEndpoint("m-flaky"))?.status).toBe("enabled");
      } finally {
        await worker.stop();
        receiver.stop();
      }
    });

    it("stop() takes no new deliveries and waits for the attempts in flight to be recorded", async () => {
      const receiver = startReceiver(async () => {
        await Bun.sleep(300);
        return new Response("ok");
      });
      const worker = dispatcher();
      try {
        receiver.state.secret = await register("m-stop", receiver.url);
        await pay("m-stop");
        worker.start();
        await waitFor(() => receiver.received.length === 1);
        await worker.stop();
        const [event] = await eventsOf("m-stop");
        expect(event!.delivery.status).toBe("delivered");
        expect(await attemptsOf("m-stop", event!.id)).toHaveLength(1);
        await pay("m-stop");
        await Bun.sleep(100);
        expect(receiver.received).toHaveLength(1);
      } finally {
        await worker.stop();
        receiver.stop();
      }
    });
  });

  describe(`webhook API [${backend}]`, () => {
    let database: TestDatabase;
    let app: ReturnType<typeof createHttpApp>;
    let publicOnlyApp: ReturnType<typeof createHttpApp>;
    let productionApp: ReturnType<typeof createHttpApp>;
    let pay: (merchantId: string, card?: string) => Promise<PaymentRow>;
    const secrets = new WebhookSecretBox(Buffer.alloc(32, 4));

    const buildApp = (destinations: DestinationPolicy) =>
      createHttpApp({
        logger: createLogger("silent"),
        metrics: createMetrics(),
        version: "test",
        readiness: async () => {},
        routes: [
          webhookRoutes({
            service: createWebhookService({ db: database.db, secrets, destinations }),
            merchantOf: createMerchantGuard(
              new ApiKeyAuthenticator([
                { merchantId: "wa", secret: KEY_A },
                { merchantId: "wb", secret: KEY_B },
              ]),
              new RateLimiter(0),
            ),
          }),
        ],
      });

    const call = (
      method: string,
      path: string,
      options: { key?: string | null; body?: string; contentType?: string; on?: ReturnType<typeof createHttpApp> } = {},
    ) => {
      const headers: Record<string, string> = { "content-type": options.contentType ?? "application/json" };
      const key = options.key === undefined ? KEY_A : options.key;
      if (key) headers.authorization = `Bearer ${key}`;
      return (options.on ?? app).handle(new Request(`http://paystream.test${path}`, { method, headers, body: options.body }));
    };
    const put = (url: unknown, options: { key?: string; on?: ReturnType<typeof createHttpApp> } = {}) =>
      call("PUT", "/v1/webhook-endpoint", { ...options, body: JSON.stringify({ url }) });

    beforeAll(async () => {
      database = await createTestDatabase(backend);
      app = buildApp(LOCAL_RECEIVERS);
      publicOnlyApp = buildApp(PUBLIC_ONLY);
      productionApp = buildApp(PRODUCTION);
      const pipeline = buildPipeline(database, { maxAttempts: 1, onFinalInTransaction: enqueuePaymentEvents });
      pay = (merchantId, card = CARDS.visa) => pipeline.pay(card, merchantId);
    });
    afterAll(async () => {
      await database.drop();
    });
    beforeEach(async () => {
      await database.db.execute(sql`truncate webhook_events, webhook_endpoints cascade`);
    });

    it("PUT registers the endpoint and shows its secret once; GET never shows it; PUT again rotates it", async () => {
      const first = await put("https://shop.example.com/hooks");
      expect(first.status).toBe(200);
      const created = (await first.json()) as { url: string; secret: string; createdAt: string };
      expect(created).toEqual({ url: "https://shop.example.com/hooks", secret: expect.stringMatching(/^whsec_/), createdAt: expect.any(String) });

      const shown = await call("GET", "/v1/webhook-endpoint");
      expect(shown.status).toBe(200);
      expect(await shown.json()).toEqual({ url: "https://shop.example.com/hooks", createdAt: created.createdAt, ...ENABLED });

      const rotated = (await (await put("https://shop.example.com/v2/hooks")).json()) as { url: string; secret: string };
      expect(rotated.url).toBe("https://shop.example.com/v2/hooks");
      expect(rotated.secret).not.toBe(created.secret);
      expect(((await (await call("GET", "/v1/webhook-endpoint")).json()) as { url: string }).url).toBe("https://shop.example.com/v2/hooks");
      // One endpoint per merchant, and each merchant its own.
      expect((await call("GET", "/v1/webhook-endpoint", { key: KEY_B })).status).toBe(404);
    });

    it("answers 422 naming the field for URLs that are not http(s), carry credentials or point into private networks", async () => {
      const cases: [unknown, string][] = [
        ["ftp://shop.example.com/hooks", "unsupported_scheme"],
        ["javascript:alert(1)", "unsupported_scheme"],
        ["not a url", "invalid_url"],
        ["/relative/path", "invalid_url"],
        [42, "invalid_type"],
        [undefined, "required"],
        [`https://shop.example.com/${"a".repeat(2100)}`, "too_long"],
        ["https://user:pass@shop.example.com/hooks", "credentials_not_allowed"],
        ["https://10.0.0.8/hooks", "private_address_not_allowed"],
        ["https://192.168.1.20/hooks", "private_address_not_allowed"],
        ["https://169.254.169.254/latest/meta-data", "private_address_not_allowed"],
        ["https://metadata.google.internal/computeMetadata/v1/", "private_address_not_allowed"],
        ["https://[fd00::1]/hooks", "private_address_not_allowed"],
        ["https://[::ffff:10.0.0.1]/hooks", "private_address_not_allowed"],
        ["https://[64:ff9b::a00:1]/hooks", "private_address_not_allowed"],
        ["https://[2002:a00:1::1]/hooks", "private_address_not_allowed"],
        ["https://localhost./hooks", "loopback_not_allowed"],
        ["https://0x7f.1/hooks", "loopback_not_allowed"],
      ];
      for (const on of [publicOnlyApp, productionApp])
        for (const [url, code] of cases) {
          const res = await put(url, { on });
          const body = (await res.json()) as { title: string; errors: { field: string; code: string; message: string }[] };
          expect({ url, status: res.status, type: res.headers.get("content-type"), title: body.title, errors: body.errors }).toEqual({
            url,
            status: 422,
            type: "application/problem+json",
            title: "Invalid webhook endpoint",
            errors: [{ field: "url", code, message: expect.any(String) }],
          });
        }
      expect((await call("GET", "/v1/webhook-endpoint")).status).toBe(404);
    });

    it("takes only https URLs in production", async () => {
      const refused = await put("http://shop.example.com/hooks", { on: productionApp });
      expect(refused.status).toBe(422);
      expect(((await refused.json()) as { errors: unknown[] }).errors).toEqual([{ field: "url", code: "https_required", message: expect.any(String) }]);
      expect((await put("https://shop.example.com/hooks", { on: productionApp })).status).toBe(200);
      expect((await put("http://shop.example.com/hooks", { on: publicOnlyApp })).status).toBe(200);
    });

    it("accepts loopback and private URLs only where private networks are allowed (never in production)", async () => {
      for (const url of ["http://127.0.0.1:9000/hooks", "http://localhost/hooks", "http://[::1]/hooks", "http://2130706433/hooks", "http://10.1.2.3/hooks", "http://receiver:8080/hooks"]) {
        for (const on of [publicOnlyApp, productionApp]) {
          const refused = await put(url.replace("http:", "https:"), { on });
          expect({ url, status: refused.status, code: ((await refused.json()) as { errors: { code: string }[] }).errors[0]?.code }).toEqual({
            url,
            status: 422,
            code: url.includes("10.1.2.3") || url.includes("receiver") ? "private_address_not_allowed" : "loopback_not_allowed",
          });
        }
        expect((await put(url)).status).toBe(200);
      }
    });

    it("answers 400 to a body that is not JSON, 413 to an oversized one and 401 without a valid key", async () => {
      expect((await call("PUT", "/v1/webhook-endpoint", { body: "url=https://x.example", contentType: "application/x-www-form-urlencoded" })).status).toBe(400);
      expect((await call("PUT", "/v1/webhook-endpoint", { body: "{not json" })).status).toBe(400);
      expect((await call("PUT", "/v1/webhook-endpoint", { body: JSON.stringify({ url: "https://x.example/", pad: "x".repeat(10_000) }) })).status).toBe(413);
      for (const [method, path] of [
        ["PUT", "/v1/webhook-endpoint"],
        ["GET", "/v1/webhook-endpoint"],
        ["DELETE", "/v1/webhook-endpoint"],
        ["GET", "/v1/webhook-events"],
        ["GET", "/v1/webhook-events/evt_x/deliveries"],
      ] as const) {
        expect((await call(method, path, { key: null, body: method === "PUT" ? "{}" : undefined })).status).toBe(401);
        expect((await call(method, path, { key: "sk_unknown_key_123", body: method === "PUT" ? "{}" : undefined })).status).toBe(401);
      }
    });

    it("DELETE removes the endpoint (204, then 404) and gives up the deliveries still pending", async () => {
      await put("https://shop.example.com/hooks");
      const payment = await pay("wa");
      const deleted = await call("DELETE", "/v1/webhook-endpoint");
      expect(deleted.status).toBe(204);
      expect(await deleted.text()).toBe("");
      expect((await call("GET", "/v1/webhook-endpoint")).status).toBe(404);
      expect((await call("DELETE", "/v1/webhook-endpoint")).status).toBe(404);
      const list = (await (await call("GET", `/v1/webhook-events?paymentId=${payment.id}`)).json()) as { data: { delivery: object }[] };
      expect(list.data[0]?.delivery).toMatchObject({ status: "failed", lastError: "the webhook endpoint was deleted", nextAttemptAt: null });
      // With no endpoint, later payments record no events.
      await pay("wa");
      expect(((await (await call("GET", "/v1/webhook-events")).json()) as { data: unknown[] }).data).toHaveLength(1);
    });

    it("shows a disabled endpoint as such; POST /v1/webhook-endpoint/enable (or a new URL) enables it; each merchant only its own", async () => {
      expect((await call("POST", "/v1/webhook-endpoint/enable")).status).toBe(404);
      await put("https://shop.example.com/hooks");
      await database.db
        .update(webhookEndpoints)
        .set({ failingSince: sql`now() - interval '4 days'`, disabledAt: sql`now()`, disabledReason: "every delivery attempt failed for more than 3 days (last: timeout)" })
        .where(eq(webhookEndpoints.merchantId, "wa"));
      const shown = (await (await call("GET", "/v1/webhook-endpoint")).json()) as Record<string, unknown>;
      expect(shown).toMatchObject({ status: "disabled", disabledReason: "every delivery attempt failed for more than 3 days (last: timeout)" });
      expect(Date.parse(shown.disabledAt as string)).toBeGreaterThan(Date.parse(shown.failingSince as string));
      // New events are recorded, with a delivery that is not attempted.
      await pay("wa");
      const events = (await (await call("GET", "/v1/webhook-events")).json()) as { data: { delivery: object }[] };
      expect(events.data[0]!.delivery).toMatchObject({ status: "failed", attempts: 0, lastError: "the webhook endpoint is disabled" });

      // Another merchant cannot enable it (it has none of its own).
      expect((await call("POST", "/v1/webhook-endpoint/enable", { key: KEY_B })).status).toBe(404);
      const enabled = await call("POST", "/v1/webhook-endpoint/enable");
      expect(enabled.status).toBe(200);
      expect(await enabled.json()).toEqual({ url: "https://shop.example.com/hooks", createdAt: shown.createdAt, ...ENABLED });
      // Enabling an enabled endpoint changes nothing.
      expect((await call("POST", "/v1/webhook-endpoint/enable")).status).toBe(200);

      // A new URL is a fresh start too.
      await database.db.update(webhookEndpoints).set({ failingSince: sql`now()`, disabledAt: sql`now()`, disabledReason: "x" }).where(eq(webhookEndpoints.merchantId, "wa"));
      expect((await put("https://shop.example.com/v2/hooks")).status).toBe(200);
      expect(await (await call("GET", "/v1/webhook-endpoint")).json()).toMatchObject(ENABLED);
    });

    it("lists a merchant's events newest first with their delivery state, by payment, a page at a time", async () => {
      await put("https://shop.example.com/hooks");
      await put("https://other.example.com/hooks", { key: KEY_B });
      const payments = [await pay("wa"), await pay("wa", CARDS.insufficientFunds), await pay("wa")];
      await pay("wb");
      type Page = { data: { id: string; type: string; paymentId: string; data: { payment: { id: string } }; delivery: { status: string } }[]; hasMore: boolean };
      const all = (await (await call("GET", "/v1/webhook-events")).json()) as Page;
      expect(all.data.map((e) => e.paymentId)).toEqual(payments.map((p) => p.id).reverse());
      expect(all.data.map((e) => e.type)).toEqual(["payment.completed", "payment.failed", "payment.completed"]);
      expect(all.data.every((e) => e.delivery.status === "pending" && e.data.payment.id === e.paymentId)).toBe(true);
      expect(all.hasMore).toBe(false);

      const first = (await (await call("GET", "/v1/webhook-events?limit=2")).json()) as Page;
      expect(first.data.map((e) => e.id)).toEqual(all.data.slice(0, 2).map((e) => e.id));
      expect(first.hasMore).toBe(true);
      const second = (await (await call("GET", `/v1/webhook-events?limit=2&startingAfter=${first.data[1]!.id}`)).json()) as Page;
      expect(second.data.map((e) => e.id)).toEqual([all.data[2]!.id]);
      expect(second.hasMore).toBe(false);

      const one = (await (await call("GET", `/v1/webhook-events?paymentId=${payments[1]!.id}`)).json()) as Page;
      expect(one.data.map((e) => e.type)).toEqual(["payment.failed"]);
      const invalid = await call("GET", "/v1/webhook-events?limit=0&paymentId=nope");
      expect(invalid.status).toBe(422);
      const problem = (await invalid.json()) as { title: string; errors: { field: string }[] };
      expect(problem.title).toBe("Invalid query parameters");
      expect(problem.errors.map((e) => e.field)).toEqual(["paymentId", "limit"]);
    });

    it("shows an event's delivery log to its merchant only: another merchant's event id is 404", async () => {
      const receiver = startReceiver((n) => new Response(null, { status: n === 1 ? 502 : 204 }));
      try {
        receiver.state.secret = (await ((await put(receiver.url)).json() as Promise<{ secret: string }>)).secret;
        await pay("wa");
        const worker = createWebhookDispatcher(database.db, silentLogger, {
          secrets,
          pollIntervalMs: 20,
          leaseMs: 2_000,
          retryBaseMs: 20,
          maxAgeMs: 60_000,
          timeoutMs: 500,
          destinations: LOCAL_RECEIVERS,
        });
        worker.start();
        await waitFor(() => receiver.received.length === 2);
        await worker.stop();
        const [event] = ((await (await call("GET", "/v1/webhook-events")).json()) as { data: { id: string }[] }).data;
        const res = await call("GET", `/v1/webhook-events/${event!.id}/deliveries`);
        expect(res.status).toBe(200);
        const log = (await res.json()) as { data: Record<string, unknown>[] };
        expect(log.data).toEqual([
          { attempt: 1, attemptedAt: expect.any(String), url: receiver.url, statusCode: 502, error: null, durationMs: expect.any(Number) },
          { attempt: 2, attemptedAt: expect.any(String), url: receiver.url, statusCode: 204, error: null, durationMs: expect.any(Number) },
        ]);
        expect(receiver.received.every((r) => r.signatureOk)).toBe(true);

        const foreign = await call("GET", `/v1/webhook-events/${event!.id}/deliveries`, { key: KEY_B });
        expect(foreign.status).toBe(404);
        expect(foreign.headers.get("content-type")).toBe("application/problem+json");
        expect((await call("GET", "/v1/webhook-events/evt_00000000000000000000000000/deliveries")).status).toBe(404);
        expect(((await (await call("GET", "/v1/webhook-events", { key: KEY_B })).json()) as { data: unknown[] }).data).toHaveLength(0);
      } finally {
        receiver.stop();
      }
    });
  });
}
