/**
 * Runtime settings every paystream process is started with (JavaScriptCore's and those of Bun's
 * allocator, mimalloc): `npm start` (bootstrap.mjs) and the container image (Dockerfile, checked
 * against this list by tests/unit/deploy-config) set them, and `npm run bench` measures with them.
 * A variable already in the environment wins.
 *
 * BUN_JSC_useFTLJIT=0: JSC's top tier (FTL) kept recompiling the request and worker paths for
 * 10,000+ payments (its JIT threads took 0.07–0.13 CPU-s per 1,000 payments after a 6,000-payment
 * warm-up, about a third of the process), while the code it made was no faster for this I/O-bound
 * work: without it, end to end at saturation took 0.87–0.94 CPU-s per 1,000 payments against
 * 1.0–1.1 (BENCHMARKS.md).
 *
 * BUN_JSC_heapGrowthMaxIncrease=0.6: on a machine with 16 GB of RAM or more, Bun lets the JS heap
 * grow to about (1 + 2.0) times what the last collection left alive before it collects again, so
 * under load a process's heap sat at three times its live data: Kafka `--role=all` peaked at
 * 220–240 MB RSS over 20,000 payments with a live heap of about 20 MB. At 0.6 the heap grows to
 * 1.6 times its live data (JSC's own default below 16 GB is 2): 134–142 MB, with no CPU cost
 * measurable at saturation (api + worker 0.56 against 0.58 CPU-s per 1,000 payments over five
 * alternated rounds; BENCHMARKS.md).
 *
 * MIMALLOC_PURGE_DELAY=1000: mimalloc gives freed memory back to the system 100 ms after it was
 * freed; each give-back is an madvise whose TLB shootdown interrupts the process's other threads,
 * and on a paravirtualized machine those interrupts showed as 7 % of the api's CPU (`perf`). A
 * second's delay: api + worker at saturation 0.51 against 0.57 CPU-s per 1,000 payments (lower in 9
 * of 9 alternated pairs), 2.6 instead of 3.6 scavenger wake-ups/s idle, and Kafka `--role=all`'s
 * peak RSS 139–146 MB against 139–141.
 *
 * BUN_JSC_useOMGJIT=0: the only WebAssembly here is PGlite, the embedded database of `npm start`.
 * An idle PGlite process kept handing its functions to JSC's optimizing WebAssembly tier (OMG), one
 * sweep or poll at a time, for minutes after start: `perf` put about half of the idle process's
 * CPU in that compiler's thread. With the baseline tier only, idle `--role=all` on PGlite took
 * 0.93–1.30 % of a core against 1.40–1.77 % (lower in 4 of 4 alternated pairs); 8,000 payments
 * through PGlite cost the same within this machine's noise (1.41–2.21 against 1.43–1.96 CPU-s per
 * 1,000). Processes on a PostgreSQL server run no WebAssembly, so it changes nothing for them.
 */
export const RUNTIME_ENV = Object.freeze({
  BUN_JSC_useFTLJIT: "0",
  BUN_JSC_heapGrowthMaxIncrease: "0.6",
  MIMALLOC_PURGE_DELAY: "1000",
  BUN_JSC_useOMGJIT: "0",
});

/** `env` with the runtime settings it does not set itself. */
export function withRuntimeEnv(env) {
  return { ...RUNTIME_ENV, ...env };
}
