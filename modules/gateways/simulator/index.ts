export { createSimulatorGateway, type SimulatedFault, type SimulatorOptions } from "./simulator-gateway";
export { simulatorCharges } from "./schema";
