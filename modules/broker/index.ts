export type { Broker, BrokerBacklog, MessageHandler, OutboxRelay, PaymentConsumer, PaymentMessage, QueuedWork } from "./port";
export { createPostgresQueue, type PostgresQueueOptions } from "./postgres-queue";
export { enqueuePayment, enqueuePayments, hasQueuedPaymentMessage, hasQueuedRefundMessage, paymentMessagesInsert, paymentMessagesFor, enqueueDeadLetter, outboxBacklog, type OutboxBacklog } from "./outbox";
export { kafkaRelayed, outbox, type OutboxRow, type OutboxTopic } from "./schema";
// The Kafka adapter is its own entry point (./kafka) so that KafkaJS is loaded only with BROKER=kafka.
