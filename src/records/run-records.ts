import { createHash, randomUUID } from "node:crypto";
import { describeFailure, isFailureCode } from "../failure-catalog.js";
import type { EvidenceRow, IncidentRow, LlmRecordRow, PreventionRow, RunRecords } from "../db/queries/run-records.js";
import type { PlannerUsage, Run, RunEnding, TraceStep } from "../glossary.js";

export interface RecordInput {
  run: Run;
  ending: RunEnding;
  /** Every row of the run's trace, in seq order (none for a run that never executed). */
  steps: readonly TraceStep[];
  /** Why trace artifacts are absent, for a run that never executed. */
  notExecutedReason?: string;
  /** Why nothing was signed, for a run whose trace failed its integrity check: no checkpoint exists. */
  unsignedReason?: string;
  rootHash: string | null;
  /**
   * What a model's planning cost, for a run whose planning failed and so has no plan to carry it; a run with a
   * plan has it in `run.plan.planner_usage`.
   */
  plannerUsage?: PlannerUsage | undefined;
}

export function incidentId(runId: string): string {
  return `inc_${createHash("sha256").update(`incident:${runId}`).digest("hex").slice(0, 16)}`;
}

/** Severity and category by error code, as upstream's incident engine maps them (§5.4). */
const FAILURE_CLASSES: Record<string, { severity: IncidentRow["severity"]; category: string; title: string }> = {
  EXECUTION_TIMEOUT: { severity: "HIGH", category: "EXECUTION_FAILURE", title: "Execution Timeout" },
  STEP_FAILURE: { severity: "HIGH", category: "EXECUTION_FAILURE", title: "Step Failure" },
  SKILL_ERROR: { severity: "HIGH", category: "EXECUTION_FAILURE", title: "Skill Error" },
  BUDGET_EXCEEDED: { severity: "MEDIUM", category: "BUDGET_EXCEEDED", title: "Budget Exceeded" },
  RATE_LIMIT_EXCEEDED: { severity: "MEDIUM", category: "RATE_LIMIT", title: "Rate Limit Exceeded" },
  POLICY_VIOLATION: { severity: "MEDIUM", category: "POLICY_VIOLATION", title: "Policy Violation" },
  ENFORCEMENT_SKIPPED: { severity: "HIGH", category: "EXECUTION_FAILURE", title: "Enforcement Skipped" },
  PLAN_INVALID: { severity: "MEDIUM", category: "EXECUTION_FAILURE", title: "Plan Invalid" },
  CANCELLED: { severity: "LOW", category: "MANUAL", title: "Run Cancelled" },
  AGENT_CRASH: { severity: "CRITICAL", category: "EXECUTION_FAILURE", title: "Run Abandoned" },
  TRACE_TAMPERED: { severity: "CRITICAL", category: "INTEGRITY_VIOLATION", title: "Trace Tampered" },
  UNKNOWN: { severity: "MEDIUM", category: "EXECUTION_FAILURE", title: "Run Failed" },
};

/** The incident's error code, from how the run ended and the last recorded step; never from message text. */
function errorCodeOf(input: RecordInput): string {
  const last = input.steps.at(-1);
  switch (input.ending.terminationReason) {
    case "budget_exhausted":
      return "BUDGET_EXCEEDED";
    case "policy_block":
      if (last?.outcomeCode === "ENFORCEMENT_SKIPPED") return "ENFORCEMENT_SKIPPED";
      return last?.decision?.policy_id === "steps_per_minute" ? "RATE_LIMIT_EXCEEDED" : "POLICY_VIOLATION";
    case "user_abort":
      return "CANCELLED";
    case "step_failed":
      return last?.outcomeCode === "TIMEOUT" ? "EXECUTION_TIMEOUT" : "STEP_FAILURE";
    case "plan_invalid":
      return "PLAN_INVALID";
    case "system_failure":
      return "AGENT_CRASH";
    case "tampered":
      return "TRACE_TAMPERED";
    default:
      return "UNKNOWN";
  }
}

const OUTCOME_FOR_STATUS = { succeeded: "SUCCESS", failed: "FAILURE", halted: "BLOCKED", cancelled: "ABORTED" } as const;

function buildIncident(input: RecordInput): IncidentRow {
  const { run, ending } = input;
  const short = `Run ${run.id.slice(0, 8)}...`;
  if (ending.status === "succeeded") {
    return {
      id: incidentId(run.id),
      outcome: "SUCCESS",
      title: `Execution Complete: ${short}`,
      severity: "NONE",
      status: "CLOSED",
      category: "EXECUTION_SUCCESS",
      triggerType: "run_completion",
      errorCode: null,
      errorMessage: null,
    };
  }
  const code = errorCodeOf(input);
  const klass = FAILURE_CLASSES[code] ?? (FAILURE_CLASSES.UNKNOWN as (typeof FAILURE_CLASSES)[string]);
  return {
    id: incidentId(run.id),
    outcome: OUTCOME_FOR_STATUS[ending.status],
    title: `${klass.title}: ${short}`,
    severity: severityOf(input, code, klass.severity),
    status: "OPEN",
    category: klass.category,
    triggerType: ending.status === "cancelled" ? "manual_stop" : "run_failure",
    errorCode: code,
    errorMessage: ending.errorMessage?.slice(0, 500) ?? null,
  };
}

/**
 * A run that failed on a step takes the severity the failure catalog gives the step's code (a refused query is a
 * security matter, a validation error a lesser one); every other ending keeps its incident class's severity.
 */
function severityOf(input: RecordInput, code: string, fallback: IncidentRow["severity"]): IncidentRow["severity"] {
  const failed = input.steps.at(-1)?.outcomeCode;
  if ((code !== "STEP_FAILURE" && code !== "EXECUTION_TIMEOUT") || failed === undefined || !isFailureCode(failed)) return fallback;
  return describeFailure(failed).severity;
}

function buildPrevention(input: RecordInput): PreventionRow[] {
  const decided = input.steps.filter((step) => step.decision !== null);
  const denials = decided.filter((step) => step.decision?.action !== "allow");
  const summaryOutcome =
    input.ending.terminationReason === "policy_block" || input.ending.terminationReason === "budget_exhausted"
      ? "blocked"
      : denials.length > 0
        ? "advisory"
        : decided.length > 0
          ? "no_violation"
          : "not_applicable";
  const summary: PreventionRow = {
    id: randomUUID(),
    kind: "run_summary",
    policyId: `policy_eval_${input.run.id.slice(0, 8)}`,
    patternId: `policies_checked:${decided.length}`,
    outcome: summaryOutcome,
    stepSeq: null,
    reason: input.ending.status === "succeeded" ? null : input.ending.errorMessage,
    policyHash: decided.at(-1)?.decision?.policy_hash ?? null,
    confidence: summaryOutcome === "no_violation" ? 1 : 0,
  };
  const perDecision = denials.map((step): PreventionRow => ({
    id: randomUUID(),
    kind: "decision",
    policyId: step.decision?.policy_id ?? "unknown",
    patternId: `${step.decision?.action}:${step.skillName}`,
    outcome: "blocked",
    stepSeq: step.seq,
    reason: step.decision?.reason ?? null,
    policyHash: step.decision?.policy_hash ?? null,
    confidence: 1,
  }));
  return [summary, ...perDecision];
}

/** What llm_invoke put in a step's result (succeeded) or beside its error (failed). */
interface LlmCallResult {
  provider?: string;
  model?: string;
  prompt_hash?: string;
  response_hash?: string;
  input_tokens?: number;
  output_tokens?: number;
  cost_microcents?: number;
  price_table_version?: string;
}

/** One value, or "mixed" when the calls differ. */
function single(values: readonly (string | undefined)[]): string {
  const distinct = [...new Set(values.map((value) => value ?? "unknown"))];
  return distinct.length === 1 ? (distinct[0] as string) : "mixed";
}

/** One call's hash, or the sha256 of the calls' hashes joined in trace order. */
function combinedHash(hashes: readonly string[]): string | null {
  if (hashes.length <= 1) return hashes[0] ?? null;
  return createHash("sha256").update(hashes.join("\n")).digest("hex");
}

/** The planner's calls as one more entry beside llm_invoke's: the same fields, already summed over its requests. */
function plannerResult(usage: PlannerUsage): LlmCallResult {
  return {
    provider: usage.provider,
    model: usage.model,
    prompt_hash: usage.prompt_hash,
    ...(usage.response_hash === null ? {} : { response_hash: usage.response_hash }),
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cost_microcents: usage.cost_microcents,
    price_table_version: usage.price_table_version,
  };
}

/**
 * The run's LLM record (upstream §1.8): one row summarising every model call the run made, that is the planner's
 * requests (made at the run's creation) and every llm_invoke attempt that ran (a blocked one called nothing).
 * None for a run that called no model.
 */
function buildLlmRecord(input: RecordInput): LlmRecordRow | undefined {
  const calls = input.steps.filter((step) => step.skillName === "llm_invoke" && (step.status === "succeeded" || step.status === "failed"));
  const planner = input.plannerUsage ?? input.run.plan?.planner_usage;
  if (calls.length === 0 && planner === undefined) return undefined;
  const results = [...(planner === undefined ? [] : [plannerResult(planner)]), ...calls.map((step) => (step.outcomeData ?? {}) as LlmCallResult)];
  const lastStep = input.steps.at(-1);
  const status =
    input.ending.status === "succeeded"
      ? "SUCCEEDED"
      : input.ending.status === "failed"
        ? lastStep?.skillName === "llm_invoke" && lastStep.outcomeCode === "TIMEOUT"
          ? "TIMEOUT"
          : "FAILED"
        : "ABORTED";
  return {
    id: randomUUID(),
    provider: single(results.map((result) => result.provider)),
    model: single(results.map((result) => result.model)),
    promptHash: combinedHash(results.map((result) => result.prompt_hash ?? "")) ?? "",
    responseHash: combinedHash(results.flatMap((result) => (result.response_hash === undefined ? [] : [result.response_hash]))),
    inputTokens: results.reduce((sum, result) => sum + (result.input_tokens ?? 0), 0),
    outputTokens: results.reduce((sum, result) => sum + (result.output_tokens ?? 0), 0),
    costCents: (planner?.cost_cents ?? 0) + calls.reduce((sum, step) => sum + step.costCents, 0),
    costMicrocents: results.reduce((sum, result) => sum + (result.cost_microcents ?? 0), 0),
    callCount: (planner?.calls ?? 0) + calls.length,
    priceTableVersion: results.find((result) => result.price_table_version !== undefined)?.price_table_version ?? null,
    status,
    // The planner's requests were made while the run was being created.
    startedAt: planner === undefined ? (calls[0]?.startedAt ?? input.run.createdAt) : input.run.createdAt,
    completedAt: calls.at(-1)?.completedAt ?? input.run.createdAt,
  };
}

function buildEvidence(input: RecordInput, llmExpected: boolean): EvidenceRow {
  const expected = ["aos_traces", "aos_trace_steps", "checkpoint", "incident", "policy_record"];
  const observed = ["incident", "policy_record"];
  // The LLM record is built with the others and written in the same transaction, so when expected it is observed.
  if (llmExpected) {
    expected.push("llm_record");
    observed.push("llm_record");
  }
  const missingReasons: Record<string, string> = {};
  if (input.notExecutedReason === undefined) observed.unshift("aos_traces", ...(input.unsignedReason === undefined ? ["checkpoint"] : []));
  if (input.steps.length > 0) observed.splice(1, 0, "aos_trace_steps");
  for (const artifact of expected) {
    const reason = input.unsignedReason ?? input.notExecutedReason;
    if (!observed.includes(artifact)) missingReasons[artifact] = reason ?? "no step was recorded";
  }
  const missing = expected.filter((artifact) => !observed.includes(artifact));
  const score = observed.length / expected.length;
  // As upstream grades it: a missing trace or steps fails, and so does a trace that failed its integrity check;
  // otherwise the score decides.
  const failed = input.unsignedReason !== undefined || missing.some((artifact) => artifact.startsWith("aos_trace"));
  const status = failed ? "FAILED" : score >= 0.8 ? "VALID" : "DEGRADED";
  return { id: `ie-${input.run.id}`, expected, observed, missing, missingReasons, score, status };
}

export function buildRunRecords(input: RecordInput): RunRecords {
  const { run } = input;
  const llm = buildLlmRecord(input);
  return {
    incident: buildIncident(input),
    prevention: buildPrevention(input),
    evidence: buildEvidence(input, llm !== undefined),
    ...(llm === undefined ? {} : { llm }),
    provenance: { id: randomUUID(), rootHash: input.rootHash },
    memories: input.steps
      .filter((step) => step.status === "succeeded")
      .map((step) => ({
        id: randomUUID(),
        text: `Skill result: ${JSON.stringify(step.outcomeData)}`.slice(0, 4000),
        meta: { goal: run.goal, skill: step.skillName, skill_version: step.skillVersion, run_id: run.id, step_id: step.stepId },
      })),
  };
}
