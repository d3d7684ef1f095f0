import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { ApiMetrics } from "../src/api/metrics.js";
import { buildApi } from "../src/api/server.js";
import { loadConfig } from "../src/config.js";
import type { Database } from "../src/db/database.js";
import { migrate } from "../src/db/migrate.js";
import { openDatabase } from "../src/db/open-database.js";
import { silentLogger } from "../src/logger.js";
import { createAgent } from "../src/services/agents.js";
import { createApiKey } from "../src/services/api-keys.js";
import { createRun } from "../src/services/runs.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { claimAndExecute } from "../src/worker/claim.js";
import type { Benchmark, BenchContext, BenchmarkReport } from "./support/benchmark.js";
import { ONE_STEP_PLAN } from "./support/one-step-plan.js";

const CONNECTIONS = 16;
const DURATION_S = 5;

interface LoadResult {
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  non_2xx: number;
  errors: number;
}

/** autocannon on loopback: CONNECTIONS connections for DURATION_S seconds, keep-alive, after a short warm-up. */
async function load(url: string, options: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: string } = {}): Promise<LoadResult> {
  const run = (duration: number) =>
    autocannon({ url, connections: CONNECTIONS, duration, method: options.method ?? "GET", headers: options.headers ?? {}, ...(options.body === undefined ? {} : { body: options.body }) });
  await run(1);
  const result = await run(DURATION_S);
  return {
    requests_per_s: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non_2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Requests per second against the anchor's, to four places: the API is a small fraction of bare Fastify. */
function share(measured: LoadResult, anchor: LoadResult): number {
  return Math.round((measured.requests_per_s / anchor.requests_per_s) * 10_000) / 10_000;
}

/** One backend: the API listening on a free port, an agent, a finished run to read, a key without a rate limit. */
async function measure(ctx: BenchContext, backend: "embedded" | "server"): Promise<Record<string, LoadResult>> {
  const home = mkdtempSync(join(tmpdir(), "aos-bench-api-"));
  const env: Record<string, string> = { AOS_HOME: home, AOS_API_RATE_PER_MINUTE: "1000000000" };
  if (backend === "server" && ctx.server !== undefined) env.DATABASE_URL = ctx.server.url;
  const config = loadConfig(env);
  let db: Database | undefined;
  try {
    db = await openDatabase(config, { embeddedThread: true });
    await migrate(db);
    const keys = loadKeyRing(config);
    const tenantId = `bench-api-${backend}`;
    const { key } = await createApiKey(db, { tenantId, name: "bench" });
    const agent = await createAgent(db, { tenantId, name: "bench" });
    const run = await createRun({ db, config, keys }, { tenantId, agentId: agent.id, goal: "read me", plan: ONE_STEP_PLAN });
    await claimAndExecute({ db, config, log: silentLogger, keys }, run.id, "bench-api");
    const app = buildApi({ db, config, log: silentLogger, keys, metrics: new ApiMetrics(db) });
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const auth = { authorization: `Bearer ${key}` };
      ctx.progress(`${backend}: GET /healthz (anchor)`);
      const healthz = await load(`${base}/healthz`);
      ctx.progress(`${backend}: GET /api/v1/runs/{id}`);
      const getRun = await load(`${base}/api/v1/runs/${run.id}`, { headers: auth });
      ctx.progress(`${backend}: POST /api/v1/agents/{id}/goals`);
      const postGoal = await load(`${base}/api/v1/agents/${agent.id}/goals`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ goal: "Fetch https://example.com/" }),
      });
      return { healthz, get_run: getRun, post_goal: postGoal };
    } finally {
      await app.close();
    }
  } finally {
    await db?.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * The API under load on loopback: requests per second and p50/p99 latency of POST /agents/{id}/goals (authenticate,
 * plan with the stub planner, validate, insert the run and its trace under RLS, 202) and GET /runs/{id} (the run
 * with its steps, incident, evidence and LLM record), beside the same server's /healthz as the anchor: what the
 * HTTP stack alone can do on this machine. On the embedded database (PGlite in its worker thread) and on the
 * PostgreSQL server when reachable.
 */
export const apiThroughput: Benchmark = {
  name: "api_throughput",
  needsServer: false,
  async run(ctx): Promise<BenchmarkReport> {
    const measurements: Record<string, object> = {};
    const anchors: Record<string, object> = {};
    const ratios: Record<string, number> = {};
    for (const backend of ctx.server === undefined ? (["embedded"] as const) : (["embedded", "server"] as const)) {
      const { healthz, get_run: getRun, post_goal: postGoal } = (await measure(ctx, backend)) as Record<"healthz" | "get_run" | "post_goal", LoadResult>;
      measurements[`${backend}_get_run`] = getRun;
      measurements[`${backend}_post_goal`] = postGoal;
      anchors[`${backend}_healthz`] = healthz;
      ratios[`${backend}_get_run_vs_healthz`] = share(getRun, healthz);
      ratios[`${backend}_post_goal_vs_healthz`] = share(postGoal, healthz);
    }
    return {
      describes: {
        get_run: "GET /api/v1/runs/{id} of a finished one-step run: key lookup, rate limit, RLS-scoped reads of the run, trace, steps and records",
        post_goal: "POST /api/v1/agents/{id}/goals: a new run per request (stub planner, validation, run + trace insert, NOTIFY); nothing executes it",
        healthz: "GET /healthz on the same server: Fastify and the loopback socket alone (the anchor)",
        load: `autocannon ${CONNECTIONS} keep-alive connections for ${DURATION_S} s after a 1 s warm-up; requests_per_s is the mean`,
      },
      measurements,
      anchors,
      ratios,
      goals: [],
      settings: { connections: CONNECTIONS, duration_s: DURATION_S, pool: "DB_POOL_MAX default; PGlite one session in its thread" },
    };
  },
};
