import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { Elysia } from "elysia";
import { ApiKeyAuthenticator, RateLimiter } from "../../modules/auth";
import { createPostgresQueue, enqueueDeadLetter, outbox } from "../../modules/broker";
import {
  createDashboardService,
  createDashboardSessions,
  type DashboardFrame,
  type DashboardService,
  dashboardRoutes,
  loadDashboardSnapshot,
} from "../../modules/dashboard";
import type { Database } from "../../modules/database";
import { createMerchantGuard, Problem } from "../../modules/http";
import { gatewayEvents } from "../../modules/gateway-events";
import { type DisputeStatus, newRefundId, type PaymentStatus, payments, recordDispute, refunds } from "../../modules/payments";
import { CardVault } from "../../modules/vault";
import { cookieHeaderOf, signInRequest } from "../support/dashboard";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { silentLogger } from "../support/harness";

const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * A payment id made at `ms`. newPaymentId cannot go back in time (it stays monotonic within the
 * process), and these tests need payments created minutes ago.
 */
function paymentIdAt(ms: number): string {
  let time = "";
  for (let t = ms, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const random = [...randomBytes(16)].map((b) => CROCKFORD[b % 32]).join("");
  return `pay_${time}${random}`;
}

interface Seed {
  merchantId: string;
  status: PaymentStatus;
  /** Seconds before now the payment was created. */
  createdAgo: number;
  /** Milliseconds from creation to the final state (final statuses only). */
  latencyMs?: number;
  failureCode?: string;
  amount?: number;
  currency?: string;
}

async function seed(db: Database, rows: Seed[]): Promise<{ id: string; completedAt: Date | null }[]> {
  const now = Date.now();
  const values = rows.map((r) => {
    const createdAt = new Date(now - r.createdAgo * 1000);
    const completedAt = r.latencyMs === undefined ? null : new Date(createdAt.getTime() + r.latencyMs);
    return {
      id: paymentIdAt(createdAt.getTime()),
      merchantId: r.merchantId,
      status: r.status,
      amount: r.amount ?? 1999,
      currency: r.currency ?? "USD",
      cardBrand: "visa",
      cardLast4: "4242",
      cardExpMonth: 12,
      cardExpYear: 2030,
      cardFingerprint: "fp_test",
      customerEmail: "jane@example.com",
      customerName: "Jane Doe",
      gateway: "simulator",
      failureCode: r.failureCode ?? null,
      failureMessage: r.failureCode ? "declined" : null,
      attempts: r.latencyMs === undefined ? 0 : 1,
      createdAt,
      updatedAt: completedAt ?? createdAt,
      completedAt,
    };
  });
  await db.insert(payments).values(values);
  return values.map((v) => ({ id: v.id, completedAt: v.completedAt }));
}

const final = (merchantId: string, status: "COMPLETED" | "FAILED", createdAgo: number, latencyMs: number, failureCode?: string): Seed => ({
  merchantId,
  status,
  createdAgo,
  latencyMs,
  failureCode,
});

for (const backend of BACKENDS) {
  describe(`dashboard snapshot [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    it("counts the merchant's payments in flight now and those finalized in the last 5 minutes, and only that merchant's", async () => {
      await seed(database.db, [
        { merchantId: "counts", status: "PENDING", createdAgo: 1 },
        // In flight for an hour (a stuck payment): still in flight.
        { merchantId: "counts", status: "PENDING", createdAgo: 3600 },
        { merchantId: "counts", status: "PROCESSING", createdAgo: 3 },
        { merchantId: "counts", status: "AUTHORIZED", createdAgo: 90 },
        { merchantId: "counts", status: "CANCELED", createdAgo: 100, latencyMs: 5_000 },
        final("counts", "COMPLETED", 30, 100),
        final("counts", "COMPLETED", 60, 100),
        final("counts", "FAILED", 200, 100, "card_declined"),
        // Finalized before the window.
        final("counts", "COMPLETED", 3600, 100),
        final("counts", "FAILED", 400, 90_000, "card_declined"),
        final("counts-other", "COMPLETED", 30, 100),
        { merchantId: "counts-other", status: "PENDING", createdAgo: 1 },
      ]);
      const snapshot = await loadDashboardSnapshot(database.db, "counts");
      expect(snapshot.merchantId).toBe("counts");
      expect(snapshot.counts).toEqual({ PENDING: 2, PROCESSING: 1, REQUIRES_ACTION: 0, AUTHORIZED: 1, COMPLETED: 2, FAILED: 1, CANCELED: 1 });
      const empty = await loadDashboardSnapshot(database.db, "nobody");
      expect(empty.counts).toEqual({ PENDING: 0, PROCESSING: 0, REQUIRES_ACTION: 0, AUTHORIZED: 0, COMPLETED: 0, FAILED: 0, CANCELED: 0 });
      expect(empty.recent).toEqual([]);
      expect(empty.series.every((b) => b.completed === 0 && b.failed === 0 && b.p50Ms === null)).toBe(true);
      expect(empty.window).toEqual({ perSecondLastMinute: 0, p50Ms: null, p95Ms: null });
    });

    it("computes throughput and POST→final latency percentiles over the last 5 minutes in 10 s buckets", async () => {
      const m = "window";
      const inWindow = await seed(database.db, [
        final(m, "COMPLETED", 20, 100),
        final(m, "COMPLETED", 20, 200),
        final(m, "COMPLETED", 20, 300),
        final(m, "FAILED", 20, 400, "insufficient_funds"),
        final(m, "FAILED", 20, 500, "card_declined"),
        // Both finish 149 s ago, in one bucket.
        final(m, "COMPLETED", 150, 1_000),
        final(m, "FAILED", 152, 3_000, "card_declined"),
      ]);
      await seed(database.db, [
        // Finished 6 minutes ago: before the window.
        final(m, "COMPLETED", 400, 40_000),
        // Not finished: no latency yet.
        { merchantId: m, status: "PROCESSING", createdAgo: 5 },
        // Another merchant's payments never show.
        final("window-other", "FAILED", 20, 50, "stolen_card"),
      ]);

      const snapshot = await loadDashboardSnapshot(database.db, m);

      expect(snapshot.windowSeconds).toBe(300);
      expect(snapshot.bucketSeconds).toBe(10);
      expect(snapshot.counts).toEqual({ PENDING: 0, PROCESSING: 1, REQUIRES_ACTION: 0, AUTHORIZED: 0, COMPLETED: 4, FAILED: 3, CANCELED: 0 });
      // percentile_cont over 100, 200, 300, 400, 500, 1000, 3000 ms.
      expect(snapshot.window.p50Ms).toBe(400);
      expect(snapshot.window.p95Ms).toBe(2400);

      expect(snapshot.series).toHaveLength(30);
      const starts = snapshot.series.map((b) => Date.parse(b.start));
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBe(10_000);
      expect(starts[0]! % 10_000).toBe(0);
      const bucketOf = (at: Date) => snapshot.series.findIndex((b) => Date.parse(b.start) <= at.getTime() && at.getTime() < Date.parse(b.start) + 10_000);
      const expected = new Map<number, number>();
      for (const p of inWindow) {
        const index = bucketOf(p.completedAt!);
        expect(index).toBeGreaterThanOrEqual(0);
        expected.set(index, (expected.get(index) ?? 0) + 1);
      }
      snapshot.series.forEach((bucket, i) => expect({ i, n: bucket.completed + bucket.failed }).toEqual({ i, n: expected.get(i) ?? 0 }));
      expect(snapshot.series[bucketOf(inWindow[5]!.completedAt!)]).toMatchObject({
        completed: 1,
        failed: 1,
        perSecond: 0.2,
        p50Ms: 2000,
        p95Ms: 2900,
      });
      // The last minute is the last 6 buckets (50–60 s so far) and holds the 5 payments finished ~20 s ago.
      expect(snapshot.window.perSecondLastMinute).toBeGreaterThanOrEqual(0.08);
      expect(snapshot.window.perSecondLastMinute).toBeLessThanOrEqual(0.1);

      expect(snapshot.failureCodes).toEqual([
        { code: "card_declined", count: 2 },
        { code: "insufficient_funds", count: 1 },
      ]);
    });

    it("leaves out of the window a payment created more than 15 minutes before it finished, but lists it", async () => {
      await seed(database.db, [final("horizon", "FAILED", 16 * 60, 16 * 60 * 1000 - 30_000, "gateway_unavailable")]);
      const snapshot = await loadDashboardSnapshot(database.db, "horizon");
      expect(snapshot.counts.FAILED).toBe(0);
      expect(snapshot.failureCodes).toEqual([]);
      expect(snapshot.recent.map((p) => p.failureCode)).toEqual(["gateway_unavailable"]);
    });

    it("lists the 20 newest payments, newest first, with each currency's decimals and no card data beyond brand and last 4", async () => {
      const m = "recent";
      const seeds: Seed[] = [];
      for (let i = 0; i < 22; i++) seeds.push({ merchantId: m, status: "PENDING", createdAgo: 100 - i, amount: 1000 + i });
      seeds.push(final(m, "COMPLETED", 3, 50));
      seeds[seeds.length - 1]!.currency = "JPY";
      seeds.push(final(m, "FAILED", 2, 50, "lost_card"));
      seeds[seeds.length - 1]!.currency = "KWD";
      const ids = (await seed(database.db, seeds)).map((p) => p.id);
      await seed(database.db, [{ merchantId: "recent-other", status: "PENDING", createdAgo: 1 }]);

      const { recent } = await loadDashboardSnapshot(database.db, m);

      expect(recent.map((p) => p.id)).toEqual(ids.slice(-20).reverse());
      expect(recent[0]).toMatchObject({ currency: "KWD", exponent: 3, status: "FAILED", failureCode: "lost_card", brand: "visa", last4: "4242" });
      expect(recent[1]).toMatchObject({ currency: "JPY", exponent: 0, status: "COMPLETED", failureCode: null });
      expect(recent[2]).toMatchObject({ currency: "USD", exponent: 2, amount: 1021, status: "PENDING", completedAt: null });
      expect(Object.keys(recent[0]!).sort()).toEqual(
        ["amount", "brand", "completedAt", "createdAt", "currency", "exponent", "failureCode", "id", "last4", "status"].sort(),
      );
    });

    it("lists the payments that need attention: the gateway has not said whether it charged them, oldest unknown first", async () => {
      const m = "attention";
      const seeded = await seed(database.db, [
        { merchantId: m, status: "PROCESSING", createdAgo: 120, currency: "JPY", amount: 500 },
        { merchantId: m, status: "PROCESSING", createdAgo: 60 },
        { merchantId: m, status: "PROCESSING", createdAgo: 30 },
        { merchantId: `${m}-other`, status: "PROCESSING", createdAgo: 30 },
      ]);
      const [older, newer, retrying, other] = seeded.map((r) => r.id) as [string, string, string, string];
      const mark = (id: string, unknownAgoS: number, reconciling: boolean) =>
        database.db
          .update(payments)
          .set({
            outcomeUnknownSince: new Date(Date.now() - unknownAgoS * 1000),
            reconciling,
            nextCheckAt: reconciling ? new Date(Date.now() + 60_000) : null,
            reconcileChecks: reconciling ? 3 : 0,
          })
          .where(eq(payments.id, id));
      await mark(older, 100, true);
      await mark(newer, 50, true);
      // Still retrying: not the reconciler's yet.
      await mark(retrying, 20, false);
      await mark(other, 20, true);

      const { unresolved } = await loadDashboardSnapshot(database.db, m);
      expect(unresolved.total).toBe(2);
      expect(unresolved.payments.map((p) => p.id)).toEqual([older, newer]);
      expect(unresolved.payments[0]).toMatchObject({ amount: 500, currency: "JPY", exponent: 0, checks: 3, brand: "visa", last4: "4242", operation: "charge" });
      expect(Date.parse(unresolved.payments[0]!.nextCheckAt!)).toBeGreaterThan(Date.now());
      expect(unresolved).toMatchObject({ refundsTotal: 0, refunds: [] });
      expect((await loadDashboardSnapshot(database.db, "nobody")).unresolved).toEqual({ total: 0, payments: [], refundsTotal: 0, refunds: [] });
    });

    it("lists the refunds that need attention too: the gateway has not said whether it refunded them, oldest unknown first", async () => {
      const m = "attention-refunds";
      const [payment] = await seed(database.db, [{ merchantId: m, status: "PROCESSING", createdAgo: 300, currency: "JPY", amount: 900 }]);
      const refund = (unknownAgoS: number, reconciling: boolean, merchantId = m) => ({
        id: newRefundId(),
        paymentId: payment!.id,
        merchantId,
        amount: 300,
        currency: "JPY",
        outcomeUnknownSince: new Date(Date.now() - unknownAgoS * 1000),
        reconciling,
        nextCheckAt: reconciling ? new Date(Date.now() + 60_000) : null,
        reconcileChecks: reconciling ? 2 : 0,
      });
      const [newer, older, retrying] = [refund(10, true), refund(90, true), refund(5, false)];
      await database.db.insert(refunds).values([newer, older, retrying, refund(90, true, `${m}-other`)]);

      const { unresolved } = await loadDashboardSnapshot(database.db, m);
      expect(unresolved.refundsTotal).toBe(2);
      expect(unresolved.refunds.map((r) => r.id)).toEqual([older.id, newer.id]);
      expect(unresolved.refunds[0]).toMatchObject({ paymentId: payment!.id, amount: 300, currency: "JPY", exponent: 0, checks: 2 });
      expect(unresolved.total).toBe(0);
    });

    it("lists the payments the gateway account refused in the last 24 hours (gateway_configuration_error), newest first, as needing attention", async () => {
      const m = "attention-configuration";
      const seeded = await seed(database.db, [
        final(m, "FAILED", 7200, 300, "gateway_configuration_error"),
        final(m, "FAILED", 60, 300, "gateway_configuration_error"),
        // A card decline, an older refusal and another merchant's refusal are not this list's.
        final(m, "FAILED", 30, 300, "card_declined"),
        final(m, "FAILED", 25 * 3600, 300, "gateway_configuration_error"),
        final(`${m}-other`, "FAILED", 30, 300, "gateway_configuration_error"),
      ]);
      const [older, newer] = seeded as [{ id: string; completedAt: Date }, { id: string; completedAt: Date }];

      const { configurationErrors, unresolved } = await loadDashboardSnapshot(database.db, m);
      expect(configurationErrors.total).toBe(2);
      expect(configurationErrors.payments.map((p) => p.id)).toEqual([newer.id, older.id]);
      expect(configurationErrors.payments[0]).toEqual({
        id: newer.id,
        amount: 1999,
        currency: "USD",
        exponent: 2,
        gateway: "simulator",
        failureMessage: "declined",
        failedAt: newer.completedAt.toISOString(),
      });
      expect(unresolved.total).toBe(0);
      expect((await loadDashboardSnapshot(database.db, "nobody")).configurationErrors).toEqual({ total: 0, payments: [] });
    });

    it("lists the merchant's open disputes as needing attention, newest first, and counts the gateways' events about its payments of the last 24 hours", async () => {
      const m = "attention-disputes";
      const [payment] = await seed(database.db, [final(m, "COMPLETED", 60, 300)]);
      const dispute = (status: DisputeStatus, gatewayReference: string, merchantId = m) =>
        database.db.transaction((tx) =>
          recordDispute(tx, { id: payment!.id, merchantId, gateway: "stripe" }, {
            gatewayReference,
            amount: 1999,
            currency: "USD",
            reason: "fraudulent",
            status,
            evidenceDueBy: new Date("2031-01-01T00:00:00Z"),
          }),
        );
      await dispute("needs_response", "dp_open_1");
      await dispute("won", "dp_closed_1");
      await dispute("under_review", "dp_open_2");
      await database.db.insert(gatewayEvents).values([
        { gateway: "stripe", eventId: "evt_dash_1", type: "charge.dispute.created", result: "applied", paymentId: payment!.id },
        { gateway: "stripe", eventId: "evt_dash_2", type: "payment_intent.succeeded", result: "ignored", paymentId: payment!.id },
        // Another merchant's event, and one about no payment of ours: not this merchant's to see.
        { gateway: "stripe", eventId: "evt_dash_other", type: "charge.dispute.created", result: "applied", paymentId: "pay_of_someone_else" },
        { gateway: "stripe", eventId: "evt_dash_3", type: "customer.created", result: "ignored" },
        { gateway: "stripe", eventId: "evt_dash_old", type: "payment_intent.succeeded", result: "ignored", paymentId: payment!.id, receivedAt: sql`now() - interval '25 hours'` },
      ]);

      const { disputes, gatewayEvents: counted } = await loadDashboardSnapshot(database.db, m);
      expect(disputes.total).toBe(2);
      expect(disputes.open.map((d) => [d.status, d.paymentId])).toEqual([
        ["under_review", payment!.id],
        ["needs_response", payment!.id],
      ]);
      expect(disputes.open[0]).toMatchObject({ amount: 1999, currency: "USD", exponent: 2, reason: "fraudulent", evidenceDueBy: "2031-01-01T00:00:00.000Z" });
      expect(counted).toEqual([
        { gateway: "stripe", result: "applied", count: 1 },
        { gateway: "stripe", result: "ignored", count: 1 },
      ]);
      expect((await loadDashboardSnapshot(database.db, "nobody")).disputes).toEqual({ total: 0, open: [] });
    });

    it("reports the merchant's own outbox backlog: its rows waiting, the oldest due one's age, its dead letters, none of another merchant's", async () => {
      const [a1, a2, a3, a4] = await seed(database.db, [
        { merchantId: "m-backlog-a", status: "PENDING", createdAgo: 40 },
        { merchantId: "m-backlog-a", status: "PENDING", createdAgo: 10 },
        { merchantId: "m-backlog-a", status: "PENDING", createdAgo: 5 },
        { merchantId: "m-backlog-a", status: "FAILED", createdAgo: 60, latencyMs: 1000 },
      ]);
      const [b1, b2, b3] = await seed(database.db, [
        { merchantId: "m-backlog-b", status: "PENDING", createdAgo: 300 },
        { merchantId: "m-backlog-b", status: "PENDING", createdAgo: 200 },
        { merchantId: "m-backlog-b", status: "FAILED", createdAgo: 100, latencyMs: 1000 },
      ]);
      await database.db.insert(outbox).values([
        { topic: "requested", paymentId: a1!.id, payload: {}, availableAt: sql`now() - interval '30 seconds'` },
        { topic: "requested", paymentId: a2!.id, payload: {}, availableAt: sql`now() - interval '5 seconds'` },
        // Scheduled for a retry later: waiting, but not due.
        { topic: "requested", paymentId: a3!.id, payload: {}, availableAt: sql`now() + interval '1 minute'` },
        // Merchant B's backlog is larger and older than A's.
        { topic: "requested", paymentId: b1!.id, payload: {}, availableAt: sql`now() - interval '250 seconds'` },
        { topic: "requested", paymentId: b2!.id, payload: {}, availableAt: sql`now() - interval '200 seconds'` },
      ]);
      await enqueueDeadLetter(database.db, { paymentId: a4!.id, requestId: null, reason: "max_attempts", attempts: 5, lastError: "503" });
      for (const id of [b1!.id, b3!.id])
        await enqueueDeadLetter(database.db, { paymentId: id, requestId: null, reason: "max_attempts", attempts: 5, lastError: "503" });

      // Waiting for a worker: the merchant's own messages from the broker, never the service's.
      const queue = createPostgresQueue(database.db, silentLogger, { leaseMs: 5_000 });
      const withQueue = await loadDashboardSnapshot(database.db, "m-backlog-a", (only) => queue.backlog(only));
      expect(withQueue.queue).toMatchObject({ messages: 3 });
      expect(withQueue.queue?.oldestAgeSeconds).toBeGreaterThanOrEqual(30);
      expect(withQueue.queue?.oldestAgeSeconds).toBeLessThan(40);
      expect((await loadDashboardSnapshot(database.db, "m-backlog-b", (only) => queue.backlog(only))).queue).toMatchObject({ messages: 2 });
      expect((await loadDashboardSnapshot(database.db, "m-backlog-a")).queue).toBeNull();

      const a = (await loadDashboardSnapshot(database.db, "m-backlog-a")).backlog;
      expect(a.requested).toBe(3);
      expect(a.deadLettered).toBe(1);
      expect(a.oldestDueAgeSeconds).toBeGreaterThanOrEqual(30);
      expect(a.oldestDueAgeSeconds).toBeLessThan(40);

      const b = (await loadDashboardSnapshot(database.db, "m-backlog-b")).backlog;
      expect(b).toMatchObject({ requested: 2, deadLettered: 2 });
      expect(b.oldestDueAgeSeconds).toBeGreaterThanOrEqual(250);

      // A merchant with nothing queued sees an empty backlog, whatever the others have.
      expect((await loadDashboardSnapshot(database.db, "m-backlog-none")).backlog).toEqual({ requested: 0, deadLettered: 0, oldestDueAgeSeconds: 0 });
      await database.db.delete(outbox);
    });
  });
}

/** Counts the window query (one per merchant snapshot) by watching `execute` on the database handle. */
function countingSnapshots(db: Database) {
  const counter = { snapshots: 0 };
  const proxy = new Proxy(db, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property === "execute")
        return (...args: unknown[]) => {
          counter.snapshots++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db: proxy, counter };
}

function collector() {
  const frames: DashboardFrame[] = [];
  let closed = false;
  return {
    frames,
    isClosed: () => closed,
    listener: { frame: (f: DashboardFrame) => frames.push(f), closed: () => (closed = true) },
  };
}

const until = async (condition: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
};

describe("dashboard live updates [pglite]", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    await seed(database.db, [final("m1", "COMPLETED", 10, 80), final("m2", "FAILED", 10, 80, "card_declined")]);
  });
  afterAll(async () => {
    await database.drop();
  });

  it("takes one snapshot per merchant per interval, shared by all of its pages, and stops when the last page leaves", async () => {
    const { db, counter } = countingSnapshots(database.db);
    const service = createDashboardService({ db, logger: silentLogger, intervalMs: 100 });
    const pages = [collector(), collector(), collector()];
    const otherMerchant = collector();
    const leave = pages.map((p) => service.subscribe("m1", p.listener)!);
    const leaveOther = service.subscribe("m2", otherMerchant.listener)!;
    expect(service.listenerCount()).toBe(4);

    await until(() => pages.every((p) => p.frames.length >= 4));
    for (let i = 0; i < 3; i++) {
      // The very same frame object, serialized once, went to every page of the merchant.
      expect(pages[1]!.frames).toContain(pages[0]!.frames[i + 1]!);
      expect(pages[2]!.frames).toContain(pages[0]!.frames[i + 1]!);
    }
    const first = pages[0]!.frames[0]!;
    expect(first.kind).toBe("snapshot");
    if (first.kind === "snapshot") expect(first.snapshot.counts.COMPLETED).toBe(1);
    const other = otherMerchant.frames[0]!;
    if (other.kind === "snapshot") expect(other.snapshot.counts).toMatchObject({ COMPLETED: 0, FAILED: 1 });
    // Two merchants with pages open: about two window queries per tick, not four.
    const ticks = Math.max(...pages.map((p) => p.frames.length));
    expect(counter.snapshots).toBeLessThanOrEqual(2 * (ticks + 1));

    for (const l of [...leave, leaveOther]) l();
    expect(service.listenerCount()).toBe(0);
    await Bun.sleep(50);
    const afterLeaving = counter.snapshots;
    const framesAfterLeaving = pages[0]!.frames.length;
    await Bun.sleep(350);
    expect(counter.snapshots).toBe(afterLeaving);
    expect(pages[0]!.frames.length).toBe(framesAfterLeaving);
    service.close();
  });

  it("sends a page its first snapshot as soon as it connects, not an interval later", async () => {
    const service = createDashboardService({ db: database.db, logger: silentLogger, intervalMs: 60_000 });
    const page = collector();
    service.subscribe("m1", page.listener);
    await until(() => page.frames.length === 1);
    expect(page.frames[0]!.kind).toBe("snapshot");
    service.close();
  });

  it("on close, ends every page's stream and turns new pages away", async () => {
    const service = createDashboardService({ db: database.db, logger: silentLogger, intervalMs: 100 });
    const page = collector();
    service.subscribe("m1", page.listener);
    service.close();
    expect(page.isClosed()).toBe(true);
    expect(service.listenerCount()).toBe(0);
    expect(service.subscribe("m1", collector().listener)).toBeUndefined();
  });

  it("sends an 'unavailable' frame instead of a snapshot while the database does not answer", async () => {
    const broken = new Proxy(database.db, {
      get(target, property) {
        if (property === "execute") return () => Promise.reject(new Error("connection refused"));
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const service = createDashboardService({ db: broken, logger: silentLogger, intervalMs: 100 });
    const page = collector();
    service.subscribe("m1", page.listener);
    await until(() => page.frames.length >= 1);
    expect(page.frames[0]).toEqual({ kind: "unavailable", data: expect.stringContaining("retrying") });
    service.close();
  });

  describe("over HTTP", () => {
    let service: DashboardService;
    let app: Elysia<any, any, any, any, any, any, any>;
    beforeAll(() => {
      service = createDashboardService({ db: database.db, logger: silentLogger, intervalMs: 100 });
      const keys = [
        { merchantId: "m1", secret: "sk_m1" },
        { merchantId: "m2", secret: "sk_m2" },
      ];
      const merchantOf = createMerchantGuard(new ApiKeyAuthenticator(keys), new RateLimiter(0));
      const sessions = createDashboardSessions(database.db, { liveApiKeys: keys.map((k) => k.secret), digests: new CardVault([Buffer.alloc(32, 1)], Buffer.alloc(32, 7)) });
      // The real app renders Problems in one place (src/http.ts); this stands in for it.
      app = new Elysia()
        .onError(({ error }) => (error instanceof Problem ? error.toResponse() : undefined))
        .use(dashboardRoutes({ service, sessions, merchantOf, trustProxy: false, production: false }));
    });
    afterAll(() => service.close());

    it("serves the page only to a signed-in session, under a CSP that allows nothing but its own inline code", async () => {
      const cookie = cookieHeaderOf(await app.handle(signInRequest("http://local", "sk_m1")));
      const page = await app.handle(new Request("http://local/dashboard", { headers: { cookie } }));
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'.*script-src 'sha256-[^']+'.*connect-src 'self'.*form-action 'self'/);
      const html = await page.text();
      expect(html).toContain("new EventSource(eventsUrl)");
      expect(html).toContain('data-testid="count-COMPLETED"');
      expect(html).not.toContain("sk_m1");

      for (const request of [
        new Request("http://local/dashboard"),
        new Request("http://local/dashboard", { headers: { cookie: "paystream_dashboard=not-a-session" } }),
        new Request("http://local/dashboard", { headers: { authorization: "Bearer sk_m2" } }),
      ]) {
        const denied = await app.handle(request);
        expect(denied.status).toBe(401);
        const form = await denied.text();
        expect(form).toContain('<form method="post" action="/dashboard/sign-in">');
        expect(form).toContain('name="key"');
      }
    });

    it("streams the session's merchant's snapshots as text/event-stream and lets go when the page disconnects", async () => {
      const denied = await app.handle(new Request("http://local/dashboard/events"));
      expect(denied.status).toBe(401);
      expect(denied.headers.get("content-type")).toBe("application/problem+json");

      const cookie = cookieHeaderOf(await app.handle(signInRequest("http://local", "sk_m2")));
      const abort = new AbortController();
      const res = await app.handle(new Request("http://local/dashboard/events", { headers: { cookie }, signal: abort.signal }));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      expect(service.listenerCount()).toBe(1);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      while ((text.match(/^data: /gm) ?? []).length < 2) text += decoder.decode((await reader.read()).value);
      expect(text.startsWith("retry: 2000\n\n")).toBe(true);
      const events = text.split("\n\n").filter((e) => e.startsWith("data: "));
      const snapshot = JSON.parse(events[0]!.slice("data: ".length)) as { merchantId: string; counts: Record<string, number> };
      expect(snapshot.merchantId).toBe("m2");
      expect(snapshot.counts.FAILED).toBe(1);

      abort.abort();
      await until(() => service.listenerCount() === 0, 1_000);
    });
  });
});
