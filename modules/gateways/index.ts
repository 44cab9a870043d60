export type { ChargeOutcome, ChargeRequest, Gateway, GatewayName } from "./port";
export { createSimulatorGateway, simulatorChargeCounts, simulatorCharges, type SimulatorOptions } from "./simulator";
