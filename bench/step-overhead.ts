import { performance } from "node:perf_hooks";
import type { RunEnding } from "../src/glossary.js";
import { createRun } from "../src/services/runs.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { finalizeRun } from "../src/worker/finalize.js";
import type { RunnerDeps } from "../src/worker/runner.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { RUN_INPUT, recordOneStep, WORKER_ID } from "./support/one-step-run.js";
import { withRunnerDeps } from "./support/runner-deps.js";
import { bareInsert, createScratchTable, roundTrip } from "./support/server-anchors.js";
import { percentiles, ratio } from "./support/stats.js";

const RUNS = 1_000;
const WARMUP_MS = 5_000;
const STEP_WRITE_GOAL_MS = 1;
const ATTEST_GOAL_MS = 0.1;
const SUCCEEDED: RunEnding = { status: "succeeded", errorMessage: null, terminationReason: "completed" };

/** create + claim + execute + finalize, as `aos run` does it in-process. */
async function wholeRun(deps: RunnerDeps): Promise<number> {
  const start = performance.now();
  const run = await createRun(deps, RUN_INPUT);
  const ending = await claimAndExecute(deps, run.id, WORKER_ID);
  const ms = performance.now() - start;
  if (ending.status !== "succeeded") throw new Error(`bench run ${run.id} ended ${ending.status}`);
  return ms;
}

/**
 * One step recorded exactly as recordAttempt records it, on a freshly claimed run, with the row's build (redact,
 * canonical payloads, hashes, chain, attestation), the attestation alone and the insert-step-and-advance statement
 * timed apart. The run is then finalized, untimed.
 */
async function stepRecord(deps: RunnerDeps): Promise<{ buildMs: number; attestMs: number; writeMs: number }> {
  const { cursor, recorded, buildMs, attestMs, writeMs } = await recordOneStep(deps);
  await finalizeRun(deps.db.pool, deps.keys, cursor, SUCCEEDED, recorded);
  return { buildMs, attestMs, writeMs };
}

async function measure(ctx: BenchContext, deps: RunnerDeps): Promise<BenchmarkReport> {
  const { db } = deps;
  await createScratchTable(db);

  ctx.progress(`warm-up: whole runs for ${WARMUP_MS / 1000} s, discarded`);
  let warmupRuns = 0;
  for (const end = performance.now() + WARMUP_MS; performance.now() < end; warmupRuns++) {
    await wholeRun(deps);
    await bareInsert(db);
  }

  ctx.progress(`${RUNS} whole runs`);
  const whole: number[] = [];
  for (let i = 0; i < RUNS; i++) whole.push(await wholeRun(deps));

  ctx.progress(`${RUNS} step records interleaved with ${RUNS} bare INSERT transactions and ${RUNS} round trips`);
  const trips: number[] = [];
  const bare: number[] = [];
  const build: number[] = [];
  const attestations: number[] = [];
  const write: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    trips.push(await roundTrip(db));
    bare.push(await bareInsert(db));
    const { buildMs, attestMs, writeMs } = await stepRecord(deps);
    build.push(buildMs);
    attestations.push(attestMs);
    write.push(writeMs);
  }

  const stepWrite = percentiles(write);
  const attestation = percentiles(attestations);
  const bareTx = percentiles(bare);
  return {
    describes: {
      step_write: "insertStepAndAdvanceRun: the one statement that inserts the trace step (its header and payload bytes, its attestation, the jsonb copies made from the bytes) and advances the run (one commit)",
      step_build: "buildTraceStep: redaction, storable JSON, canonical JSON of the three payloads and their SHA-256, the step header's canonical bytes, its leaf and chain hash, and the row's attestation (CPU only)",
      attestation: "attest alone: the row's write-time HMAC-SHA256 attestation (docs/proofs.md), made again on the same cursor and chain hash right after the write and compared with buildTraceStep's (CPU only; also inside step_build)",
      whole_run: "createRun + claimAndExecute of a one-step json_transform run: 4 commits (create, claim, step, finalize), and the stored prefix read back and checked (verifiedPrefix) before the step runs",
      bare_insert_tx: "anchor: BEGIN; INSERT one small jsonb row into a scratch table; COMMIT, on the same pool",
      round_trip: "anchor: `select 1` through the same pool: one round trip, no write",
    },
    measurements: { step_write: stepWrite, step_build: percentiles(build), attestation, whole_run: percentiles(whole) },
    anchors: { bare_insert_tx: bareTx, round_trip: percentiles(trips) },
    ratios: {
      step_write_p50_vs_bare_insert_tx_p50: ratio(stepWrite.p50, bareTx.p50),
      step_write_p95_vs_bare_insert_tx_p95: ratio(stepWrite.p95, bareTx.p95),
      step_write_p99_vs_bare_insert_tx_p99: ratio(stepWrite.p99, bareTx.p99),
    },
    goals: [goal("per-step durable write", "p50", stepWrite.p50, STEP_WRITE_GOAL_MS), goal("row attestation", "p50", attestation.p50, ATTEST_GOAL_MS)],
    settings: {
      runs: RUNS,
      warmup_ms: WARMUP_MS,
      warmup_runs: warmupRuns,
      pool_max: deps.config.dbPoolMax,
      concurrency: 1,
      order: "each iteration: one round trip, one bare INSERT transaction, then one step record (create, claim and verified prefix untimed; build, write, attestation timed apart; finalize untimed)",
    },
  };
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  if (ctx.server === undefined) throw new Error("step-overhead needs the PostgreSQL server");
  return withRunnerDeps(ctx.server, (deps) => measure(ctx, deps));
}

export const stepOverhead: Benchmark = { name: "step-overhead", needsServer: true, run };
