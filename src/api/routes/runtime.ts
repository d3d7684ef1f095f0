import { z } from "zod";
import { AppError } from "../../errors.js";
import { agentCapabilities } from "../../services/capabilities.js";
import { QUERY_TYPES, runtimeQuery } from "../../services/runtime-query.js";
import { simulatePlan } from "../../services/simulate.js";
import { describeSkill, findSkill, listSkills } from "../../skills/registry.js";
import { route, type Routes } from "../route.js";
import { capabilities, queryAnswer, simulationReport, skillContract, skillSummary } from "../runtime-schemas.js";
import { agentQuery, text } from "../schemas.js";

const simulateBody = z
  .object({
    plan: z.object({ steps: z.array(z.record(z.string(), z.unknown())) }).loose(),
    agent_id: text(1, 200).optional(),
    budget_cents: z.int().min(0).optional().describe("what if the agent had this much budget left"),
  })
  .strict()
  .meta({ id: "SimulateInput" });

const queryBody = z
  .object({
    query_type: z.enum(QUERY_TYPES),
    params: z
      .object({
        agent_id: text(1, 200).optional(),
        run_id: text(1, 200).optional(),
        goal: text(1, 10_000).optional(),
        limit: z.int().min(1).max(500).optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .meta({ id: "QueryInput" });

const skillParams = z.object({ skill_id: text(1, 100) }).strict();

export const runtimeRoutes: Routes = [
  route({
    method: "POST",
    url: "/api/v1/runtime/simulate",
    summary: "Dry-run a plan: estimates, policy decisions, budget sufficiency, risks; nothing is executed",
    tag: "runtime",
    auth: true,
    body: simulateBody,
    successStatus: 200,
    response: simulationReport,
    errors: ["AGENT_NOT_FOUND"],
    async handler({ body, tenant, deps }) {
      return simulatePlan(tenant.db, deps.config, { plan: body.plan, tenantId: tenant.tenantId, agentId: body.agent_id, budgetCents: body.budget_cents });
    },
  }),
  route({
    method: "POST",
    url: "/api/v1/runtime/query",
    summary: "Ask about an agent's state: remaining_budget, allowed_skills, last_step_outcome, what_did_i_try_already",
    tag: "runtime",
    auth: true,
    body: queryBody,
    successStatus: 200,
    response: queryAnswer,
    errors: ["AGENT_NOT_FOUND", "RUN_NOT_FOUND"],
    async handler({ body, tenant, deps }) {
      const { agent_id: agentId, run_id: runId, goal, limit } = body.params;
      return runtimeQuery(tenant.db.pool, deps.config, body.query_type, { tenantId: tenant.tenantId, agentId, runId, goal, limit });
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runtime/capabilities",
    summary: "What an agent can do now: skills allowed and configured, budget, step rate, history",
    tag: "runtime",
    auth: true,
    query: agentQuery,
    successStatus: 200,
    response: capabilities,
    errors: ["AGENT_NOT_FOUND"],
    async handler({ query, tenant, deps }) {
      return agentCapabilities(tenant.db.pool, deps.config, tenant.tenantId, query.agent_id);
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runtime/skills",
    summary: "The registered skills",
    tag: "runtime",
    auth: true,
    successStatus: 200,
    response: z.array(skillSummary),
    async handler() {
      return listSkills().map((skill) => ({ name: skill.name, version: skill.version, description: skill.description }));
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runtime/skills/:skill_id",
    summary: "A skill's full contract",
    tag: "runtime",
    auth: true,
    params: skillParams,
    successStatus: 200,
    response: skillContract,
    errors: ["SKILL_NOT_FOUND"],
    async handler({ params }) {
      const skill = findSkill(params.skill_id);
      if (skill === undefined) throw new AppError("SKILL_NOT_FOUND", `Skill not found: ${params.skill_id}`, { details: { skill_id: params.skill_id } });
      return describeSkill(skill);
    },
  }),
];
