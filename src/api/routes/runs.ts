import { z } from "zod";
import { AppError } from "../../errors.js";
import { approveRun, cancelRun, rejectRun } from "../../services/run-decisions.js";
import { createRun, getRunDetail, listTenantRuns } from "../../services/runs.js";
import { runJson, runListJson, stepJson } from "../../views/run.js";
import { route, type Routes } from "../route.js";
import { acceptedRun, cancelOutcome, run as runResponse, runSummary, step } from "../run-schemas.js";
import { createRunBody, decisionBody, idempotencyKeyHeader, listQuery, runParams } from "../schemas.js";
import { idempotencyOf, RUN_CREATION_ERRORS } from "./idempotency.js";

/** What cancelling a run can raise: the run, a run past cancelling, a race lost, a trace that fails its check. */
const CANCEL_ERRORS = ["RUN_NOT_FOUND", "RUN_ALREADY_ENDED", "RUN_NOT_CLAIMABLE", "CONFLICT", "TRACE_TAMPERED"] as const;

/** What deciding a parked run can raise: the same, and a `by` the services refuse. */
const DECISION_ERRORS = [...CANCEL_ERRORS, "RUN_NOT_PENDING_APPROVAL", "USAGE"] as const;

export const runRoutes: Routes = [
  route({
    method: "POST",
    url: "/api/v1/runs",
    summary: "Create a run for a goal, with an explicit plan or planned by the planner; queued (202)",
    tag: "runs",
    auth: true,
    body: createRunBody,
    successStatus: 202,
    response: acceptedRun,
    headers: { "Idempotency-Key": idempotencyKeyHeader },
    errors: RUN_CREATION_ERRORS,
    async handler({ body, tenant, deps, request }) {
      const run = await createRun({ db: tenant.db, config: deps.config, keys: deps.keys }, {
        tenantId: tenant.tenantId,
        agentId: body.agent_id,
        goal: body.goal,
        plan: body.plan,
        originSystemId: body.origin_system_id ?? "api",
        actorType: body.actor_type,
        actorId: body.actor_id,
        ...idempotencyOf(request),
      });
      return { run_id: run.id, status: run.status };
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runs",
    summary: "List the tenant's runs, newest first",
    tag: "runs",
    auth: true,
    query: listQuery,
    successStatus: 200,
    response: z.array(runSummary),
    async handler({ query, tenant }) {
      const runs = await listTenantRuns(tenant.db, tenant.tenantId, query.status, query.limit);
      return runs.map(runListJson);
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id",
    summary: "Get a run with its steps, incident, evidence and LLM record",
    tag: "runs",
    auth: true,
    params: runParams,
    successStatus: 200,
    response: runResponse,
    errors: ["RUN_NOT_FOUND"],
    async handler({ params, tenant, deps }) {
      return runJson(await getRunDetail(tenant.db, deps.config, tenant.tenantId, params.run_id));
    },
  }),
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id/steps",
    summary: "A run's recorded step attempts, in seq order, each with its outcome",
    tag: "runs",
    auth: true,
    params: runParams,
    successStatus: 200,
    response: z.array(step),
    errors: ["RUN_NOT_FOUND"],
    async handler({ params, tenant, deps }) {
      return (await getRunDetail(tenant.db, deps.config, tenant.tenantId, params.run_id)).steps.map(stepJson);
    },
  }),
  route({
    method: "POST",
    url: "/api/v1/runs/:run_id/cancel",
    summary: "Cancel a run: at once when it waits, after its current step when it runs",
    tag: "runs",
    auth: true,
    params: runParams,
    successStatus: 200,
    response: cancelOutcome,
    errors: CANCEL_ERRORS,
    async handler({ params, tenant, deps }) {
      return { run_id: params.run_id, outcome: await cancelRun(tenant.db, deps.keys, tenant.tenantId, params.run_id, deps.config.leaseMs) };
    },
  }),
  route({
    method: "POST",
    url: "/api/v1/runs/:run_id/approve",
    summary: "Approve the step a run waits at (pending_approval); the run is queued again",
    tag: "runs",
    auth: true,
    params: runParams,
    body: decisionBody,
    successStatus: 200,
    response: acceptedRun,
    errors: DECISION_ERRORS,
    async handler({ params, body, tenant, deps }) {
      const run = await approveRun(tenant.db, deps.keys, tenant.tenantId, params.run_id, body.by);
      return { run_id: run.id, status: run.status };
    },
  }),
  route({
    method: "POST",
    url: "/api/v1/runs/:run_id/reject",
    summary: "Reject the step a run waits at; the run ends halted",
    tag: "runs",
    auth: true,
    params: runParams,
    body: decisionBody,
    successStatus: 200,
    response: acceptedRun,
    errors: DECISION_ERRORS,
    async handler({ params, body, tenant, deps }) {
      await rejectRun(tenant.db, deps.keys, tenant.tenantId, params.run_id, body.by, deps.config.leaseMs);
      const detail = await getRunDetail(tenant.db, deps.config, tenant.tenantId, params.run_id);
      if (detail.run.status !== "halted") throw new AppError("INTERNAL", `run ${params.run_id} is ${detail.run.status} after a rejection`);
      return { run_id: detail.run.id, status: detail.run.status };
    },
  }),
];
