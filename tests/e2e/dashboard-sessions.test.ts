import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { cookieHeaderOf, signInRequest } from "../support/dashboard";
import { createPostgresDatabase } from "../support/db";
import { CARDS, client, paymentBody } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

const API_KEY = `sk_live_${randomBytes(24).toString("hex")}`;

describe("dashboard sessions across two api processes on a real PostgreSQL (the real program)", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let first: ServiceProcess;
  let second: ServiceProcess;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const env = { DATABASE_URL: database.url, API_KEYS: `shop:${API_KEY}`, RATE_LIMIT_RPS: "0", LOG_LEVEL: "trace" };
    first = await startService({ role: "api", env });
    second = await startService({ role: "api", env });
  }, 60_000);
  afterAll(async () => {
    for (const p of [first, second]) await p?.stop();
    await database.drop();
  }, 60_000);

  const signIn = async (service: ServiceProcess) => {
    const res = await fetch(signInRequest(service.url, API_KEY));
    expect(res.status).toBe(303);
    return cookieHeaderOf(res);
  };
  const get = (service: ServiceProcess, path: string, headers: Record<string, string> = {}) =>
    fetch(`${service.url}${path}`, { headers, redirect: "manual" });

  it("honours a session opened through one process in the other, and a sign-out through either ends it in both", async () => {
    const cookie = await signIn(first);
    expect((await get(second, "/dashboard", { cookie })).status).toBe(200);
    const stream = await get(second, "/dashboard/events", { cookie });
    expect(stream.status).toBe(200);
    await stream.body?.cancel();

    const signOut = await fetch(`${second.url}/dashboard/sign-out`, {
      method: "POST",
      headers: { cookie, "sec-fetch-site": "same-origin" },
      redirect: "manual",
    });
    expect(signOut.status).toBe(303);
    for (const service of [first, second]) {
      expect((await get(service, "/dashboard", { cookie })).status).toBe(401);
      expect((await get(service, "/dashboard/events", { cookie })).status).toBe(401);
    }
  });

  it("gives the session cookie no way into /v1: it can neither create nor read payments", async () => {
    const cookie = await signIn(first);
    const created = await client(first.url, API_KEY).post(paymentBody(CARDS.visa));
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };

    const withCookieOnly = { cookie, "content-type": "application/json" };
    const attempts = [
      fetch(`${first.url}/v1/payments`, { method: "POST", headers: withCookieOnly, body: JSON.stringify(paymentBody(CARDS.visa)) }),
      fetch(`${first.url}/v1/payments`, { headers: withCookieOnly }),
      fetch(`${first.url}/v1/payments/${id}`, { headers: withCookieOnly }),
      fetch(`${first.url}/v1/webhook-endpoint`, { method: "PUT", headers: withCookieOnly, body: JSON.stringify({ url: "https://example.com/hook" }) }),
    ];
    for (const res of await Promise.all(attempts)) expect(res.status).toBe(401);
    // The cookie itself still opens the dashboard: refused above for the route, not for being stale.
    expect((await get(first, "/dashboard", { cookie })).status).toBe(200);
  });

  it("authenticates nothing by ?key=: not the dashboard, not its stream, not any /v1 route", async () => {
    const created = await client(first.url, API_KEY).post(paymentBody(CARDS.visa));
    const { id } = (await created.json()) as { id: string };
    const key = encodeURIComponent(API_KEY);
    for (const path of [
      `/dashboard?key=${key}`,
      `/dashboard/events?key=${key}`,
      `/v1/payments?key=${key}`,
      `/v1/payments/${id}?key=${key}`,
      `/v1/webhook-events?key=${key}`,
    ]) {
      const res = await get(first, path);
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
      expect(res.headers.has("set-cookie")).toBe(false);
    }
    const posted = await fetch(`${first.url}/v1/payments?key=${key}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(paymentBody(CARDS.visa)),
    });
    expect(posted.status).toBe(401);
  });

  it("writes the key into no log line of either process, even at trace level", async () => {
    // Everything above went through both processes: sign-ins, refusals, streams, ?key= probes.
    await signIn(second);
    for (const service of [first, second]) expect(service.output()).not.toContain(API_KEY);
  });
});
