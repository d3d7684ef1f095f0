import { z } from "zod";
import { QUERY_TYPES } from "../services/runtime-query.js";

// The response bodies of the agent and runtime routes, naming every field the services send (src/views/agent.ts,
// src/services/simulate.ts, runtime-query.ts, capabilities.ts, src/skills/registry.ts). Closed objects, each a
// component of the OpenAPI document.

export const agentResponse = z
  .object({
    agent_id: z.string(),
    tenant_id: z.string(),
    name: z.string(),
    status: z.enum(["active", "paused", "disabled", "maintenance"]),
    is_default: z.boolean(),
    budget_cents: z.number().nullable(),
    spent_cents: z.number(),
    concurrent_runs_limit: z.int(),
    allowed_hosts: z.array(z.string()),
    created_at: z.string().describe("ISO 8601, UTC"),
  })
  .meta({ id: "Agent" });

/** A failure code as the catalog describes it (src/failure-catalog.ts). */
const failureFields = {
  code: z.string(),
  category: z.string(),
  retryable: z.boolean(),
  httpStatus: z.int(),
  suggestion: z.string(),
  recovery: z.enum(["RETRY_EXPONENTIAL", "ABORT", "ESCALATE", "MANUAL_INTERVENTION"]),
  severity: z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
};

const decision = z.object({ action: z.string(), policy_id: z.string(), reason: z.string() });

export const simulationReport = z
  .object({
    feasible: z.boolean(),
    status: z.enum(["feasible", "needs_approval", "plan_invalid", "policy_blocked", "budget_insufficient", "not_configured"]),
    halt: z.object({ step_id: z.string(), reason: z.string() }).nullable().describe("why the run would stop early; null when it would not"),
    estimated_cost_cents: z.number(),
    estimated_tokens: z.number(),
    estimated_duration_ms: z.number(),
    budget: z.object({
      source: z.enum(["flag", "agent", "none"]),
      agent_remaining_cents: z.number().nullable(),
      tenant_day_remaining_cents: z.number().nullable(),
    }),
    budget_remaining_cents: z.number().nullable(),
    budget_sufficient: z.boolean(),
    policy: z.object({ id: z.string(), hash: z.string() }),
    plan_issues: z.array(z.object({ code: z.string(), path: z.string(), message: z.string() })),
    permission_gaps: z.array(z.object({ step_id: z.string(), skill: z.string(), policy_id: z.string(), reason: z.string() })),
    approvals_required: z.array(z.object({ step_id: z.string(), skill: z.string() })),
    step_estimates: z.array(
      z.object({
        step_id: z.string(),
        skill: z.string(),
        skill_version: z.string().nullable(),
        outcome: z.enum(["would_run", "needs_approval", "blocked", "over_budget", "would_fail", "not_reached", "invalid"]),
        estimated_cost_cents: z.number().nullable(),
        estimated_tokens: z.number().nullable(),
        estimated_latency_ms: z.number().nullable(),
        observed_p50_ms: z.number().nullable(),
        side_effects: z.string().nullable(),
        decision,
        missing_settings: z.array(z.string()),
        retries: z.int(),
      }),
    ),
    risks: z.array(z.object({ step_id: z.string(), skill: z.string(), ...failureFields, observed_failures: z.int(), observed_attempts: z.int() })),
    warnings: z.array(z.string()),
  })
  .meta({ id: "SimulationReport", description: "A dry run of a plan: nothing is written and no skill is executed (docs/runtime.md)" });

const remainingBudget = z
  .object({
    remaining_cents: z.number().nullable(),
    agent: z.object({ limit_cents: z.number().nullable(), spent_cents: z.number(), remaining_cents: z.number().nullable() }),
    tenant_day: z.object({ day: z.string(), cap_cents: z.number().nullable(), spent_cents: z.number(), remaining_cents: z.number().nullable() }),
    run: z.object({ cost_cents: z.number(), cap_cents: z.number().nullable(), remaining_cents: z.number().nullable() }).nullable(),
  })
  .meta({ id: "RemainingBudgetAnswer" });

const allowedSkills = z
  .object({
    allowed: z.array(z.string()),
    requires_approval: z.array(z.string()),
    not_configured: z.array(z.object({ skill: z.string(), missing_settings: z.array(z.string()) })),
    denied: z.array(z.object({ skill: z.string(), reason: z.string() })),
    policy: z.object({ id: z.string(), hash: z.string() }),
  })
  .meta({ id: "AllowedSkillsAnswer" });

const lastStepOutcome = z
  .object({
    run_id: z.string(),
    seq: z.int(),
    step_id: z.string(),
    attempt: z.int(),
    skill: z.string(),
    status: z.string(),
    outcome_code: z.string(),
    error_message: z.string().nullable(),
    cost_cents: z.number(),
    completed_at: z.string(),
  })
  .nullable()
  .meta({ id: "LastStepOutcomeAnswer", description: "null when the agent has no step yet" });

const triedCalls = z
  .array(
    z.object({
      skill: z.string(),
      params: z.unknown(),
      attempts: z.int(),
      runs: z.int(),
      succeeded: z.int(),
      failed: z.int(),
      blocked: z.int(),
      last_status: z.string(),
      last_outcome_code: z.string(),
      last_error_message: z.string().nullable(),
      last_at: z.string(),
    }),
  )
  .meta({ id: "TriedCallsAnswer" });

export const queryAnswer = z
  .object({
    query_type: z.enum(QUERY_TYPES),
    tenant_id: z.string(),
    agent_id: z.string().nullable(),
    run_id: z.string().nullable(),
    answer: z.union([remainingBudget, allowedSkills, lastStepOutcome, triedCalls]).describe("shaped by query_type"),
  })
  .meta({ id: "QueryAnswer" });

export const capabilities = z
  .object({
    tenant_id: z.string(),
    agent: z.object({ id: z.string().nullable(), name: z.string(), status: z.string(), concurrent_runs_limit: z.int(), allowed_hosts: z.array(z.string()) }),
    policy: z.object({
      id: z.string(),
      hash: z.string(),
      emergency_stop: z.boolean(),
      caps: z.record(z.string(), z.number().nullable()),
      steps_per_minute: z.number().nullable(),
      steps_remaining_this_minute: z.number().nullable(),
    }),
    budget: z.object({
      agent_limit_cents: z.number().nullable(),
      agent_spent_cents: z.number(),
      agent_remaining_cents: z.number().nullable(),
      tenant_day: z.string(),
      tenant_daily_cap_cents: z.number().nullable(),
      tenant_spent_today_cents: z.number(),
      remaining_cents: z.number().nullable(),
    }),
    skills: z.array(
      z.object({
        name: z.string(),
        version: z.string(),
        description: z.string(),
        available: z.boolean(),
        unavailable_reason: z.string().nullable(),
        requires_approval: z.boolean(),
        configured: z.boolean(),
        missing_settings: z.array(z.string()),
        determinism: z.string(),
        side_effects: z.string(),
        failure_codes: z.array(z.string()),
        history: z.object({ attempts: z.int(), failures: z.int(), success_rate: z.number().nullable(), p50_ms: z.number().nullable() }),
      }),
    ),
  })
  .meta({ id: "Capabilities" });

const skillSummaryFields = { name: z.string(), version: z.string(), description: z.string() };

export const skillSummary = z.object(skillSummaryFields).meta({ id: "SkillSummary" });

export const skillContract = z
  .object({
    ...skillSummaryFields,
    determinism: z.string(),
    side_effects: z.string(),
    input_schema: z.record(z.string(), z.unknown()).describe("the skill's parameters as JSON Schema"),
    output: z.record(z.string(), z.string()),
    limits: z.record(z.string(), z.union([z.string(), z.number()])),
    failure_codes: z.array(z.string()),
    failures: z.array(z.object(failureFields)),
  })
  .meta({ id: "SkillContract" });
