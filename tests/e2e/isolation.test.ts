import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createPostgresDatabase } from "../support/db";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

const KEY_A = "sk_test_merchant_a1";
const KEY_B = "sk_test_merchant_b1";

interface PaymentView {
  id: string;
  status: string;
}
interface ListView {
  data: PaymentView[];
  hasMore: boolean;
}

/** Two merchants on one real program and one PostgreSQL database: neither can see, nor reach, the other's payments. */
describe("tenant isolation between merchants a and b", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let service: ServiceProcess;
  let a: ReturnType<typeof client>;
  let b: ReturnType<typeof client>;
  const idsOfA: string[] = [];
  const idsOfB: string[] = [];
  const keyOfA = "order-4711";
  const bodyOfA = paymentBody(CARDS.visa, { amount: 4711, metadata: { orderId: "4711" } });
  const otherKeyOfA = "order-4712";
  const otherBodyOfA = paymentBody(CARDS.declined, { amount: 4712, metadata: { orderId: "4712" } });
  const keyedPaymentsOfA = new Map<string, PaymentView>();

  const create = async (api: ReturnType<typeof client>, body: unknown, headers: Record<string, string> = {}) => {
    const res = await api.post(body, headers);
    expect(res.status).toBe(202);
    return (await res.json()) as PaymentView;
  };
  const list = async (api: ReturnType<typeof client>, query = "") => {
    const res = await api.list(query);
    expect(res.status).toBe(200);
    return (await res.json()) as ListView;
  };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    service = await startService({
      role: "all",
      env: { DATABASE_URL: database.url, API_KEYS: `a:${KEY_A},b:${KEY_B}`, RATE_LIMIT_RPS: "0" },
    });
    a = client(service.url, KEY_A);
    b = client(service.url, KEY_B);
    // Interleaved, so B has payments both older and newer than each of A's (ids sort by time).
    for (const card of [CARDS.visa, CARDS.declined, CARDS.mastercard]) {
      idsOfB.push((await create(b, paymentBody(card))).id);
      idsOfA.push((await create(a, paymentBody(card))).id);
    }
    for (const [key, body] of [[keyOfA, bodyOfA], [otherKeyOfA, otherBodyOfA]] as const) {
      const payment = await create(a, body, { "idempotency-key": key });
      keyedPaymentsOfA.set(key, payment);
      idsOfA.push(payment.id);
    }
    idsOfB.push((await create(b, paymentBody(CARDS.amex))).id);
    // Both COMPLETED and FAILED payments of A exist when the status filters are tried.
    await waitForFinal(service.url, idsOfA, { apiKey: KEY_A });
    await waitForFinal(service.url, idsOfB, { apiKey: KEY_B });
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    await database?.drop();
  }, 30_000);

  it("answers 404, exactly as for an id that does not exist, when b reads a payment of a", async () => {
    const shape = async (res: Response) => {
      const problem = (await res.json()) as Record<string, unknown>;
      return { status: res.status, type: res.headers.get("content-type"), code: problem.code, title: problem.title };
    };
    // The body apart from what is ours to make up per request: the random request id (any hex
    // digits, "4711" among them now and then) and the id asked for, echoed in `detail`.
    const bodyWithout = async (res: Response, id: string) => {
      const { requestId, ...rest } = (await res.clone().json()) as Record<string, unknown>;
      expect(requestId).toMatch(/^req_[0-9a-f]{32}$/);
      return JSON.stringify(rest).replaceAll(id, "<id>");
    };
    const unknownId = "pay_00000000000000000000000000";
    const unknownRes = await b.get(unknownId);
    const unknownBody = await bodyWithout(unknownRes, unknownId);
    const unknown = await shape(unknownRes);
    expect(unknown).toEqual({ status: 404, type: "application/problem+json", code: "not_found", title: "Not found" });
    for (const id of idsOfA) {
      const res = await b.get(id);
      const body = await bodyWithout(res, id);
      expect(await shape(res)).toEqual(unknown);
      expect(body).toBe(unknownBody);
      expect(body).not.toContain("4711");
      expect((await a.get(id)).status).toBe(200);
    }
  });

  it("never lists a payment of a to b, whatever the page size", async () => {
    for (const limit of [1, 2, 100]) {
      let cursor = "";
      const seen: string[] = [];
      for (;;) {
        const page = await list(b, `?limit=${limit}${cursor}`);
        seen.push(...page.data.map((p) => p.id));
        if (!page.hasMore) break;
        cursor = `&startingAfter=${page.data[page.data.length - 1]?.id}`;
      }
      expect(seen.sort()).toEqual([...idsOfB].sort());
    }
  });

  it("gives b only its own older payments when b pages with startingAfter set to an id of a, exactly as for an unknown id", async () => {
    for (const id of idsOfA) {
      const page = await list(b, `?startingAfter=${id}`);
      expect(page.data.map((p) => p.id)).toEqual(idsOfB.filter((other) => other < id).sort().reverse());
      // The neighbouring id exists nowhere: an answer that differed would tell b that a's id exists.
      const neighbour = id.replace(/.$/, (last) => (last === "0" ? "1" : "0"));
      expect(await list(b, `?startingAfter=${neighbour}`)).toEqual(page);
    }
  });

  it("never lists a payment of a to b under any status filter", async () => {
    const statusesOfA = new Set<string>();
    for (const status of ["PENDING", "PROCESSING", "COMPLETED", "FAILED", "completed"]) {
      const ofA = await list(a, `?status=${status}`);
      for (const p of ofA.data) statusesOfA.add(p.status);
      const ofB = await list(b, `?status=${status}`);
      expect(ofB.data.filter((p) => idsOfA.includes(p.id))).toEqual([]);
      for (const p of ofB.data) expect(idsOfB).toContain(p.id);
      for (const id of idsOfA) {
        const after = await list(b, `?status=${status}&startingAfter=${id}`);
        expect(after.data.filter((p) => idsOfA.includes(p.id))).toEqual([]);
      }
    }
    expect([...statusesOfA].sort()).toEqual(["COMPLETED", "FAILED"]);
  });

  it("creates b's own new payment when b sends a's Idempotency-Key with a's exact body, and replays it to b only", async () => {
    const first = await b.post(bodyOfA, { "idempotency-key": keyOfA });
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const created = (await first.json()) as PaymentView;
    expect(idsOfA).not.toContain(created.id);
    expect((await b.get(created.id)).status).toBe(200);
    expect((await a.get(created.id)).status).toBe(404);

    const again = await b.post(bodyOfA, { "idempotency-key": keyOfA });
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(((await again.json()) as PaymentView).id).toBe(created.id);
  });

  it("creates b's own payment, not a 409, when b sends a's Idempotency-Key with another body", async () => {
    const res = await b.post(paymentBody(CARDS.mastercard, { amount: 1234 }), { "idempotency-key": otherKeyOfA });
    expect(res.status).toBe(202);
    const created = (await res.json()) as PaymentView & { amount: number };
    expect(idsOfA).not.toContain(created.id);
    expect(created.amount).toBe(1234);
  });

  it("still replays a's own payments to a after b has used the same keys", async () => {
    for (const [key, body] of [[keyOfA, bodyOfA], [otherKeyOfA, otherBodyOfA]] as const) {
      const res = await a.post(body, { "idempotency-key": key });
      expect(res.status).toBe(202);
      expect(res.headers.get("idempotent-replayed")).toBe("true");
      expect(((await res.json()) as PaymentView).id).toBe(keyedPaymentsOfA.get(key)?.id as string);
    }
  });

  describe("refunds, captures and cancels", () => {
    const send = (key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      fetch(`${service.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const completedOf = async (api: ReturnType<typeof client>, ids: string[]) => {
      for (const id of ids) if (((await (await api.get(id)).json()) as PaymentView).status === "COMPLETED") return id;
      throw new Error("no COMPLETED payment");
    };
    const shape = async (res: Response) => {
      const problem = (await res.json()) as Record<string, unknown>;
      return { status: res.status, code: problem.code, title: problem.title };
    };
    const notFound = { status: 404, code: "not_found", title: "Not found" };
    const refundKey = "refund-4711";
    const refundBody = { amount: 100, reason: "requested_by_customer", metadata: { ticket: "4711" } };

    it("never lets b read, list, refund, capture or cancel a's payments and refunds: 404 as for ids that do not exist", async () => {
      const paymentOfA = await completedOf(a, idsOfA);
      const created = await send(KEY_A, "POST", `/v1/payments/${paymentOfA}/refunds`, refundBody, { "idempotency-key": refundKey });
      expect(created.status).toBe(202);
      const refundOfA = ((await created.json()) as { id: string }).id;

      expect(await shape(await send(KEY_B, "GET", `/v1/refunds/${refundOfA}`))).toEqual(notFound);
      expect(await shape(await send(KEY_B, "GET", "/v1/refunds/re_00000000000000000000000000"))).toEqual(notFound);
      expect(await shape(await send(KEY_B, "GET", `/v1/payments/${paymentOfA}/refunds`))).toEqual(notFound);
      for (const [path, body] of [["refunds", { amount: 1 }], ["capture", {}], ["cancel", {}]] as const) {
        const res = await send(KEY_B, "POST", `/v1/payments/${paymentOfA}/${path}`, body);
        const text = await res.clone().text();
        expect(await shape(res)).toEqual(notFound);
        expect(text).not.toContain("COMPLETED");
      }
      // Nothing b sent touched a's payment.
      expect(((await (await a.get(paymentOfA)).json()) as { amountRefunded: number; status: string })).toMatchObject({ amountRefunded: 100, status: "COMPLETED" });
      expect((await send(KEY_A, "GET", `/v1/refunds/${refundOfA}`)).status).toBe(200);
    });

    it("gives b its own refund when b sends a's refund Idempotency-Key with a's body, and replays it to b only", async () => {
      const paymentOfB = await completedOf(b, idsOfB);
      const first = await send(KEY_B, "POST", `/v1/payments/${paymentOfB}/refunds`, refundBody, { "idempotency-key": refundKey });
      expect(first.status).toBe(202);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      const refundOfB = (await first.json()) as { id: string; paymentId: string };
      expect(refundOfB.paymentId).toBe(paymentOfB);
      expect((await send(KEY_A, "GET", `/v1/refunds/${refundOfB.id}`)).status).toBe(404);
      const again = await send(KEY_B, "POST", `/v1/payments/${paymentOfB}/refunds`, refundBody, { "idempotency-key": refundKey });
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(((await again.json()) as { id: string }).id).toBe(refundOfB.id);
      const listOfA = (await (await send(KEY_A, "GET", `/v1/payments/${await completedOf(a, idsOfA)}/refunds`)).json()) as { data: { id: string }[] };
      expect(listOfA.data.map((r) => r.id)).not.toContain(refundOfB.id);
    });
  });
});
