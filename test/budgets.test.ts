import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimRunById } from "../src/db/queries/runs.js";
import { createAgent } from "../src/services/agents.js";
import { createRun } from "../src/services/runs.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";

const config = testConfig();
const costly = (stepId: string, cost: number) => ({ step_id: stepId, skill: "fail_trigger", params: { fail_times: 0, cost_cents: cost } });

async function spentCents(db: TestDatabase, agentId: string): Promise<number> {
  const { rows } = await db.pool.query("select spent_cents from agents where id = $1", [agentId]);
  return Number(rows[0].spent_cents);
}

describe.each(testBackends())("budgets on $name", (backend) => {
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
    const agent = await createAgent(db, { tenantId: "t-race", name: "busy", budgetCents: 1_000_000 });
    const plan = { steps: Array.from({ length: 5 }, (_, i) => costly(`s${i}`, 3 + i)) };
    const runs = await Promise.all(Array.from({ length: 8 }, () => createRun(db, config, { tenantId: "t-race", agentId: agent.id, goal: "g", plan })));
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
    const agent = await createAgent(db, { tenantId: "t-tight", name: "tight", budgetCents: 20 });
    const plan = { steps: [costly("a", 3), costly("b", 3)] };
    const runs = await Promise.all(Array.from({ length: 6 }, () => createRun(db, config, { tenantId: "t-tight", agentId: agent.id, goal: "g", plan })));
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
});
