export { createSimulatorGateway, type SimulatedFault, type SimulatorOptions } from "./simulator-gateway";
export { simulatorCharges } from "./schema";
export { type ActionChoice, actionPageHtml, completeAction, findWaitingAction, type WaitingAction } from "./action-page";
