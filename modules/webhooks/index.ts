export { webhookEndpoints, webhookEvents, webhookDeliveries, webhookDeliveryAttempts } from "./schema";
export type { DeliveryStatus, WebhookEventType } from "./schema";
export { enqueueDisputeEvents, enqueuePaymentEvent, enqueuePaymentEvents, enqueueRefundEvents, type WebhookEvent } from "./events";
export {
  createWebhookDispatcher,
  webhookRetryDelayMs,
  type WebhookDispatcher,
  type WebhookDispatcherOptions,
} from "./dispatcher";
export {
  type AddressClass,
  classifyAddress,
  type DestinationPolicy,
  type HostResolver,
  parseIpLiteral,
  type ResolvedAddress,
} from "./destination";
export { checkEndpointUrl, type EndpointUrlCheck } from "./endpoint-url";
export { createPinnedTransport, type PinnedDestination, type PinnedTransportOptions, type WebhookRequest, type WebhookTransport } from "./transport";
export { createWebhookService, type WebhookService, type WebhookServiceDeps } from "./service";
export { webhookRoutes, type WebhookRouteDeps } from "./routes";
export { resealWebhookSecrets, WebhookSecretBox } from "./secret-box";
export { EVENT_ID } from "./ids";
export { SIGNATURE_HEADER, signWebhookPayload, verifyWebhookSignature, type SignatureVerification } from "./signing";
