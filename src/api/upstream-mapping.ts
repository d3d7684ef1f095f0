import { AppError } from "../errors.js";
import type { RunStatus, TraceStep } from "../glossary.js";
import type { CapabilitiesReport } from "../services/capabilities.js";
import type { QueryAnswer, QueryType } from "../services/runtime-query.js";
import type { SimulationReport } from "../services/simulate.js";
import type { SkillDescriptor } from "../skills/registry.js";
import { shownRun, type RunDetail } from "../views/run.js";

// Upstream AOS's shapes (its SDKs, sdk/js/aos-sdk and sdk/python/aos_sdk, and the server they were written for)
// from ours and back. Pure: the routes in routes/upstream.ts call the services and hand the answers here. The table
// in docs/api.md ("Coming from upstream AOS") says what maps to what, and why.

/** The statuses upstream's readers know. Its SDKs' pollRun/poll_run stop on succeeded and failed only. */
export const UPSTREAM_RUN_STATUSES = ["queued", "running", "retry", "succeeded", "failed"] as const;
export type UpstreamRunStatus = (typeof UPSTREAM_RUN_STATUSES)[number];

/**
 * Every settled status of ours ends upstream's poll: halted and cancelled runs are failed runs to upstream, and so is
 * a run parked for approval, which upstream's own poll would wait out until its timeout with nothing said. The
 * run's `aos_status` and `error_message` say which it was; an approved run reads running again.
 */
export function upstreamStatus(status: RunStatus): UpstreamRunStatus {
  switch (status) {
    case "queued":
    case "running":
    case "retry":
    case "succeeded":
    case "failed":
      return status;
    case "halted":
    case "cancelled":
    case "pending_approval":
      return "failed";
  }
}

/** A step as upstream's plans write it: a skill and its params, optionally repeated (its simulate's `iterations`). */
export interface UpstreamPlanStep {
  skill: string;
  params: Record<string, unknown>;
  step_id?: string | undefined;
  iterations?: number | undefined;
}

/**
 * Upstream's plan, a bare array of steps, as our plan document: each step gets an id (its own, or `step_<n>` from
 * its position) and is repeated `iterations` times (`step_2`, `step_2.2`, …). Everything else keeps our defaults
 * (abort on error, two retries), as a plan written without them would.
 */
export function ourPlan(steps: readonly UpstreamPlanStep[]): { steps: Record<string, unknown>[] } {
  return {
    steps: steps.flatMap((step, index) => {
      const id = step.step_id ?? `step_${index + 1}`;
      return Array.from({ length: step.iterations ?? 1 }, (_unused, repeat) => ({
        step_id: repeat === 0 ? id : `${id}.${repeat + 1}`,
        skill: step.skill,
        params: step.params,
      }));
    }),
  };
}

/**
 * The tenant is always the API key's. Upstream's SDKs may name one (simulate's and capabilities' tenant_id): the
 * same tenant is accepted, another is refused rather than quietly answered for the key's.
 */
export function checkNamedTenant(named: string | undefined, keyTenant: string): void {
  if (named === undefined || named === keyTenant) return;
  throw new AppError("VALIDATION_ERROR", `tenant_id "${named}" is not this API key's tenant: the tenant is always the key's; leave tenant_id out`, {
    details: { field: "tenant_id" },
  });
}

/** The message a run's readers get when upstream's vocabulary has no word for its status. */
function statusNote(id: string, status: RunStatus): string | null {
  if (status === "pending_approval") return `waiting for approval: POST /api/v1/runs/${id}/approve (or /reject) decides, then the run goes on`;
  if (status === "cancelled") return "cancelled";
  return null;
}

/** What a step attempt did, as upstream's run lists its tool calls. */
function toolCall(step: TraceStep): Record<string, unknown> {
  return {
    step_id: step.stepId,
    skill: step.skillName,
    attempt: step.attempt,
    status: step.status,
    outcome_code: step.outcomeCode,
    result: step.outcomeData ?? null,
    error: step.error?.message ?? null,
    cost_cents: step.costCents,
    duration_ms: step.durationMs,
  };
}

/**
 * A run as upstream's readers read it: its server's RunResponse (run_id, status, attempts, error_message, plan,
 * tool_calls, timestamps) plus the SDKs' Run type (id, outcome). `status` is upstream's word; `aos_status` ours.
 */
export function upstreamRunJson(detail: RunDetail): Record<string, unknown> {
  const shown = shownRun(detail);
  const status = shown.status;
  const theirs = upstreamStatus(status);
  const finished = detail.steps.filter((step) => step.status !== "started");
  const last = finished.at(-1);
  const message = shown.errorMessage ?? statusNote(shown.id, status);
  return {
    id: shown.id,
    run_id: shown.id,
    agent_id: shown.agentId,
    goal: shown.goal,
    status: theirs,
    aos_status: status,
    attempts: shown.attempts,
    error_message: message,
    plan: shown.plan,
    tool_calls: finished.map(toolCall),
    outcome: theirs === "succeeded" || theirs === "failed" ? outcomeOf(status, last, message) : null,
    created_at: shown.createdAt,
    started_at: shown.startedAt,
    completed_at: shown.completedAt,
    duration_ms: shown.durationMs,
  };
}

/** The SDKs' RunOutcome of a settled run: its last step's result, or why it did not succeed. */
function outcomeOf(status: RunStatus, last: TraceStep | undefined, message: string | null): Record<string, unknown> {
  if (status === "succeeded") return { success: true, data: last?.outcomeData ?? null, error: null };
  return { success: false, data: null, error: { code: errorCodeOf(status, last), message: message ?? status } };
}

function errorCodeOf(status: RunStatus, last: TraceStep | undefined): string {
  if (status === "pending_approval") return "APPROVAL_REQUIRED";
  if (status === "cancelled") return "CANCELLED";
  return last !== undefined && last.status !== "succeeded" ? last.outcomeCode : status.toUpperCase();
}

/** Upstream's simulate answer: ours has its fields (feasible, estimated_cost_cents, …); it adds seed, reason, alternatives. */
export function upstreamSimulation(report: SimulationReport, seed: number | undefined): Record<string, unknown> {
  const reason = report.feasible ? null : (report.halt?.reason ?? report.plan_issues[0]?.message ?? report.warnings[0] ?? report.status);
  return { ...report, reason, alternatives: [], seed: seed ?? null };
}

/** Upstream's query types and ours: two are named alike, one is renamed, one is upstream's alone. */
export const UPSTREAM_QUERY_TYPES = ["remaining_budget_cents", "what_did_i_try_already", "allowed_skills", "last_step_outcome", "skills_available_for_goal"] as const;
export type UpstreamQueryType = (typeof UPSTREAM_QUERY_TYPES)[number];

/** The query of ours that answers upstream's: skills_available_for_goal is answered from allowed_skills. */
export function ourQueryType(type: UpstreamQueryType): QueryType {
  if (type === "remaining_budget_cents") return "remaining_budget";
  if (type === "skills_available_for_goal") return "allowed_skills";
  return type;
}

/** The parts of our answers (runtime-schemas.ts: RemainingBudgetAnswer, AllowedSkillsAnswer) upstream's fields come from. */
interface BudgetAnswer {
  remaining_cents: number | null;
  agent: { limit_cents: number | null; spent_cents: number };
}
interface AllowedAnswer {
  allowed: string[];
}

/**
 * Upstream's `result` for each query type, in its server's field names, from our answer; the route adds our whole
 * answer as `aos_answer`. Budgets in our answers are null where there is no limit, and so are they here.
 */
export function upstreamQueryResult(type: UpstreamQueryType, answer: QueryAnswer, goal: string | undefined, skills: readonly SkillDescriptor[]): Record<string, unknown> {
  const ours = answer.answer;
  switch (type) {
    case "remaining_budget_cents": {
      const budget = ours as BudgetAnswer;
      return { remaining_cents: budget.remaining_cents, spent_cents: budget.agent.spent_cents, total_cents: budget.agent.limit_cents };
    }
    case "what_did_i_try_already":
      return { history: ours };
    case "last_step_outcome":
      return { outcome: ours };
    case "allowed_skills": {
      const allowed = (ours as AllowedAnswer).allowed;
      return { skills: allowed, count: allowed.length };
    }
    case "skills_available_for_goal": {
      const matched = skillsForGoal(goal ?? "", (ours as AllowedAnswer).allowed, skills);
      return { goal: goal ?? "", skills: matched, count: matched.length };
    }
  }
}

/**
 * The allowed skills a goal's words point at, best first: by how many of the goal's words (3 letters or more) the
 * skill's name and description hold, ties in registry order; skills no word points at are left out. Upstream's own
 * answer was a pseudo-random order of its static skill list.
 */
export function skillsForGoal(goal: string, allowed: readonly string[], skills: readonly SkillDescriptor[]): string[] {
  const words = new Set(goal.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []);
  const scored = skills
    .filter((skill) => allowed.includes(skill.name))
    .map((skill) => {
      const text = `${skill.name.replaceAll("_", " ")} ${skill.description}`.toLowerCase();
      return { name: skill.name, score: [...words].filter((word) => text.includes(word)).length };
    })
    .filter((skill) => skill.score > 0);
  return scored.sort((a, b) => b.score - a.score).map((skill) => skill.name);
}

/** A skill as upstream's list shows it: the SDKs' Skill type (id, name, description, version). */
export function upstreamSkillSummary(skill: SkillDescriptor): { id: string; name: string; description: string; version: string } {
  return { id: skill.name, name: skill.name, description: skill.description, version: skill.version };
}

/**
 * A skill's contract in upstream's descriptor fields (its server's and its SDKs' names for the same things). Costs
 * depend on a step's input here, so the cost model says where an estimate comes from instead of a constant.
 */
export function upstreamSkillDescriptor(skill: SkillDescriptor): Record<string, unknown> {
  const output = { type: "object", properties: Object.fromEntries(Object.entries(skill.output).map(([field, description]) => [field, { description }])) };
  return {
    ...upstreamSkillSummary(skill),
    skill_id: skill.name,
    inputs_schema: skill.input_schema,
    params_schema: skill.input_schema,
    outputs_schema: output,
    return_schema: output,
    cost_model: { depends_on_input: true, estimate_with: "POST /api/v1/runtime/simulate" },
    failure_modes: skill.failures.map((failure) => ({
      code: failure.code,
      category: failure.category,
      retryable: failure.retryable,
      description: failure.suggestion,
      recovery: failure.recovery,
      severity: failure.severity,
    })),
    constraints: skill.limits,
    composition_hints: {},
    determinism: skill.determinism,
    side_effects: skill.side_effects,
  };
}

/**
 * Capabilities in both of upstream's shapes: its server's (skills by name, budget, rate_limits, permissions) and its
 * SDKs' (skills_available, budget_remaining_cents). An API key may do everything for its tenant, hence permissions.
 */
export function upstreamCapabilities(report: CapabilitiesReport): Record<string, unknown> {
  const { budget, policy } = report;
  return {
    agent_id: report.agent.id,
    skills: Object.fromEntries(
      report.skills.map((skill) => [
        skill.name,
        {
          available: skill.available,
          unavailable_reason: skill.unavailable_reason,
          requires_approval: skill.requires_approval,
          configured: skill.configured,
          avg_latency_ms: skill.history.p50_ms,
          rate_limit_remaining: policy.steps_remaining_this_minute,
          known_failure_patterns: skill.failure_codes,
        },
      ]),
    ),
    skills_available: report.skills.filter((skill) => skill.available).map((skill) => skill.name),
    budget: { total_cents: budget.agent_limit_cents, spent_cents: budget.agent_spent_cents, remaining_cents: budget.remaining_cents },
    budget_remaining_cents: budget.remaining_cents,
    rate_limits:
      policy.steps_per_minute === null
        ? {}
        : { steps: { limit: policy.steps_per_minute, remaining: policy.steps_remaining_this_minute, resets_in_seconds: 60 } },
    permissions: ["read", "write", "execute"],
  };
}
