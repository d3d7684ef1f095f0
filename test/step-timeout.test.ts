import { afterAll, beforeAll, expect, it } from "vitest";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { chainProblems, runToEnd, testConfig } from "./support/harness.js";

// AOS_STEP_TIMEOUT_MS bounds every attempt: a step still running then is recorded TIMEOUT (retryable), retried up
// to its retry_count, and the run fails with an EXECUTION_TIMEOUT incident instead of hanging on a renewed lease.

const config = testConfig({ AOS_STEP_TIMEOUT_MS: "100" });

describeOnBackends("the step timeout on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("times out a slow attempt, retries it, then fails the run as an execution timeout", async () => {
    const plan = { steps: [{ step_id: "slow", skill: "fail_trigger", params: { delay_ms: 60_000, fail_times: 0 }, retry_count: 1 }] };
    const detail = await runToEnd(db, config, { tenantId: `timeout-${backend.name}`, goal: "too slow", plan });
    expect(detail.run.status).toBe("failed");
    expect(detail.steps.map((step) => [step.attempt, step.status, step.outcomeCode])).toEqual([
      [1, "failed", "TIMEOUT"],
      [2, "failed", "TIMEOUT"],
    ]);
    expect(detail.steps[0]?.error).toMatchObject({ retryable: true, message: "fail_trigger was stopped by the step timeout" });
    expect(detail.incident).toMatchObject({ errorCode: "EXECUTION_TIMEOUT", severity: "HIGH" });
    expect(chainProblems(detail)).toEqual([]);
  });
});
