import { expect } from "vitest";
import type { Config } from "../../src/config.js";
import type { Database } from "../../src/db/database.js";
import { setPolicy } from "../../src/services/policies.js";
import { approveRun } from "../../src/services/run-decisions.js";
import { claimAndExecute } from "../../src/worker/claim.js";
import { checkpointTenantLog, runnerDeps, runToEnd } from "./harness.js";

const transform = (stepId: string, n: number) => ({ step_id: stepId, skill: "json_transform", params: { payload: { n, f: 0.5, s: "ü", big: 12345678901234567000 }, mapping: { n: "n" } } });

/**
 * A plan whose run has every kind of row a proof must hold: a step that waits for a person (the policy asks approval
 * for fail_trigger), a step retried after a retryable failure, a failed `on_error: continue` step, and plain steps
 * with unicode, fractions and big numbers in their payloads.
 */
export const RICH_PLAN = {
  steps: [
    transform("first", 3),
    { step_id: "approved", skill: "fail_trigger", params: { fail_times: 0 } },
    // Asks for approval (attempt 1, blocked), then fails once retryably (attempt 2) and succeeds (attempt 3).
    { step_id: "retried", skill: "fail_trigger", params: { fail_times: 2, retryable: true }, retry_count: 2 },
    { step_id: "continued", skill: "fail_trigger", params: { retryable: false }, on_error: "continue" },
    transform("last", 4),
  ],
};

/** The rich run, parked at its first step that needs approval: one step done, a blocked row, no end. */
export async function parkedRichRun(db: Database, config: Config, tenantId: string): Promise<{ tenantId: string; runId: string }> {
  await setPolicy(db, { tenantId, document: { require_approval: ["fail_trigger"] } });
  const parked = await runToEnd(db, config, { tenantId, goal: "a run with every kind of row", plan: RICH_PLAN });
  expect(parked.run.status).toBe("pending_approval");
  return { tenantId, runId: parked.run.id };
}

/** The rich run approved at each step that asks (by alice), to its end. */
export async function finishedRichRun(db: Database, config: Config, tenantId: string): Promise<{ tenantId: string; runId: string }> {
  const run = await parkedRichRun(db, config, tenantId);
  for (;;) {
    const { rows } = await db.pool.query("select status from runs where id = $1", [run.runId]);
    if (rows[0].status !== "pending_approval") break;
    await approveRun(db, runnerDeps(db, config).keys, tenantId, run.runId, "alice");
    await claimAndExecute(runnerDeps(db, config), run.runId, "w");
  }
  await checkpointTenantLog(db, config, tenantId);
  return run;
}
