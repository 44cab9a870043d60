import { Elysia } from "elysia";
import type { Merchant } from "../auth";
import { type MerchantGuard, Problem, readBodyText } from "../http";
import {
  clearedSessionCookie,
  DASHBOARD_PATH,
  isCrossSite,
  sessionCookie,
  sessionCookieIsSecure,
  sessionTokenOf,
} from "./cookie";
import { dashboardPage, type HtmlPage, signInPage } from "./page";
import type { DashboardFrame, DashboardService } from "./service";
import type { DashboardSession, DashboardSessions } from "./sessions";

export interface DashboardRouteDeps {
  service: DashboardService;
  sessions: DashboardSessions;
  /**
   * The API's guard (authentication, rate limit, failed-authentication throttle). Sign-in hands
   * it the form's key as the Bearer header it reads, so a wrong key there counts exactly like a
   * wrong key on /v1.
   */
  merchantOf: MerchantGuard;
  /** A proxy in front terminates TLS and sets X-Forwarded-Proto: believe it when deciding on `Secure`. */
  trustProxy: boolean;
  /** Production: the cookie is `Secure` whatever the request looked like. */
  production: boolean;
  /** How often open streams check that their session still stands (signed out elsewhere, expired, key withdrawn). */
  sessionRecheckMs?: number;
}

const htmlResponse = (page: HtmlPage, status = 200, headers: Record<string, string> = {}) =>
  new Response(page.html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": page.contentSecurityPolicy, ...headers },
  });

const seeDashboard = (setCookie: string) => new Response(null, { status: 303, headers: { location: DASHBOARD_PATH, "set-cookie": setCookie } });

const crossSiteRefusal = () =>
  new Response("Refused: this request was sent by another site's page.\n", { status: 403, headers: { "content-type": "text/plain; charset=utf-8" } });

/** A key is one field of a small form; anything longer is not a sign-in. */
const SIGN_IN_FORM_MAX_BYTES = 4096;
/** What can be a key at all, and can travel in the Authorization header the guard reads. */
const KEY_SHAPE = /^[\x21-\x7e]{1,512}$/;

/** The `key` field of the sign-in form (an HTML form POST), or the page to answer instead. */
async function readSignInKey(request: Request): Promise<{ key: string } | { refusal: Response }> {
  const refuse = (status: number, message: string) => ({ refusal: htmlResponse(signInPage(message), status) });
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(request.headers.get("content-type") ?? ""))
    return refuse(415, "Sign in with the form on this page.");
  let text: string;
  try {
    text = await readBodyText(request, SIGN_IN_FORM_MAX_BYTES);
  } catch (error) {
    if (error instanceof Problem && error.type === "payload_too_large") return refuse(413, "That is too long to be an API key.");
    throw error;
  }
  const key = new URLSearchParams(text).get("key")?.trim();
  if (!key) return refuse(400, "Enter an API key.");
  return { key };
}

/**
 * Authenticates a key from the form through the API's guard. The guard gets this very request
 * (not a copy), so whatever it tells clients apart by is the sign-in's own; the header is put
 * back afterwards. A key that cannot be a header value is passed as no key: still a failure.
 */
function authenticateKey(merchantOf: MerchantGuard, request: Request, key: string): Merchant {
  const previous = request.headers.get("authorization");
  request.headers.set("authorization", KEY_SHAPE.test(key) ? `Bearer ${key}` : "Bearer");
  try {
    return merchantOf(request);
  } finally {
    if (previous === null) request.headers.delete("authorization");
    else request.headers.set("authorization", previous);
  }
}

/**
 * Open event streams by session. Every `recheckMs` one query asks which of their sessions still
 * stand, so a sign-out through another api process, an expiry or a withdrawn key ends the
 * streams here too; a sign-out through this process ends them at once.
 */
function createStreamRegistry(sessions: DashboardSessions, recheckMs: number) {
  const bySession = new Map<string, Set<() => void>>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let checking = false;

  const endSession = (id: string) => {
    for (const end of [...(bySession.get(id) ?? [])]) end();
  };

  async function recheck() {
    if (checking) return;
    checking = true;
    const asked = [...bySession.keys()];
    try {
      const live = await sessions.stillLive(asked);
      // Only sessions that were asked about: a stream opened meanwhile is not judged by an older answer.
      for (const id of asked) if (!live.has(id)) endSession(id);
    } catch {
      // The database did not answer: the streams already say so in their frames; judge them next time.
    } finally {
      checking = false;
    }
  }

  return {
    /** Files an open stream under its session; returns what removes it again. */
    add(id: string, end: () => void): () => void {
      let group = bySession.get(id);
      if (!group) {
        group = new Set();
        bySession.set(id, group);
      }
      group.add(end);
      timer ??= setInterval(() => void recheck(), recheckMs);
      const joined = group;
      return () => {
        joined.delete(end);
        if (joined.size === 0 && bySession.get(id) === joined) bySession.delete(id);
        if (bySession.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
    endSession,
  };
}

const encoder = new TextEncoder();
/** A frame is encoded once, however many pages of the merchant it goes to. */
const encodedFrames = new WeakMap<DashboardFrame, Uint8Array>();
function encodeFrame(frame: DashboardFrame): Uint8Array {
  let bytes = encodedFrames.get(frame);
  if (!bytes) {
    bytes = encoder.encode(frame.kind === "snapshot" ? `data: ${frame.data}\n\n` : `event: unavailable\ndata: ${frame.data}\n\n`);
    encodedFrames.set(frame, bytes);
  }
  return bytes;
}

/**
 * Frames a page has not read yet. Snapshots are whole states, so a page that falls this far
 * behind loses the stale ones instead of making the server buffer without bound.
 */
const MAX_QUEUED_FRAMES = 4;

/**
 * The live dashboard: a sign-in form that POSTs an API key once and sets a session cookie, the
 * HTML page and the Server-Sent Events stream it listens to (both read-only, by that cookie
 * alone), and sign-out. No URL of it takes a key.
 */
export function dashboardRoutes({ service, sessions, merchantOf, trustProxy, production, sessionRecheckMs = 10_000 }: DashboardRouteDeps) {
  const streams = createStreamRegistry(sessions, sessionRecheckMs);

  async function sessionOf(request: Request): Promise<DashboardSession | undefined> {
    const token = sessionTokenOf(request);
    return token === undefined ? undefined : sessions.find(token);
  }

  /** Ends the request's session on the server, and at once its streams open in this process. */
  async function endSessionOf(request: Request): Promise<void> {
    const token = sessionTokenOf(request);
    const id = token === undefined ? undefined : await sessions.close(token);
    if (id) streams.endSession(id);
  }

  return new Elysia({ name: "dashboard" })
    .get(
      DASHBOARD_PATH,
      async ({ request }) => {
        if (await sessionOf(request)) return htmlResponse(dashboardPage);
        // Without a session a person gets the form rather than JSON; a cookie that no longer opens anything is dropped.
        const stale = sessionTokenOf(request) !== undefined;
        return htmlResponse(signInPage(), 401, stale ? { "set-cookie": clearedSessionCookie(sessionCookieIsSecure(request, { trustProxy, production })) } : {});
      },
      { detail: { hide: true } },
    )
    .post(
      `${DASHBOARD_PATH}/sign-in`,
      async ({ request }) => {
        // Another site's page must not sign a visitor in (into an account of its choosing).
        if (isCrossSite(request)) return crossSiteRefusal();
        const form = await readSignInKey(request);
        if ("refusal" in form) return form.refusal;
        let merchant: Merchant;
        try {
          merchant = authenticateKey(merchantOf, request, form.key);
        } catch (error) {
          if (error instanceof Problem && error.type === "unauthorized")
            return htmlResponse(signInPage("That API key is not valid."), 401);
          if (error instanceof Problem && error.status === 429) {
            const wait = error.options.retryAfterSeconds ?? 1;
            return htmlResponse(signInPage(`Too many attempts; try again in ${wait} s.`), 429, { "retry-after": String(wait) });
          }
          throw error;
        }
        // A sign-in replaces the browser's cookie, so the session it replaces is ended, not left valid.
        await endSessionOf(request);
        const opened = await sessions.open(merchant.id, form.key);
        // 303: the browser follows with a GET, so reloading the dashboard never re-sends the key.
        return seeDashboard(sessionCookie(opened.token, { ...opened, secure: sessionCookieIsSecure(request, { trustProxy, production }) }));
      },
      { parse: "none", detail: { hide: true } },
    )
    .post(
      `${DASHBOARD_PATH}/sign-out`,
      async ({ request }) => {
        // The cookie is SameSite=Strict, so a forged form would not carry it; this refuses it before that matters.
        if (isCrossSite(request)) return crossSiteRefusal();
        await endSessionOf(request);
        return seeDashboard(clearedSessionCookie(sessionCookieIsSecure(request, { trustProxy, production })));
      },
      { parse: "none", detail: { hide: true } },
    )
    .get(
      `${DASHBOARD_PATH}/events`,
      async ({ request }) => {
        const session = await sessionOf(request);
        if (!session) throw new Problem("unauthorized", "Sign in to the dashboard first");
        let unsubscribe: (() => void) | undefined;
        let unfile: (() => void) | undefined;
        let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
        const release = () => {
          unsubscribe?.();
          unsubscribe = undefined;
          unfile?.();
          unfile = undefined;
        };
        const end = () => {
          release();
          try {
            controller?.close();
          } catch {
            // Already closed by the client going away.
          }
        };
        const stream = new ReadableStream<Uint8Array>(
          {
            start(c) {
              controller = c;
              // Sent at once so the browser sees the stream open; also sets its reconnect delay.
              c.enqueue(encoder.encode("retry: 2000\n\n"));
            },
            cancel: release,
          },
          { highWaterMark: MAX_QUEUED_FRAMES },
        );
        unsubscribe = service.subscribe(session.merchantId, {
          frame(frame) {
            if (!controller || (controller.desiredSize ?? 0) <= 0) return;
            try {
              controller.enqueue(encodeFrame(frame));
            } catch {
              end();
            }
          },
          closed: end,
        });
        if (!unsubscribe) throw new Problem("dependency_unavailable", "The service is shutting down", { retryAfterSeconds: 2 });
        unfile = streams.add(session.id, end);
        request.signal.addEventListener("abort", end, { once: true });
        return new Response(stream, {
          headers: {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-store",
            // Tells nginx-style proxies to pass events through as they come instead of buffering them.
            "x-accel-buffering": "no",
          },
        });
      },
      { detail: { hide: true } },
    );
}
