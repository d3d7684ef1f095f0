import type { PlanStep, RunEnding, TraceStep } from "../glossary.js";

/**
 * The ending a run's recorded trace already implies, if any: its last row is a settled failure of a step whose
 * on_error is abort (the run failed), or a step the policy engine or the budget refused (the run halted). A worker
 * that resumes such a run — its finalization failed and it was retried, or someone put it back in the queue —
 * ends it that way again rather than executing the steps after an ending. Approval waits (APPROVAL_REQUIRED) are not
 * endings: an approved run resumes at that step.
 */
export function endingRecordedIn(rows: readonly TraceStep[], steps: readonly PlanStep[], nextStepIndex: number): RunEnding | undefined {
  const last = rows.at(-1);
  if (last === undefined) return undefined;
  const step = steps[last.stepIndex];
  const settled = nextStepIndex === last.stepIndex + 1;
  if (last.status === "failed" && settled && step !== undefined && step.on_error !== "continue") {
    return { status: "failed", errorMessage: `step_failed:${step.step_id}:${last.error?.message ?? last.outcomeCode}`, terminationReason: "step_failed" };
  }
  if (last.status === "blocked" && last.outcomeCode !== "APPROVAL_REQUIRED") {
    const terminationReason = last.outcomeCode === "BUDGET_EXCEEDED" ? "budget_exhausted" : "policy_block";
    return { status: "halted", errorMessage: last.error?.message ?? last.outcomeCode, terminationReason };
  }
  return undefined;
}
