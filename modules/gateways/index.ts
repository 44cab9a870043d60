export type { ChargeOutcome, ChargeRequest, Gateway, GatewayName } from "./port";
export { createSimulatorGateway, simulatorChargeCounts, simulatorCharges, type SimulatorOptions } from "./simulator";
export { createStripeGateway, type StripeGatewayOptions } from "./stripe";
export { createPaypalGateway, type PaypalGatewayOptions } from "./paypal";
