/** Exponential backoff: min(base · 2^(n-1), max) for the n-th failure (n ≥ 1). */
export function backoffMs(failureNumber: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, failureNumber - 1);
  return Math.min(baseMs * 2 ** exponent, maxMs);
}

/** A delay that an AbortSignal cuts short; resolves false when aborted. */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
