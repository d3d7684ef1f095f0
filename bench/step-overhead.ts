import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../src/config.js";
import type { Database } from "../src/db/database.js";
import { openServerDatabase } from "../src/db/open-database.js";
import { claimRunById } from "../src/db/queries/runs.js";
import { insertStepAndAdvanceRun } from "../src/db/queries/trace-steps.js";
import { traceIdFor } from "../src/glossary.js";
import { silentLogger } from "../src/logger.js";
import { createRun } from "../src/services/runs.js";
import { ok } from "../src/skills/outcome.js";
import { findSkill } from "../src/skills/registry.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { claimAndExecute, DEFAULT_LEASE_MS } from "../src/worker/claim.js";
import { finalizeRun, type RunEnding } from "../src/worker/finalize.js";
import { type AttemptToRecord, buildTraceStep, type TraceCursor } from "../src/worker/record-step.js";
import type { RunnerDeps } from "../src/worker/runner.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { ONE_STEP_PLAN } from "./support/one-step-plan.js";
import { percentiles, ratio } from "./support/stats.js";

const RUNS = 1_000;
const WARMUP_MS = 5_000;
const STEP_WRITE_GOAL_MS = 1;
const WORKER_ID = "bench";
const RUN_INPUT = { tenantId: "bench", goal: "bench", plan: ONE_STEP_PLAN };
const SUCCEEDED: RunEnding = { status: "succeeded", errorMessage: null, terminationReason: "completed" };

const CREATE_SCRATCH = `create table bench_scratch (
  id bigint generated always as identity primary key,
  payload jsonb not null
)`;

/** create + claim + execute + finalize, as `aos run` does it in-process. */
async function wholeRun(deps: RunnerDeps): Promise<number> {
  const start = performance.now();
  const run = await createRun(deps.db, deps.config, RUN_INPUT);
  const ending = await claimAndExecute(deps, run.id, WORKER_ID);
  const ms = performance.now() - start;
  if (ending.status !== "succeeded") throw new Error(`bench run ${run.id} ended ${ending.status}`);
  return ms;
}

/** The anchor: BEGIN; INSERT one small row; COMMIT on a pooled client, a minimal durable write. */
async function bareInsert(db: Database): Promise<number> {
  const start = performance.now();
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("insert into bench_scratch (payload) values ($1::jsonb)", ['{"bench":true}']);
    await client.query("commit");
  } finally {
    client.release();
  }
  return performance.now() - start;
}

/** The floor under every statement: one round trip to the server through the pool, nothing written. */
async function roundTrip(db: Database): Promise<number> {
  const start = performance.now();
  await db.pool.query("select 1");
  return performance.now() - start;
}

/**
 * One step recorded exactly as recordAttempt records it, on a freshly claimed run, with the row's build (redact,
 * hash, chain) and the insert-step-and-advance statement timed apart. The run is then finalized, untimed.
 */
async function stepRecord(deps: RunnerDeps): Promise<{ buildMs: number; writeMs: number }> {
  const created = await createRun(deps.db, deps.config, RUN_INPUT);
  const run = await claimRunById(deps.db.pool, created.id, WORKER_ID, DEFAULT_LEASE_MS);
  const planStep = run?.plan?.steps[0];
  const skill = findSkill("json_transform");
  if (run === undefined || planStep === undefined || run.chainHead === null || skill === undefined) {
    throw new Error(`bench run ${created.id} could not be claimed with its plan`);
  }
  const cursor: TraceCursor = {
    runId: run.id,
    tenantId: run.tenantId,
    traceId: traceIdFor(run.id),
    epoch: run.epoch,
    seq: run.nextSeq,
    chainHead: run.chainHead,
    leafHashes: [],
  };
  const now = new Date();
  const attempt: AttemptToRecord = {
    step: planStep,
    stepIndex: 0,
    attempt: 1,
    skill,
    params: planStep.params,
    decision: null,
    result: { outcome: ok({ a: 1 }), startedAt: now, completedAt: now, durationMs: 0 },
    nextStepIndex: 1,
  };

  const t0 = performance.now();
  const step = buildTraceStep(cursor, attempt);
  const t1 = performance.now();
  const written = await insertStepAndAdvanceRun(deps.db.pool, { runId: run.id, epoch: run.epoch, nextStepIndex: 1, step });
  const t2 = performance.now();
  if (!written) throw new Error(`bench run ${run.id}: the step write was fenced off`);

  cursor.seq += 1;
  cursor.chainHead = step.chainHash;
  cursor.leafHashes.push(step.leafHash);
  await finalizeRun(deps.db, deps.signer, cursor, SUCCEEDED);
  return { buildMs: t1 - t0, writeMs: t2 - t1 };
}

async function measure(ctx: BenchContext, deps: RunnerDeps): Promise<BenchmarkReport> {
  const { db } = deps;
  await db.pool.query(CREATE_SCRATCH);

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
  const write: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    trips.push(await roundTrip(db));
    bare.push(await bareInsert(db));
    const { buildMs, writeMs } = await stepRecord(deps);
    build.push(buildMs);
    write.push(writeMs);
  }

  const stepWrite = percentiles(write);
  const bareTx = percentiles(bare);
  return {
    describes: {
      step_write: "insertStepAndAdvanceRun: the one statement that inserts the trace step and advances the run (one commit)",
      step_build: "buildTraceStep: redaction, storable JSON, leaf hash and chain hash of the row (CPU only)",
      whole_run: "createRun + claimAndExecute of a one-step json_transform run: 4 commits (create, claim, step, finalize)",
      bare_insert_tx: "anchor: BEGIN; INSERT one small jsonb row into a scratch table; COMMIT, on the same pool",
      round_trip: "anchor: `select 1` through the same pool: one round trip, no write",
    },
    measurements: { step_write: stepWrite, step_build: percentiles(build), whole_run: percentiles(whole) },
    anchors: { bare_insert_tx: bareTx, round_trip: percentiles(trips) },
    ratios: {
      step_write_p50_vs_bare_insert_tx_p50: ratio(stepWrite.p50, bareTx.p50),
      step_write_p95_vs_bare_insert_tx_p95: ratio(stepWrite.p95, bareTx.p95),
      step_write_p99_vs_bare_insert_tx_p99: ratio(stepWrite.p99, bareTx.p99),
    },
    goals: [goal("per-step durable write", "p50", stepWrite.p50, STEP_WRITE_GOAL_MS)],
    settings: {
      runs: RUNS,
      warmup_ms: WARMUP_MS,
      warmup_runs: warmupRuns,
      pool_max: deps.config.dbPoolMax,
      concurrency: 1,
      order: "each iteration: one round trip, one bare INSERT transaction, then one step record",
    },
  };
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  if (ctx.server === undefined) throw new Error("step-overhead needs the PostgreSQL server");
  // A home of its own for the signing key the runner creates on first use, as `aos run` does.
  const home = mkdtempSync(join(tmpdir(), "aos-bench-home-"));
  try {
    const config = loadConfig({ DATABASE_URL: ctx.server.url, AOS_HOME: home });
    const signer = loadKeyRing(config).signer;
    const db = await openServerDatabase(ctx.server.url, config.dbPoolMax);
    try {
      return await measure(ctx, { db, config, log: silentLogger, signer });
    } finally {
      await db.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export const stepOverhead: Benchmark = { name: "step-overhead", needsServer: true, run };
