import { z } from "zod";

// Request and response shapes shared by several routes. Requests are strict (an unknown field is a 400, so a
// misspelt one never passes silently); responses are documented with their main fields.

const id = (what: string) => z.string().min(1).max(200).describe(what);

export const runParams = z.object({ run_id: id("the run") }).strict();
export const agentParams = z.object({ agent_id: id("the agent") }).strict();
export const stepParams = z.object({ run_id: id("the run"), seq: z.coerce.number().int().min(0).describe("the step's seq, its leaf index") }).strict();

export const actorFields = {
  origin_system_id: z.string().min(1).max(100).optional().describe("who asked for the run (default api)"),
  actor_type: z.enum(["HUMAN", "SYSTEM", "SERVICE"]).optional(),
  actor_id: z.string().min(1).max(200).optional().describe("the acting person, required with actor_type HUMAN"),
};

export const goalBody = z
  .object({
    goal: z.string().min(1).max(10_000).describe("what the run should achieve; the planner plans it"),
    ...actorFields,
  })
  .strict();

export const createRunBody = z
  .object({
    goal: z.string().min(1).max(10_000),
    agent_id: z.string().min(1).max(200).optional().describe("default: the tenant's default agent"),
    plan: z.object({ steps: z.array(z.record(z.string(), z.unknown())) }).loose().optional().describe("an explicit plan; without one, the planner plans the goal"),
    ...actorFields,
  })
  .strict();

export const createAgentBody = z
  .object({
    name: z.string().min(1).max(200),
    budget_cents: z.int().min(0).optional(),
    concurrent_runs_limit: z.int().min(1).max(1000).optional(),
    allowed_hosts: z
      .array(z.string().min(1).max(260))
      .max(100)
      .optional()
      .describe("the only hosts the agent's steps may reach (host names or addresses, optionally :port); it narrows the egress floor, never opens it"),
  })
  .strict();

export const decisionBody = z.object({ by: z.string().min(1).max(200).describe("who decides") }).strict();

export const listQuery = z
  .object({
    status: z.string().min(1).max(32).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

export const incidentsQuery = z
  .object({ run_id: z.string().min(1).max(200).optional(), limit: z.coerce.number().int().min(1).max(500).default(50) })
  .strict();

export const agentQuery = z.object({ agent_id: z.string().min(1).max(200).optional() }).strict();

export const acceptedRun = z.object({ run_id: z.string(), status: z.string() });

export const runResponse = z
  .object({
    run_id: z.string(),
    tenant_id: z.string(),
    agent_id: z.string(),
    goal: z.string(),
    status: z.string(),
    error_message: z.string().nullable(),
    cost_cents: z.number(),
    plan: z.unknown(),
    steps: z.array(z.record(z.string(), z.unknown())),
    trace_id: z.string().nullable(),
    created_at: z.string(),
    facts_from: z.enum(["run-end", "row"]),
    proof: z
      .object({ format: z.string(), verification_status: z.string(), failure_reason: z.string().nullable(), field: z.string().nullable() })
      .loose()
      .nullable(),
  })
  .loose();

export const agentResponse = z
  .object({
    agent_id: z.string(),
    tenant_id: z.string(),
    name: z.string(),
    status: z.string(),
    budget_cents: z.number().nullable(),
    spent_cents: z.number(),
    concurrent_runs_limit: z.number(),
    allowed_hosts: z.array(z.string()),
    created_at: z.string(),
  })
  .loose();

export const looseObject = z.record(z.string(), z.unknown());
