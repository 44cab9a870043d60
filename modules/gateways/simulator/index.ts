export { createSimulatorGateway, simulatorChargeCounts, type SimulatorOptions } from "./simulator-gateway";
export { simulatorCharges } from "./schema";
