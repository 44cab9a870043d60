import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { Elysia } from "elysia";
import { ApiKeyAuthenticator, RateLimiter } from "../../modules/auth";
import { createDashboardService, createDashboardSessions, type DashboardService, dashboardRoutes } from "../../modules/dashboard";
import { dashboardSessions } from "../../modules/dashboard/schema";
import { createMerchantGuard, type MerchantGuard, Problem } from "../../modules/http";
import { CardVault, loadCardVault } from "../../modules/vault";
import { cookieHeaderOf, setCookieOf, signInRequest } from "../support/dashboard";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { silentLogger } from "../support/harness";

const KEYS = [
  { merchantId: "m1", secret: "sk_m1_0123456789abcdef0123456789abcdef" },
  { merchantId: "m2", secret: "sk_m2_0123456789abcdef0123456789abcdef" },
];
const [M1, M2] = KEYS.map((k) => k.secret) as [string, string];
const TTL_MS = 3_600_000;
const BASE = "http://local";
/** The service's vault: its digest key is what keys the stored session digests. */
const vault = new CardVault([Buffer.alloc(32, 1)], Buffer.alloc(32, 7));
/** What the sessions table stores for a token: the vault's keyed digest of it, domain-separated. */
const digestOf = (token: string) => vault.keyedDigest(`dashboard-session\0${token}`);

const until = async (condition: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
};

/** One api process's dashboard: its own session store and stream registry, over a shared database. */
function dashboardApp(
  database: TestDatabase,
  service: DashboardService,
  options: { trustProxy?: boolean; production?: boolean; liveApiKeys?: string[]; merchantOf?: MerchantGuard } = {},
) {
  const merchantOf = options.merchantOf ?? createMerchantGuard(new ApiKeyAuthenticator(KEYS), new RateLimiter(0));
  const sessions = createDashboardSessions(database.db, { liveApiKeys: options.liveApiKeys ?? [M1, M2], digests: vault, ttlMs: TTL_MS });
  const app = new Elysia()
    .onError(({ error }) => (error instanceof Problem ? error.toResponse() : undefined))
    .use(dashboardRoutes({ service, sessions, merchantOf, trustProxy: options.trustProxy ?? false, production: options.production ?? false, sessionRecheckMs: 50 }));
  return {
    handle: (request: Request) => app.handle(request),
    signIn: async (key: string, headers: Record<string, string | undefined> = {}, base = BASE) => app.handle(signInRequest(base, key, headers)),
    get: (path: string, cookie?: string, signal?: AbortSignal) =>
      app.handle(new Request(`${BASE}${path}`, { headers: cookie ? { cookie } : {}, signal })),
    signOut: (cookie: string, headers: Record<string, string> = { "sec-fetch-site": "same-origin" }) =>
      app.handle(new Request(`${BASE}/dashboard/sign-out`, { method: "POST", headers: { cookie, ...headers }, redirect: "manual" })),
  };
}

/** Reads an event stream until it ends; resolves false if it is still open after `timeoutMs`. */
async function endsWithin(response: Response, timeoutMs: number): Promise<boolean> {
  const reader = response.body!.getReader();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) {
      await reader.cancel();
      return false;
    }
    const next = await Promise.race([reader.read(), Bun.sleep(left).then(() => undefined)]);
    if (next?.done) return true;
  }
}

for (const backend of BACKENDS) {
  describe(`dashboard sessions [${backend}]`, () => {
    let database: TestDatabase;
    let service: DashboardService;
    let app: ReturnType<typeof dashboardApp>;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
      service = createDashboardService({ db: database.db, logger: silentLogger, intervalMs: 100 });
      app = dashboardApp(database, service);
    });
    afterAll(async () => {
      service.close();
      await database.drop();
    });

    it("answers a good key with 303 to /dashboard and a cookie that is HttpOnly, SameSite=Strict, Path=/dashboard and expires with the session", async () => {
      const before = Date.now();
      const res = await app.signIn(M1);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/dashboard");
      const cookie = setCookieOf(res);
      expect(cookie.name).toBe("paystream_dashboard");
      expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(cookie.attributes.get("path")).toBe("/dashboard");
      expect(cookie.attributes.has("httponly")).toBe(true);
      expect(cookie.attributes.get("samesite")).toBe("Strict");
      expect(cookie.attributes.get("max-age")).toBe(String(TTL_MS / 1000));
      const expires = Date.parse(cookie.attributes.get("expires")!);
      expect(expires).toBeGreaterThanOrEqual(Math.floor((before + TTL_MS) / 1000) * 1000 - 5_000);
      expect(expires).toBeLessThanOrEqual(Date.now() + TTL_MS + 5_000);
      // Over plain http a Secure cookie would never come back.
      expect(cookie.attributes.has("secure")).toBe(false);
      expect(await res.text()).toBe("");
    });

    it("marks the cookie Secure over https, and believes X-Forwarded-Proto only when told a proxy is in front", async () => {
      expect(setCookieOf(await app.signIn(M1, {}, "https://local")).attributes.has("secure")).toBe(true);
      expect(setCookieOf(await app.signIn(M1, { "x-forwarded-proto": "https" })).attributes.has("secure")).toBe(false);
      const behindProxy = dashboardApp(database, service, { trustProxy: true });
      expect(setCookieOf(await behindProxy.signIn(M1, { "x-forwarded-proto": "https" })).attributes.has("secure")).toBe(true);
      expect(setCookieOf(await behindProxy.signIn(M1, { "x-forwarded-proto": "http" })).attributes.has("secure")).toBe(false);
      // Sign-out clears the cookie with the same attributes, Secure included, or the browser would keep it.
      const cleared = setCookieOf(await behindProxy.signOut("paystream_dashboard=x", { "x-forwarded-proto": "https" }));
      expect(cleared.attributes.has("secure")).toBe(true);
    });

    it("marks the cookie Secure in production even over plain http without TRUST_PROXY, sign-out included", async () => {
      const production = dashboardApp(database, service, { production: true });
      expect(setCookieOf(await production.signIn(M1)).attributes.has("secure")).toBe(true);
      expect(setCookieOf(await production.signIn(M1, { "x-forwarded-proto": "http" })).attributes.has("secure")).toBe(true);
      expect(setCookieOf(await production.signOut("paystream_dashboard=x")).attributes.has("secure")).toBe(true);
    });

    it("stores only a keyed digest of each session's 256-bit random token, never the token, its plain SHA-256 or the key", async () => {
      const tokens = await Promise.all([app.signIn(M2), app.signIn(M2)].map(async (res) => setCookieOf(await res).value));
      expect(tokens[0]).not.toBe(tokens[1]);
      for (const token of tokens) expect(Buffer.from(token!, "base64url")).toHaveLength(32);
      const rows = await database.db.select().from(dashboardSessions).where(eq(dashboardSessions.merchantId, "m2"));
      const hashes = rows.map((r) => r.tokenHash);
      for (const token of tokens) {
        expect(hashes).toContain(digestOf(token!));
        // An unkeyed hash of the token, in any encoding, is not what is stored.
        const plain = createHash("sha256").update(token!).digest();
        for (const encoding of ["hex", "base64", "base64url"] as const) expect(hashes).not.toContain(plain.toString(encoding));
      }
      const stored = JSON.stringify(rows);
      for (const secret of [...tokens, M2]) expect(stored).not.toContain(secret!);
      // The session works: its cookie opens the page.
      expect((await app.get("/dashboard", `paystream_dashboard=${tokens[0]}`)).status).toBe(200);
    });

    it("a dump of the sessions table and a session's token are no match without the digest key", async () => {
      const token = setCookieOf(await app.signIn(M1)).value!;
      const dump = (await database.db.select().from(dashboardSessions)).map((r) => r.tokenHash);
      expect(dump).toContain(digestOf(token));
      // Whoever holds the dump and the token but another key (or none: a plain hash) finds nothing to match.
      const otherVault = new CardVault([Buffer.alloc(32, 1)], Buffer.alloc(32, 8));
      const guesses = [
        otherVault.keyedDigest(`dashboard-session\0${token}`),
        otherVault.keyedDigest(token),
        createHash("sha256").update(token).digest("hex"),
        createHash("sha256").update(`dashboard-session\0${token}`).digest("base64url"),
      ];
      for (const guess of guesses) expect(dump).not.toContain(guess);
      // And a process keyed differently (another CARD_ENCRYPTION_KEY's vault) honours no session of this one.
      const otherKey = createDashboardSessions(database.db, { liveApiKeys: [M1, M2], digests: otherVault });
      expect(await otherKey.find(token)).toBeUndefined();
      expect(await createDashboardSessions(database.db, { liveApiKeys: [M1, M2], digests: vault }).find(token)).toMatchObject({ merchantId: "m1" });
    });

    it("keeps sessions across a CARD_ENCRYPTION_KEY rotation: the digest key is the vault's stored one, re-sealed, not the master key", async () => {
      const [oldKey, newKey] = [Buffer.alloc(32, 21), Buffer.alloc(32, 22)];
      const before = createDashboardSessions(database.db, { liveApiKeys: [M1], digests: await loadCardVault(database.db, [oldKey]) });
      const opened = await before.open("m1", M1);
      const rotated = await loadCardVault(database.db, [newKey, oldKey]);
      const after = createDashboardSessions(database.db, { liveApiKeys: [M1], digests: rotated });
      expect(await after.find(opened.token)).toMatchObject({ merchantId: "m1" });
      // Once the old key is retired for good, the stored digest key is still readable (re-sealed under the new one).
      const retired = createDashboardSessions(database.db, { liveApiKeys: [M1], digests: await loadCardVault(database.db, [newKey]) });
      expect(await retired.find(opened.token)).toMatchObject({ merchantId: "m1" });
    });

    it("takes a key in no URL: ?key= on the page, the stream and the sign-in authenticates nothing", async () => {
      const page = await app.get(`/dashboard?key=${M1}`);
      expect(page.status).toBe(401);
      expect(page.headers.has("set-cookie")).toBe(false);
      expect(await page.text()).not.toContain(M1);
      expect((await app.get(`/dashboard/events?key=${M1}`)).status).toBe(401);

      const getSignIn = await app.get(`/dashboard/sign-in?key=${M1}`);
      expect(getSignIn.status).toBe(404);
      expect(getSignIn.headers.has("set-cookie")).toBe(false);

      // The key in the sign-in's query string (not its form body) is not read either.
      const queryOnly = await app.handle(
        new Request(`${BASE}/dashboard/sign-in?key=${M1}`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" },
          body: "",
        }),
      );
      expect(queryOnly.status).toBe(400);
      expect(queryOnly.headers.has("set-cookie")).toBe(false);
    });

    it("serves page and stream by the cookie alone: an Authorization header is no way into the dashboard", async () => {
      expect((await app.handle(new Request(`${BASE}/dashboard`, { headers: { authorization: `Bearer ${M1}` } }))).status).toBe(401);
      expect((await app.handle(new Request(`${BASE}/dashboard/events`, { headers: { authorization: `Bearer ${M1}` } }))).status).toBe(401);
      const cookie = cookieHeaderOf(await app.signIn(M1));
      expect((await app.get("/dashboard", cookie)).status).toBe(200);
      const abort = new AbortController();
      const stream = await app.get("/dashboard/events", cookie, abort.signal);
      expect(stream.status).toBe(200);
      abort.abort();
      await until(() => service.listenerCount() === 0);
    });

    it("answers a wrong key with the form again (401, an error, the key not echoed, no cookie), through the API's guard", async () => {
      const seen: (string | null)[] = [];
      const realGuard = createMerchantGuard(new ApiKeyAuthenticator(KEYS), new RateLimiter(0));
      const spied = dashboardApp(database, service, {
        merchantOf: (request) => {
          seen.push(request.headers.get("authorization"));
          return realGuard(request);
        },
      });
      const wrong = "sk_wrong_0123456789abcdef0123456789abcdef";
      const res = await spied.signIn(wrong);
      expect(res.status).toBe(401);
      expect(res.headers.has("set-cookie")).toBe(false);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const html = await res.text();
      expect(html).toContain('data-testid="sign-in-error"');
      expect(html).toContain("That API key is not valid.");
      expect(html).not.toContain(wrong);
      // The guard (where failed authentications are counted) saw the attempt, as a Bearer key.
      expect(seen).toEqual([`Bearer ${wrong}`]);

      // A key that could not even be a header value is still a failed attempt, not an error.
      for (const odd of ["sk with spaces", "sk_\u0000nul", "ключ_0123456789", "x".repeat(600)]) {
        const answer = await spied.signIn(odd);
        expect(answer.status).toBe(401);
      }
      expect(seen.slice(1)).toEqual(["Bearer", "Bearer", "Bearer", "Bearer"]);
    });

    it("passes the guard's 429 on as the form with Retry-After", async () => {
      const throttled = dashboardApp(database, service, {
        merchantOf: () => {
          throw new Problem("rate_limited", "Too many failed attempts", { retryAfterSeconds: 30 });
        },
      });
      const res = await throttled.signIn(M1);
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("30");
      expect(res.headers.has("set-cookie")).toBe(false);
      expect(await res.text()).toContain("Too many attempts; try again in 30 s.");
    });

    it("refuses sign-in forms that are not the page's own: other content types, oversized or chunked bodies, a missing key", async () => {
      const post = (body: string | ReadableStream<Uint8Array>, headers: Record<string, string>) =>
        app.handle(new Request(`${BASE}/dashboard/sign-in`, { method: "POST", headers: { "sec-fetch-site": "same-origin", ...headers }, body }));
      expect((await post(JSON.stringify({ key: M1 }), { "content-type": "application/json" })).status).toBe(415);
      expect((await post(`key=${"a".repeat(5000)}`, { "content-type": "application/x-www-form-urlencoded" })).status).toBe(413);
      const chunked = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(1024).fill(97));
          c.close();
        },
      });
      expect((await post(chunked, { "content-type": "application/x-www-form-urlencoded" })).status).toBe(413);
      expect((await post("other=1", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(400);
    });

    it("refuses sign-in and sign-out sent by another site's page (403), and the session survives a forged sign-out", async () => {
      const cookie = cookieHeaderOf(await app.signIn(M1));
      const forged: Record<string, string>[] = [
        { "sec-fetch-site": "cross-site" },
        // A sibling subdomain is "same-site": SameSite cookies would come along, so the header check must refuse it.
        { "sec-fetch-site": "same-site" },
        { origin: "https://evil.example" },
        { origin: "null" },
      ];
      for (const headers of forged) {
        const signOut = await app.signOut(cookie, headers);
        expect(signOut.status).toBe(403);
        expect(signOut.headers.has("set-cookie")).toBe(false);
        const signIn = await app.signIn(M2, { "sec-fetch-site": undefined, ...headers });
        expect(signIn.status).toBe(403);
        expect(signIn.headers.has("set-cookie")).toBe(false);
      }
      expect((await app.get("/dashboard", cookie)).status).toBe(200);
      // The page's own form: same origin by Sec-Fetch-Site, or by Origin from browsers that do not send it.
      expect((await app.signIn(M2, { "sec-fetch-site": undefined, origin: "http://local" })).status).toBe(303);
    });

    it("signs out for good: the cookie is cleared, the server forgets the session, and its open stream ends at once", async () => {
      const cookie = cookieHeaderOf(await app.signIn(M1));
      const otherSession = cookieHeaderOf(await app.signIn(M1));
      const stream = await app.get("/dashboard/events", cookie);
      expect(stream.status).toBe(200);

      const res = await app.signOut(cookie);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/dashboard");
      const cleared = setCookieOf(res);
      expect(cleared.value).toBe("");
      expect(cleared.attributes.get("max-age")).toBe("0");
      expect(cleared.attributes.get("path")).toBe("/dashboard");

      expect(await endsWithin(stream, 1_000)).toBe(true);
      expect((await app.get("/dashboard", cookie)).status).toBe(401);
      expect((await app.get("/dashboard/events", cookie)).status).toBe(401);
      // Only that session: the merchant's other sign-in still works.
      expect((await app.get("/dashboard", otherSession)).status).toBe(200);
    });

    it("ends the session a new sign-in replaces, and drops a cookie that no longer opens anything", async () => {
      const first = cookieHeaderOf(await app.signIn(M1));
      const second = cookieHeaderOf(await app.signIn(M2, { cookie: first }));
      expect((await app.get("/dashboard", second)).status).toBe(200);
      const stale = await app.get("/dashboard", first);
      expect(stale.status).toBe(401);
      expect(setCookieOf(stale)).toMatchObject({ name: "paystream_dashboard", value: "" });
      expect(setCookieOf(stale).attributes.get("max-age")).toBe("0");
    });

    it("rejects an expired session, and ends its open stream", async () => {
      const cookie = cookieHeaderOf(await app.signIn(M2));
      const stream = await app.get("/dashboard/events", cookie);
      expect(stream.status).toBe(200);
      const token = cookie.split("=")[1]!;
      await database.db
        .update(dashboardSessions)
        .set({ expiresAt: sql`now() - interval '1 second'` })
        .where(eq(dashboardSessions.tokenHash, digestOf(token)));
      expect((await app.get("/dashboard", cookie)).status).toBe(401);
      expect((await app.get("/dashboard/events", cookie)).status).toBe(401);
      expect(await endsWithin(stream, 2_000)).toBe(true);
    });

    it("works across api processes: a session opened through one is honoured by another, and a sign-out through either ends it in both", async () => {
      const other = dashboardApp(database, service);
      const cookie = cookieHeaderOf(await app.signIn(M1));
      expect((await other.get("/dashboard", cookie)).status).toBe(200);
      const streamHere = await app.get("/dashboard/events", cookie);
      expect(streamHere.status).toBe(200);

      expect((await other.signOut(cookie)).status).toBe(303);
      expect((await app.get("/dashboard", cookie)).status).toBe(401);
      // This process learns of it on its next recheck, not only when the page reconnects.
      expect(await endsWithin(streamHere, 2_000)).toBe(true);
    });

    it("ends the sessions of a key that is no longer configured", async () => {
      const cookie = cookieHeaderOf(await app.signIn(M2));
      // The same database after a restart whose API_KEYS no longer has m2's key.
      const restarted = dashboardApp(database, service, { liveApiKeys: [M1] });
      expect((await restarted.get("/dashboard", cookie)).status).toBe(401);
      expect((await app.get("/dashboard", cookie)).status).toBe(200);
    });
  });
}
