import { performance } from "node:perf_hooks";
import { claimNextRun } from "../src/db/queries/run-status.js";
import { createAgent } from "../src/services/agents.js";
import { createRun } from "../src/services/runs.js";
import { runWorker } from "../src/worker/loop.js";
import type { RunnerDeps } from "../src/worker/runner.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { ONE_STEP_PLAN } from "./support/one-step-plan.js";
import { withRunnerDeps } from "./support/runner-deps.js";
import { percentiles, ratio } from "./support/stats.js";

const LATENCY_RUNS = 300;
const CLAIMS = 300;
const BIG_QUEUE = 1_000_000;
const LATENCY_GOAL_MS = 3;

/**
 * Enqueue → claim: an idle worker (LISTEN on) and runs queued one at a time. The runs are created beforehand and
 * held back (pending_approval); enqueueing one is then the statement that makes a run claimable and sends the
 * NOTIFY, committed, as approving a run does. The clock runs from sending that statement to the worker's claim
 * returning, in this process. createRun (plan, validate, insert the run and its trace, enqueue) is timed apart.
 */
async function enqueueToClaim(ctx: BenchContext, deps: RunnerDeps): Promise<{ latencies: number[]; creates: number[] }> {
  const agent = await createAgent(deps.db, { tenantId: "bench-latency", name: "bench" });
  const creates: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const start = performance.now();
    const run = await createRun(deps, { tenantId: "bench-latency", agentId: agent.id, goal: "latency", plan: ONE_STEP_PLAN });
    creates.push(performance.now() - start);
    ids.push(run.id);
  }
  await deps.db.pool.query("update runs set status = 'pending_approval' where id = any($1)", [ids]);

  const latencies: number[] = [];
  let claimed: ((at: number) => void) | undefined;
  const stop = new AbortController();
  const worker = runWorker(deps, { id: "bench-latency", concurrency: 1, signal: stop.signal, onClaim: () => claimed?.(performance.now()) });
  ctx.progress(`${LATENCY_RUNS} runs queued one at a time to an idle worker`);
  for (const id of ids) {
    // Let the previous run finish so the worker is idle (waiting on LISTEN) when this one is queued.
    await new Promise((resolve) => setTimeout(resolve, 15));
    const seen = new Promise<number>((resolve) => {
      claimed = resolve;
    });
    const start = performance.now();
    await deps.db.pool.query(
      `with queued as (update runs set status = 'queued' where id = $1 and status = 'pending_approval' returning id)
       select pg_notify('aos_run_queued', id) from queued`,
      [id],
    );
    latencies.push((await seen) - start);
  }
  stop.abort();
  await worker;
  return { latencies, creates };
}

/** The claim statement's time with `queued` runs waiting: each claim is undone (untimed) so the queue stays put. */
async function claimCost(deps: RunnerDeps, tenantId: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < CLAIMS; i++) {
    const start = performance.now();
    const claim = await claimNextRun(deps.db.pool, "bench-claim", 30_000);
    times.push(performance.now() - start);
    if (claim.kind !== "claimed" || claim.run.tenantId !== tenantId) throw new Error(`claim ${i}: ${claim.kind}`);
    await deps.db.pool.query(
      "update runs set status = 'queued', attempts = 0, worker_id = null, lease_expires_at = null where id = $1",
      [claim.run.id],
    );
  }
  return times;
}

async function queueCopies(deps: RunnerDeps, tenantId: string, count: number): Promise<void> {
  const agent = await createAgent(deps.db, { tenantId, name: "bench" });
  await deps.db.pool.query("update agents set concurrent_runs_limit = 1000 where id = $1", [agent.id]);
  const first = await createRun(deps, { tenantId, agentId: agent.id, goal: "claim cost", plan: ONE_STEP_PLAN });
  for (let done = 1; done < count; done += 100_000) {
    await deps.db.pool.query(
      `insert into runs (id, tenant_id, agent_id, goal, status, plan_json, origin_system_id, chain_head, created_at)
       select gen_random_uuid()::text, tenant_id, agent_id, goal, 'queued', plan_json, origin_system_id, chain_head,
         created_at + make_interval(secs => g / 1000.0)
       from runs, generate_series($2::int, $3::int) g
       where id = $1`,
      [first.id, done, Math.min(done + 100_000, count) - 1],
    );
  }
  // Untimed: vacuum and analyze now, so autovacuum does not start on the fresh million rows during the timed claims.
  await deps.db.pool.query("vacuum analyze runs");
}

async function measure(ctx: BenchContext, deps: RunnerDeps): Promise<BenchmarkReport> {
  const enqueued = await enqueueToClaim(ctx, deps);
  const latency = percentiles(enqueued.latencies);

  ctx.progress("claim cost with 10 queued runs");
  await queueCopies(deps, "bench-claim-small", 10);
  const small = percentiles(await claimCost(deps, "bench-claim-small"));
  await deps.db.pool.query("update runs set status = 'cancelled' where tenant_id = 'bench-claim-small'");

  ctx.progress(`claim cost with ${BIG_QUEUE.toLocaleString("en")} queued runs (inserting them takes a while)`);
  await queueCopies(deps, "bench-claim-big", BIG_QUEUE);
  const big = percentiles(await claimCost(deps, "bench-claim-big"));

  const growth = ratio(big.p50, small.p50);
  return {
    describes: {
      enqueue_to_claim: "the committed statement that makes a run claimable and sends NOTIFY, to an idle worker's claim returning; same process, LISTEN on",
      create_run: "createRun: plan, validate, insert the run and its trace start, enqueue (one transaction)",
      claim_10_queued: "claimNextRun with 10 runs queued (each claim undone, untimed)",
      claim_1m_queued: `claimNextRun with ${BIG_QUEUE.toLocaleString("en")} runs queued in one tenant`,
    },
    measurements: { enqueue_to_claim: latency, create_run: percentiles(enqueued.creates), claim_1m_queued: big },
    anchors: { claim_10_queued: small },
    ratios: { claim_1m_vs_10_queued_p50: growth },
    goals: [
      goal("enqueue to claim", "p50", latency.p50, LATENCY_GOAL_MS),
      { name: "claim cost growth, 1M vs 10 queued", statistic: "p50 ratio", value: growth * 100, bound: "<=", limit: 150, unit: "%", met: growth <= 1.5 },
    ],
    settings: { latency_runs: LATENCY_RUNS, claims: CLAIMS, big_queue: BIG_QUEUE, poll_ms: deps.config.workerPollMs },
  };
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  if (ctx.server === undefined) throw new Error("queue-latency needs the PostgreSQL server");
  return withRunnerDeps(ctx.server, (deps) => measure(ctx, deps));
}

export const queueLatency: Benchmark = { name: "queue-latency", needsServer: true, run };
