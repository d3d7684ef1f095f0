import { afterAll, beforeAll, expect, it } from "vitest";
import { claimRunById } from "../src/db/queries/run-status.js";
import { setPolicy } from "../src/services/policies.js";
import { getRunProof } from "../src/services/proofs.js";
import { approveRun, cancelRun, rejectRun } from "../src/services/run-decisions.js";
import { createRun, getRunDetail } from "../src/services/runs.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig } from "./support/harness.js";

const config = testConfig();
const transform = (stepId: string) => ({ step_id: stepId, skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } });
const guarded = { step_id: "guarded", skill: "fail_trigger", params: { fail_times: 0 } };

describeOnBackends("approvals and cancellation on $name", (backend) => {
  let db: TestDatabase;
  let tenantCount = 0;
  const tenantNeedingApproval = async () => {
    const tenantId = `t-appr-${++tenantCount}`;
    await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
    return tenantId;
  };
  const incidentOf = async (runId: string) => (await db.pool.query("select outcome, severity, category from incidents where source_run_id = $1", [runId])).rows;

  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("parks a run at a step that needs approval, holding nothing, and resumes it there once approved", async () => {
    const tenantId = await tenantNeedingApproval();
    const parked = await runToEnd(db, config, { tenantId, goal: "g", plan: { steps: [transform("first"), guarded, transform("last")] } });
    expect(parked.run.status).toBe("pending_approval");
    expect(parked.trace?.status).toBe("running");
    expect(parked.steps.map((step) => [step.stepId, step.status, step.decision?.action])).toEqual([
      ["first", "succeeded", "allow"],
      ["guarded", "blocked", "require_approval"],
    ]);
    const lease = await db.pool.query("select worker_id, lease_expires_at from runs where id = $1", [parked.run.id]);
    expect(lease.rows[0]).toEqual({ worker_id: null, lease_expires_at: null });
    expect(await incidentOf(parked.run.id)).toEqual([]);

    await approveRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, "alice");
    await claimAndExecute(runnerDeps(db, config), parked.run.id, "w2");
    const done = await getRunDetail(db, config, tenantId, parked.run.id);
    expect(done.run.status).toBe("succeeded");
    expect(done.steps.map((step) => [step.stepId, step.status])).toEqual([
      ["first", "succeeded"],
      ["guarded", "blocked"],
      ["guarded", "succeeded"],
      ["last", "succeeded"],
    ]);
    expect(done.steps[2]?.decision).toMatchObject({ action: "allow", policy_id: "require_approval" });
    expect(done.steps[2]?.decision?.reason).toMatch(/^approved by alice at \d{4}-/);
    expect((await getRunProof(db, config, tenantId, parked.run.id)).verification_status).toBe("VERIFIED");
    expect(await incidentOf(parked.run.id)).toEqual([{ outcome: "SUCCESS", severity: "NONE", category: "EXECUTION_SUCCESS" }]);
    await expect(approveRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, "alice")).rejects.toThrow(/already succeeded; nothing to approve/);
  });

  it("ends a rejected run halted, with the rejection (who, when) in its trace", async () => {
    const tenantId = await tenantNeedingApproval();
    const parked = await runToEnd(db, config, { tenantId, goal: "g", plan: { steps: [guarded, transform("never")] } });
    await expect(rejectRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, undefined, config.leaseMs)).rejects.toThrow(/^by is required/);
    await rejectRun(db, runnerDeps(db, config).keys, tenantId, parked.run.id, "bob", config.leaseMs);
    const detail = await getRunDetail(db, config, tenantId, parked.run.id);
    expect(detail.run.status).toBe("halted");
    expect(detail.run.errorMessage).toMatch(/^Policy violation: require_approval: rejected by bob at /);
    expect(detail.trace?.status).toBe("aborted");
    expect(detail.steps.at(-1)).toMatchObject({ status: "blocked", decision: { action: "deny", policy_id: "require_approval" } });
    expect((await getRunProof(db, config, tenantId, parked.run.id)).verification_status).toBe("VERIFIED");
    expect(await incidentOf(parked.run.id)).toEqual([{ outcome: "BLOCKED", severity: "MEDIUM", category: "POLICY_VIOLATION" }]);
  });

  it("cancels a queued run at once: cancelled, trace aborted, an ABORTED incident", async () => {
    const run = await createRun(runnerDeps(db, config), { tenantId: "t-cancel", goal: "g", plan: { steps: [transform("a")] } });
    expect(await cancelRun(db, runnerDeps(db, config).keys, "t-cancel", run.id, config.leaseMs)).toBe("cancelled");
    const detail = await getRunDetail(db, config, "t-cancel", run.id);
    expect([detail.run.status, detail.trace?.status, detail.steps.length]).toEqual(["cancelled", "aborted", 0]);
    expect(await incidentOf(run.id)).toEqual([{ outcome: "ABORTED", severity: "LOW", category: "MANUAL" }]);
    const evidence = await db.pool.query("select count(*)::int as n from integrity_evidence where run_id = $1", [run.id]);
    expect(evidence.rows[0].n).toBe(1);
    await expect(cancelRun(db, runnerDeps(db, config).keys, "t-cancel", run.id, config.leaseMs)).rejects.toThrow(/already cancelled; nothing to cancel/);
  });

  it("cancels a running run between steps: the step in flight finishes, the next never starts", async () => {
    const slow = { step_id: "slow", skill: "fail_trigger", params: { fail_times: 0, delay_ms: 400 } };
    const run = await createRun(runnerDeps(db, config), { tenantId: "t-cancel", goal: "g", plan: { steps: [transform("a"), slow, transform("never")] } });
    const claimed = await claimRunById(db.pool, run.id, "w", 30_000);
    const executing = executeClaimedRun(runnerDeps(db, config), claimed!);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await cancelRun(db, runnerDeps(db, config).keys, "t-cancel", run.id, config.leaseMs)).toBe("requested");
    expect(await executing).toMatchObject({ status: "cancelled" });
    const detail = await getRunDetail(db, config, "t-cancel", run.id);
    expect(detail.run.status).toBe("cancelled");
    expect(detail.trace?.status).toBe("aborted");
    expect(detail.steps.map((step) => step.stepId)).toEqual(["a", "slow"]);
    expect(await incidentOf(run.id)).toEqual([{ outcome: "ABORTED", severity: "LOW", category: "MANUAL" }]);
    expect((await getRunProof(db, config, "t-cancel", run.id)).verification_status).toBe("VERIFIED");
  });
});
