import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent } from "../src/services/agents.js";
import { agentCapabilities } from "../src/services/capabilities.js";
import { setPolicy } from "../src/services/policies.js";
import { runtimeQuery } from "../src/services/runtime-query.js";
import { simulatePlan } from "../src/services/simulate.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";

// simulate, capabilities and query answer from the database; each answer is checked against what a real run of
// the same deterministic plan then does (fail_trigger charges exactly its cost_cents, json_transform nothing).

const config = testConfig();

const costly = (stepId: string, cost: number) => ({ step_id: stepId, skill: "fail_trigger", params: { fail_times: 0, cost_cents: cost } });
const transform = (stepId: string) => ({ step_id: stepId, skill: "json_transform", params: { payload: { a: { b: 2 } }, mapping: { b: "a.b" } } });

describeOnBackends("simulate, capabilities and query on $name", (backend) => {
  let db: TestDatabase;
  let tenantCount = 0;
  const freshTenant = () => `tenant-rt-${++tenantCount}`;

  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("predicts a policy halt: same steps run, same costs, the same step blocked with the same message", async () => {
    const tenantId = freshTenant();
    await setPolicy(db, { tenantId, document: { allowed_skills: ["fail_trigger", "json_transform"], caps: { run_cost_cents: 10 } } });
    const agent = await createAgent(db, { tenantId, name: "planner", budgetCents: 100 });
    const plan = { steps: [costly("a", 3), transform("b"), costly("c", 5), costly("d", 4)] };

    const report = await simulatePlan(db, config, { plan, tenantId, agentId: agent.id });
    expect(report.status).toBe("policy_blocked");
    expect(report.feasible).toBe(false);
    expect(report.step_estimates.map((step) => step.outcome)).toEqual(["would_run", "would_run", "would_run", "blocked"]);
    expect(report.estimated_cost_cents).toBe(8);
    expect(report.permission_gaps).toEqual([expect.objectContaining({ step_id: "d", policy_id: "caps.run_cost_cents" })]);
    expect(report.budget).toEqual({ source: "agent", agent_remaining_cents: 100, tenant_day_remaining_cents: null });

    const detail = await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "simulated", plan });
    expect(detail.run.status).toBe("halted");
    expect(detail.run.errorMessage).toBe(report.halt?.reason);
    expect(detail.run.costCents).toBe(report.estimated_cost_cents);
    const executed = detail.steps.filter((step) => step.status === "succeeded").map((step) => [step.stepId, step.costCents]);
    expect(executed).toEqual(report.step_estimates.filter((step) => step.outcome === "would_run").map((step) => [step.step_id, step.estimated_cost_cents]));
    expect(detail.steps.at(-1)?.decision?.policy_id).toBe(report.permission_gaps[0]?.policy_id);
  });

  it("predicts a budget halt against the agent's real remaining budget, worded as the run's halt", async () => {
    const tenantId = freshTenant();
    const agent = await createAgent(db, { tenantId, name: "thrifty", budgetCents: 10 });
    await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "spend", plan: { steps: [costly("x", 3)] } });
    const plan = { steps: [costly("a", 2), costly("b", 6)] };

    const report = await simulatePlan(db, config, { plan, tenantId, agentId: agent.id });
    expect(report.status).toBe("budget_insufficient");
    expect(report.budget_sufficient).toBe(false);
    expect(report.budget.agent_remaining_cents).toBe(7);
    expect(report.halt?.step_id).toBe("b");

    const whatIf = await simulatePlan(db, config, { plan, tenantId, agentId: agent.id, budgetCents: 8 });
    expect(whatIf.status).toBe("feasible");
    expect(whatIf.budget.source).toBe("flag");

    const detail = await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "spend more", plan });
    expect(detail.run.status).toBe("halted");
    expect(detail.run.errorMessage).toBe(report.halt?.reason);
  });

  it("predicts approvals, missing configuration and invalid plans", async () => {
    const tenantId = freshTenant();
    await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
    const approval = await simulatePlan(db, config, { plan: { steps: [transform("t"), costly("a", 1)] }, tenantId });
    expect(approval.status).toBe("needs_approval");
    expect(approval.feasible).toBe(true);
    expect(approval.approvals_required).toEqual([{ step_id: "a", skill: "fail_trigger" }]);
    const parked = await runToEnd(db, config, { tenantId, goal: "approve me", plan: { steps: [transform("t"), costly("a", 1)] } });
    expect(parked.run.status).toBe("pending_approval");

    const slack = await simulatePlan(db, config, { plan: { steps: [{ step_id: "s", skill: "slack_send", params: { text: "hi" } }] }, tenantId });
    expect(slack.status).toBe("not_configured");
    expect(slack.step_estimates[0]?.missing_settings).toEqual(["SLACK_WEBHOOK_URL"]);

    const invalid = await simulatePlan(db, config, { plan: { steps: [{ step_id: "n", skill: "no_such_skill" }] } });
    expect(invalid.status).toBe("plan_invalid");
    expect(invalid.plan_issues[0]?.code).toBe("UNKNOWN_SKILL");
    const badParams = await simulatePlan(db, config, { plan: { steps: [transform("ok"), { step_id: "bad", skill: "json_transform", params: { payload: {}, mapping: 7 } }] } });
    expect(badParams.status).toBe("plan_invalid");
    expect(badParams.step_estimates.map((step) => step.outcome)).toEqual(["not_reached", "invalid"]);
  });

  it("lists risks from the catalog with the tenant's own failure history", async () => {
    const tenantId = freshTenant();
    const failing = { steps: [{ step_id: "f", skill: "fail_trigger", params: { error_code: "HTTP_4XX" } }] };
    await runToEnd(db, config, { tenantId, goal: "fail", plan: failing });
    const report = await simulatePlan(db, config, { plan: { steps: [costly("a", 0)] }, tenantId });
    const injected = report.risks.find((risk) => risk.code === "INJECTED_FAILURE");
    expect(injected).toMatchObject({ category: "TRANSIENT", retryable: true, recovery: "RETRY_EXPONENTIAL", observed_failures: 0, observed_attempts: 1 });
    // The injected HTTP_4XX is not one of fail_trigger's own codes, but the history counts the attempt.
    expect(report.step_estimates[0]?.observed_p50_ms).not.toBeNull();
  });

  it("capabilities: allowed and configured skills, budget and history from the database", async () => {
    const tenantId = freshTenant();
    await setPolicy(db, { tenantId, document: { allowed_skills: ["fail_trigger", "json_transform", "slack_send"], steps_per_minute: 50 } });
    const agent = await createAgent(db, { tenantId, name: "capable", budgetCents: 20 });
    await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "spend", plan: { steps: [costly("a", 3), transform("b")] } });

    const report = await agentCapabilities(db.pool, config, tenantId, agent.id);
    const byName = new Map(report.skills.map((skill) => [skill.name, skill]));
    expect(byName.get("fail_trigger")).toMatchObject({ available: true, configured: true, history: { attempts: 1, failures: 0, success_rate: 1 } });
    expect(byName.get("http_call")).toMatchObject({ available: false, unavailable_reason: "not in the policy's allowed_skills" });
    expect(byName.get("slack_send")).toMatchObject({ available: true, configured: false, missing_settings: ["SLACK_WEBHOOK_URL"] });
    expect(report.budget).toMatchObject({ agent_limit_cents: 20, agent_spent_cents: 3, agent_remaining_cents: 17 });
    expect(report.policy.steps_remaining_this_minute).toBe(48);
  });

  it("query answers from the database, within the tenant", async () => {
    const tenantId = freshTenant();
    await setPolicy(db, { tenantId, document: { caps: { run_cost_cents: 5 } } });
    const agent = await createAgent(db, { tenantId, name: "asker", budgetCents: 50 });
    const plan = { steps: [costly("a", 2), costly("b", 2), costly("c", 2)] };
    const first = await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "try", plan });
    await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "try", plan });

    const budget = await runtimeQuery(db.pool, config, "remaining_budget", { tenantId, runId: first.run.id });
    expect(budget.agent_id).toBe(agent.id);
    expect(budget.answer).toMatchObject({ remaining_cents: 1, agent: { remaining_cents: 42 }, run: { cost_cents: 4, cap_cents: 5, remaining_cents: 1 } });

    const last = await runtimeQuery(db.pool, config, "last_step_outcome", { tenantId, agentId: agent.id, runId: first.run.id });
    expect(last.answer).toMatchObject({ step_id: "c", status: "blocked", outcome_code: "POLICY_VIOLATION" });

    const tried = await runtimeQuery(db.pool, config, "what_did_i_try_already", { tenantId, agentId: agent.id, goal: "try" });
    const calls = tried.answer as { params: { cost_cents: number }; attempts: number; runs: number; succeeded: number; blocked: number }[];
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ attempts: 6, runs: 2, succeeded: 4, blocked: 2 });

    const allowed = await runtimeQuery(db.pool, config, "allowed_skills", { tenantId, agentId: agent.id });
    expect((allowed.answer as { allowed: string[] }).allowed).toContain("fail_trigger");

    const other = freshTenant();
    await expect(runtimeQuery(db.pool, config, "last_step_outcome", { tenantId: other, runId: first.run.id })).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    await expect(runtimeQuery(db.pool, config, "remaining_budget", { tenantId: other, agentId: agent.id })).rejects.toMatchObject({ code: "AGENT_NOT_FOUND" });
    expect((await runtimeQuery(db.pool, config, "what_did_i_try_already", { tenantId: other })).answer).toEqual([]);
    await expect(runtimeQuery(db.pool, config, "what_is_the_meaning", { tenantId })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  });
});
