/**
 * What a benchmark module exports and what it reports. A benchmark is not a test: it measures and compares
 * against a goal and an anchor measured in the same process run, and a goal it misses is a finding, not a failure.
 */

/** A dedicated, migrated database on the PostgreSQL server, created for this suite run and dropped after it. */
export interface BenchServer {
  url: string;
  /** host:port/database, never a password. */
  location: string;
}

export interface BenchContext {
  /** The repository root: bin/aos.js and dist/ live here. */
  root: string;
  /** Undefined when the server is unreachable; benchmarks that need it are then skipped. */
  server: BenchServer | undefined;
  /** A progress line on stderr. */
  progress(message: string): void;
}

/** A figure compared with its bar: `value` is the named statistic of a measurement, in `unit`. */
export interface Goal {
  name: string;
  statistic: string;
  value: number;
  /** "<=": met when value is at most limit (times); ">=": met when value is at least limit (rates, shares). */
  bound: "<=" | ">=";
  limit: number;
  unit: "ms" | "µs" | "%" | "MiB" | "runs" | "rows" | "×";
  met: boolean;
}

export interface BenchmarkReport {
  /** What each figure is, in one or two sentences each, for the results file's reader. */
  describes: Record<string, string>;
  measurements: Record<string, object>;
  /** The reference figures measured in the same process run. */
  anchors: Record<string, object>;
  /** measurement / anchor, named `<measurement>_vs_<anchor>` or similar. */
  ratios: Record<string, number>;
  goals: Goal[];
  /** Settings that shape the figures: repetitions, pool size, warm-up. */
  settings: Record<string, unknown>;
}

export interface Benchmark {
  name: string;
  needsServer: boolean;
  run(ctx: BenchContext): Promise<BenchmarkReport>;
}

export type BenchmarkResult =
  | ({ name: string; status: "ok" } & BenchmarkReport)
  | { name: string; status: "skipped" | "failed"; reason: string };

/** A time that must stay at or under its limit. */
export function goal(name: string, statistic: string, value: number, limit: number): Goal {
  return { name, statistic, value, bound: "<=", limit, unit: "ms", met: value <= limit };
}

/** A share (percent) that must reach its limit, such as a rate measured against an anchor's rate. */
export function goalAtLeast(name: string, statistic: string, value: number, limit: number): Goal {
  return { name, statistic, value, bound: ">=", limit, unit: "%", met: value >= limit };
}
