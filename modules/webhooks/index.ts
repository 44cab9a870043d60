export { webhookEndpoints, webhookEvents, webhookDeliveries, webhookDeliveryAttempts } from "./schema";
export type { DeliveryStatus, WebhookEventType } from "./schema";
export { enqueuePaymentEvent, enqueuePaymentEvents, type WebhookEvent } from "./events";
export {
  createWebhookDispatcher,
  webhookRetryDelayMs,
  type WebhookDispatcher,
  type WebhookDispatcherOptions,
  type WebhookFetch,
  type WebhookLogger,
} from "./dispatcher";
export { createWebhookService, type WebhookService, type WebhookServiceDeps } from "./service";
export { webhookRoutes, type WebhookRouteDeps } from "./routes";
export { WebhookSecretBox } from "./secret-box";
export { EVENT_ID } from "./ids";
export { SIGNATURE_HEADER, signWebhookPayload, verifyWebhookSignature, type SignatureVerification } from "./signing";
