/** Every table, for drizzle-kit's migration generator. */
export { payments } from "../modules/payments/schema";
export { cardSecrets, vaultKeys } from "../modules/vault/schema";
export { kafkaRelayed, outbox } from "../modules/broker/schema";
export { idempotencyKeys } from "../modules/idempotency/schema";
export { simulatorCharges } from "../modules/gateways/simulator/schema";
export { webhookEndpoints, webhookEvents, webhookDeliveries, webhookDeliveryAttempts } from "../modules/webhooks/schema";
export { dashboardSessions } from "../modules/dashboard/schema";
export { refunds } from "../modules/payments/refund-schema";
export { disputes } from "../modules/payments/dispute-schema";
export { gatewayEvents } from "../modules/gateway-events/schema";
