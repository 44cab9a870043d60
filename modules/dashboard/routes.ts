import { Elysia } from "elysia";
import type { Merchant } from "../auth";
import { type MerchantGuard, Problem } from "../http";
import { dashboardPage, type HtmlPage, signInPage } from "./page";
import type { DashboardFrame, DashboardService } from "./service";

export interface DashboardRouteDeps {
  service: DashboardService;
  /** The same guard as the API (authentication + rate limit); it reads `Authorization: Bearer`. */
  merchantOf: MerchantGuard;
}

/**
 * Browsers cannot set headers on a page load or on an EventSource, so the dashboard also takes
 * the API key as `?key=`; it is handed to the merchant guard as the Bearer header it expects.
 * An Authorization header, when present, wins.
 */
function authenticate(merchantOf: MerchantGuard, request: Request): Merchant {
  const key = new URL(request.url).searchParams.get("key");
  if (request.headers.has("authorization") || !key) return merchantOf(request);
  // A key that cannot travel in a header (a NUL, a line break, non-Latin-1) is no one's key.
  if (!/^[\x21-\x7e]{1,512}$/.test(key)) throw new Problem("unauthorized", "Send a valid API key");
  return merchantOf(new Request(request.url, { headers: { authorization: `Bearer ${key}` } }));
}

const htmlResponse = (page: HtmlPage, status = 200) =>
  new Response(page.html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": page.contentSecurityPolicy },
  });

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

/** The live dashboard: an HTML page and the Server-Sent Events stream it listens to. */
export function dashboardRoutes({ service, merchantOf }: DashboardRouteDeps) {
  return new Elysia({ name: "dashboard" })
    .get(
      "/dashboard",
      ({ request }) => {
        try {
          authenticate(merchantOf, request);
        } catch (error) {
          // A person opened the page without (or with a wrong) key: ask for it rather than show JSON.
          if (error instanceof Problem && error.type === "unauthorized") return htmlResponse(signInPage, 401);
          throw error;
        }
        return htmlResponse(dashboardPage);
      },
      { detail: { hide: true } },
    )
    .get(
      "/dashboard/events",
      ({ request }) => {
        const merchant = authenticate(merchantOf, request);
        let unsubscribe: (() => void) | undefined;
        let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
        const end = () => {
          unsubscribe?.();
          unsubscribe = undefined;
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
            cancel: () => {
              unsubscribe?.();
              unsubscribe = undefined;
            },
          },
          { highWaterMark: MAX_QUEUED_FRAMES },
        );
        unsubscribe = service.subscribe(merchant.id, {
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
