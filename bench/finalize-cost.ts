import { performance } from "node:perf_hooks";
import type { Run, RunEnding, TraceStep } from "../src/glossary.js";
import { buildRunRecords } from "../src/records/run-records.js";
import { chainNext, leafHashOf } from "../src/trace/chain.js";
import { checkpointOrigin, formatCheckpoint, signCheckpoint } from "../src/trace/checkpoint.js";
import { merkleRootHex } from "../src/trace/merkle.js";
import { encodeRecord } from "../src/trace/trace-header.js";
import { buildRunEnd, finalizeRun } from "../src/worker/finalize.js";
import type { TraceCursor } from "../src/worker/record-step.js";
import type { RunnerDeps } from "../src/worker/runner.js";
import type { Benchmark, BenchContext, BenchmarkReport } from "./support/benchmark.js";
import { recordOneStep } from "./support/one-step-run.js";
import { withRunnerDeps } from "./support/runner-deps.js";
import { bareInsert, createScratchTable, roundTrip } from "./support/server-anchors.js";
import { percentiles, ratio } from "./support/stats.js";

const RUNS = 300;
const WARMUP_RUNS = 30;
const SUCCEEDED: RunEnding = { status: "succeeded", errorMessage: null, terminationReason: "completed" };

/**
 * The CPU part of finalizeRun, as it does it before its statement: the run-end leaf and its bytes, its leaf and chain
 * hash, the Merkle root, the checkpoint body and its Ed25519 signature, and the run's records.
 */
function endCpuOnly(deps: RunnerDeps, cursor: TraceCursor, recorded: { run: Run; steps: readonly TraceStep[] }): number {
  const { signer } = deps.keys;
  const start = performance.now();
  const runEnd = encodeRecord(buildRunEnd(cursor, recorded.run, SUCCEEDED, recorded.steps, new Date()));
  const endLeaf = leafHashOf(runEnd);
  const rootHash = chainNext(cursor.chainHead, endLeaf);
  const leaves = [...cursor.leafHashes, endLeaf];
  const merkleRoot = merkleRootHex(leaves);
  const origin = checkpointOrigin(signer.name, cursor.runId);
  const body = formatCheckpoint({ format: "aos-trace-v2", origin, treeSize: leaves.length, merkleRoot: Buffer.from(merkleRoot, "hex"), chainHead: rootHash });
  signCheckpoint(body, signer);
  buildRunRecords({ run: recorded.run, ending: SUCCEEDED, steps: recorded.steps, rootHash });
  return performance.now() - start;
}

interface Samples {
  finalize: number[];
  sign: number[];
  bare: number[];
  trips: number[];
}

/** One iteration: the two anchors, then a run claimed with its step recorded, whose finalizeRun alone is timed. */
async function iteration(deps: RunnerDeps, samples: Samples): Promise<void> {
  samples.trips.push(await roundTrip(deps.db));
  samples.bare.push(await bareInsert(deps.db));
  const { cursor, recorded } = await recordOneStep(deps);
  samples.sign.push(endCpuOnly(deps, cursor, recorded));
  const start = performance.now();
  await finalizeRun(deps.db.pool, deps.keys, cursor, SUCCEEDED, recorded);
  samples.finalize.push(performance.now() - start);
}

async function measure(ctx: BenchContext, deps: RunnerDeps): Promise<BenchmarkReport> {
  await createScratchTable(deps.db);
  ctx.progress(`${WARMUP_RUNS} warm-up iterations, then ${RUNS} finalized one-step runs beside ${RUNS} bare INSERT transactions`);
  const discarded: Samples = { finalize: [], sign: [], bare: [], trips: [] };
  for (let i = 0; i < WARMUP_RUNS; i++) await iteration(deps, discarded);
  const samples: Samples = { finalize: [], sign: [], bare: [], trips: [] };
  for (let i = 0; i < RUNS; i++) await iteration(deps, samples);

  const finalize = percentiles(samples.finalize);
  const bare = percentiles(samples.bare);
  const trips = percentiles(samples.trips);
  return {
    describes: {
      finalize_run: "finalizeRun of a claimed one-step run: the run-end leaf, Merkle root, signed checkpoint and run records (CPU), then one statement (endRunWithRecords, autocommit): the run ended under the epoch fence, the run-end and hashes written to the trace, the checkpoint and the run's records inserted",
      finalize_cpu: "the CPU part alone, as finalizeRun does it before its statement (run-end bytes, its leaf and chain hash, Merkle root of 2 leaves, checkpoint body, Ed25519 signature, buildRunRecords), on the same cursor just before",
      bare_insert_tx: "anchor: BEGIN; INSERT one small jsonb row into a scratch table; COMMIT, on the same pool",
      round_trip: "anchor: `select 1` through the same pool: one round trip, no write",
    },
    measurements: { finalize_run: finalize, finalize_cpu: percentiles(samples.sign) },
    anchors: { bare_insert_tx: bare, round_trip: trips },
    ratios: {
      finalize_run_p50_vs_bare_insert_tx_p50: ratio(finalize.p50, bare.p50),
      finalize_run_p95_vs_bare_insert_tx_p95: ratio(finalize.p95, bare.p95),
      finalize_run_p50_vs_round_trip_p50: ratio(finalize.p50, trips.p50),
    },
    goals: [],
    settings: {
      runs: RUNS,
      warmup_runs: WARMUP_RUNS,
      pool_max: deps.config.dbPoolMax,
      concurrency: 1,
      statements_in_finalize: "one statement (CTEs: update runs, update traces, insert checkpoint, the run's records), autocommit: 1 round trip, 1 WAL flush",
      order: "each iteration: one round trip, one bare INSERT transaction, create + claim + verified prefix + record one step (untimed), the CPU part alone, finalizeRun",
    },
  };
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  if (ctx.server === undefined) throw new Error("finalize-cost needs the PostgreSQL server");
  return withRunnerDeps(ctx.server, (deps) => measure(ctx, deps));
}

export const finalizeCost: Benchmark = { name: "finalize-cost", needsServer: true, run };
