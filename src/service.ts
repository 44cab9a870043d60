import type { Config, Role } from "./config";
import { startApi } from "./api";
import { buildContext, closeContext, displayHost, type StopStep } from "./context";
import type { Logger } from "./logger";
import { startWorker } from "./worker";

export interface RunningService {
  url: string | undefined;
  /** Stops every role; `graceEndsAt` (performance.now() time, default SHUTDOWN_GRACE_MS from now) is when the process gives up. */
  stop(graceEndsAt?: number): Promise<void>;
}

/**
 * Builds the context once and starts what the role asks for. Stopping runs in order: no new
 * requests, drain workers, then close the broker and the pools.
 */
export async function startService(config: Config, role: Role, logger: Logger): Promise<RunningService> {
  const ctx = await buildContext(config, logger);
  for (const warning of config.warnings) logger.warn(warning);
  const stops: StopStep[] = [];
  let url: string | undefined;

  if (config.ops.port !== undefined) {
    // Operators' port, for every role: health and metrics where the public cannot reach them.
    const ops = ctx.httpApp([], "open");
    ops.listen({ port: config.ops.port, hostname: config.ops.host });
    stops.push(async () => {
      await ops.stop();
    });
    logger.info({ url: `http://${displayHost(config.ops.host)}:${ops.server?.port}/metrics` }, "health and metrics listening");
  } else if (!config.ops.publicMetrics && !config.ops.metricsToken) {
    logger.warn("/metrics is not served: set OPS_PORT (a port kept off the public network) or METRICS_TOKEN");
  }
  if (role === "api" || role === "all") {
    const api = await startApi(ctx);
    url = api.url;
    stops.push(...api.stops);
  }
  if (role === "worker" || role === "all") stops.push(...(await startWorker(ctx)));

  return {
    url,
    async stop(graceEndsAt = performance.now() + config.shutdownGraceMs) {
      for (const stop of stops) {
        const began = performance.now();
        await stop({ graceEndsAt });
        logger.debug({ step: stop.name || "anonymous", ms: Math.round(performance.now() - began) }, "shutdown step done");
      }
      await closeContext(ctx);
    },
  };
}
