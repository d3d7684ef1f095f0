import { AppError } from "../../errors.js";
import { createAgent } from "../../services/agents.js";
import { agentCapabilities } from "../../services/capabilities.js";
import { createRun, getRunDetail } from "../../services/runs.js";
import { runtimeQuery } from "../../services/runtime-query.js";
import { simulatePlan } from "../../services/simulate.js";
import { describeSkill, findSkill, listSkills } from "../../skills/registry.js";
import { isoTime } from "../../glossary.js";
import { route, type Routes } from "../route.js";
import { idempotencyOf, RUN_CREATION_ERRORS } from "./idempotency.js";
import {
  checkNamedTenant,
  ourPlan,
  ourQueryType,
  UPSTREAM_QUERY_TYPES,
  upstreamCapabilities as capabilitiesJson,
  upstreamQueryResult,
  upstreamRunJson,
  upstreamSimulation as simulationJson,
  upstreamSkillDescriptor as skillDescriptorJson,
  upstreamSkillSummary,
} from "../upstream-mapping.js";
import {
  upstreamAcceptedRun,
  upstreamAgent,
  upstreamAgentBody,
  upstreamCapabilities,
  upstreamCapabilitiesQuery,
  upstreamCreateRunBody,
  upstreamGoalBody,
  upstreamQueryAnswer,
  upstreamQueryBody,
  upstreamRun,
  upstreamRunParams,
  upstreamSimulateBody,
  upstreamSimulation,
  upstreamSkillDescriptor,
  upstreamSkillList,
  upstreamSkillParams,
} from "../upstream-schemas.js";
import { agentParams, idempotencyKeyHeader, runParams } from "../schemas.js";

// Coming from upstream AOS: the routes its JS and Python SDKs call (sdk/js/aos-sdk, sdk/python/aos_sdk), in its
// shapes, on the services our own routes use, scoped to the API key's tenant as ours are. Its agent routes have
// paths of their own; its runtime and run routes are paths of ours too, and serve the requests whose key arrives
// in X-AOS-Key, upstream's header (dialects.ts). docs/api.md, "Coming from upstream AOS", has the table.

const TAG = "upstream-compat";

/** What upstream's clients were told to wait for: the run is queued, as ours are. */
const QUEUED_MESSAGE = "Run queued; poll GET /agents/{agent_id}/runs/{run_id} until status is succeeded or failed";

/** Upstream's API stamped the runs it created with this origin. */
const UPSTREAM_ORIGIN = "api-endpoint";

const accepted = (run: { id: string; status: string }) => ({ run_id: run.id, id: run.id, status: run.status, message: QUEUED_MESSAGE });

const agentRoutes: Routes = [
  route({
    method: "POST",
    url: "/agents",
    summary: "Upstream's create_agent/createAgent: an agent with a name",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    body: upstreamAgentBody,
    successStatus: 201,
    response: upstreamAgent,
    async handler({ body, tenant }) {
      const agent = await createAgent(tenant.db, { tenantId: tenant.tenantId, name: body.name });
      return { agent_id: agent.id, id: agent.id, name: agent.name, status: agent.status, created_at: isoTime(agent.createdAt) };
    },
  }),
  route({
    method: "POST",
    url: "/agents/:agent_id/goals",
    summary: "Upstream's post_goal/postGoal: the goal is planned and the run queued (202)",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    params: agentParams,
    body: upstreamGoalBody,
    successStatus: 202,
    response: upstreamAcceptedRun,
    headers: { "Idempotency-Key": idempotencyKeyHeader },
    errors: RUN_CREATION_ERRORS,
    async handler({ params, body, tenant, deps, request }) {
      if (body.force_skill !== undefined) {
        throw new AppError("VALIDATION_ERROR", "force_skill is not supported: to choose the skill, send the plan (POST /api/v1/runs with plan [{skill, params}])", {
          details: { field: "force_skill" },
        });
      }
      const run = await createRun({ db: tenant.db, config: deps.config, keys: deps.keys }, {
        tenantId: tenant.tenantId,
        agentId: params.agent_id,
        goal: body.goal,
        originSystemId: UPSTREAM_ORIGIN,
        ...(body.idempotency_key === undefined ? idempotencyOf(request) : { idempotencyKey: body.idempotency_key }),
      });
      return accepted(run);
    },
  }),
  route({
    method: "GET",
    url: "/agents/:agent_id/runs/:run_id",
    summary: "Upstream's poll_run/pollRun reads this: the run in upstream's words (every settled run reads succeeded or failed)",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    params: upstreamRunParams,
    successStatus: 200,
    response: upstreamRun,
    errors: ["RUN_NOT_FOUND"],
    async handler({ params, tenant, deps }) {
      const detail = await getRunDetail(tenant.db, deps.config, tenant.tenantId, params.run_id);
      if (detail.run.agentId !== params.agent_id) {
        throw new AppError("RUN_NOT_FOUND", `Run not found: ${params.run_id} (agent ${params.agent_id} has no such run)`, { details: { run_id: params.run_id } });
      }
      return upstreamRunJson(detail);
    },
  }),
];

const runRoutes: Routes = [
  route({
    method: "POST",
    url: "/api/v1/runs",
    summary: "Upstream's create_run/createRun: a run with upstream's plan, an array of {skill, params} (202)",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    body: upstreamCreateRunBody,
    successStatus: 202,
    response: upstreamAcceptedRun,
    headers: { "Idempotency-Key": idempotencyKeyHeader },
    errors: RUN_CREATION_ERRORS,
    async handler({ body, tenant, deps, request }) {
      const run = await createRun({ db: tenant.db, config: deps.config, keys: deps.keys }, {
        tenantId: tenant.tenantId,
        agentId: body.agent_id,
        goal: body.goal,
        plan: body.plan === undefined ? undefined : ourPlan(body.plan),
        originSystemId: body.origin_system_id ?? UPSTREAM_ORIGIN,
        actorType: body.actor_type,
        actorId: body.actor_id,
        ...idempotencyOf(request),
      });
      return accepted(run);
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id",
    summary: "Upstream's get_run/getRun: the run in upstream's words",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    params: runParams,
    successStatus: 200,
    response: upstreamRun,
    errors: ["RUN_NOT_FOUND"],
    async handler({ params, tenant, deps }) {
      return upstreamRunJson(await getRunDetail(tenant.db, deps.config, tenant.tenantId, params.run_id));
    },
  }),
];

const runtimeRoutes: Routes = [
  route({
    method: "POST",
    url: "/api/v1/runtime/simulate",
    summary: "Upstream's simulate: a dry run of upstream's plan; our report with upstream's reason, alternatives and seed",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    body: upstreamSimulateBody,
    successStatus: 200,
    response: upstreamSimulation,
    errors: ["AGENT_NOT_FOUND"],
    async handler({ body, tenant, deps }) {
      checkNamedTenant(body.tenant_id, tenant.tenantId);
      const report = await simulatePlan(tenant.db, deps.config, { plan: ourPlan(body.plan), tenantId: tenant.tenantId, agentId: body.agent_id, budgetCents: body.budget_cents });
      return simulationJson(report, body.seed);
    },
  }),
  route({
    method: "POST",
    url: "/api/v1/runtime/query",
    summary: "Upstream's query: its five query types answered from ours, in `result`",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    body: upstreamQueryBody,
    successStatus: 200,
    response: upstreamQueryAnswer,
    errors: ["AGENT_NOT_FOUND", "RUN_NOT_FOUND"],
    async handler({ body, tenant, deps }) {
      const { goal, limit } = body.params;
      const asked = ourQueryType(body.query_type);
      const answer = await runtimeQuery(tenant.db.pool, deps.config, asked, {
        tenantId: tenant.tenantId,
        agentId: body.agent_id ?? body.params.agent_id,
        runId: body.run_id ?? body.params.run_id,
        goal: asked === "what_did_i_try_already" ? goal : undefined,
        limit,
      });
      const skills = listSkills().map(describeSkill);
      return { query_type: body.query_type, result: upstreamQueryResult(body.query_type, answer, goal, skills), supported_queries: [...UPSTREAM_QUERY_TYPES], aos_answer: answer.answer };
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runtime/capabilities",
    summary: "Upstream's get_capabilities/getCapabilities: skills, budget, rate limits, permissions",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    query: upstreamCapabilitiesQuery,
    successStatus: 200,
    response: upstreamCapabilities,
    errors: ["AGENT_NOT_FOUND"],
    async handler({ query, tenant, deps }) {
      checkNamedTenant(query.tenant_id, tenant.tenantId);
      return capabilitiesJson(await agentCapabilities(tenant.db.pool, deps.config, tenant.tenantId, query.agent_id));
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runtime/skills",
    summary: "Upstream's list_skills/listSkills: {skills, count, descriptors}",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    successStatus: 200,
    response: upstreamSkillList,
    async handler() {
      const skills = listSkills().map((skill) => upstreamSkillSummary(describeSkill(skill)));
      return { skills, count: skills.length, descriptors: Object.fromEntries(skills.map((skill) => [skill.name, skill])) };
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runtime/skills/:skill_id",
    summary: "Upstream's describe_skill/describeSkill: the skill's contract in upstream's descriptor fields",
    tag: TAG,
    dialect: "upstream",
    auth: true,
    params: upstreamSkillParams,
    successStatus: 200,
    response: upstreamSkillDescriptor,
    errors: ["SKILL_NOT_FOUND"],
    async handler({ params }) {
      const skill = findSkill(params.skill_id);
      if (skill === undefined) {
        const available = listSkills().map((known) => known.name);
        throw new AppError("SKILL_NOT_FOUND", `Skill '${params.skill_id}' not found; the skills are: ${available.join(", ")}`, {
          details: { skill_id: params.skill_id, available_skills: available },
        });
      }
      return skillDescriptorJson(describeSkill(skill));
    },
  }),
];

export const upstreamRoutes: Routes = [...agentRoutes, ...runRoutes, ...runtimeRoutes];
