import { z } from "zod";
import { RUN_STATUSES } from "../glossary.js";
import { MAX_GOAL_CHARS, MAX_NAME_CHARS } from "../input-text.js";
import { simulationReport } from "./runtime-schemas.js";
import { text } from "./schemas.js";
import { UPSTREAM_QUERY_TYPES, UPSTREAM_RUN_STATUSES } from "./upstream-mapping.js";

// Upstream AOS's requests and answers, as its SDKs send and read them (routes/upstream.ts). Requests are strict, as
// ours are: a misspelt field is a 400 naming it. None is a named component, so our SDK's generated types
// (src/client/api-types.ts) stay ours alone.

const id = (what: string) => text(1, 200).describe(what);
const goal = text(1, MAX_GOAL_CHARS).regex(/\S/, "must hold a character other than whitespace");

const planStep = z
  .object({
    skill: text(1, 100),
    params: z.record(z.string(), z.unknown()).default({}),
    step_id: text(1, 60).optional(),
    iterations: z.int().min(1).max(100).optional().describe("upstream's simulate: the step repeated this many times"),
  })
  .strict();

/** Upstream's plan: a bare array of {skill, params}. */
const upstreamPlan = z.array(planStep).min(1).max(100).describe("upstream's plan: an array of {skill, params}");

export const upstreamAgentBody = z.object({ name: text(1, MAX_NAME_CHARS).regex(/\S/, "must hold a character other than whitespace") }).strict();

export const upstreamGoalBody = z
  .object({
    goal,
    force_skill: text(1, 100).optional().describe("refused: write the plan instead (POST /api/v1/runs with a plan)"),
    idempotency_key: text(1, 255).regex(/\S/, "must hold a character other than whitespace").optional(),
  })
  .strict();

export const upstreamRunParams = z.object({ agent_id: id("the agent"), run_id: id("the run") }).strict();

export const upstreamCreateRunBody = z
  .object({
    agent_id: id("the agent"),
    goal,
    plan: upstreamPlan.optional(),
    actor_type: z.enum(["HUMAN", "SYSTEM", "SERVICE"]).optional(),
    actor_id: text(1, 200).optional(),
    origin_system_id: text(1, 100).regex(/\S/, "must hold a character other than whitespace").optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if (value.actor_type === "HUMAN" && value.actor_id === undefined) context.addIssue({ code: "custom", path: ["actor_id"], message: "actor_id is required with actor_type HUMAN" });
  });

export const upstreamSimulateBody = z
  .object({
    plan: upstreamPlan,
    budget_cents: z.int().min(0).optional().describe("what if the agent had this much budget left"),
    agent_id: id("the agent").optional(),
    tenant_id: id("the key's tenant, if named at all").optional(),
    seed: z.int().optional().describe("echoed: a simulation here is deterministic whatever the seed"),
    timestamp: text(1, 64).optional().describe("accepted and unused, as the simulation reads no clock"),
    save_trace: z.literal(false, { error: "save_trace is not supported: a simulation writes nothing" }).optional(),
  })
  .strict();

export const upstreamQueryBody = z
  .object({
    query_type: z.enum(UPSTREAM_QUERY_TYPES),
    params: z
      .object({ goal: text(1, MAX_GOAL_CHARS).optional(), limit: z.int().min(1).max(500).optional(), agent_id: id("the agent").optional(), run_id: id("the run").optional() })
      .strict()
      .default({}),
    agent_id: id("the agent").optional(),
    run_id: id("the run").optional(),
  })
  .strict();

export const upstreamCapabilitiesQuery = z.object({ agent_id: id("the agent").optional(), tenant_id: id("the key's tenant, if named at all").optional() }).strict();

export const upstreamSkillParams = z.object({ skill_id: text(1, 100) }).strict();

// Answers.

export const upstreamAgent = z.object({ agent_id: z.string(), id: z.string(), name: z.string(), status: z.string(), created_at: z.string() });

export const upstreamAcceptedRun = z.object({ run_id: z.string(), id: z.string(), status: z.enum(RUN_STATUSES), message: z.string() });

export const upstreamRun = z.object({
  id: z.string(),
  run_id: z.string(),
  agent_id: z.string(),
  goal: z.string(),
  status: z.enum(UPSTREAM_RUN_STATUSES).describe("upstream's word for the status: halted, cancelled and pending_approval read failed"),
  aos_status: z.enum(RUN_STATUSES),
  attempts: z.int(),
  error_message: z.string().nullable(),
  plan: z.record(z.string(), z.unknown()).nullable(),
  tool_calls: z.array(
    z.object({
      step_id: z.string(),
      skill: z.string(),
      attempt: z.int(),
      status: z.string(),
      outcome_code: z.string(),
      result: z.unknown(),
      error: z.string().nullable(),
      cost_cents: z.number(),
      duration_ms: z.number(),
    }),
  ),
  outcome: z
    .object({ success: z.boolean(), data: z.unknown(), error: z.object({ code: z.string(), message: z.string() }).nullable() })
    .nullable()
    .describe("null until the run is settled"),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  duration_ms: z.number().nullable(),
});

export const upstreamSimulation = simulationReport.extend({
  reason: z.string().nullable(),
  alternatives: z.array(z.unknown()),
  seed: z.int().nullable(),
});

export const upstreamQueryAnswer = z.object({
  query_type: z.enum(UPSTREAM_QUERY_TYPES),
  result: z.record(z.string(), z.unknown()),
  supported_queries: z.array(z.enum(UPSTREAM_QUERY_TYPES)),
  aos_answer: z.unknown().describe("our answer to the same question (QueryAnswer.answer)"),
});

const skillSummaryFields = { id: z.string(), name: z.string(), description: z.string(), version: z.string() };

export const upstreamSkillList = z.object({
  skills: z.array(z.object(skillSummaryFields)),
  count: z.int(),
  descriptors: z.record(z.string(), z.object(skillSummaryFields)),
});

export const upstreamSkillDescriptor = z.object({
  ...skillSummaryFields,
  skill_id: z.string(),
  inputs_schema: z.record(z.string(), z.unknown()),
  params_schema: z.record(z.string(), z.unknown()),
  outputs_schema: z.record(z.string(), z.unknown()),
  return_schema: z.record(z.string(), z.unknown()),
  cost_model: z.object({ depends_on_input: z.boolean(), estimate_with: z.string() }),
  failure_modes: z.array(
    z.object({ code: z.string(), category: z.string(), retryable: z.boolean(), description: z.string(), recovery: z.string(), severity: z.string() }),
  ),
  constraints: z.record(z.string(), z.union([z.string(), z.number()])),
  composition_hints: z.record(z.string(), z.unknown()),
  determinism: z.string(),
  side_effects: z.string(),
});

export const upstreamCapabilities = z.object({
  agent_id: z.string().nullable(),
  skills: z.record(
    z.string(),
    z.object({
      available: z.boolean(),
      unavailable_reason: z.string().nullable(),
      requires_approval: z.boolean(),
      configured: z.boolean(),
      avg_latency_ms: z.number().nullable(),
      rate_limit_remaining: z.number().nullable(),
      known_failure_patterns: z.array(z.string()),
    }),
  ),
  skills_available: z.array(z.string()),
  budget: z.object({ total_cents: z.number().nullable(), spent_cents: z.number(), remaining_cents: z.number().nullable() }),
  budget_remaining_cents: z.number().nullable().describe("null: no limit"),
  rate_limits: z.record(z.string(), z.object({ limit: z.number(), remaining: z.number().nullable(), resets_in_seconds: z.int() })),
  permissions: z.array(z.string()),
});
