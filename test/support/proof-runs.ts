import { expect } from "vitest";
import type { Config } from "../../src/config.js";
import { claimRunById } from "../../src/db/queries/run-status.js";
import { getRunProof } from "../../src/services/proofs.js";
import { createRun, getRunDetail } from "../../src/services/runs.js";
import { executeClaimedRun } from "../../src/worker/runner.js";
import type { TestDatabase } from "./databases.js";
import { runnerDeps, runToEnd } from "./harness.js";

/** The runs the proof tests attack: two transforms and a failure the plan continues past. */
export const PROOF_PLAN = {
  steps: [
    { step_id: "a", skill: "json_transform", params: { payload: { x: 1, y: "two", frac: 0.1, three: 3 }, mapping: { x: "x" } } },
    { step_id: "b", skill: "json_transform", params: { payload: { v: "{{a.x}}" }, mapping: { v: "v" } } },
    { step_id: "c", skill: "fail_trigger", params: { retryable: false }, on_error: "continue" },
  ],
};

export function proofRuns(db: () => TestDatabase, config: Config, tenantId: string) {
  const proofOf = (runId: string, tenant = tenantId) => getRunProof(db(), config, tenant, runId);
  return {
    proofOf,
    /** A run that succeeded, signed. */
    async finishedRun(tenant = tenantId) {
      const detail = await runToEnd(db(), config, { tenantId: tenant, goal: "prove me", plan: PROOF_PLAN });
      expect(detail.run.status).toBe("succeeded");
      return { runId: detail.run.id, traceId: `trace_${detail.run.id}` };
    },
    /** A run whose worker recorded its first step and then lost the run: running, one row, no end. */
    async unfinishedRun() {
      const run = await createRun(runnerDeps(db(), config), { tenantId, goal: "interrupted", plan: PROOF_PLAN });
      const claimed = await claimRunById(db().pool, run.id, "w", 30_000);
      const deps = { ...runnerDeps(db(), config), onStep: () => void db().pool.query("update runs set epoch = epoch + 1 where id = $1", [run.id]) };
      await expect(executeClaimedRun(deps, claimed!)).rejects.toMatchObject({ code: "LEASE_LOST" });
      return { runId: run.id, traceId: `trace_${run.id}` };
    },
    /** What a worker leaves of a run it found tampered: failed `tampered`, a CRITICAL incident, nothing signed. */
    async endedTampered(runId: string) {
      const detail = await getRunDetail(db(), config, tenantId, runId);
      expect(detail.run).toMatchObject({ status: "failed", terminationReason: "tampered" });
      expect(detail.run.errorMessage).toMatch(/^Trace integrity check failed: /);
      expect(detail.incident).toMatchObject({ severity: "CRITICAL", category: "INTEGRITY_VIOLATION" });
      const checkpoints = await db().pool.query("select count(*)::int as n from aos_checkpoints where run_id = $1", [runId]);
      expect(checkpoints.rows[0].n).toBe(0);
      expect(await proofOf(runId)).toMatchObject({ verification_status: "TAMPERED" });
    },
  };
}
