/**
 * JavaScriptCore settings every paystream process is started with: `npm start` (bootstrap.mjs)
 * and the container image (Dockerfile, checked against this list by tests/unit/deploy-config)
 * set them, and `npm run bench` measures with them. A variable already in the environment wins.
 *
 * BUN_JSC_useFTLJIT=0: JSC's top tier (FTL) kept recompiling the request and worker paths for
 * 10,000+ payments (its JIT threads took 0.07–0.13 CPU-s per 1,000 payments after a 6,000-payment
 * warm-up, about a third of the process), while the code it made was no faster for this I/O-bound
 * work: without it, end to end at saturation took 0.87–0.94 CPU-s per 1,000 payments against
 * 1.0–1.1 (BENCHMARKS.md).
 */
export const RUNTIME_ENV = Object.freeze({ BUN_JSC_useFTLJIT: "0" });

/** `env` with the runtime settings it does not set itself. */
export function withRuntimeEnv(env) {
  return { ...RUNTIME_ENV, ...env };
}
