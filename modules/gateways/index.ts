export type {
  CaptureRequest,
  CardDataAcceptance,
  ChargeOutcome,
  CardData,
  ChargeRequest,
  DisputeRecord,
  GatewayDispute,
  GatewayDisputeStatus,
  GatewayRecords,
  RefundRecord,
  Gateway,
  GatewayCardView,
  GatewayAmount,
  GatewayErrorLog,
  GatewayName,
  GatewayOperations,
  LookupOutcome,
  LookupRequest,
  OperationLookupRequest,
  OperationOutcome,
  PaymentSource,
  RefundRequest,
  VoidRequest,
} from "./port";
export { GATEWAY_CONFIGURATION_ERROR, GATEWAY_LIMITS, PAYMENT_METHOD_NOT_FOUND } from "./port";
export { createSimulatorGateway, type SimulatedFault, simulatorCharges, type SimulatorOptions } from "./simulator";
// The Stripe and PayPal adapters are their own entry points (./stripe, ./paypal) so that a
// process loads an SDK only when GATEWAY selects it: each weighs tens of MB of memory.
