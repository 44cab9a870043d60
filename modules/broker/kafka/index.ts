export { createKafkaBroker, type KafkaBrokerOptions } from "./kafka-broker";
