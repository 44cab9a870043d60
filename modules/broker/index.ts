export type { Broker, BrokerLogger, MessageHandler, OutboxRelay, PaymentConsumer, PaymentMessage } from "./port";
export { createPostgresQueue, type PostgresQueueOptions } from "./postgres-queue";
export { enqueuePayment, enqueuePayments, enqueueDeadLetter, outboxBacklog, type OutboxBacklog } from "./outbox";
export { outbox, type OutboxRow, type OutboxTopic } from "./schema";
export { createKafkaBroker, type KafkaBrokerOptions } from "./kafka";
