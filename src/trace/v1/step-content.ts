import { isoTime, type TraceStep } from "../../glossary.js";
import type { StepContent } from "./step-hash.js";

export type UnhashedTraceStep = Omit<TraceStep, "leafHash" | "chainHash">;

/** Whether `aos prune` removed the step's payload: its leaf can then be checked but not recomputed from content. */
export function isPruned(step: Pick<TraceStep, "prunedAt">): boolean {
  return (step.prunedAt ?? null) !== null;
}

/**
 * The content object a trace step row hashes to: everything the row says except its hashes. The writer hashes
 * this when it records the row, and the proof recomputes leaves from stored rows with exactly this function.
 */
export function contentOf(step: UnhashedTraceStep): StepContent {
  return {
    seq: step.seq,
    step_index: step.stepIndex,
    step_id: step.stepId,
    attempt: step.attempt,
    skill: step.skillName,
    skill_version: step.skillVersion,
    params: step.params,
    status: step.status,
    outcome_code: step.outcomeCode,
    outcome_data: step.outcomeData ?? null,
    error: step.error,
    cost_cents: step.costCents,
    tokens: step.tokens,
    duration_ms: step.durationMs,
    // A time no AOS process wrote (past JavaScript's range) cannot hash as the recorded one: the leaf check fails.
    started_at: isoTime(step.startedAt) ?? "",
    completed_at: isoTime(step.completedAt) ?? "",
    decision: step.decision,
  };
}
