export type {
  ActionOutcome,
  ActionRequest,
  CaptureRequest,
  CardDataAcceptance,
  ChargeOutcome,
  CardData,
  ChargeRequest,
  Gateway,
  GatewayCardView,
  GatewayAmount,
  GatewayErrorLog,
  GatewayName,
  GatewayOperations,
  GatewayPayerView,
  LookupOutcome,
  LookupRequest,
  OperationLookupRequest,
  OperationOutcome,
  PaymentSource,
  RefundRequest,
  VoidRequest,
} from "./port";
export { AUTHENTICATION_EXPIRED, AUTHENTICATION_FAILED, AUTHENTICATION_REQUIRED, GATEWAY_CONFIGURATION_ERROR, GATEWAY_LIMITS, PAYMENT_METHOD_NOT_FOUND } from "./port";
export {
  type ActionChoice,
  actionPageHtml,
  completeAction,
  createSimulatorGateway,
  findWaitingAction,
  type SimulatedFault,
  simulatorCharges,
  type SimulatorOptions,
  type WaitingAction,
} from "./simulator";
// The Stripe and PayPal adapters are their own entry points (./stripe, ./paypal) so that a
// process loads an SDK only when GATEWAY selects it: each weighs tens of MB of memory.
