import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createAgent } from "../src/services/agents.js";
import { createRun } from "../src/services/runs.js";
import type { RunnerDeps } from "../src/worker/runner.js";
import type { Benchmark, BenchContext, BenchmarkReport } from "./support/benchmark.js";
import { sharedSigningKeyEnv, withRunnerDeps } from "./support/runner-deps.js";
import { ratio } from "./support/stats.js";

const CONCURRENCY = 16;
const RUNS = 96;
const STEP_DELAY_MS = 300;
const RSS_GOAL_MIB = 200;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return Math.round((kib / 1024) * 10) / 10;
}

async function countSettled(deps: RunnerDeps): Promise<number> {
  const { rows } = await deps.db.pool.query<{ n: number }>("select count(*)::int as n from runs where tenant_id = 'bench-memory' and status = 'succeeded'");
  return rows[0]?.n ?? 0;
}

/**
 * The resident memory of an `aos worker --concurrency 16` process (the real CLI, a child process) while it holds
 * 16 runs at once (steps that wait 300 ms), sampled every 50 ms; beside it the same process's RSS when idle.
 */
async function measure(ctx: BenchContext, deps: RunnerDeps, url: string): Promise<BenchmarkReport> {
  const home = mkdtempSync(join(tmpdir(), "aos-bench-worker-"));
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, [join(ctx.root, "bin/aos.js"), "worker", "--concurrency", String(CONCURRENCY), "--quiet"], {
      env: { ...process.env, DATABASE_URL: url, AOS_HOME: home, AOS_WORKER_POLL_MS: "100", ...sharedSigningKeyEnv(deps) },
      stdio: "ignore",
    });
    const pid = child.pid as number;
    await sleep(1500);
    const idle = rssMiB(pid);
    ctx.progress(`worker idle at ${idle} MiB; queueing ${RUNS} runs of 3 waiting steps`);
    const agent = await createAgent(deps.db, { tenantId: "bench-memory", name: "bench" });
    await deps.db.pool.query("update agents set concurrent_runs_limit = 1000 where id = $1", [agent.id]);
    const step = (id: string) => ({ step_id: id, skill: "fail_trigger", params: { fail_times: 0, delay_ms: STEP_DELAY_MS } });
    for (let i = 0; i < RUNS; i++) {
      await createRun(deps, { tenantId: "bench-memory", agentId: agent.id, goal: "memory", plan: { steps: [step("a"), step("b"), step("c")] } });
    }
    let peak = idle;
    let maxRunning = 0;
    const deadline = Date.now() + 120_000;
    while ((await countSettled(deps)) < RUNS) {
      if (Date.now() > deadline) throw new Error("the worker did not finish the memory runs in 2 minutes");
      peak = Math.max(peak, rssMiB(pid));
      const { rows } = await deps.db.pool.query<{ n: number }>("select count(*)::int as n from runs where tenant_id = 'bench-memory' and status = 'running'");
      maxRunning = Math.max(maxRunning, rows[0]?.n ?? 0);
      await sleep(50);
    }
    return {
      describes: {
        worker_rss_busy: `peak RSS of \`aos worker --concurrency ${CONCURRENCY}\` while executing ${RUNS} runs, ${CONCURRENCY} at a time`,
        worker_rss_idle: "anchor: the same worker process's RSS before any run was queued",
      },
      measurements: { worker_rss_busy: { peak_mib: peak, max_running_seen: maxRunning } },
      anchors: { worker_rss_idle: { mib: idle } },
      ratios: { busy_vs_idle_rss: ratio(peak, idle) },
      goals: [{ name: "worker RSS at 16 concurrent runs", statistic: "peak", value: peak, bound: "<=", limit: RSS_GOAL_MIB, unit: "MiB", met: peak <= RSS_GOAL_MIB }],
      settings: { concurrency: CONCURRENCY, runs: RUNS, step_delay_ms: STEP_DELAY_MS },
    };
  } finally {
    child?.kill("SIGTERM");
    await sleep(500);
    child?.kill("SIGKILL");
    rmSync(home, { recursive: true, force: true });
  }
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  const server = ctx.server;
  if (server === undefined) throw new Error("worker-memory needs the PostgreSQL server");
  return withRunnerDeps(server, (deps) => measure(ctx, deps, server.url));
}

export const workerMemory: Benchmark = { name: "worker-memory", needsServer: true, run };
