import { afterAll, beforeAll, expect, it } from "vitest";
import { claimRunById } from "../src/db/queries/run-status.js";
import { createAgent } from "../src/services/agents.js";
import { setPolicy } from "../src/services/policies.js";
import { createRun } from "../src/services/runs.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";

const config = testConfig();
const costly = (stepId: string, cost: number) => ({ step_id: stepId, skill: "fail_trigger", params: { fail_times: 0, cost_cents: cost } });

async function runAll(db: TestDatabase, runIds: string[]): Promise<void> {
  await Promise.all(
    runIds.map(async (runId) => {
      const claimed = await claimRunById(db.pool, runId, `w-${runId}`, 30_000);
      await executeClaimedRun(runnerDeps(db, config), claimed!);
    }),
  );
}

async function tenantSpentToday(db: TestDatabase, tenantId: string): Promise<number> {
  const { rows } = await db.pool.query("select coalesce(sum(spent_cents), 0)::int as spent from tenant_daily_spend where tenant_id = $1", [tenantId]);
  return rows[0].spent;
}

async function spentCents(db: TestDatabase, agentId: string): Promise<number> {
  const { rows } = await db.pool.query("select spent_cents from agents where id = $1", [agentId]);
  return Number(rows[0].spent_cents);
}

describeOnBackends("budgets on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("stops before the step that would exceed the budget, and settles every step's cost exactly", async () => {
    const agent = await createAgent(db, { tenantId: "t-budget", name: "thrifty", budgetCents: 10 });
    const detail = await runToEnd(db, config, {
      tenantId: "t-budget",
      agentId: agent.id,
      goal: "spend",
      plan: { steps: [costly("a", 4), costly("b", 4), costly("c", 4)] },
    });
    expect(detail.run.status).toBe("halted");
    expect(detail.run.errorMessage).toBe("Hard budget limit reached: 12c consumed >= 10c limit");
    expect(detail.steps.map((step) => [step.stepId, step.status])).toEqual([
      ["a", "succeeded"],
      ["b", "succeeded"],
      ["c", "blocked"],
    ]);
    expect(detail.steps[2]?.decision).toMatchObject({ action: "deny", policy_id: "budget" });
    expect(detail.run.costCents).toBe(8);
    expect(detail.steps.reduce((sum, step) => sum + step.costCents, 0)).toBe(detail.run.costCents);
    expect(await spentCents(db, agent.id)).toBe(8);
    const { rows } = await db.pool.query("select termination_reason from runs where id = $1", [detail.run.id]);
    expect(rows[0].termination_reason).toBe("budget_exhausted");
  });

  it("loses no cent when runs of one agent reserve and settle at once", async () => {
    const agent = await createAgent(db, { tenantId: "t-race", name: "busy", budgetCents: 1_000_000, concurrentRunsLimit: 8 });
    const plan = { steps: Array.from({ length: 5 }, (_, i) => costly(`s${i}`, 3 + i)) };
    const runs = await Promise.all(Array.from({ length: 8 }, () => createRun(runnerDeps(db, config), { tenantId: "t-race", agentId: agent.id, goal: "g", plan })));
    await Promise.all(
      runs.map(async (run) => {
        const claimed = await claimRunById(db.pool, run.id, `w-${run.id}`, 30_000);
        await executeClaimedRun(runnerDeps(db, config), claimed!);
      }),
    );
    const perRun = 3 + 4 + 5 + 6 + 7;
    expect(await spentCents(db, agent.id)).toBe(8 * perRun);
    const { rows } = await db.pool.query("select sum(cost_cents)::int as total, count(*)::int as n from runs where agent_id = $1 and status = 'succeeded'", [agent.id]);
    expect(rows[0]).toEqual({ total: 8 * perRun, n: 8 });
  });

  it("never lets concurrent runs overspend a budget between them", async () => {
    const agent = await createAgent(db, { tenantId: "t-tight", name: "tight", budgetCents: 20, concurrentRunsLimit: 6 });
    const plan = { steps: [costly("a", 3), costly("b", 3)] };
    const runs = await Promise.all(Array.from({ length: 6 }, () => createRun(runnerDeps(db, config), { tenantId: "t-tight", agentId: agent.id, goal: "g", plan })));
    await Promise.all(
      runs.map(async (run) => {
        const claimed = await claimRunById(db.pool, run.id, `w-${run.id}`, 30_000);
        await executeClaimedRun(runnerDeps(db, config), claimed!);
      }),
    );
    const spent = await spentCents(db, agent.id);
    expect(spent).toBeLessThanOrEqual(20);
    expect(spent).toBe(18);
  });

  it("stops the tenant's agents together at the tenant's daily cap, with agents that have no budget of their own", async () => {
    await setPolicy(db, { tenantId: "t-daily", document: { caps: { tenant_daily_cost_cents: 10 } } });
    const first = await createAgent(db, { tenantId: "t-daily", name: "first" });
    const second = await createAgent(db, { tenantId: "t-daily", name: "second" });
    const plan = { steps: [costly("a", 4), costly("b", 4)] };
    const spent = await runToEnd(db, config, { tenantId: "t-daily", agentId: first.id, goal: "spend", plan });
    expect(spent.run.status).toBe("succeeded");
    const stopped = await runToEnd(db, config, { tenantId: "t-daily", agentId: second.id, goal: "spend more", plan });
    expect(stopped.run.status).toBe("halted");
    expect(stopped.run.errorMessage).toMatch(/^Hard budget limit reached: 12c consumed >= 10c limit \(the tenant's daily cap, \d{4}-\d\d-\d\d UTC\)$/);
    expect(stopped.steps.map((step) => step.status)).toEqual(["blocked"]);
    expect(stopped.steps[0]?.decision).toMatchObject({ action: "deny", policy_id: "tenant_daily_cap" });
    expect(await tenantSpentToday(db, "t-daily")).toBe(8);
    // The refused reservation charged neither the agent nor the day.
    expect(await spentCents(db, second.id)).toBe(0);
  });

  it("never lets concurrent runs of several agents overspend the tenant's day between them", async () => {
    await setPolicy(db, { tenantId: "t-daily-race", document: { caps: { tenant_daily_cost_cents: 20 } } });
    const agents = await Promise.all([1, 2, 3].map((n) => createAgent(db, { tenantId: "t-daily-race", name: `a${n}`, budgetCents: 1000 })));
    const plan = { steps: [costly("a", 3), costly("b", 3)] };
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => createRun(runnerDeps(db, config), { tenantId: "t-daily-race", agentId: agents[i % 3]!.id, goal: "g", plan })),
    );
    await runAll(db, runs.map((run) => run.id));
    const { rows } = await db.pool.query("select coalesce(sum(cost_cents), 0)::int as total from runs where tenant_id = 't-daily-race'");
    expect(await tenantSpentToday(db, "t-daily-race")).toBe(rows[0].total);
    expect(rows[0].total).toBe(18);
  });

  it("keeps the tenant's daily ledger without a cap, so a cap set later counts the day's earlier spend", async () => {
    const agent = await createAgent(db, { tenantId: "t-ledger", name: "spender" });
    await runToEnd(db, config, { tenantId: "t-ledger", agentId: agent.id, goal: "g", plan: { steps: [costly("a", 5), costly("b", 2)] } });
    expect(await tenantSpentToday(db, "t-ledger")).toBe(7);
    await setPolicy(db, { tenantId: "t-ledger", document: { caps: { tenant_daily_cost_cents: 10 } } });
    const capped = await runToEnd(db, config, { tenantId: "t-ledger", agentId: agent.id, goal: "g", plan: { steps: [costly("a", 2), costly("b", 2)] } });
    expect(capped.run.status).toBe("halted");
    expect(capped.steps.map((step) => step.status)).toEqual(["succeeded", "blocked"]);
    expect(await tenantSpentToday(db, "t-ledger")).toBe(9);
  });

  it("refuses a daily cap in an agent's policy: it belongs to the tenant", async () => {
    const agent = await createAgent(db, { tenantId: "t-agent-cap", name: "a" });
    await expect(
      setPolicy(db, { tenantId: "t-agent-cap", agentId: agent.id, document: { caps: { tenant_daily_cost_cents: 10 } } }),
    ).rejects.toThrow("caps.tenant_daily_cost_cents: the tenant's daily cap belongs in the tenant's policy, not an agent's");
  });
});
