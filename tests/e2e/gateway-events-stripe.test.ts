import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type Delivery, type FakeStripe, type StripeEvent, startFakeStripe } from "../support/fake-stripe";
import { startMerchantReceiver, waitFor } from "../support/merchant-receiver";
import { CARDS, paymentBody } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

const OTHER_KEY = "sk_test_other_merchant";
/** On a shared, loaded machine a start (migrations on PGlite) can take longer than startService's default. */
const START_TIMEOUT_MS = 90_000;

type View = Record<string, unknown> & { id: string; status: string };

/**
 * Stripe's webhook events through the real program (docs/CONTRACT.md §10), against a local fake of
 * Stripe's API that signs and delivers events as Stripe does: a forged delivery changes nothing,
 * a redelivery has one effect, a validly signed body that disagrees with Stripe's record changes
 * nothing, and what Stripe's record says (a late refund failure, a dispute's life) reaches the
 * payment and the merchant's webhooks.
 */
describe("Stripe events through the real program (GATEWAY=stripe against a local fake of Stripe)", () => {
  let fake: FakeStripe;
  let service: ServiceProcess;
  let receiver: ReturnType<typeof startMerchantReceiver>;

  const call = (path: string, init: RequestInit & { key?: string } = {}) =>
    fetch(`${service.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${init.key ?? "sk_test_local"}`, "content-type": "application/json", ...init.headers },
    });
  const read = async (path: string): Promise<View> => (await (await call(path)).json()) as View;

  const statusOf = (path: string, statuses: string[]) =>
    waitFor(`${path} to be ${statuses.join("|")}`, async () => {
      const view = await read(path);
      return statuses.includes(view.status) ? view : undefined;
    });
  const eventsOf = (subjectId: string) => receiver.typesAbout(subjectId);

  /** A COMPLETED payment of 1999 USD. */
  async function completedPayment(): Promise<View & { gatewayReference: string }> {
    const created = (await (await call("/v1/payments", { method: "POST", body: JSON.stringify(paymentBody(CARDS.visa)) })).json()) as View;
    return (await statusOf(`/v1/payments/${created.id}`, ["COMPLETED"])) as View & { gatewayReference: string };
  }

  /** A SUCCEEDED refund of `amount` of a new COMPLETED payment. */
  async function succeededRefund(amount = 500): Promise<{ payment: View; refund: View & { gatewayReference: string } }> {
    const payment = await completedPayment();
    const refund = (await (await call(`/v1/payments/${payment.id}/refunds`, { method: "POST", body: JSON.stringify({ amount }) })).json()) as View;
    return { payment, refund: (await statusOf(`/v1/refunds/${refund.id}`, ["SUCCEEDED"])) as View & { gatewayReference: string } };
  }

  /** The sum of the paystream_gateway_events_total series whose labels include `labels`. */
  const metric = async (labels: string) => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    const lines = text.split("\n").filter((l) => l.startsWith("paystream_gateway_events_total{") && l.includes(labels));
    return lines.reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
  };

  beforeAll(async () => {
    fake = await startFakeStripe();
    receiver = startMerchantReceiver();
    service = await startService({
      role: "all",
      env: {
        DATABASE_URL: "pglite://memory",
        API_KEYS: `local:sk_test_local,other:${OTHER_KEY}`,
        GATEWAY: "stripe",
        STRIPE_SECRET_KEY: fake.secretKey,
        STRIPE_API_BASE: fake.url,
        STRIPE_WEBHOOK_SECRET: fake.webhookSecret,
        GATEWAY_TIMEOUT_MS: "1000",
        MAX_ATTEMPTS: "1",
        // An unknown outcome is first looked up an hour later, unless an event brings the look-up forward.
        RECONCILE_FIRST_CHECK_MS: "3600000",
        RECONCILE_INTERVAL_MS: "60000",
        WEBHOOK_RETRY_BASE_MS: "200",
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
        RATE_LIMIT_RPS: "0",
      },
      timeoutMs: START_TIMEOUT_MS,
    });
    fake.setWebhookUrl(`${service.url}/v1/gateway-events/stripe`);
    const endpoint = await call("/v1/webhook-endpoint", { method: "PUT", body: JSON.stringify({ url: receiver.url }) });
    receiver.useSecret(((await endpoint.json()) as { secret: string }).secret);
  }, START_TIMEOUT_MS + 10_000);
  afterAll(async () => {
    await service?.stop();
    receiver?.stop();
    await fake?.stop();
  });

  it("refuses a delivery without a valid signature with 400 and changes nothing", async () => {
    const { payment, refund } = await succeededRefund();
    const stripeRefund = fake.refundsFor(payment.id)[0]!;
    // A body claiming the refund failed, sent in every way that is not Stripe's.
    const event = { id: "evt_forged_1", object: "event", type: "refund.failed", data: { object: { ...stripeRefund, status: "failed" } } };
    const body = JSON.stringify(event);
    const now = Math.floor(Date.now() / 1000);
    const forged: [string, string | null][] = [
      ["no signature", null],
      ["another secret", fake.sign(body, { secret: "whsec_not_the_endpoints_secret" })],
      ["outside the 5-minute tolerance", fake.sign(body, { timestamp: now - 301 })],
      ["a body changed after signing", fake.sign(JSON.stringify({ ...event, id: "evt_other" }))],
      ["garbage", "t=abc,v1=zz"],
    ];
    for (const [why, signature] of forged) {
      const answer = await fake.deliverRaw(body, signature);
      expect({ why, status: answer.status, code: (answer.body as { code?: string }).code }).toEqual({ why, status: 400, code: "invalid_signature" });
    }
    expect((await read(`/v1/refunds/${refund.id}`)).status).toBe("SUCCEEDED");
    expect((await read(`/v1/payments/${payment.id}`)).amountRefunded).toBe(500);
    expect(await metric('result="invalid_signature"')).toBeGreaterThanOrEqual(forged.length);
  });

  it("fails a refund Stripe failed after it had succeeded: FAILED, its amount refundable again, refund.failed sent once however often the event comes", async () => {
    const { payment, refund } = await succeededRefund(700);
    expect((await read(`/v1/payments/${payment.id}`)).amountRefunded).toBe(700);
    const delivered = await fake.failRefund(refund.gatewayReference);
    expect(delivered).toEqual({ status: 200, body: { received: true, result: "applied" } });

    const failed = await read(`/v1/refunds/${refund.id}`);
    expect(failed).toMatchObject({ status: "FAILED", failureCode: "refund_failed", completedAt: expect.any(String) });
    expect(failed.failureMessage).toContain("expired_or_canceled_card");
    expect((await read(`/v1/payments/${payment.id}`)).amountRefunded).toBe(0);

    // Stripe retries: the same event again, freshly signed, and again.
    const event = fake.events.at(-1) as StripeEvent;
    for (let i = 0; i < 2; i++) expect(await fake.redeliver(event)).toEqual({ status: 200, body: { received: true, result: "duplicate" } });
    await waitFor("refund.failed at the merchant", async () => (eventsOf(refund.id).includes("refund.failed") ? true : undefined));
    await Bun.sleep(500);
    expect(eventsOf(refund.id)).toEqual(["refund.failed", "refund.succeeded"]);
    // What failed is refundable again.
    const again = await call(`/v1/payments/${payment.id}/refunds`, { method: "POST", body: JSON.stringify({ amount: 1999 }) });
    expect(again.status).toBe(202);
  });

  it("changes nothing for a validly signed event whose body disagrees with Stripe's own record", async () => {
    const { payment, refund } = await succeededRefund(300);
    const record = fake.refundsFor(payment.id)[0]!;
    // Stripe's record says succeeded; the (signed) body says failed.
    const lying = await fake.sendEvent("refund.failed", { ...record, status: "failed", failure_reason: "lost_or_stolen_card" });
    expect(lying).toEqual({ status: 200, body: { received: true, result: "unchanged" } });
    expect((await read(`/v1/refunds/${refund.id}`)).status).toBe("SUCCEEDED");
    expect((await read(`/v1/payments/${payment.id}`)).amountRefunded).toBe(300);
    // A dispute "closed as lost" in a body, about a dispute Stripe has never heard of: ignored.
    const invented = await fake.sendEvent("charge.dispute.closed", {
      id: "dp_invented",
      object: "dispute",
      amount: 1999,
      currency: "usd",
      payment_intent: payment.gatewayReference,
      status: "lost",
      reason: "fraudulent",
    });
    expect(invented).toEqual({ status: 200, body: { received: true, result: "ignored" } });
    expect(await (await call(`/v1/payments/${payment.id}/disputes`)).json()).toEqual({ data: [], hasMore: false });
    expect((await read(`/v1/payments/${payment.id}`)).amountDisputed).toBe(0);
  });

  it("acknowledges and counts events about objects paystream did not create, or types it does not act on", async () => {
    const before = await metric('result="ignored"');
    const answers: Delivery[] = [
      await fake.sendEvent("refund.updated", { id: "re_not_ours", object: "refund", status: "failed", amount: 100, currency: "usd", metadata: {} }),
      await fake.sendEvent("payment_intent.succeeded", { id: "pi_not_ours", object: "payment_intent", status: "succeeded", metadata: {} }),
      await fake.sendEvent("customer.created", { id: "cus_1", object: "customer" }),
    ];
    for (const answer of answers) expect(answer).toEqual({ status: 200, body: { received: true, result: "ignored" } });
    expect(await metric('result="ignored"')).toBe(before + answers.length);
    expect(await metric('type="customer.created",result="ignored"')).toBe(1);
  });

  it("follows a dispute from created to closed by Stripe's record, with dispute.created, .updated and .closed sent once each", async () => {
    const payment = await completedPayment();
    const { dispute: stripeDispute, delivery } = await fake.openDispute(payment.gatewayReference, { reason: "product_not_received" });
    expect(delivery).toEqual({ status: 200, body: { received: true, result: "applied" } });

    const list = (await (await call(`/v1/payments/${payment.id}/disputes`)).json()) as { data: View[]; hasMore: boolean };
    expect(list.hasMore).toBe(false);
    expect(list.data).toEqual([
      {
        id: expect.stringMatching(/^dp_[0-9a-z]{26}$/),
        paymentId: payment.id,
        amount: 1999,
        currency: "USD",
        reason: "product_not_received",
        status: "needs_response",
        evidenceDueBy: new Date(Number((stripeDispute.evidence_details as { due_by: number }).due_by) * 1000).toISOString(),
        gatewayReference: stripeDispute.id,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    ]);
    const disputeId = list.data[0]!.id;
    expect((await read(`/v1/payments/${payment.id}`)).amountDisputed).toBe(1999);
    expect(await read(`/v1/disputes/${disputeId}`)).toEqual(list.data[0]!);
    // Merchant-scoped: another merchant's key sees nothing.
    expect((await call(`/v1/disputes/${disputeId}`, { key: OTHER_KEY })).status).toBe(404);
    expect((await call(`/v1/payments/${payment.id}/disputes`, { key: OTHER_KEY })).status).toBe(404);

    const created = fake.events.at(-1) as StripeEvent;
    expect(await fake.updateDispute(stripeDispute.id, "under_review")).toEqual({ status: 200, body: { received: true, result: "applied" } });
    expect((await read(`/v1/disputes/${disputeId}`)).status).toBe("under_review");
    // Out of order: the creation's event again (Stripe's retry), and a new event whose body is stale.
    expect(await fake.redeliver(created)).toEqual({ status: 200, body: { received: true, result: "duplicate" } });
    expect(await fake.sendEvent("charge.dispute.updated", { ...stripeDispute, status: "needs_response" })).toEqual({
      status: 200,
      body: { received: true, result: "unchanged" },
    });
    expect((await read(`/v1/disputes/${disputeId}`)).status).toBe("under_review");

    expect(await fake.updateDispute(stripeDispute.id, "won")).toEqual({ status: 200, body: { received: true, result: "applied" } });
    expect((await read(`/v1/disputes/${disputeId}`)).status).toBe("won");
    expect((await read(`/v1/payments/${payment.id}`)).amountDisputed).toBe(0);
    // A closed dispute stays closed, whatever a later body says.
    expect(await fake.sendEvent("charge.dispute.updated", { ...stripeDispute, status: "needs_response" })).toMatchObject({ status: 200 });
    expect((await read(`/v1/disputes/${disputeId}`)).status).toBe("won");

    await waitFor("dispute.closed at the merchant", async () => (eventsOf(disputeId).includes("dispute.closed") ? true : undefined));
    await Bun.sleep(500);
    expect(eventsOf(disputeId)).toEqual(["dispute.closed", "dispute.created", "dispute.updated"]);
    const closed = receiver.received.find((e) => e.type === "dispute.closed" && e.data.dispute?.id === disputeId);
    expect(closed?.data.dispute).toMatchObject({ status: "won", paymentId: payment.id });
  });

  it("keeps a lost dispute's amount on the payment, and shows disputes in /metrics", async () => {
    const payment = await completedPayment();
    const { dispute } = await fake.openDispute(payment.gatewayReference, { amount: 1500 });
    expect(await fake.updateDispute(dispute.id, "lost")).toEqual({ status: 200, body: { received: true, result: "applied" } });
    const [shown] = ((await (await call(`/v1/payments/${payment.id}/disputes`)).json()) as { data: View[] }).data;
    expect(shown).toMatchObject({ status: "lost", amount: 1500 });
    expect((await read(`/v1/payments/${payment.id}`)).amountDisputed).toBe(1500);
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toContain('paystream_disputes{status="lost"} 1');
    expect(text).toContain('paystream_disputes{status="won"} 1');
  });

  it("settles an unknown outcome at once when Stripe tells of the PaymentIntent, instead of at the first scheduled look-up an hour away", async () => {
    // The charge is made, but neither its answer, nor its replay's, nor the search's reaches paystream.
    fake.failNext(3, "timeout-after-commit");
    const created = (await (await call("/v1/payments", { method: "POST", body: JSON.stringify(paymentBody(CARDS.visa)) })).json()) as View;
    const unknown = await waitFor("the outcome to be unknown", async () => {
      const view = await read(`/v1/payments/${created.id}`);
      return view.outcome === "unknown" && view.nextCheckAt !== null ? view : undefined;
    });
    expect(unknown.status).toBe("PROCESSING");
    expect(Date.parse(String(unknown.nextCheckAt)) - Date.now()).toBeGreaterThan(30 * 60_000);

    const [intent] = fake.intentsFor(created.id);
    expect(await fake.sendEvent("payment_intent.succeeded", intent!)).toEqual({ status: 200, body: { received: true, result: "applied" } });
    const settled = await statusOf(`/v1/payments/${created.id}`, ["COMPLETED", "FAILED"]);
    expect(settled).toMatchObject({ status: "COMPLETED", gatewayReference: intent!.id, outcome: null });
    expect(fake.chargesFor(created.id)).toBe(1);
    // A settled payment has nothing left to look up: the event again changes nothing.
    expect(await fake.sendEvent("payment_intent.succeeded", intent!)).toEqual({ status: 200, body: { received: true, result: "unchanged" } });
  });

  it("documents the routes in OpenAPI: the gateway events without an API key, the disputes with one", async () => {
    const spec = (await (await fetch(`${service.url}/docs/json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    expect(spec.paths["/v1/gateway-events/stripe"]?.post?.security).toEqual([]);
    expect(spec.paths["/v1/gateway-events/paypal"]?.post?.security).toEqual([]);
    expect(spec.paths["/v1/disputes/{id}"]?.get).toBeDefined();
    expect(spec.paths["/v1/payments/{id}/disputes"]?.get).toBeDefined();
  });

  // Last: it leaves this host throttled.
  it("throttles a client that keeps sending bad signatures, as it throttles wrong API keys: 429 with Retry-After, before verifying", async () => {
    const body = JSON.stringify({ id: "evt_flood", object: "event", type: "refund.failed", data: { object: { id: "re_x", object: "refund" } } });
    const answers: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${service.url}/v1/gateway-events/stripe`, {
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": fake.sign(body, { secret: "whsec_wrong" }) },
        body,
      });
      answers.push(response.status);
      retryAfter ??= response.headers.get("retry-after");
    }
    expect(answers.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    expect(answers.at(-1)).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });
});
