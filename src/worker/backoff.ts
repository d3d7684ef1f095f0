/** Exponential backoff: min(base · 2^(n-1), max) for the n-th failure (n ≥ 1). */
export function backoffMs(failureNumber: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, failureNumber - 1);
  return Math.min(baseMs * 2 ** exponent, maxMs);
}
