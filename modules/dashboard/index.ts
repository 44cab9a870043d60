export { createDashboardService, type DashboardDeps, type DashboardFrame, type DashboardListener, type DashboardService } from "./service";
export { dashboardRoutes, type DashboardRouteDeps } from "./routes";
export { loadDashboardSnapshot, type DashboardSnapshot, type RecentPayment, type ThroughputBucket } from "./snapshot";
