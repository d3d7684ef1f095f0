import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimNextRun, claimRunById } from "../src/db/queries/run-status.js";
import { createAgent } from "../src/services/agents.js";
import { createRun } from "../src/services/runs.js";
import { testBackends, type TestDatabase, describeOnBackends, onServer } from "./support/databases.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { testConfig, runnerDeps } from "./support/harness.js";

const config = testConfig();
const plan = { steps: [{ step_id: "a", skill: "json_transform", params: { payload: {}, mapping: {} } }] };

/** Queues `count` runs for the agent: one through the service, the rest copied from it (same plan and genesis). */
async function queueRuns(db: TestDatabase, tenantId: string, agentId: string, count: number): Promise<void> {
  const first = await createRun(runnerDeps(db, config), { tenantId, agentId, goal: `work of ${tenantId}`, plan });
  if (count <= 1) return;
  await db.pool.query(
    `insert into runs (id, tenant_id, agent_id, goal, status, plan_json, origin_system_id, chain_head, created_at)
     select gen_random_uuid()::text, tenant_id, agent_id, goal, 'queued', plan_json, origin_system_id, chain_head,
       created_at + make_interval(secs => g / 1000.0)
     from runs, generate_series(1, $2::int - 1) g
     where id = $1`,
    [first.id, count],
  );
}

async function setLimit(db: TestDatabase, agentId: string, limit: number): Promise<void> {
  await db.pool.query("update agents set concurrent_runs_limit = $2 where id = $1", [agentId, limit]);
}

async function finish(db: TestDatabase, runId: string): Promise<void> {
  await db.pool.query("update runs set status = 'succeeded', worker_id = null, lease_expires_at = null where id = $1", [runId]);
}

describeOnBackends("the run queue on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("serves tenants in turn: a tenant with 1,000 queued runs does not starve nine with 10 each", async () => {
    const big = await createAgent(db, { tenantId: "q-big", name: "big" });
    await setLimit(db, big.id, 10_000);
    await queueRuns(db, "q-big", big.id, 1000);
    for (let n = 1; n <= 9; n++) {
      const small = await createAgent(db, { tenantId: `q-small-${n}`, name: "small" });
      await queueRuns(db, `q-small-${n}`, small.id, 10);
    }
    const order: string[] = [];
    let lastTenant: string | null = null;
    for (;;) {
      const claim = await claimNextRun(db.pool, "w-fair", 30_000, lastTenant);
      if (claim.kind === "empty") break;
      if (claim.kind !== "claimed") continue;
      lastTenant = claim.run.tenantId;
      order.push(claim.run.tenantId);
      await finish(db, claim.run.id);
    }
    expect(order).toHaveLength(1090);
    const bigs = order.flatMap((tenant, position) => (tenant === "q-big" ? [position] : []));
    const lastSmall = order.findLastIndex((tenant) => tenant !== "q-big");
    expect(lastSmall).toBeLessThan(bigs[199]!);
    // Round-robin: by the time the small tenants are done, the big one has had about one claim per round.
    expect(bigs.filter((position) => position < lastSmall).length).toBeLessThanOrEqual(11);
  });

  it("takes a tenant's runs by priority, then oldest first, and skips runs whose retry time has not come", async () => {
    const agent = await createAgent(db, { tenantId: "q-order", name: "a" });
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await createRun(runnerDeps(db, config), { tenantId: "q-order", agentId: agent.id, goal: `g${i}`, plan }));
    await db.pool.query("update runs set priority = 5 where id = $1", [runs[2]!.id]);
    await db.pool.query("update runs set status = 'retry', next_attempt_at = now() + interval '1 hour' where id = $1", [runs[0]!.id]);
    const claimed: string[] = [];
    for (;;) {
      const claim = await claimNextRun(db.pool, "w-order", 30_000);
      if (claim.kind !== "claimed") break;
      claimed.push(claim.run.id);
      await finish(db, claim.run.id);
    }
    expect(claimed).toEqual([runs[2]!.id, runs[1]!.id]);
  });

  it("honours the agent's concurrent_runs_limit and its status, and counts each claim's attempt once", async () => {
    const agent = await createAgent(db, { tenantId: "q-limit", name: "two-at-a-time", concurrentRunsLimit: 2 });
    await queueRuns(db, "q-limit", agent.id, 5);
    const first = await claimNextRun(db.pool, "w1", 30_000);
    const second = await claimNextRun(db.pool, "w2", 30_000);
    expect([first.kind, second.kind]).toEqual(["claimed", "claimed"]);
    expect((await claimNextRun(db.pool, "w3", 30_000)).kind).toBe("empty");
    const { rows } = await db.pool.query("select running_runs from agents where id = $1", [agent.id]);
    expect(rows[0].running_runs).toBe(2);
    if (first.kind !== "claimed") throw new Error("unreachable");
    expect(first.run).toMatchObject({ status: "running", attempts: 1, epoch: 1 });
    await finish(db, first.run.id);
    expect((await claimNextRun(db.pool, "w3", 30_000)).kind).toBe("claimed");
    await db.pool.query("update agents set status = 'paused', concurrent_runs_limit = 100 where id = $1", [agent.id]);
    expect((await claimNextRun(db.pool, "w4", 30_000)).kind).toBe("empty");
  });

  it("claims by id (`aos run`) under the queue's rules: an agent's slots and its status, and says which stopped it", async () => {
    const agent = await createAgent(db, { tenantId: "q-by-id", name: "one-at-a-time", concurrentRunsLimit: 1 });
    await queueRuns(db, "q-by-id", agent.id, 3);
    const { rows } = await db.pool.query<{ id: string }>("select id from runs where agent_id = $1 order by created_at", [agent.id]);
    const [a, b, c] = rows.map((row) => row.id) as [string, string, string];
    expect((await claimRunById(db.pool, a, "w1", 30_000))?.status).toBe("running");
    expect(await claimRunById(db.pool, b, "w2", 30_000)).toBeUndefined();
    await expect(claimAndExecute(runnerDeps(db, config), b, "w2")).rejects.toMatchObject({ code: "RUN_NOT_CLAIMABLE", message: /running 1 run\(s\), its limit/ });
    await finish(db, a);
    await db.pool.query("update agents set status = 'paused' where id = $1", [agent.id]);
    expect(await claimRunById(db.pool, b, "w2", 30_000)).toBeUndefined();
    await expect(claimAndExecute(runnerDeps(db, config), c, "w3")).rejects.toMatchObject({ code: "AGENT_NOT_ACTIVE", message: /is paused/ });
    await db.pool.query("update agents set status = 'active' where id = $1", [agent.id]);
    expect((await claimRunById(db.pool, b, "w2", 30_000))?.status).toBe("running");
  });
});

const server = testBackends().find((backend) => backend.name === "server");

describe("claiming at once, on the server", onServer(), () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await server!.open();
  });
  afterAll(async () => db?.close());

  it("never gives one run to two claimers, and never lets them overfill an agent's slots", async () => {
    const roomy = await createAgent(db, { tenantId: "q-race", name: "roomy" });
    await setLimit(db, roomy.id, 1000);
    await queueRuns(db, "q-race", roomy.id, 40);
    const tight = await createAgent(db, { tenantId: "q-race-tight", name: "tight" });
    await setLimit(db, tight.id, 3);
    await queueRuns(db, "q-race-tight", tight.id, 40);
    const claims = await Promise.all(Array.from({ length: 60 }, (_, i) => claimNextRun(db.pool, `w-${i}`, 30_000)));
    const runs = claims.flatMap((claim) => (claim.kind === "claimed" ? [claim.run] : []));
    expect(new Set(runs.map((run) => run.id)).size).toBe(runs.length);
    expect(runs.filter((run) => run.tenantId === "q-race-tight").length).toBeLessThanOrEqual(3);
    const { rows } = await db.pool.query(
      "select agent_id, count(*)::int as n from runs where status = 'running' and tenant_id like 'q-race%' group by agent_id",
    );
    const running = Object.fromEntries(rows.map((row) => [row.agent_id, row.n]));
    expect(running[tight.id]).toBeLessThanOrEqual(3);
    const counters = await db.pool.query("select id, running_runs from agents where id = any($1)", [[roomy.id, tight.id]]);
    for (const row of counters.rows) expect(row.running_runs).toBe(running[row.id] ?? 0);
  });
});
