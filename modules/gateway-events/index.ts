export { type EventGateway, type EventSubject, type GatewayEvent, paypalSubject, type StripeEventObject, stripeSubject } from "./events";
export { GATEWAY_EVENT_RESULTS, type GatewayEventResult, gatewayEvents } from "./schema";
export { countGatewayEvents, createGatewayEventService, type EventHandling, type GatewayEventService, type GatewayEventServiceDeps, GatewayRecordUnavailable } from "./service";
export { type EventVerifier, type GatewayEventRouteDeps, gatewayEventRoutes } from "./routes";
export { createGatewayEventPruner, type GatewayEventPruner, PRUNE_BATCH, pruneGatewayEvents } from "./retention";
