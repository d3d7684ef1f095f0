import { z } from "zod";
import { findAgent } from "../../db/queries/agents.js";
import { AppError } from "../../errors.js";
import { createAgent, listTenantAgents } from "../../services/agents.js";
import { createRun } from "../../services/runs.js";
import { agentJson } from "../../views/agent.js";
import { route, type Routes } from "../route.js";
import { acceptedRun } from "../run-schemas.js";
import { agentResponse } from "../runtime-schemas.js";
import { agentParams, createAgentBody, goalBody, idempotencyKeyHeader } from "../schemas.js";
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
    summary: "Get an agent",
    tag: "agents",
    auth: true,
    params: agentParams,
    successStatus: 200,
    response: agentResponse,
    errors: ["AGENT_NOT_FOUND"],
    async handler({ params, tenant }) {
      const agent = await findAgent(tenant.db.pool, tenant.tenantId, params.agent_id);
      if (agent === undefined) throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${params.agent_id}`, { details: { agent_id: params.agent_id } });
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

