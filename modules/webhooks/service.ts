import type { Database } from "../database";
import type { FieldError } from "../http";
import type { DestinationPolicy } from "./destination";
import { checkEndpointUrl } from "./endpoint-url";
import type { WebhookEvent } from "./events";
import {
  deleteEndpoint,
  enableEndpoint,
  type EventListQuery,
  type EventWithDelivery,
  findEndpoint,
  listDeliveryAttempts,
  listEvents,
  upsertEndpoint,
} from "./repository";
import type { DeliveryStatus, WebhookEndpointRow } from "./schema";
import type { WebhookSecretBox } from "./secret-box";
import { newWebhookSecret } from "./signing";

export interface WebhookServiceDeps {
  db: Database;
  secrets: WebhookSecretBox;
  /** Which endpoint URLs are accepted; the dispatcher applies the same policy at every delivery. */
  destinations: DestinationPolicy;
}

export interface WebhookEndpointView {
  url: string;
  createdAt: string;
  /** `disabled`: every attempt failed for longer than WEBHOOK_DISABLE_AFTER_MS; nothing is sent until it is enabled again. */
  status: "enabled" | "disabled";
  /** Since when every attempt has failed; null while the endpoint answers. */
  failingSince: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
}

function toEndpointView(row: WebhookEndpointRow): WebhookEndpointView {
  return {
    url: row.url,
    createdAt: row.createdAt.toISOString(),
    status: row.disabledAt ? "disabled" : "enabled",
    failingSince: row.failingSince ? row.failingSince.toISOString() : null,
    disabledAt: row.disabledAt ? row.disabledAt.toISOString() : null,
    disabledReason: row.disabledReason,
  };
}

export interface WebhookEventView extends WebhookEvent {
  paymentId: string;
  delivery: {
    status: DeliveryStatus;
    attempts: number;
    nextAttemptAt: string | null;
    lastStatusCode: number | null;
    lastError: string | null;
    deliveredAt: string | null;
  };
}

export interface DeliveryAttemptView {
  attempt: number;
  attemptedAt: string;
  url: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export type RegisterEndpointResult =
  | { kind: "registered"; endpoint: { url: string; secret: string; createdAt: string } }
  | { kind: "invalid"; errors: FieldError[] };

function toEventView(row: EventWithDelivery): WebhookEventView {
  const event = JSON.parse(row.body) as WebhookEvent;
  return {
    id: row.id,
    type: row.type,
    createdAt: row.createdAt.toISOString(),
    paymentId: row.paymentId,
    data: event.data,
    delivery: {
      status: row.status,
      attempts: row.attempts,
      nextAttemptAt: row.status === "pending" ? row.nextAttemptAt.toISOString() : null,
      lastStatusCode: row.lastStatusCode,
      lastError: row.lastError,
      deliveredAt: row.deliveredAt ? row.deliveredAt.toISOString() : null,
    },
  };
}

/** The merchant-facing side of webhooks: the endpoint, its secret, and what was sent to it. */
export interface WebhookService {
  /** Creates the endpoint or replaces its URL; either way a new secret, returned only here. */
  registerEndpoint(merchantId: string, body: unknown): Promise<RegisterEndpointResult>;
  getEndpoint(merchantId: string): Promise<WebhookEndpointView | undefined>;
  /** Enables a disabled endpoint again (its failure record cleared); undefined when there is none. */
  enableEndpoint(merchantId: string): Promise<WebhookEndpointView | undefined>;
  /** False when there was no endpoint. Pending deliveries are given up with it. */
  deleteEndpoint(merchantId: string): Promise<boolean>;
  listEvents(merchantId: string, query: EventListQuery): Promise<{ data: WebhookEventView[]; hasMore: boolean }>;
  /** undefined when the event does not exist or belongs to another merchant. */
  listDeliveryAttempts(merchantId: string, eventId: string): Promise<{ data: DeliveryAttemptView[] } | undefined>;
}

export function createWebhookService(deps: WebhookServiceDeps): WebhookService {
  const { db, secrets, destinations } = deps;

  return {
    async registerEndpoint(merchantId: string, body: unknown): Promise<RegisterEndpointResult> {
      const checked = checkEndpointUrl(body, destinations);
      if (!checked.ok) return { kind: "invalid", errors: checked.errors };
      const secret = newWebhookSecret();
      const row = await upsertEndpoint(db, { merchantId, url: checked.url, secret: secrets.seal(secret) });
      return { kind: "registered", endpoint: { url: row.url, secret, createdAt: row.createdAt.toISOString() } };
    },

    async getEndpoint(merchantId: string): Promise<WebhookEndpointView | undefined> {
      const row = await findEndpoint(db, merchantId);
      return row ? toEndpointView(row) : undefined;
    },

    async enableEndpoint(merchantId: string): Promise<WebhookEndpointView | undefined> {
      const row = await enableEndpoint(db, merchantId);
      return row ? toEndpointView(row) : undefined;
    },

    deleteEndpoint: (merchantId: string): Promise<boolean> => deleteEndpoint(db, merchantId),

    async listEvents(merchantId: string, query: EventListQuery): Promise<{ data: WebhookEventView[]; hasMore: boolean }> {
      const { rows, hasMore } = await listEvents(db, merchantId, query);
      return { data: rows.map(toEventView), hasMore };
    },

    async listDeliveryAttempts(merchantId: string, eventId: string): Promise<{ data: DeliveryAttemptView[] } | undefined> {
      const rows = await listDeliveryAttempts(db, merchantId, eventId);
      if (!rows) return undefined;
      return {
        data: rows.map((r) => ({
          attempt: r.attempt,
          attemptedAt: r.attemptedAt.toISOString(),
          url: r.url,
          statusCode: r.statusCode,
          error: r.error,
          durationMs: r.durationMs,
        })),
      };
    },
  };
}
