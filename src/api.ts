import { ApiKeyAuthenticator, RateLimiter } from "../modules/auth";
import { outboxBacklog } from "../modules/broker";
import { createDashboardService, createDashboardSessions, dashboardRoutes } from "../modules/dashboard";
import { createMerchantGuard } from "../modules/http";
import {
  createGatewayEventService,
  type EventGateway,
  type EventVerifier,
  gatewayEventRoutes,
  GatewayRecordUnavailable,
  paypalSubject,
  stripeSubject,
} from "../modules/gateway-events";
import { createIntakeService, createRefundService, intakeRoutes, refundRoutes } from "../modules/intake";
import { createWebhookService, enqueuePaymentEvents, webhookRoutes } from "../modules/webhooks";
import { type Config, DEV_API_KEY } from "./config";
import { simulatorPages } from "./simulator-pages";
import { displayHost, type ServiceContext, type StopStep } from "./context";

/** Far above any route's own limit, so oversized bodies get our 413 problem+json (decided from Content-Length, unread). */
const SERVER_MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The signature check of the configured gateway's events, when its webhook secret (Stripe) or id
 * (PayPal) is set: the SDK of that gateway is loaded for it, as for the adapter.
 */
async function eventVerifiers(config: Config): Promise<Partial<Record<EventGateway, EventVerifier>>> {
  const { gateway } = config;
  if (gateway.kind === "stripe" && gateway.webhookSecret !== undefined) {
    const { createStripeEventVerifier } = await import("../modules/gateways/stripe");
    const verify = createStripeEventVerifier(gateway.webhookSecret);
    return {
      async stripe({ body, header }) {
        const event = await verify(body, header("stripe-signature"));
        return event && { gateway: "stripe", id: event.id, type: event.type, subject: stripeSubject(event.type, event.object) };
      },
    };
  }
  if (gateway.kind === "paypal" && gateway.webhookId !== undefined) {
    const { createPaypalEventVerifier } = await import("../modules/gateways/paypal");
    const verify = createPaypalEventVerifier({ ...gateway, webhookId: gateway.webhookId });
    return {
      async paypal({ body, header }) {
        const verified = await verify(body, header);
        if (verified.kind === "unavailable") throw new GatewayRecordUnavailable(`PayPal could not verify the event's signature: ${verified.reason}`);
        if (verified.kind === "refused") return null;
        const { event } = verified;
        return { gateway: "paypal", id: event.id, type: event.type, subject: paypalSubject(event.type, event.resource) };
      },
    };
  }
  return {};
}

/** The api role: the merchant HTTP API, the dashboard and (BROKER=kafka) the outbox relay. */
export async function startApi(ctx: ServiceContext): Promise<{ url: string; stops: StopStep[] }> {
  const { config, logger, database, metrics, broker, gateway } = ctx;
  if (!config.apiKeys)
    logger.warn({ merchantId: DEV_API_KEY.merchantId }, `API_KEYS not set: accepting the development key ${DEV_API_KEY.secret}`);
  const merchantOf = createMerchantGuard(new ApiKeyAuthenticator(ctx.apiKeys), new RateLimiter(config.rateLimitRps), ctx.failedAuthentications);
  const intake = createIntakeService({
    db: database.db,
    vault: ctx.vault,
    gateway,
    allowLoopbackHttpUrls: config.env !== "production",
    onCreated: (payment, requestId) => {
      metrics.paymentCreated();
      logger.info({ paymentId: payment.id, requestId, amount: payment.amount, currency: payment.currency }, "payment accepted");
    },
    onRequested: (payment, kind, requestId) => {
      // A PENDING payment canceled here became final without a worker: count it as the worker counts its own.
      if (kind === "cancel") metrics.paymentFinalized(payment.status, null, (Date.now() - Date.parse(payment.createdAt)) / 1000);
      logger.info({ paymentId: payment.id, requestId, status: payment.status }, `payment ${kind} accepted`);
    },
    onFinalInTransaction: enqueuePaymentEvents,
  });
  const refunds = createRefundService({
    db: database.db,
    digests: ctx.vault,
    gateway,
    onCreated: (refund, requestId) =>
      logger.info({ refundId: refund.id, paymentId: refund.paymentId, requestId, amount: refund.amount, currency: refund.currency }, "refund accepted"),
  });
  const gatewayEvents = createGatewayEventService({
    db: database.db,
    gateway,
    checkDue: () => {
      for (const wake of ctx.reconcilerWakers) wake();
    },
    handled: (event, result) => {
      metrics.gatewayEvent(event.gateway, event.type, result);
      logger.info({ gateway: event.gateway, eventId: event.id, type: event.type, result }, "gateway event handled");
    },
  });
  const dashboard = createDashboardService({ db: database.db, logger: logger.child({ component: "dashboard" }), backlogOf: (only) => broker.backlog(only) });
  // In production /metrics answers on the API port only with the token; otherwise it lives on OPS_PORT.
  const app = ctx.httpApp(
    [
      intakeRoutes({ service: intake, merchantOf }),
      refundRoutes({ service: refunds, merchantOf }),
      webhookRoutes({
        service: createWebhookService({ db: database.db, secrets: ctx.webhookSecrets, destinations: config.webhooks.destinations }),
        merchantOf,
      }),
      gatewayEventRoutes({
        service: gatewayEvents,
        verifiers: await eventVerifiers(config),
        merchantOf,
        failedSignatures: ctx.failedAuthentications,
        rejected: (name) => {
          metrics.gatewayEvent(name, "unverified", "invalid_signature");
          logger.warn({ gateway: name }, "gateway event refused: missing or invalid signature");
        },
      }),
      dashboardRoutes({
        service: dashboard,
        sessions: createDashboardSessions(database.db, { liveApiKeys: ctx.apiKeys.map((k) => k.secret), digests: ctx.vault }),
        merchantOf,
        trustProxy: config.trustProxy,
        production: config.env === "production",
      }),
      // The simulator's own 3-D Secure and PayPal approval page (it charges nothing; never in production).
      ...(gateway.name === "simulator" && config.env !== "production" ? [simulatorPages(database.db, logger.child({ component: "simulator" }), () => {
            for (const wake of ctx.reconcilerWakers) wake();
          })] : []),
    ],
    config.ops.publicMetrics ? "open" : "hidden",
  );
  app.listen({ port: config.http.port, hostname: config.http.host, maxRequestBodySize: SERVER_MAX_BODY_BYTES });
  const url = `http://${displayHost(config.http.host)}:${app.server?.port}`;
  // Without PUBLIC_URL, browsers reach this process where it listens (PORT may have been 0).
  if (config.publicUrl === undefined) ctx.publicUrl.value = url;
  const stops: StopStep[] = [
    // Open dashboard streams never end by themselves, and the server's stop waits for every response.
    async () => dashboard.close(),
    async () => {
      await app.stop();
    },
  ];
  const relay = broker.createRelay();
  if (relay) {
    await relay.start();
    stops.push(() => relay.stop());
  }
  metrics.setBacklogSource(() => outboxBacklog(database.db));
  logger.info({ url, docs: `${url}/docs`, broker: broker.kind, gateway: gateway.name }, "api listening");
  return { url, stops };
}
