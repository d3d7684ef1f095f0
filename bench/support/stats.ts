import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Few samples (process start-up): the whole range and the middle. Milliseconds. */
export interface Spread {
  n: number;
  min: number;
  median: number;
  max: number;
  /** In the order measured: with so few, a reader should see whether the first or one outlier set the range. */
  samples: number[];
}

/** Many samples (1,000 statements): the tail. Milliseconds. */
export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile: the smallest sample with at least q of all samples at or below it. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error("no samples");
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] as number;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export function spread(samples: readonly number[]): Spread {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: round(sorted[0] ?? Number.NaN),
    median: round(percentile(sorted, 0.5)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
    samples: samples.map((ms) => Math.round(ms * 10) / 10),
  };
}

export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 0.5)),
    p95: round(percentile(sorted, 0.95)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted[sorted.length - 1] as number),
    mean: round(sorted.reduce((sum, value) => sum + value, 0) / sorted.length),
  };
}

export function ratio(measured: number, anchor: number): number {
  return Math.round((measured / anchor) * 100) / 100;
}

/** Runs `work` and returns its result with the milliseconds it took. */
export async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const start = performance.now();
  const result = await work();
  return { result, ms: performance.now() - start };
}

/**
 * Full garbage collections, run before a timed figure so that it does not pay for the garbage the previous one
 * left. One is not enough: freeing the previous figure's Buffers finishes concurrently after it and stalled the
 * next figure's first allocations (a 1 ms checkpoint check measured 11-15 ms); a second collection waits for it.
 * `--expose-gc` set at run time makes `gc` visible to contexts created afterwards.
 */
export function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
}

/** Per-call microseconds from timing `batch` calls at once, so the clock's own cost stays out of a 1 µs figure. */
export function perCallUs(call: () => unknown, batch: number): number {
  const start = performance.now();
  for (let i = 0; i < batch; i++) call();
  return ((performance.now() - start) * 1000) / batch;
}
