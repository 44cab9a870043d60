export { createSimulatorGateway, type SimulatorOptions } from "./simulator-gateway";
export { simulatorCharges } from "./schema";
