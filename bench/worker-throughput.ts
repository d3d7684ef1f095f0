import { createAgent } from "../src/services/agents.js";
import { createRun } from "../src/services/runs.js";
import { runWorker } from "../src/worker/loop.js";
import type { RunnerDeps } from "../src/worker/runner.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goalAtLeast } from "./support/benchmark.js";
import { graphileNoopJobsPerSecond } from "./support/graphile-anchor.js";
import { rawSqlStepsPerSecond } from "./support/raw-sql-queue.js";
import { withRunnerDeps } from "./support/runner-deps.js";
import { ratio } from "./support/stats.js";

const CONCURRENCY = 16;
const ONE_STEP_RUNS = 2_000;
const THREE_STEP_RUNS = 1_000;
const GRAPHILE_JOBS = 20_000;
const TENANTS = 4;

const transform = (stepId: string) => ({ step_id: stepId, skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } });

/** Queues `runs` runs of `steps` json_transform steps over a few tenants, each through createRun (untimed). */
async function queueRuns(deps: RunnerDeps, label: string, runs: number, steps: number): Promise<void> {
  const agents = [];
  for (let t = 0; t < TENANTS; t++) {
    const agent = await createAgent(deps.db, { tenantId: `bench-${label}-${t}`, name: "bench" });
    await deps.db.pool.query("update agents set concurrent_runs_limit = 1000 where id = $1", [agent.id]);
    agents.push(agent);
  }
  const plan = { steps: Array.from({ length: steps }, (_, i) => transform(`s${i}`)) };
  for (let i = 0; i < runs; i++) {
    const agent = agents[i % TENANTS]!;
    await createRun(deps, { tenantId: agent.tenantId, agentId: agent.id, goal: "bench", plan });
  }
}

/**
 * Executes every queued run with an in-process worker at CONCURRENCY and returns the span from the first claim to
 * the last run's end, as the database recorded them (started_at, completed_at).
 */
async function drain(deps: RunnerDeps, label: string, runs: number): Promise<{ runs: number; seconds: number }> {
  const stop = new AbortController();
  let claimed = 0;
  const worker = runWorker(deps, { id: `bench-${label}`, concurrency: CONCURRENCY, signal: stop.signal, onClaim: () => (claimed += 1) });
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { rows } = await deps.db.pool.query<{ n: number }>(
      "select count(*)::int as n from runs where tenant_id like $1 and status in ('succeeded', 'failed', 'halted', 'cancelled')",
      [`bench-${label}-%`],
    );
    if ((rows[0]?.n ?? 0) >= runs) break;
  }
  stop.abort();
  await worker;
  const { rows } = await deps.db.pool.query<{ seconds: number; failed: number }>(
    `select extract(epoch from max(completed_at) - min(started_at))::float8 as seconds,
       count(*) filter (where status <> 'succeeded')::int as failed
     from runs where tenant_id like $1`,
    [`bench-${label}-%`],
  );
  if ((rows[0]?.failed ?? 1) !== 0) throw new Error(`${rows[0]?.failed} ${label} bench runs did not succeed`);
  if (claimed !== runs) throw new Error(`${claimed} claims for ${runs} runs`);
  return { runs, seconds: rows[0]?.seconds ?? Number.NaN };
}

async function measure(ctx: BenchContext, deps: RunnerDeps, url: string): Promise<BenchmarkReport> {
  ctx.progress(`queueing ${ONE_STEP_RUNS} one-step runs`);
  await queueRuns(deps, "one", ONE_STEP_RUNS, 1);
  ctx.progress(`draining them at concurrency ${CONCURRENCY}`);
  const one = await drain(deps, "one", ONE_STEP_RUNS);
  const oneRate = Math.round(one.runs / one.seconds);

  ctx.progress(`queueing ${THREE_STEP_RUNS} three-step runs`);
  await queueRuns(deps, "three", THREE_STEP_RUNS, 3);
  ctx.progress("draining them");
  const three = await drain(deps, "three", THREE_STEP_RUNS);
  const threeStepRate = Math.round((three.runs * 3) / three.seconds);

  ctx.progress("raw-SQL ceiling: the same 3-step shape as plain SQL on scratch tables");
  const ceiling = await rawSqlStepsPerSecond(deps.db, THREE_STEP_RUNS, 3, CONCURRENCY);

  ctx.progress(`graphile-worker 0.17.3: ${GRAPHILE_JOBS} no-op jobs at concurrency ${CONCURRENCY}`);
  const graphile = await graphileNoopJobsPerSecond(url, GRAPHILE_JOBS, CONCURRENCY);

  const vsGraphile = ratio(oneRate, graphile.perSecond);
  const vsCeiling = ratio(threeStepRate, ceiling.perSecond);
  return {
    describes: {
      one_step_runs: "1-step json_transform runs per second, executed by runWorker at concurrency 16 with full tracing, hashing, policy, signed checkpoint and run records; first claim to last end",
      three_step_runs: "steps per second of 3-step json_transform runs, same worker",
      graphile_noop_jobs: "anchor: graphile-worker 0.17.3 no-op jobs per second at concurrency 16, same server, same process",
      raw_sql_ceiling: "anchor: claim + 3 × (insert step + advance run) + complete as plain SQL on scratch tables, same pool, concurrency 16",
    },
    measurements: {
      one_step_runs: { runs: one.runs, seconds: round(one.seconds), per_second: oneRate },
      three_step_runs: { runs: three.runs, steps: three.runs * 3, seconds: round(three.seconds), steps_per_second: threeStepRate },
    },
    anchors: {
      graphile_noop_jobs: { jobs: graphile.jobs, seconds: round(graphile.seconds), per_second: graphile.perSecond },
      raw_sql_ceiling: { steps: ceiling.steps, seconds: round(ceiling.seconds), steps_per_second: ceiling.perSecond },
    },
    ratios: { one_step_runs_vs_graphile_noop_jobs: vsGraphile, three_step_steps_vs_raw_sql_ceiling: vsCeiling },
    goals: [
      goalAtLeast("1-step runs/s vs graphile-worker", "rate", vsGraphile * 100, 100),
      goalAtLeast("3-step steps/s vs raw-SQL ceiling", "rate", vsCeiling * 100, 50),
    ],
    settings: { concurrency: CONCURRENCY, pool_max: deps.config.dbPoolMax, tenants: TENANTS, graphile_jobs: GRAPHILE_JOBS },
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  const server = ctx.server;
  if (server === undefined) throw new Error("worker-throughput needs the PostgreSQL server");
  // 16 runs at once, the claim loop, the lease keeper and the reaper each want a connection.
  return withRunnerDeps(server, (deps) => measure(ctx, deps, server.url), { AOS_DB_POOL_MAX: "24", AOS_WORKER_POLL_MS: "50" });
}

export const workerThroughput: Benchmark = { name: "worker-throughput", needsServer: true, run };
