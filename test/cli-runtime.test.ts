import { describe, expect, it } from "vitest";
import { runCli, tempHome, writePlan } from "./support/cli.js";

// simulate, capabilities and query as a user runs them: the built CLI on the embedded database.

describe("aos simulate, capabilities and query", () => {
  const home = tempHome();
  const env = { AOS_HOME: home };
  const plan = {
    steps: [
      { step_id: "spend", skill: "fail_trigger", params: { fail_times: 0, cost_cents: 4 } },
      { step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } },
    ],
  };

  it("simulate prints a feasible plan's estimates and exits 0; --json gives the report", async () => {
    const path = writePlan(home, plan);
    const shown = await runCli(["simulate", "--plan", path, "--tenant-id", "acme"], env);
    // No run has made tenant acme yet: the answer is for a new tenant, and says so (a misspelt tenant would too).
    expect(shown.stderr).toBe('note: no such tenant "acme" (there are no tenants yet): this answers for a new tenant, with no agents, policy or spending yet\n');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("Simulation: feasible");
    expect(shown.stdout).toMatch(/spend\s+fail_trigger\s+would_run\s+allow\s+4c/);

    const json = await runCli(["simulate", "--plan", path, "--tenant-id", "acme", "--json"], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ feasible: true, status: "feasible", estimated_cost_cents: 4 });
  });

  it("simulate exits 1 when the plan would not get through, and says where it would stop", async () => {
    const result = await runCli(["simulate", "--plan", writePlan(home, plan, "tight.json"), "--budget-cents", "3"], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("NOT feasible (budget_insufficient)");
    expect(result.stdout).toContain("the run would stop at step spend: Hard budget limit reached: 4c consumed >= 3c limit");
  });

  it("bad input is a usage error naming what was wrong", async () => {
    const missing = await runCli(["simulate", "--plan", "/nonexistent/plan.json"], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read plan file /nonexistent/plan.json");
    const query = await runCli(["query", "how_am_i", "--tenant-id", "acme"], env);
    expect(query.code).toBe(2);
    expect(query.stderr).toContain("unknown query \"how_am_i\"; ask one of: remaining_budget, allowed_skills, last_step_outcome, what_did_i_try_already");
  });

  it("after a run, capabilities and query report what it did", async () => {
    const ran = await runCli(["run", "--tenant-id", "acme", "--goal", "spend", "--plan", writePlan(home, plan, "run.json")], env);
    expect(ran.code).toBe(0);

    const capabilities = await runCli(["capabilities", "--tenant-id", "acme"], env);
    expect(capabilities.code).toBe(0);
    expect(capabilities.stdout).toMatch(/fail_trigger\s+yes\s+yes\s+1\/1/);
    expect(capabilities.stdout).toMatch(/slack_send\s+yes\s+no: SLACK_WEBHOOK_URL/);

    const last = await runCli(["query", "last_step_outcome", "--tenant-id", "acme"], env);
    expect(last.code).toBe(0);
    expect(JSON.parse(last.stdout).answer).toMatchObject({ step_id: "pick", status: "succeeded", outcome_code: "ok" });
    const tried = await runCli(["query", "what_did_i_try_already", "--tenant-id", "acme", "--goal", "spend"], env);
    expect(JSON.parse(tried.stdout).answer).toHaveLength(2);
  });

  it("a run parked for approval exits 3 (waiting, not failed); approving it runs it to the end, exit 0", async () => {
    const policy = writePlan(home, { require_approval: ["fail_trigger"] }, "policy.json");
    expect((await runCli(["policy", "set", "--tenant-id", "careful", "--file", policy], env)).code).toBe(0);
    const parked = await runCli(["run", "--tenant-id", "careful", "--goal", "ask first", "--plan", writePlan(home, plan, "parked.json"), "--json"], env);
    expect(parked.code).toBe(3);
    const run = JSON.parse(parked.stdout) as { run_id: string; status: string };
    expect(run.status).toBe("pending_approval");
    const approved = await runCli(["approve", run.run_id, "--tenant-id", "careful", "--by", "alice"], env);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain("succeeded");
  });
});
