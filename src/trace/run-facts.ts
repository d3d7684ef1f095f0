import type { RunEnd } from "./run-end.js";
import type { TraceHeader } from "./trace-header.js";
import type { CheckedTrace } from "./verify-trace.js";

/**
 * A run's facts as its trace's bytes state them: the header's, and once the run has ended, the run-end's. Readers
 * show a run from these, beside the verdict on the bytes, rather than from the database's copies.
 */
export interface RunFacts {
  run_id: string;
  tenant_id: string;
  agent_id: string;
  origin_system_id: string;
  actor_type: TraceHeader["actor_type"];
  actor_id: string | null;
  parent_run_id: string | null;
  goal: string;
  plan_sha256: string;
  created_at: string;
  /** Null until the run has ended. */
  end: RunEndFacts | null;
}

export type RunEndFacts = Pick<
  RunEnd,
  "status" | "termination_reason" | "error_message" | "cost_cents" | "tokens" | "attempts" | "started_at" | "completed_at" | "duration_ms" | "step_count"
>;

export function provenFacts(checked: Pick<CheckedTrace, "header" | "runEnd">): RunFacts | null {
  const { header, runEnd } = checked;
  if (header === undefined) return null;
  return {
    run_id: header.run_id,
    tenant_id: header.tenant_id,
    agent_id: header.agent_id,
    origin_system_id: header.origin_system_id,
    actor_type: header.actor_type,
    actor_id: header.actor_id,
    parent_run_id: header.parent_run_id,
    goal: header.goal,
    plan_sha256: header.plan_sha256,
    created_at: header.created_at,
    end:
      runEnd === undefined
        ? null
        : {
            status: runEnd.status,
            termination_reason: runEnd.termination_reason,
            error_message: runEnd.error_message,
            cost_cents: runEnd.cost_cents,
            tokens: runEnd.tokens,
            attempts: runEnd.attempts,
            started_at: runEnd.started_at,
            completed_at: runEnd.completed_at,
            duration_ms: runEnd.duration_ms,
            step_count: runEnd.step_count,
          },
  };
}
