import { z } from "zod";
import { updateAgent } from "../../services/agent-settings.js";
import { createAgent, listTenantAgents, requireAgentByRef } from "../../services/agents.js";
import { createRun } from "../../services/runs.js";
import { agentJson } from "../../views/agent.js";
import { route, type Routes } from "../route.js";
import { acceptedRun } from "../run-schemas.js";
import { agentResponse } from "../runtime-schemas.js";
import { agentParams, createAgentBody, goalBody, idempotencyKeyHeader, updateAgentBody } from "../schemas.js";
import { idempotencyOf, RUN_CREATION_ERRORS } from "./idempotency.js";

export const agentRoutes: Routes = [
  route({
    method: "POST",
    url: "/api/v1/agents",
    summary: "Create an agent",
    tag: "agents",
    auth: true,
    body: createAgentBody,
    successStatus: 201,
    response: agentResponse,
    errors: ["AGENT_NAME_TAKEN"],
    async handler({ body, tenant }) {
      const agent = await createAgent(tenant.db, {
        tenantId: tenant.tenantId,
        name: body.name,
        budgetCents: body.budget_cents,
        concurrentRunsLimit: body.concurrent_runs_limit,
        allowedHosts: body.allowed_hosts,
      });
      return agentJson(agent);
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/agents",
    summary: "List the tenant's agents",
    tag: "agents",
    auth: true,
    successStatus: 200,
    response: z.array(agentResponse),
    async handler({ tenant }) {
      return (await listTenantAgents(tenant.db, tenant.tenantId)).map(agentJson);
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/agents/:agent_id",
    summary: "Get an agent, by id or by name",
    tag: "agents",
    auth: true,
    params: agentParams,
    successStatus: 200,
    response: agentResponse,
    errors: ["AGENT_NOT_FOUND"],
    async handler({ params, tenant }) {
      return agentJson(await requireAgentByRef(tenant.db.pool, tenant.tenantId, params.agent_id));
    },
  }),
  route({
    method: "PATCH",
    url: "/api/v1/agents/:agent_id",
    summary: "Change an agent's name, budget, concurrent runs limit or allowed hosts; fields left out stay as they are",
    tag: "agents",
    auth: true,
    params: agentParams,
    body: updateAgentBody,
    successStatus: 200,
    response: agentResponse,
    errors: ["AGENT_NOT_FOUND", "AGENT_NAME_TAKEN"],
    async handler({ params, body, tenant }) {
      const agent = await updateAgent(tenant.db, {
        tenantId: tenant.tenantId,
        agent: params.agent_id,
        name: body.name,
        budgetCents: body.budget_cents,
        concurrentRunsLimit: body.concurrent_runs_limit,
        allowedHosts: body.allowed_hosts,
        addHosts: body.add_allowed_hosts,
        removeHosts: body.remove_allowed_hosts,
      });
      return agentJson(agent);
    },
  }),
  route({
    method: "POST",
    url: "/api/v1/agents/:agent_id/goals",
    summary: "Give an agent a goal: the run is planned and queued (202)",
    tag: "runs",
    auth: true,
    params: agentParams,
    body: goalBody,
    successStatus: 202,
    response: acceptedRun,
    headers: { "Idempotency-Key": idempotencyKeyHeader },
    errors: RUN_CREATION_ERRORS,
    async handler({ params, body, tenant, deps, request }) {
      const run = await createRun({ db: tenant.db, config: deps.config, keys: deps.keys }, {
        tenantId: tenant.tenantId,
        agentId: params.agent_id,
        goal: body.goal,
        originSystemId: body.origin_system_id ?? "api",
        actorType: body.actor_type,
        actorId: body.actor_id,
        ...idempotencyOf(request),
      });
      return { run_id: run.id, status: run.status };
    },
  }),
];

