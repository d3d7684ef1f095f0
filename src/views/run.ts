import type { EvidenceView, IncidentView, LlmRecordView } from "../db/queries/run-records.js";
import { type Agent, isoTime, type Plan, type Run, type Trace, type TraceStep } from "../glossary.js";
import type { StoredProof } from "../proof/prove-stored.js";
import { textOf } from "../trace/digest.js";

/** A run as readers show it: the row, its trace read from the hashed bytes, the proof and the records. */
export interface RunDetail {
  run: Run;
  trace: Trace | undefined;
  /** The steps, each from its own hashed bytes (format v2), as readers show them. */
  steps: TraceStep[];
  /** The verdict on the stored trace, and the run's facts as its verified bytes state them. */
  proof: StoredProof | undefined;
  /** The run's agent as it is now, for its remaining budget. */
  agent: Agent | undefined;
  /** The records a terminal run leaves; undefined until it is terminal. */
  incident: IncidentView | undefined;
  evidence: EvidenceView | undefined;
  /** The run's model calls summarised, when it made any. */
  llm: LlmRecordView | undefined;
}

// A run as JSON: one representation for `aos … --json` and the HTTP API, so a program reading either sees the
// same fields.

/**
 * A run's facts as readers show them: a finished run's from its run-end (and its trace header), which the proof
 * covers, not from the database row; an unfinished run's creation facts from its header and its progress from the
 * row. `proof` beside them says whether those bytes verify, and which column disagrees if one does.
 */
export function shownRun(detail: RunDetail) {
  const { run } = detail;
  const facts = detail.proof?.facts ?? null;
  const end = facts?.end ?? null;
  return {
    id: run.id,
    tenantId: facts?.tenant_id ?? run.tenantId,
    agentId: facts?.agent_id ?? run.agentId,
    originSystemId: facts?.origin_system_id ?? run.originSystemId,
    goal: facts?.goal ?? run.goal,
    status: end?.status ?? run.status,
    terminationReason: end === null ? run.terminationReason : end.termination_reason,
    attempts: end?.attempts ?? run.attempts,
    errorMessage: end === null ? run.errorMessage : end.error_message,
    costCents: end?.cost_cents ?? run.costCents,
    tokens: end?.tokens ?? detail.steps.reduce((sum, step) => sum + step.tokens, 0),
    createdAt: facts?.created_at ?? isoTime(run.createdAt),
    startedAt: end === null ? run.startedAt && isoTime(run.startedAt) : end.started_at,
    completedAt: end === null ? run.completedAt && isoTime(run.completedAt) : end.completed_at,
    durationMs: end === null ? (run.durationMs === null ? null : Math.round(run.durationMs)) : end.duration_ms,
    /** The plan from the trace's plan bytes (format v2), else the row's plan_json. */
    plan: planOf(detail),
    /** Where the facts come from: the proven run-end, or the row (a run still going, or one with no v2 trace). */
    factsFrom: end === null ? ("row" as const) : ("run-end" as const),
  };
}

/** A run as a list shows it: its row, as stored (a list does not verify proofs; `aos get-run` does). */
export function runListJson(run: Run) {
  return {
    run_id: run.id,
    agent_id: run.agentId,
    goal: run.goal,
    status: run.status,
    attempts: run.attempts,
    cost_cents: run.costCents,
    error_message: run.errorMessage,
    created_at: isoTime(run.createdAt),
    completed_at: run.completedAt && isoTime(run.completedAt),
  };
}

function planOf(detail: RunDetail): Plan | null {
  const bytes = detail.trace?.stored?.plan;
  const text = bytes === undefined ? undefined : textOf(bytes);
  if (text === undefined) return detail.run.plan;
  try {
    return JSON.parse(text) as Plan;
  } catch {
    return detail.run.plan;
  }
}

/** The verdict on the run's stored trace, as it is shown with the run. */
function proofSummaryJson(detail: RunDetail): Record<string, unknown> | null {
  const verdict = detail.proof?.verdict;
  if (verdict === undefined) return null;
  return {
    format: verdict.format,
    verification_status: verdict.status,
    failure_reason: verdict.failureReason,
    first_bad_seq: verdict.firstBadSeq,
    field: verdict.field,
    pruned_steps: verdict.prunedSeqs.length,
    merkle_root: verdict.merkleRoot,
    root_hash: verdict.rootHash,
    signature_valid: verdict.signatureValid,
    not_covered: verdict.notCovered,
  };
}

/** The run as `--json` prints it and the API returns it: upstream's get_run fields, plus its steps, trace and proof. */
export function runJson(detail: RunDetail): Record<string, unknown> {
  const { trace, steps } = detail;
  const shown = shownRun(detail);
  return {
    run_id: shown.id,
    tenant_id: shown.tenantId,
    agent_id: shown.agentId,
    origin_system_id: shown.originSystemId,
    goal: shown.goal,
    status: shown.status,
    termination_reason: shown.terminationReason,
    attempts: shown.attempts,
    error_message: shown.errorMessage,
    cost_cents: shown.costCents,
    tokens: shown.tokens,
    agent_budget:
      detail.agent === undefined || detail.agent.budgetCents === null
        ? null
        : {
            budget_cents: detail.agent.budgetCents,
            spent_cents: detail.agent.spentCents,
            remaining_cents: detail.agent.budgetCents - detail.agent.spentCents,
          },
    plan: shown.plan,
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
    root_hash: detail.proof?.verdict.rootHash ?? trace?.rootHash ?? null,
    created_at: shown.createdAt,
    started_at: shown.startedAt,
    completed_at: shown.completedAt,
    duration_ms: shown.durationMs,
    facts_from: shown.factsFrom,
    proof: proofSummaryJson(detail),
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
    ...(isPruned(step) ? { pruned_at: isoTime(step.prunedAt as Date) } : {}),
  };
}

/** Whether `aos prune` removed the step's payload. */
export function isPruned(step: Pick<TraceStep, "prunedAt">): boolean {
  return (step.prunedAt ?? null) !== null;
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
