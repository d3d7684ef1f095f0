import type { TraceStep } from "../glossary.js";
import type { RunDetail } from "../services/runs.js";
import { isPruned } from "../trace/step-content.js";

// A run as JSON: one representation for `aos … --json` and the HTTP API, so a program reading either sees the
// same fields.

/** The run as `--json` prints it and the API returns it: upstream's get_run fields, plus its steps and trace. */
export function runJson(detail: RunDetail): Record<string, unknown> {
  const { run, trace, steps } = detail;
  return {
    run_id: run.id,
    tenant_id: run.tenantId,
    agent_id: run.agentId,
    origin_system_id: run.originSystemId,
    goal: run.goal,
    status: run.status,
    attempts: run.attempts,
    error_message: run.errorMessage,
    cost_cents: run.costCents,
    agent_budget:
      detail.agent === undefined || detail.agent.budgetCents === null
        ? null
        : {
            budget_cents: detail.agent.budgetCents,
            spent_cents: detail.agent.spentCents,
            remaining_cents: detail.agent.budgetCents - detail.agent.spentCents,
          },
    plan: run.plan,
    steps: steps.map(stepJson),
    incident:
      detail.incident === undefined
        ? null
        : { id: detail.incident.id, outcome: detail.incident.outcome, severity: detail.incident.severity, category: detail.incident.category },
    integrity_evidence: detail.evidence === undefined ? null : { status: detail.evidence.status, score: detail.evidence.score },
    llm_record:
      detail.llm === undefined
        ? null
        : {
            id: detail.llm.id,
            provider: detail.llm.provider,
            model: detail.llm.model,
            calls: detail.llm.callCount,
            input_tokens: detail.llm.inputTokens,
            output_tokens: detail.llm.outputTokens,
            cost_cents: detail.llm.costCents,
            cost_microcents: detail.llm.costMicrocents,
            status: detail.llm.status,
          },
    trace_id: trace?.traceId ?? null,
    trace_status: trace?.status ?? null,
    root_hash: trace?.rootHash ?? null,
    created_at: run.createdAt.toISOString(),
    started_at: run.startedAt?.toISOString() ?? null,
    completed_at: run.completedAt?.toISOString() ?? null,
    duration_ms: run.durationMs === null ? null : Math.round(run.durationMs),
  };
}

export function stepJson(step: TraceStep): Record<string, unknown> {
  return {
    seq: step.seq,
    step_index: step.stepIndex,
    step_id: step.stepId,
    attempt: step.attempt,
    skill: step.skillName,
    status: step.status,
    outcome_code: step.outcomeCode,
    duration_ms: step.durationMs,
    ...(step.error === null ? {} : { error: step.error.message }),
    outcome: outcomeJson(step),
    ...(isPruned(step) ? { pruned_at: (step.prunedAt as Date).toISOString() } : {}),
  };
}

/**
 * The attempt's outcome in the one shape every skill returns, {status, result, error?, side_effects}; null for a
 * `started` intent row, which records that an attempt began, not how it ended.
 */
function outcomeJson(step: TraceStep): Record<string, unknown> | null {
  if (step.status === "started") return null;
  return {
    status: step.status === "succeeded" ? "ok" : "error",
    result: step.outcomeData ?? null,
    ...(step.error === null ? {} : { error: step.error }),
    side_effects: { cost_cents: step.costCents, tokens: step.tokens },
  };
}

