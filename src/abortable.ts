// The one place AOS races work against an AbortSignal: a skill's call against its step's signal (the step timeout,
// a lost lease, a second Ctrl-C), and every retry delay against the signal of whoever may cut it short.

/**
 * Settles with `work`, or rejects with the signal's reason as soon as it aborts (at once if it already has),
 * whichever comes first. The work itself goes on (a promise cannot be stopped); its later failure is ignored. A
 * write it still makes carries its step's idempotency key, so the step's next attempt does not apply it again.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  work.catch(() => undefined);
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

/** A delay that the signal cuts short: resolves true when it ran its course, false when the signal aborted first. */
export async function abortableDelay(ms: number, signal?: AbortSignal): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<true>((resolve) => {
    timer = setTimeout(resolve, ms, true);
  });
  try {
    return await untilAborted(elapsed, signal);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
