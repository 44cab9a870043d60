/**
 * `work`'s result, or `value` if `signal` is aborted first (at once if it already is). The abort
 * listener is removed once `work` settles: a long-lived signal (a worker's stop) sees millions of
 * calls. `work` itself runs on; only the wait for it ends.
 */
export async function unlessAborted<T, V>(work: Promise<T>, signal: AbortSignal | undefined, value: V): Promise<T | V> {
  if (!signal) return work;
  if (signal.aborted) return value;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<V>((resolve) => {
    onAbort = () => resolve(value);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, stopped]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
