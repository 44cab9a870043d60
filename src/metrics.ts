import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Label combinations of the HTTP histogram whose child is kept (methods are the client's to choose). */
const MAX_CACHED_SERIES = 512;

/** Prometheus metrics of one process. Labels never carry payment data. */
export interface Metrics {
  registry: Registry;
  /** Every role reports how many payments wait for the gateway to tell whether they were charged. */
  setUnresolvedSource(source: () => Promise<number>): void;
  /** And how many refunds wait for the gateway to tell whether the money went back. */
  setUnresolvedRefundsSource(source: () => Promise<number>): void;
  reconcileCheck(outcome: string): void;
  /** A payment waiting for its customer (REQUIRES_ACTION) was looked up at the gateway. */
  actionCheck(outcome: string): void;
  /** Worker roles report their broker's backlog (consumer lag, oldest message's age, drain rate) at each scrape. */
  setBrokerBacklogSource(source: () => Promise<BrokerBacklog>): void;
  /** The sweeper re-queued `count` payments (or refunds) it found stuck. */
  sweeperRequeued(kind: "payment" | "refund", count: number): void;
  contentType: string;
  render(): Promise<string>;
  observeHttp(method: string, route: string, status: number, seconds: number): void;
  paymentCreated(): void;
  paymentFinalized(status: string, failureCode: string | null, seconds: number): void;
  operationEnded(operation: string, status: string): void;
  refundFinalized(status: string, failureCode: string | null): void;
  /** A payment ended FAILED because the gateway account refused what was asked (docs/CONTRACT.md §9). */
  gatewayConfigurationError(gateway: string): void;
  gatewayCall(gateway: string, outcome: string, seconds: number): void;
  /** Set once at start: 1 when the configured gateway charges nothing (a Stripe test key, PayPal sandbox, the simulator). */
  setGatewayTestMode(gateway: string, testMode: boolean): void;
  retryScheduled(): void;
  deadLettered(): void;
  /** A Kafka message that could not be processed went to `<prefix>.dlq` (unreadable, or failing on its own). */
  brokerMessageDeadLettered(reason: string): void;
  /** The api role reports the outbox backlog at each scrape. */
  setBacklogSource(source: () => Promise<OutboxBacklog>): void;
  /** A gateway's webhook event was handled (or refused), by gateway, event type and result (docs/CONTRACT.md §10). */
  gatewayEvent(gateway: string, type: string, result: string): void;
  /** Every role reports the disputes by status at each scrape. */
  setDisputesSource(source: () => Promise<Record<string, number>>): void;
}

/** What a worker's broker backlog source answers at each scrape (modules/broker BrokerBacklog). */
interface BrokerBacklog {
  messages: number;
  oldestAgeSeconds: number;
  drainPerSecond: number | undefined;
}

/** What the api role's backlog source answers at each scrape. */
interface OutboxBacklog {
  requested: number;
  deadLettered: number;
  oldestDueAgeSeconds: number;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // The event-loop delay is sampled by a timer at this resolution: prom-client's 10 ms default
  // woke an idle process 100 times a second. A block of the loop longer than a second still shows.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1_000 });

  const httpRequests = new Histogram({
    name: "paystream_http_request_duration_seconds",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const httpSeries = new Map<string, ReturnType<typeof httpRequests.labels>>();
  const paymentsCreated = new Counter({
    name: "paystream_payments_created_total",
    help: "Payments accepted by intake",
    registers: [registry],
  });
  const paymentsFinal = new Counter({
    name: "paystream_payments_final_total",
    help: "Payments that reached a final state, by status and failure code",
    labelNames: ["status", "failure_code"] as const,
    registers: [registry],
  });
  const paymentLatency = new Histogram({
    name: "paystream_payment_processing_seconds",
    help: "From message received to final state",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const gatewayCalls = new Histogram({
    name: "paystream_gateway_call_duration_seconds",
    help: "Gateway calls by gateway and outcome",
    labelNames: ["gateway", "outcome"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const retries = new Counter({ name: "paystream_retries_total", help: "Gateway attempts rescheduled", registers: [registry] });
  const deadLetters = new Counter({ name: "paystream_dead_letters_total", help: "Payments dead-lettered", registers: [registry] });
  const brokerDeadLetters = new Counter({
    name: "paystream_broker_messages_dead_lettered_total",
    help: "Broker messages that could not be processed, moved to the dead-letter topic, by reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  // Both outbox gauges come from one query, made when a scrape asks (a timer would wake an idle
  // process to refresh figures nobody reads): the two collects of a scrape share it.
  let backlogSource: (() => Promise<OutboxBacklog>) | undefined;
  let backlogRead: ReturnType<NonNullable<typeof backlogSource>> | undefined;
  const readBacklog = () => {
    if (!backlogSource) return Promise.resolve(undefined);
    backlogRead ??= backlogSource().finally(() => {
      backlogRead = undefined;
    });
    // Scrapes must not fail because the database cannot answer: the gauges keep their last values.
    return backlogRead.catch(() => undefined);
  };
  new Gauge({
    name: "paystream_outbox_backlog",
    help: "Outbox rows waiting, by topic",
    labelNames: ["topic"] as const,
    registers: [registry],
    async collect() {
      const backlog = await readBacklog();
      if (!backlog) return;
      this.labels("requested").set(backlog.requested);
      this.labels("dlq").set(backlog.deadLettered);
    },
  });
  new Gauge({
    name: "paystream_outbox_oldest_due_seconds",
    help: "Age of the oldest due outbox row",
    registers: [registry],
    async collect() {
      const backlog = await readBacklog();
      if (backlog) this.set(backlog.oldestDueAgeSeconds);
    },
  });

  /** A gauge read from `source` at each scrape; a source that cannot answer leaves the last value. */
  function sourcedGauge(name: string, help: string) {
    let source: (() => Promise<number>) | undefined;
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        if (!source) return;
        // Scrapes must not fail because a dependency cannot answer.
        await source().then(
          (value) => this.set(value),
          () => {},
        );
      },
    });
    return (next: () => Promise<number>) => {
      source = next;
    };
  }
  // The three broker gauges come from one reading per scrape, as the outbox gauges above.
  let brokerSource: (() => Promise<BrokerBacklog>) | undefined;
  let brokerRead: Promise<BrokerBacklog> | undefined;
  const readBroker = () => {
    if (!brokerSource) return Promise.resolve(undefined);
    brokerRead ??= brokerSource().finally(() => {
      brokerRead = undefined;
    });
    return brokerRead.catch(() => undefined);
  };
  const brokerGauge = (name: string, help: string, value: (backlog: BrokerBacklog) => number | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const backlog = await readBroker();
        const read = backlog && value(backlog);
        if (read !== undefined) this.set(read);
      },
    });
  brokerGauge("paystream_consumer_lag_messages", "Payment messages published but not yet handled by this deployment's workers", (b) => b.messages);
  brokerGauge(
    "paystream_consumer_oldest_message_age_seconds",
    "Seconds since the oldest payment message still waiting for a worker fell due (service-wide)",
    (b) => b.oldestAgeSeconds,
  );
  brokerGauge(
    "paystream_consumer_drain_rate_per_second",
    "Payment messages consumed per second over about the last minute (service-wide)",
    (b) => b.drainPerSecond,
  );
  const sweeperRequeues = new Counter({
    name: "paystream_sweeper_requeued_total",
    help: "Payments and refunds the sweeper found stuck and queued again, by kind",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  const setUnresolvedSource = sourcedGauge(
    "paystream_payments_unresolved",
    "Payments whose gateway outcome is unknown (the card may have been charged), waiting for the reconciler",
  );
  const setUnresolvedRefundsSource = sourcedGauge(
    "paystream_refunds_unresolved",
    "Refunds whose gateway outcome is unknown (the money may have gone back), waiting for the reconciler",
  );
  const gatewayEvents = new Counter({
    name: "paystream_gateway_events_total",
    help: "Webhook events from the gateways, by gateway, event type and result (applied, unchanged, ignored, duplicate, invalid_signature)",
    labelNames: ["gateway", "type", "result"] as const,
    registers: [registry],
  });
  let disputesSource: (() => Promise<Record<string, number>>) | undefined;
  new Gauge({
    name: "paystream_disputes",
    help: "Disputes (chargebacks) of payments, by status",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      if (!disputesSource) return;
      try {
        for (const [status, n] of Object.entries(await disputesSource())) this.labels(status).set(n);
      } catch {
        // A scrape while the database is away shows the last counts rather than failing.
      }
    },
  });
  const operationsEnded = new Counter({
    name: "paystream_payment_operations_total",
    help: "Payment operations (charge, authorize, capture, void) that ended, by the status they left the payment in",
    labelNames: ["operation", "status"] as const,
    registers: [registry],
  });
  const refundsFinal = new Counter({
    name: "paystream_refunds_final_total",
    help: "Refunds that reached a final state, by status and failure code",
    labelNames: ["status", "failure_code"] as const,
    registers: [registry],
  });
  const configurationErrors = new Counter({
    name: "paystream_gateway_configuration_errors_total",
    help: "Payments that ended FAILED gateway_configuration_error (the gateway account refused the request; nothing was charged), by gateway",
    labelNames: ["gateway"] as const,
    registers: [registry],
  });
  const gatewayTestMode = new Gauge({
    name: "paystream_gateway_test_mode",
    help: "1 when the configured gateway charges nothing (Stripe test key, PayPal sandbox, simulator), 0 when it charges for real",
    labelNames: ["gateway"] as const,
    registers: [registry],
  });
  const reconcileChecks = new Counter({
    name: "paystream_reconcile_checks_total",
    help: "Gateway lookups of payments whose outcome was unknown, by what the gateway said",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });

  const actionChecks = new Counter({
    name: "paystream_customer_action_checks_total",
    help: "Gateway look-ups of payments waiting for their customer (3-D Secure, PayPal approval), by what the gateway said",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });

  return {
    registry,
    actionCheck: (outcome: string) => actionChecks.labels(outcome).inc(),
    setUnresolvedSource,
    setUnresolvedRefundsSource,
    gatewayEvent: (gateway: string, type: string, result: string) => gatewayEvents.labels(gateway, type, result).inc(),
    setDisputesSource: (source: () => Promise<Record<string, number>>) => {
      disputesSource = source;
    },
    reconcileCheck: (outcome: string) => reconcileChecks.labels(outcome).inc(),
    setBrokerBacklogSource(source) {
      brokerSource = source;
    },
    sweeperRequeued: (kind, count) => sweeperRequeues.labels(kind).inc(count),
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observeHttp(method: string, route: string, status: number, seconds: number) {
      // prom-client hashes the labels at every call; the series are few (route patterns), so keep each one's child.
      const key = `${method} ${route} ${status}`;
      let child = httpSeries.get(key);
      if (!child) {
        child = httpRequests.labels(method, route, String(status));
        if (httpSeries.size < MAX_CACHED_SERIES) httpSeries.set(key, child);
      }
      child.observe(seconds);
    },
    paymentCreated: () => paymentsCreated.inc(),
    paymentFinalized(status: string, failureCode: string | null, seconds: number) {
      paymentsFinal.labels(status, failureCode ?? "").inc();
      paymentLatency.observe(seconds);
    },
    operationEnded: (operation: string, status: string) => operationsEnded.labels(operation, status).inc(),
    refundFinalized: (status: string, failureCode: string | null) => refundsFinal.labels(status, failureCode ?? "").inc(),
    gatewayConfigurationError: (gateway: string) => configurationErrors.labels(gateway).inc(),
    gatewayCall(gateway: string, outcome: string, seconds: number) {
      gatewayCalls.labels(gateway, outcome).observe(seconds);
    },
    setGatewayTestMode: (gateway: string, testMode: boolean) => gatewayTestMode.labels(gateway).set(testMode ? 1 : 0),
    retryScheduled: () => retries.inc(),
    deadLettered: () => deadLetters.inc(),
    brokerMessageDeadLettered: (reason: string) => brokerDeadLetters.labels(reason).inc(),
    setBacklogSource(source) {
      backlogSource = source;
    },
  };
}
