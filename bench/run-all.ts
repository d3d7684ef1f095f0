import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { apiThroughput } from "./api-throughput.js";
import { bundleVerify } from "./bundle-verify.js";
import { cliWallTime } from "./cli-wall-time.js";
import { faultRecovery } from "./fault-recovery.js";
import { finalizeCost } from "./finalize-cost.js";
import { inclusionProofBench } from "./inclusion-proof.js";
import { killRecovery } from "./kill-recovery.js";
import { policyDecisionBench } from "./policy-decision.js";
import { proofVerify } from "./proof-verify.js";
import { queueLatency } from "./queue-latency.js";
import { stepOverhead } from "./step-overhead.js";
import { tenantLogBench } from "./tenant-log.js";
import { workerMemory } from "./worker-memory.js";
import { workerThroughput } from "./worker-throughput.js";
import type { Benchmark, BenchContext, BenchmarkResult } from "./support/benchmark.js";
import { loadAverage, machineFacts, type ServerFacts, serverFacts } from "./support/machine.js";
import { createBenchDatabase } from "./support/server-database.js";

/** Every benchmark, in the order they run. A new benchmark is one module and one line here. */
const BENCHMARKS: readonly Benchmark[] = [
  cliWallTime,
  stepOverhead,
  finalizeCost,
  proofVerify,
  bundleVerify,
  inclusionProofBench,
  tenantLogBench,
  policyDecisionBench,
  workerThroughput,
  queueLatency,
  workerMemory,
  killRecovery,
  faultRecovery,
  apiThroughput,
];

const DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/test";

/**
 * `--only name,name` runs just those benchmarks (in the suite's order); without it, every one. An unknown name is
 * an error, so a typo does not silently run nothing.
 */
function selectedBenchmarks(argv: readonly string[]): readonly Benchmark[] {
  const at = argv.indexOf("--only");
  const inline = argv.find((arg) => arg.startsWith("--only="));
  const list = inline !== undefined ? inline.slice("--only=".length) : at >= 0 ? argv[at + 1] : undefined;
  if (list === undefined) {
    if (at >= 0) throw new Error("--only needs a comma-separated list of benchmark names");
    return BENCHMARKS;
  }
  const names = list.split(",").map((name) => name.trim()).filter((name) => name !== "");
  const unknown = names.filter((name) => !BENCHMARKS.some((benchmark) => benchmark.name === name));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`--only: unknown benchmark ${unknown.join(", ") || "(none given)"}; the benchmarks are ${BENCHMARKS.map((b) => b.name).join(", ")}`);
  }
  return BENCHMARKS.filter((benchmark) => names.includes(benchmark.name));
}

const root = fileURLToPath(new URL("..", import.meta.url));
const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

function git(args: string[]): string | undefined {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

async function runBenchmark(benchmark: Benchmark, ctx: BenchContext, serverSkip: string | undefined): Promise<BenchmarkResult> {
  if (benchmark.needsServer && serverSkip !== undefined) return { name: benchmark.name, status: "skipped", reason: serverSkip };
  progress(`${benchmark.name}: start`);
  try {
    return { name: benchmark.name, status: "ok", ...(await benchmark.run(ctx)) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    progress(`${benchmark.name}: failed: ${reason}`);
    return { name: benchmark.name, status: "failed", reason };
  }
}

function printSummary(results: BenchmarkResult[]): void {
  for (const result of results) {
    if (result.status !== "ok") {
      console.log(`${result.name}: ${result.status} (${result.reason})`);
      continue;
    }
    console.log(`${result.name}:`);
    for (const g of result.goals) {
      const verdict = g.met ? "met" : "NOT met";
      const value = `${g.value.toFixed(3).padStart(10)} ${g.unit}`;
      console.log(`  ${g.name.padEnd(32)} ${g.statistic} ${value}   goal ${g.bound} ${g.limit} ${g.unit}   ${verdict}`);
    }
    for (const [name, value] of Object.entries(result.ratios)) console.log(`  ${name.padEnd(40)} x${value}`);
  }
}

async function main(): Promise<number> {
  const selected = selectedBenchmarks(process.argv.slice(2));
  const startedAt = new Date();
  const sha = git(["rev-parse", "--short", "HEAD"]);
  const dirty = sha === undefined ? undefined : git(["--no-optional-locks", "status", "--porcelain", "--untracked-files=no"]) !== "";

  progress("machine facts and fdatasync timing");
  const machine = machineFacts(root);
  const needsServer = selected.some((benchmark) => benchmark.needsServer);
  const setup = needsServer
    ? await createBenchDatabase(process.env.AOS_BENCH_DATABASE_URL || DEFAULT_SERVER_URL)
    : ({ ok: false, reason: "no selected benchmark needs the server" } as const);
  if (!setup.ok && needsServer) progress(`server benchmarks skipped: ${setup.reason}`);

  const results: BenchmarkResult[] = [];
  let server: ServerFacts | { skipped: string };
  try {
    server = setup.ok ? await serverFacts(setup.server.url, setup.server.location) : { skipped: setup.reason };
    const ctx: BenchContext = { root, server: setup.ok ? setup.server : undefined, progress };
    for (const benchmark of selected) results.push(await runBenchmark(benchmark, ctx, setup.ok ? undefined : setup.reason));
  } finally {
    if (setup.ok) await setup.drop();
  }

  const report = {
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    load_average_at_end: loadAverage(),
    git: { sha: sha ?? null, dirty: dirty ?? null },
    ...(selected.length === BENCHMARKS.length ? {} : { only: selected.map((benchmark) => benchmark.name) }),
    machine,
    server,
    benchmarks: results,
  };
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, "Z").replaceAll(":", "-");
  const file = join(dir, `${stamp}-${sha ?? "local"}.json`);
  const text = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(file, text);
  // latest.json is the last complete suite: a run of a few benchmarks (--only) writes its own file only.
  if (selected.length === BENCHMARKS.length) writeFileSync(join(dir, "latest.json"), text);

  printSummary(results);
  console.log(`results: ${file}`);
  return results.some((result) => result.status === "failed") ? 1 : 0;
}

process.exitCode = await main();
