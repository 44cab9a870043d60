import type { SQL, SQLWrapper } from "drizzle-orm";

/**
 * What travels from intake to the workers: just ids (the database holds the rest). A message
 * with a payment id alone means "run the payment's pending operation" (charge, authorize,
 * capture or void: the payment row says which); with a refund id, "run this refund". Both are
 * keyed by the payment id, so a payment's work stays on one Kafka partition.
 */
export interface PaymentMessage {
  paymentId: string;
  /** Set when the message is for a refund of the payment. */
  refundId?: string;
  /** The HTTP request id that created the payment (or refund, capture, cancel), so logs can follow it across processes. */
  requestId: string | null;
}

/**
 * Called once per delivered message. Resolving means "handled, acknowledge it"; throwing means
 * "could not handle now" and the message is delivered again later. Delivery is at-least-once,
 * so handlers must be idempotent.
 */
export type MessageHandler = (message: PaymentMessage) => Promise<void>;

/** Why a broker message went to the dead-letter topic instead of a handler's success. */
export type UnprocessableReason = "unreadable_message" | "processing_failed";

/** The worker side of a broker. */
export interface PaymentConsumer {
  start(handler: MessageHandler): Promise<void>;
  /** Stops taking messages, waits for the ones in flight, acknowledges them, disconnects. */
  stop(): Promise<void>;
  /** Why it takes no messages now (e.g. it is joining its group again after a crash); undefined while it does. */
  unavailable?(): string | undefined;
}

/** The api side of a broker: moves committed outbox rows onward (nothing to do for the embedded queue). */
export interface OutboxRelay {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The broker's answer to "is a message for this work still waiting to be consumed?", as SQL over
 * a payment id (and a refund id) inside the sweeper's statements. It is taken afresh for each
 * sweep (with Kafka it holds the group's committed offsets of that moment).
 */
export interface QueuedWork {
  payment(paymentId: SQLWrapper): SQL;
  refund(paymentId: SQLWrapper, refundId: SQLWrapper): SQL;
}

/** The backlog of payment messages (every worker's, or only some payments'), for metrics and the dashboard. */
export interface BrokerBacklog {
  /** Messages published but not yet handled (the consumer lag), or, for some payments only, theirs waiting in the outbox or the topic. */
  messages: number;
  /** Seconds since the oldest of them fell due; 0 when none waits. */
  oldestAgeSeconds: number;
  /** Messages consumed per second over about the last minute; undefined until two readings of this process span some time. */
  drainPerSecond: number | undefined;
}

export interface Broker {
  readonly kind: "postgres" | "kafka";
  /**
   * `messageDeadLettered`: told each time a broker message that cannot be processed (unreadable,
   * or failing on its own after bounded attempts) is moved to the dead-letter topic (Kafka only).
   */
  createConsumer(options: { concurrency: number; messageDeadLettered?: (reason: UnprocessableReason) => void }): PaymentConsumer;
  createRelay(): OutboxRelay | undefined;
  /** Throws when the broker cannot be reached (readiness). */
  check(): Promise<void>;
  /** Messages published but not yet handled by the workers (consumer lag), for metrics. */
  lag(): Promise<number>;
  /** The sweeper's predicate of queued work, for one sweep (see QueuedWork). */
  queuedWork(): Promise<QueuedWork>;
  /**
   * Lag, the age of the oldest waiting message and the drain rate (service-wide), for metrics; with
   * `only` (a predicate over a payment id: a merchant's payments), the messages and age of those
   * payments alone, for the dashboard.
   */
  backlog(only?: (paymentId: SQLWrapper) => SQL): Promise<BrokerBacklog>;
  close(): Promise<void>;
}
