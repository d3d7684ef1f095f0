import { performance } from "node:perf_hooks";
import { formatCheckpoint, signCheckpoint } from "../src/trace/checkpoint.js";
import { merkleRoot } from "../src/trace/merkle.js";
import { checkpointOrigin, finalizeRun, type RunEnding } from "../src/worker/finalize.js";
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

/** The CPU part of finalizeRun, as it does it before opening the transaction: Merkle root, body, Ed25519 signature. */
function signOnly(deps: RunnerDeps, cursor: TraceCursor): number {
  const start = performance.now();
  const root = merkleRoot(cursor.leafHashes.map((leaf) => Buffer.from(leaf, "hex")));
  const origin = checkpointOrigin(deps.signer.name, cursor.runId);
  signCheckpoint(formatCheckpoint({ origin, treeSize: cursor.seq, merkleRoot: root, chainHead: cursor.chainHead }), deps.signer);
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
  samples.sign.push(signOnly(deps, cursor));
  const start = performance.now();
  await finalizeRun(deps.db, deps.signer, cursor, SUCCEEDED, recorded);
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
      finalize_run: "finalizeRun of a claimed one-step run: Merkle root and signed checkpoint (CPU), then one transaction: BEGIN, end the run under the epoch fence, complete the trace, insert the checkpoint, COMMIT",
      checkpoint_sign: "the CPU part alone (Merkle root of one leaf, checkpoint body, Ed25519 signature), computed on the same cursor just before",
      bare_insert_tx: "anchor: BEGIN; INSERT one small jsonb row into a scratch table; COMMIT, on the same pool",
      round_trip: "anchor: `select 1` through the same pool: one round trip, no write",
    },
    measurements: { finalize_run: finalize, checkpoint_sign: percentiles(samples.sign) },
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
      statements_in_finalize: "BEGIN, update runs, update traces, insert checkpoint, COMMIT: 5 round trips, 1 WAL flush",
      order: "each iteration: one round trip, one bare INSERT transaction, create + claim + record one step (untimed), checkpoint signing alone, finalizeRun",
    },
  };
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  if (ctx.server === undefined) throw new Error("finalize-cost needs the PostgreSQL server");
  return withRunnerDeps(ctx.server, (deps) => measure(ctx, deps));
}

export const finalizeCost: Benchmark = { name: "finalize-cost", needsServer: true, run };
